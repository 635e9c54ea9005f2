"""Layer 6 (beside :mod:`gdln.book`), sweeps at scale: one Section 5 sweep cut into shards and run as jobs.

- :mod:`~gdln.sweep.spec`    a sweep as data (:class:`SweepSpec`), the single-process run, shard and gather
- :mod:`~gdln.sweep.submit`  the shards as submitit jobs, on this machine (``local``) or a SLURM cluster
- :mod:`~gdln.sweep.store`   finished sweeps with their provenance, found again by their spec (:func:`obtain`)
- :mod:`~gdln.sweep.shards`  a sweep bound for the archive, filed shard by shard so that it resumes after a kill
- ``python -m gdln.sweep``   the command line (``--help``)

May import: every layer below the book (util, core, data, theory, tasks, engines).
"""

from gdln.sweep import shards, spec, store, submit
from gdln.sweep.spec import SweepSpec, gather, load_result, run, save_result, shard
from gdln.sweep.store import Origins, obtain
from gdln.sweep.submit import run_sharded, run_to_store

__all__ = ["shards", "spec", "store", "submit", "run_to_store", "Origins", "obtain", "SweepSpec", "gather", "load_result", "run", "save_result", "shard", "run_sharded"]
