"""``python -m gdln.sweep``: train one Section 5 sweep, in one process or as shards through submitit.

    python -m gdln.sweep --family mnist-permuted --M 10 --Ks 1 2 3 4 6 --gains 0.1 --seeds 0 1 2 \\
        --n-h 128 --n-train 60000 --n-test 10000 --steps 6000 --batch-size 100 --lr 0.05 \\
        --shards 8 --executor slurm --slurm partition=gpu gpus_per_node=1 cpus_per_task=8 \\
        --folder runs/mnist-permuted --out runs/mnist-permuted.npz

``--shards 1 --executor none`` trains in this process. The result (accuracies of every route of every
replica, the trained-route masks, the loss history and the spec) is written to ``--out`` (.npz);
:func:`gdln.sweep.load_result` reads it. ``--archive NAME --what TEXT`` instead files it in the sweep
archive (``results/sweeps/NAME-<sha>.npz`` and its record ``NAME.json``: command, machine, code, wall
time, checksum; :mod:`gdln.sweep.store`), where a chapter asking for the same spec finds it. A sweep
bound for the archive is resumable (:mod:`gdln.sweep.shards`): it is cut into ``--shards`` shards (by
default one per sweep point), each filed as soon as it ends, and the same command run again trains
only the missing ones; ``--time-limit-min`` stops before a shard that would not end in time.

Every value is checked before any data is read or any step is trained: exit status 2 with a message
naming the value. Exit status 3: stopped at the time limit with shards still to train (finished ones kept).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import torch
import yaml

from gdln.sweep.spec import FAMILIES, SweepSpec, run, save_result
from gdln.sweep.paper import paper_sweeps, sweep_flops, tiny
from gdln.sweep.store import find, preflight
from gdln.sweep.submit import EXECUTORS, _executor, run_sharded, run_to_store
from gdln.util.device import resolve_device
from gdln.util.files import ensure_writable


def _options(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--slurm option {item!r} is invalid; expected KEY=VALUE, e.g. partition=gpu")
        out[key] = yaml.safe_load(value)
    return out


def paper_main(argv: list[str]) -> int:
    """``python -m gdln.sweep paper``: train the sweeps of the paper's panels that the archive does not hold yet."""
    p = argparse.ArgumentParser(prog="python -m gdln.sweep paper", description=(
        "Train every sweep at the paper's M, widths and seeds (gdln.sweep.paper.paper_sweeps) that the archive "
        "does not hold yet, one shard per sweep point, filed as each ends; prints a FLOP count and a measured "
        "time estimate first, and stops cleanly before a shard that would end after --time-limit-min."))
    p.add_argument("--device", default="cuda")
    p.add_argument("--store", default=None, help="the sweep archive's folder (default: results/sweeps)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seeds", type=int, default=10, help="seeds per point (the paper: 10)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="these sweeps only (archive names)")
    p.add_argument("--time-limit-min", type=float, default=None)
    p.add_argument("--dry-run", action="store_true", help="list the sweeps, their FLOPs and state; train nothing")
    p.add_argument("--tiny", action="store_true", help="each sweep at a tiny size (tests the same code path on a CPU)")
    args = p.parse_args(argv)
    try:
        if args.seeds < 1:
            raise ValueError(f"--seeds {args.seeds} is invalid; expected a positive number")
        if args.time_limit_min is not None and not (math.isfinite(args.time_limit_min) and args.time_limit_min > 0):
            raise ValueError(f"--time-limit-min {args.time_limit_min} is invalid; expected a positive number of minutes")
        try:
            resolve_device(args.device)
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"--device {args.device}: {err}") from None
        sweeps = paper_sweeps(args.seeds)
        if args.tiny:
            sweeps = [tiny(s) for s in sweeps]
        names = [s.name for s in sweeps]
        if args.only:
            unknown = sorted(set(args.only) - set(names))
            if unknown:
                raise ValueError(f"--only {unknown} unknown; expected some of {names}")
            sweeps = [s for s in sweeps if s.name in args.only]
        for s in sweeps:
            preflight(s.name, s.spec, args.store)
        todo = [s for s in sweeps if find(s.spec, args.store) is None]
        for s in sweeps:
            state = "archived" if s not in todo else "to train"
            print(f"[gdln.sweep paper] {s.name}: {len(s.spec.points)} points x {len(s.spec.seeds)} seeds, M = {s.spec.M}, "
                  f"N_h = {s.spec.n_h}, {sweep_flops(s.spec) / 1e15:.2f} PFLOP of training ({state})")
        if args.dry_run or not todo:
            return 0
        started = time.perf_counter()
        for s in todo:
            left = None if args.time_limit_min is None else 60 * args.time_limit_min - (time.perf_counter() - started)
            if left is not None and left <= 0:
                print("[gdln.sweep paper] time limit reached; run the same command again to continue")
                return 3
            path = run_to_store(s.name, s.spec, len(s.spec.points), what=s.what, command="python -m gdln.sweep paper "
                                + shlex.join(argv), device=args.device, data_dir=args.data_dir, store=args.store,
                                time_limit_s=left)
            if path is None:
                return 3
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[gdln.sweep paper] interrupted: the shards filed so far are kept", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["paper"]:
        return paper_main(argv[1:])
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
    p.add_argument("--shards", type=int, default=0,
                   help="number of shards (0: one per sweep point with --archive, else 1)")
    p.add_argument("--time-limit-min", type=float, default=None,
                   help="with --archive --executor none: start no shard that would end after this many minutes")
    p.add_argument("--executor", default="local", choices=(*EXECUTORS, "none"),
                   help="none: this process; local: submitit jobs on this machine; slurm: a SLURM job array")
    p.add_argument("--slurm", nargs="*", default=[], metavar="KEY=VALUE",
                   help="submitit SLURM parameters without the slurm_ prefix (partition=gpu gpus_per_node=1 ...)")
    p.add_argument("--timeout-min", type=int, default=60)
    p.add_argument("--threads", type=int, default=0, help="torch threads per job, or of this process with --executor none (0: torch's default)")
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
        _check(args, spec)
        if args.threads and args.executor == "none":  # the jobs of an executor set their own (run_shard)
            torch.set_num_threads(args.threads)
        command = "python -m gdln.sweep " + shlex.join(argv)
        if args.archive:
            n_shards = args.shards or len(spec.points)
            path = run_to_store(args.archive, spec, n_shards, what=args.what, command=command, executor=args.executor,
                                folder=args.folder, device=args.device, data_dir=args.data_dir, threads=args.threads,
                                slurm=_options(args.slurm), timeout_min=args.timeout_min, store=args.store,
                                time_limit_s=None if args.time_limit_min is None else 60 * args.time_limit_min)
            if path is None:
                return 3
        else:
            n_shards = args.shards or 1
            if args.executor == "none":
                if n_shards != 1:
                    raise ValueError(f"--shards {n_shards} needs an executor (local or slurm), not 'none'")
                result = run(spec, device=args.device, data_dir=args.data_dir, progress=True)
            else:
                result = run_sharded(spec, n_shards, folder=args.folder, executor=args.executor,
                                     device=args.device, data_dir=args.data_dir, threads=args.threads,
                                     slurm=_options(args.slurm), timeout_min=args.timeout_min)
            path = save_result(args.out, spec, result)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[gdln.sweep] interrupted: the shards filed so far are kept; run the same command again to continue",
              file=sys.stderr)
        return 130
    print(f"[gdln.sweep] {len(spec.points)} points x {len(spec.seeds)} seeds -> {path}")
    return 0


