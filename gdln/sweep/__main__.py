"""``python -m gdln.sweep``: train one Section 5 sweep, in one process or as shards through submitit.

    python -m gdln.sweep --family mnist-permuted --M 10 --Ks 1 2 3 4 6 --gains 0.1 --seeds 0 1 2 \\
        --n-h 128 --n-train 60000 --n-test 10000 --steps 6000 --batch-size 100 --lr 0.05 \\
        --shards 8 --executor slurm --slurm partition=gpu gpus_per_node=1 cpus_per_task=8 \\
        --folder runs/mnist-permuted --out runs/mnist-permuted.npz

``--shards 1 --executor none`` trains in this process. The result (accuracies of every route of every
replica, the trained-route masks, the loss history and the spec) is written to ``--out`` (.npz);
:func:`gdln.sweep.load_result` reads it.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from gdln.sweep.spec import FAMILIES, SweepSpec, run, save_result
from gdln.sweep.submit import EXECUTORS, run_sharded


def _options(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--slurm option {item!r} is invalid; expected KEY=VALUE, e.g. partition=gpu")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gdln.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--M", type=int, required=True, help="number of input (and output) domains")
    p.add_argument("--Ks", type=int, nargs="+", required=True, help="trained routes per domain, one per point")
    p.add_argument("--gains", type=float, nargs="+", default=[0.1], help="Xavier-uniform gains, one per point or one")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-h", type=int, default=128, help="hidden units")
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--downsample", type=int, default=1, help="average-pool MNIST images by this factor")
    p.add_argument("--nonlinearity", default="linear", choices=("linear", "leaky_relu"))
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--loss", default="ce", choices=("ce", "mse"))
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--executor", default="local", choices=(*EXECUTORS, "none"),
                   help="none: this process; local: submitit jobs on this machine; slurm: a SLURM job array")
    p.add_argument("--slurm", nargs="*", default=[], metavar="KEY=VALUE",
                   help="submitit SLURM parameters without the slurm_ prefix (partition=gpu gpus_per_node=1 ...)")
    p.add_argument("--timeout-min", type=int, default=60)
    p.add_argument("--threads", type=int, default=0, help="torch threads per job (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--folder", default="_build/sweeps", help="submitit's logs and pickles")
    p.add_argument("--out", required=True, help="where to write the gathered result (.npz)")
    args = p.parse_args(argv)
    try:
        spec = SweepSpec(family=args.family, M=args.M, Ks=tuple(args.Ks), gains=tuple(args.gains),
                         seeds=tuple(args.seeds), n_h=args.n_h, n_train=args.n_train, n_test=args.n_test,
                         downsample=args.downsample, nonlinearity=args.nonlinearity,
                         train=dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                    momentum=args.momentum, loss=args.loss))
        if args.executor == "none":
            if args.shards != 1:
                raise ValueError(f"--shards {args.shards} needs an executor (local or slurm), not 'none'")
            result = run(spec, device=args.device, data_dir=args.data_dir, progress=True)
        else:
            result = run_sharded(spec, args.shards, folder=args.folder, executor=args.executor,
                                 device=args.device, data_dir=args.data_dir, threads=args.threads,
                                 slurm=_options(args.slurm), timeout_min=args.timeout_min)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = save_result(args.out, spec, result)
    print(f"[gdln.sweep] {len(spec.points)} points x {len(spec.seeds)} seeds -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
