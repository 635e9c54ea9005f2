"""Run the shards of a sweep as jobs through submitit: on this machine or on a SLURM cluster.

No scheduler of our own: :func:`run_sharded` hands one job per shard to ``submitit`` (its local
executor starts them as processes here; its SLURM executor submits them as one job array), waits,
and gathers the shards into the arrays of the single-process run (:func:`gdln.sweep.spec.gather`).
"""

from __future__ import annotations

import os
from pathlib import Path

import submitit
import torch

from gdln.engines.routenet import SweepResult
from gdln.sweep.spec import SweepSpec, gather, run, shard

__all__ = ["EXECUTORS", "run_shard", "run_sharded"]

EXECUTORS = ("local", "slurm")


def run_shard(spec_json: str, device: str = "cpu", data_dir: str | None = None, threads: int = 0) -> SweepResult:
    """One job: train the replicas of one shard (a spec in JSON, so the job's pickle stays small)."""
    if threads:
        torch.set_num_threads(threads)
    res = run(SweepSpec.from_json(spec_json), device=device, data_dir=data_dir)
    res.net = None  # the arrays travel back, the weights stay
    return res


def run_sharded(spec: SweepSpec, n_shards: int, *, folder: str | os.PathLike, executor: str = "local",
                device: str = "cpu", data_dir: str | os.PathLike | None = None, threads: int = 0,
                slurm: dict | None = None, timeout_min: int = 60) -> SweepResult:
    """Train ``spec`` as ``n_shards`` jobs and gather them; ``folder`` keeps submitit's logs and pickles.

    ``slurm`` holds submitit's SLURM parameters without their ``slurm_`` prefix (``partition``,
    ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``, ``array_parallelism``, ``account``, ...).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r} is invalid; expected one of {EXECUTORS}")
    if slurm and executor != "slurm":
        raise ValueError(f"SLURM options {sorted(slurm)} given with executor={executor!r}")
    parts = shard(spec, n_shards)
    folder = Path(folder).resolve()
    ex = submitit.AutoExecutor(folder=folder / "%j", cluster=executor)
    params = {"timeout_min": int(timeout_min)}
    if executor == "slurm":
        params.update({f"slurm_{k}": v for k, v in (slurm or {}).items()})
    ex.update_parameters(**params)
    n = len(parts)
    jobs = ex.map_array(run_shard, [p[0].to_json() for p in parts], [device] * n,
                        [None if data_dir is None else str(Path(data_dir).resolve())] * n, [threads] * n)
    results = [job.result() for job in jobs]  # raises with the job's traceback if a shard failed
    return gather(spec, [(pi, si, res) for (_, pi, si), res in zip(parts, results)])
