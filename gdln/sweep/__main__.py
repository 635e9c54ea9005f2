"""``python -m gdln.sweep``: train one Section 5 sweep, in one process or as shards through submitit.

    python -m gdln.sweep --family mnist-permuted --M 10 --Ks 1 2 3 4 6 --gains 0.1 --seeds 0 1 2 \\
        --n-h 128 --n-train 60000 --n-test 10000 --steps 6000 --batch-size 100 --lr 0.05 \\
        --shards 8 --executor slurm --slurm partition=gpu gpus_per_node=1 cpus_per_task=8 \\
        --folder runs/mnist-permuted --out runs/mnist-permuted.npz

``--shards 1 --executor none`` trains in this process. The result (accuracies of every route of every
replica, the trained-route masks, the loss history and the spec) is written to ``--out`` (.npz);
:func:`gdln.sweep.load_result` reads it. ``--archive NAME --what TEXT`` instead files it in the sweep
archive (``results/sweeps/NAME.npz`` and its record ``NAME.json``: command, machine, code, wall time,
checksum; :mod:`gdln.sweep.store`), where a chapter asking for the same spec finds it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import yaml

from gdln.sweep.spec import FAMILIES, SweepSpec, run, save_result
from gdln.sweep.store import archive
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
    p.add_argument("--label-kind", default="random", choices=("random", "lexicographic"),
                   help="output domains' label permutations: seeded random, or the authors' lexicographic order")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, nargs="+", default=[0.05], help="step size, one per point or one")
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
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="where to write the gathered result (.npz)")
    out.add_argument("--archive", metavar="NAME", help="file the result in the sweep archive as NAME (needs --what)")
    p.add_argument("--what", help="what the sweep is, in words, for the archive's record")
    p.add_argument("--store", default=None, help="the sweep archive's folder (default: results/sweeps)")
    args = p.parse_args(argv)
    if args.archive and not args.what:
        p.error("--archive needs --what: say in words what the sweep is")
    try:
        spec = SweepSpec(family=args.family, M=args.M, Ks=tuple(args.Ks), gains=tuple(args.gains),
                         seeds=tuple(args.seeds), n_h=args.n_h, n_train=args.n_train, n_test=args.n_test,
                         downsample=args.downsample, nonlinearity=args.nonlinearity, label_kind=args.label_kind,
                         train=dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr[0] if len(args.lr) == 1 else list(args.lr),
                                    momentum=args.momentum, loss=args.loss))
        if len(args.lr) not in (1, len(spec.points)):
            raise ValueError(f"--lr has {len(args.lr)} values; expected 1 or one per point ({len(spec.points)})")
        started = time.perf_counter()
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
    if args.archive:
        command = "python -m gdln.sweep " + shlex.join(sys.argv[1:] if argv is None else argv)
        path = archive(args.archive, spec, result, what=args.what, command=command, device=args.device,
                       wall_time_s=time.perf_counter() - started, store=args.store)
    else:
        path = save_result(args.out, spec, result)
    print(f"[gdln.sweep] {len(spec.points)} points x {len(spec.seeds)} seeds -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
