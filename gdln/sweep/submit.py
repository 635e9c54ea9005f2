"""Run the shards of a sweep: in this process, or as jobs through submitit (this machine or SLURM).

No scheduler of our own: :func:`run_sharded` hands one job per shard to ``submitit`` (its local
executor starts them as processes here; its SLURM executor submits them as one job array), waits,
and gathers the shards into the arrays of the single-process run (:func:`gdln.sweep.spec.gather`).

:func:`run_to_store` is the resumable form used for the sweep archive: it trains only the shards
that :mod:`gdln.sweep.shards` has not filed yet, each job filing its own shard as soon as it ends, and
archives the sweep when all are in. On SLURM every job is a :class:`ShardJob`, a
``submitit.helpers.Checkpointable``: a pre-empted or timed-out job is requeued by submitit itself, and a
requeued job whose shard was filed meanwhile returns at once. Interrupting the parent (Ctrl-C,
SIGTERM) cancels its jobs, so no child trains on alone.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import submitit
import torch

from gdln.engines.routenet import SweepResult
from gdln.tasks.resnet import N_FEATURES
from gdln.sweep.shards import assemble, discard_shards, file_shard, filed_shards
from gdln.sweep.spec import SweepSpec, build_family, gather, run, shard
from gdln.sweep.store import archive, preflight
from gdln.util.version import source_hash

__all__ = ["EXECUTORS", "run_shard", "ShardJob", "run_sharded", "estimate_seconds", "run_to_store", "shard_memory_bytes"]

EXECUTORS = ("local", "slurm")


def run_shard(spec_json: str, device: str = "cpu", data_dir: str | None = None, threads: int = 0) -> SweepResult:
    """One job: train the replicas of one shard (a spec in JSON, so the job's pickle stays small)."""
    if threads:
        torch.set_num_threads(threads)
    res = run(SweepSpec.from_json(spec_json), device=device, data_dir=data_dir)
    res.net = None  # the arrays travel back, the weights stay
    return res


class ShardJob(submitit.helpers.Checkpointable):
    """A job that trains shard ``index`` of a sweep and files it in the store (requeued on pre-emption)."""

    def __call__(self, name: str, spec_json: str, n_shards: int, index: int, device: str = "cpu",
                 data_dir: str | None = None, threads: int = 0, store: str | None = None) -> int:
        spec = SweepSpec.from_json(spec_json)
        source_hash()  # pinned at the start of the job
        if index in filed_shards(name, spec, n_shards, store):
            return index  # filed before a requeue
        started = time.perf_counter()
        res = run_shard(shard(spec, n_shards)[index][0].to_json(), device, data_dir, threads)
        file_shard(name, spec, n_shards, index, res, wall_time_s=time.perf_counter() - started, device=device,
                   store=store)
        return index


def _executor(folder, executor: str, slurm: dict | None, timeout_min: int):
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r} is invalid; expected one of {EXECUTORS}")
    if slurm and executor != "slurm":
        raise ValueError(f"SLURM options {sorted(slurm)} given with executor={executor!r}")
    if executor == "slurm" and not _has_slurm():
        raise ValueError("executor='slurm' but this machine has no SLURM (sbatch is not on the PATH); "
                         "use --executor local or none here")
    ex = submitit.AutoExecutor(folder=Path(folder).resolve() / "%j", cluster=executor)
    params = {"timeout_min": int(timeout_min)}
    if executor == "slurm":
        params.update({f"slurm_{k}": v for k, v in (slurm or {}).items()})
    ex.update_parameters(**params)
    return ex


def _has_slurm() -> bool:
    return any(os.access(os.path.join(d, "sbatch"), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))