def _check(args, spec: SweepSpec) -> None:
    """Everything that could refuse the result, checked before any data is read (ValueError)."""
    for name, values in (("--lr", args.lr), ("--momentum", [args.momentum])):
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise ValueError(f"{name} {bad[0]} is invalid; expected a finite number")
    if any(v <= 0 for v in args.lr):
        raise ValueError(f"--lr {args.lr} is invalid; expected positive step sizes")
    if not 0 <= args.momentum < 1:
        raise ValueError(f"--momentum {args.momentum} is invalid; expected a number in [0, 1)")
    if len(args.lr) not in (1, len(spec.points)):
        raise ValueError(f"--lr has {len(args.lr)} values; expected 1 or one per point ({len(spec.points)})")
    if args.threads < 0:
        raise ValueError(f"--threads {args.threads} is invalid; expected a positive number (or 0: torch's default)")
    if args.shards < 0:
        raise ValueError(f"--shards {args.shards} is invalid; expected a positive number (or 0: automatic)")
    if args.time_limit_min is not None and not (math.isfinite(args.time_limit_min) and args.time_limit_min > 0):
        raise ValueError(f"--time-limit-min {args.time_limit_min} is invalid; expected a positive number of minutes")
    if args.time_limit_min is not None and args.executor != "none":
        raise ValueError("--time-limit-min applies to --executor none (a scheduler has its own: --timeout-min)")
    try:
        resolve_device(args.device)
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"--device {args.device}: {err}") from None
    if args.executor != "none":
        _executor(args.folder, args.executor, _options(args.slurm), args.timeout_min)
    if args.archive:
        preflight(args.archive, spec, args.store)
    else:
        out = Path(args.out)
        if out.is_dir() or out.suffix != ".npz":
            raise ValueError(f"--out {args.out} is invalid; expected a file name ending in .npz")
        try:
            ensure_writable(out.parent, "the folder of --out", "nothing was trained")
        except OSError as err:
            raise ValueError(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
