"""Quick-mode guards: a declared value and bound for claims that quick mode cannot judge against the paper.

A claim judged only on a larger run than quick mode (``larger_run=True``) or a declared deviation
(``known_deviation``) says nothing in quick mode about whether the code still computes what it computed:
its value could drift and every quick build would still show "larger-run" or "deviates". So each such claim gets a
*guard* in quick mode: the value it was declared with and a bound taken from the spread over seeds.

:func:`declare` runs a chapter in quick mode once per seed (the chapter's ``seed`` parameter: other
initial weights, other data subsets, other route masks) in a scratch build folder, and writes
``results/bounds/<chapter>.json``::

    {"<claim id>": {"expected": mean over seeds, "tolerance": 3 x sample sd over seeds,
                    "values": [...], "seeds": [...], "rule": ..., "declared_at": ..., "gdln_source_hash": ...}}

When all seeds give the same value the spread says nothing about the size of a change; the bound is
then the claim's own resolution: its criterion's tolerance when that is positive (one grid step for a
threshold read on a grid), else 0. With three seeds every declaring seed lies within 1.2 sd of the
mean, so the bound (3 sd) is met by the runs that declared it and caught by a change of about two sd.

:class:`~gdln.book.claims.Claims` reads the guards of its chapter: in quick mode a guarded claim
outside its bound gets status ``"fail"`` (which fails the test suite), inside it keeps its status.
Declare again, and commit the file, when a change of the numbers is intended.

The file is read through :func:`gdln.book.guards.read` (a broken file is an error naming it) and the runner
checks, before a kernel starts, that every guard names a claim the chapter records
(:func:`gdln.book.guards.check`). :func:`declare` checks that the folder can be written before it runs
anything, and replaces the file in one rename (temporary files of an interrupted declaration are removed).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gdln.book.claims import BOUNDS_DIR, LARGER_RUN, LEGACY_STATUSES, bounds_dir
from gdln.book.guards import read as load_guards
from gdln.book.provenance import source_hash
from gdln.book.runner import execute, published
from gdln.util.files import REPO_ROOT, atomic_write_json, ensure_writable

__all__ = ["BOUNDS_DIR", "SIGMAS", "bounds_dir", "load", "guarded", "bound_of", "declare"]

#: The bound in sample standard deviations over seeds.
SIGMAS = 3.0
#: The declared guards of a chapter (claim id -> guard), as :class:`~gdln.book.claims.Claims` reads them; a file
#: that is not valid JSON, or not an object, is a ``ValueError`` naming it (:func:`gdln.book.guards.read`).
load = load_guards


def guarded(claim: Mapping[str, Any]) -> bool:
    """Whether a claim needs a quick-mode guard: judged only on a larger run than quick mode (status
    ``"larger-run"``, or its old name in manifests written before the rename), or a declared deviation."""
    status = LEGACY_STATUSES.get(claim["status"], claim["status"])
    return status in (LARGER_RUN, "deviates") or "Known deviation:" in claim.get("note", "")


def bound_of(values: Sequence[float], resolution: float) -> tuple[float, float, str]:
    """``(expected, tolerance, rule)`` from the values of one claim over seeds (see the module docstring)."""
    vals = [float(v) for v in values]
    if len(vals) < 2 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"values={vals!r} are invalid; expected at least two finite values (one per seed)")
    sd = statistics.stdev(vals)
    if sd > 0:
        return statistics.fmean(vals), SIGMAS * sd, f"{SIGMAS:g} x sample sd over seeds"
    return vals[0], float(resolution), "all seeds equal: the claim's resolution (its criterion's tolerance, 0 if none)"


def declare(chapter: str, seeds: Sequence[int], *, root: Path = REPO_ROOT, folder: str | os.PathLike | None = None,
            params: Mapping[str, Any] | None = None, log=print) -> Path:
    """Run ``chapter`` in quick mode with each of ``seeds`` and write the bounds of its guarded claims."""
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) < 2:
        raise ValueError(f"seeds={seeds!r} are invalid; expected at least two different seeds")
    path = Path(folder or bounds_dir()) / f"{chapter}.json"
    ensure_writable(path.parent, "the guards folder", "nothing was run")  # before the runs: a folder that cannot be written would throw them away
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix=f"gdln-bounds-{chapter}-") as tmp:
        for s in seeds:
            build = Path(tmp) / f"seed-{s}"
            execute(chapter, {"mode": "quick", "seed": s, "device": "cpu", **(params or {})}, root=root, build=build,
                    log=log)
            _, run_dir = published(build, chapter)
            runs.append({c["id"]: c for c in json.loads((run_dir / f"{chapter}.json").read_text())})
    ids = [cid for cid, c in runs[0].items() if any(guarded(r[cid]) for r in runs if cid in r)]
    out: dict[str, dict[str, Any]] = {}
    for cid in ids:
        if any(cid not in r for r in runs):
            raise ValueError(f"claim {cid!r} is not recorded by every seed; a guard needs its value from each")
        values = [r[cid]["measured"] for r in runs]
        c = runs[0][cid]
        resolution = c["tolerance"] if c["kind"] == "abs" else 0.0
        expected, tol, rule = bound_of(values, resolution)
        out[cid] = {"expected": expected, "tolerance": tol, "values": values, "seeds": seeds, "rule": rule,
                    "declared_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                    "gdln_source_hash": source_hash()}
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a declaration that was killed while writing
        stale.unlink(missing_ok=True)
    return atomic_write_json(path, out)