@contextmanager
def _cancel_on_exit(jobs: list):
    """Cancel every job that is still running when the block is left by an exception or a signal."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except BaseException:
        for job in jobs:
            try:
                if not job.done():
                    job.cancel()
            except Exception:  # noqa: BLE001 - best effort: the job may be gone already
                pass
        raise
    finally:
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def shard_memory_bytes(spec: SweepSpec, n_shards: int) -> int:
    """Estimated peak memory of one shard's process: its task family's inputs, the weights of its largest
    block of replicas (network, training copy, momentum, gradients, buffers: 5 copies), the activations
    of a batch, and 0.5 GB for the interpreter, torch and the decoded images. Rotated and CIFAR domains
    hold ``M`` transformed copies of the data (an M = 40 rotated MNIST family: 8.8 GB); permuted
    domains hold one."""
    R = max(len(sub.points) * len(sub.seeds) for sub, _, _ in shard(spec, n_shards))
    d = N_FEATURES if spec.family.startswith("cifar") else (28 // spec.downsample) ** 2
    copies = 1 if spec.family == "mnist-permuted" else spec.M
    batch = spec.train.get("batch_size") or spec.n_train
    inputs = 4 * copies * (spec.n_train + spec.n_test) * d
    weights = 5 * 4 * R * spec.M * (spec.n_h * d + spec.n_h ** 2 + 10 * spec.n_h)
    activations = 6 * 4 * R * spec.M * batch * spec.n_h
    return int(inputs + weights + activations + 0.5e9)


def _available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _check_local_memory(spec: SweepSpec, n_shards: int, n_jobs: int) -> None:
    """Refuse, before any work, ``n_jobs`` local shard processes at once that would not fit in memory
    (submitit's local executor starts them all together)."""
    avail, each = _available_memory(), shard_memory_bytes(spec, n_shards)
    if avail is not None and n_jobs * each > avail:
        raise ValueError(f"{n_jobs} local shard processes at once need about {n_jobs * each / 1e9:.1f} GB "
                         f"({each / 1e9:.1f} GB each, {spec.family} at M = {spec.M}) and this machine has "
                         f"{avail / 1e9:.1f} GB available; use --executor none (the shards one after another "
                         "in this process, resumable) or fewer --shards")


def run_sharded(spec: SweepSpec, n_shards: int, *, folder: str | os.PathLike, executor: str = "local",
                device: str = "cpu", data_dir: str | os.PathLike | None = None, threads: int = 0,
                slurm: dict | None = None, timeout_min: int = 60) -> SweepResult:
    """Train ``spec`` as ``n_shards`` jobs and gather them; ``folder`` keeps submitit's logs and pickles.

    ``slurm`` holds submitit's SLURM parameters without their ``slurm_`` prefix (``partition``,
    ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``, ``array_parallelism``, ``account``, ...).
    """
    parts = shard(spec, n_shards)
    if executor == "local":
        _check_local_memory(spec, n_shards, len(parts))
    ex = _executor(folder, executor, slurm, timeout_min)
    n = len(parts)
    dd = None if data_dir is None else str(Path(data_dir).resolve())
    jobs: list = []
    with _cancel_on_exit(jobs):
        jobs += ex.map_array(run_shard, [p[0].to_json() for p in parts], [device] * n, [dd] * n, [threads] * n)
        results = [job.result() for job in jobs]  # raises with the job's traceback if a shard failed
    return gather(spec, [(pi, si, res) for (_, pi, si), res in zip(parts, results)])


def estimate_seconds(spec: SweepSpec, n_shards: int, missing: list[int], *, device="cpu", data_dir=None,
                     warmup_steps: int = 10) -> float:
    """Seconds to train the ``missing`` shards, from a short measured warm-up of the first of them.

    Trains that shard's replicas for ``warmup_steps`` steps and reads the training loop's own wall time
    (``History.wall_s``: no initialisation, no evaluation), scaled by each shard's number of replicas
    and the protocol's steps. Training only: the evaluation adds one forward pass of every route per
    test image. Shards of larger ``K`` cost somewhat more (their decoders), so the first shard's rate
    is a lower bound when the shards are ordered by ``K``.
    """
    parts = shard(spec, n_shards)
    if not missing:
        return 0.0
    sub = parts[missing[0]][0]
    fam = build_family(sub, data_dir=data_dir, device=device)
    short = dataclasses.replace(sub, train={**sub.train, "steps": warmup_steps})
    run(dataclasses.replace(sub, train={**sub.train, "steps": 1}), family=fam, device=device)  # first-call costs
    wall = run(short, family=fam, device=device).history.wall_s
    per_replica_step = wall / warmup_steps / (len(sub.points) * len(sub.seeds))
    return sum(per_replica_step * len(parts[i][0].points) * len(parts[i][0].seeds) * int(parts[i][0].train["steps"])
               for i in missing)


def run_to_store(name: str, spec: SweepSpec, n_shards: int, *, what: str, command: str, executor: str = "none",
                 folder: str | os.PathLike = "_build/sweeps", device: str = "cpu", data_dir=None, threads: int = 0,
                 slurm: dict | None = None, timeout_min: int = 60, store=None, time_limit_s: float | None = None,
                 log: Callable[[str], None] = print) -> Path | None:
    """Train the shards of ``spec`` not yet filed under ``name``, file each as it ends, archive the whole.

    Everything that could refuse the result is checked first (:func:`gdln.sweep.store.preflight`, the
    shards already filed). ``executor="none"`` trains the shards one after the other in this process,
    and with ``time_limit_s`` starts a shard only when the estimate says it ends within the limit.
    Returns the archived ``.npz``, or None when shards are still missing (run the same call again).
    """
    preflight(name, spec, store)
    source_hash()  # pinned now: the records name the code that trained, even if the files change meanwhile
    ex = _executor(folder, executor, slurm, timeout_min) if executor != "none" else None  # refused before any work
    parts = shard(spec, n_shards)
    n = len(parts)
    done = filed_shards(name, spec, n, store)
    missing = [i for i in range(n) if i not in done]
    if executor == "local" and missing:
        _check_local_memory(spec, n_shards, len(missing))
    log(f"[gdln.sweep] {name}: {n} shards, {len(done)} filed, {len(missing)} to train")
    started = time.perf_counter()
    if missing and executor == "none":
        est = estimate_seconds(spec, n, missing, device=device, data_dir=data_dir)
        per_shard = est / len(missing)
        log(f"[gdln.sweep] estimated training time {est / 60:.1f} min ({per_shard / 60:.1f} min a shard; "
            "from a measured warm-up)")
        for i in missing:
            elapsed = time.perf_counter() - started
            if time_limit_s is not None and elapsed + per_shard > time_limit_s:
                log(f"[gdln.sweep] stopping at the time limit ({time_limit_s / 60:.1f} min): "
                    f"{len(done)} of {n} shards filed; run the same command again to continue")
                return None
            t0 = time.perf_counter()
            res = run(parts[i][0], device=device, data_dir=data_dir)
            file_shard(name, spec, n, i, res, wall_time_s=time.perf_counter() - t0, device=device, store=store)
            done[i] = None
            log(f"[gdln.sweep] shard {i + 1} of {n} filed ({(time.perf_counter() - t0) / 60:.1f} min)")
    elif missing:
        dd = None if data_dir is None else str(Path(data_dir).resolve())
        st = None if store is None else str(Path(store).resolve())
        jobs: list = []
        with _cancel_on_exit(jobs):
            with ex.batch():
                for i in missing:
                    jobs.append(ex.submit(ShardJob(), name, spec.to_json(), n, i, device, dd, threads, st))
            for job in jobs:
                job.result()  # raises with the job's traceback if a shard failed; its filed siblings stay
    done = filed_shards(name, spec, n, store)
    result = assemble(spec, n, done)
    wall = sum(rec["wall_time_s"] for *_, rec in done.values())
    path = archive(name, spec, result, what=what, command=command, wall_time_s=wall, device=device, store=store,
                   extra={"shards": {"n": n, "wall_time_s": [done[i][3]["wall_time_s"] for i in sorted(done)],
                                     "machines": sorted({done[i][3]["machine"]["platform"] for i in done})}})
    discard_shards(name, store)
    log(f"[gdln.sweep] all {n} shards in: archived as {path}")
    return path
