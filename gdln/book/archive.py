"""The results archive: full-mode runs kept in the repository, and whether each is still current.

A full-mode run (the paper's scale, hours on a GPU or a day on a CPU) cannot be repeated at every
build, so its outputs are archived under ``results/<chapter>/``::

    results/<chapter>/manifest.json   provenance, checksums and the quick-mode fingerprint (below)
    results/<chapter>/notebook.ipynb  the executed notebook (figures included)
    results/<chapter>/claims.json     the claims manifest of the run

``manifest.json`` holds the run's record from the runner (cache key, parameters, gdln source hash,
dependency versions including torch, wall time, date, the data files it read), the machine it ran on
(CPU, GPU name, CUDA version), the SHA-256 of the two files, and a *numerical fingerprint*: the claims
that the quick mode of the same code measured (a quick run with the same gdln source hash).

Whether an entry is current (:func:`judge`):

- ``"current"``: the gdln sources are the ones that made the run;
- ``"verified by fingerprint"``: the sources differ (a refactor, a comment), but today's quick-mode
  claims equal the fingerprint, number for number, up to floating-point reproducibility across
  machines (:data:`FINGERPRINT_RTOL`, :data:`FINGERPRINT_ATOL`): the code still computes what it
  computed then, so the full run still stands for it;
- ``"stale"``: the sources differ and the quick-mode numbers moved (or are missing): the run may not
  be what today's code would produce. A stale entry is never shown as current.

Why not bit for bit: another CPU sums in another order, so the same code gives numbers that differ in
the last bits, and training amplifies them. Measured between two machines with the same code: 1.1e-4
relative on a ReLU network trained by gradient descent (xor, quick mode), 2.4e-5 on a float32 SGD run
(MNIST, quick mode), and 6.7e-16 against 4.4e-16 or 2.2e-12 against 1.5e-12 on claims that are
themselves round-off errors. A bit-for-bit test would call every archived run stale on every machine but
the one that made it. The relative tolerance is ten times the largest difference measured; a change of
code that moves a quick-mode number by more than 0.1% of it (or by more than 1e-9 where it is a
round-off error) marks the run stale.

The fingerprint is evidence, not proof: a change that moves only full-scale numbers and no quick-mode
number would pass it. The quick claims of each chapter are chosen to exercise the same code paths.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gdln.book.provenance import source_hash
from gdln.book.runner import published
from gdln.util.files import FILE_MODE, REPO_ROOT, atomic_write_json, file_digests

__all__ = ["duration", "RESULTS_DIR", "STATUSES", "FINGERPRINT_RTOL", "FINGERPRINT_ATOL", "Entry", "archive", "load", "judge", "standing", "fingerprint_of", "machine"]

#: Where archived runs live (``$GDLN_RESULTS_DIR`` overrides, for tests and other checkouts).
RESULTS_DIR = REPO_ROOT / "results"
#: What :func:`judge` can say of an entry.
STATUSES = ("current", "verified by fingerprint", "stale")
_FILES = {"notebook": "notebook.ipynb", "claims": "claims.json"}


def duration(seconds: float) -> str:
    """A wall time for a reader: seconds under two minutes, minutes under two hours, else hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def results_dir() -> Path:
    return Path(os.environ.get("GDLN_RESULTS_DIR", RESULTS_DIR)).resolve()


def machine() -> dict[str, Any]:
    """The machine this process runs on: CPU, core count, GPU name and CUDA version when present."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "gpu": gpu, "cuda": torch.version.cuda if gpu else None,
            "torch": torch.__version__}


def fingerprint_of(claims: list[dict[str, Any]]) -> dict[str, float]:
    """The numerical fingerprint of a claims manifest: claim id -> measured value."""
    return {c["id"]: c["measured"] for c in claims}


#: Relative and absolute tolerance of the fingerprint: floating-point reproducibility across machines.
FINGERPRINT_RTOL = 1e-3
FINGERPRINT_ATOL = 1e-9


def _same_numbers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same claim ids with the same measured values up to ``FINGERPRINT_RTOL`` of their size plus
    ``FINGERPRINT_ATOL`` (NaN equals NaN, an infinity only itself; see the module docstring)."""
    def same(x, y):
        if x == y:
            return True
        if not (isinstance(x, (int, float)) and isinstance(y, (int, float))) or isinstance(x, bool) or isinstance(y, bool):
            return False
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if math.isinf(x) or math.isinf(y):
            return False
        return abs(x - y) <= FINGERPRINT_RTOL * max(abs(x), abs(y)) + FINGERPRINT_ATOL
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@dataclass(frozen=True)
class Entry:
    """One archived run: its folder, manifest, and claims."""

    chapter: str
    folder: Path
    manifest: dict[str, Any]
    claims: list[dict[str, Any]]

    @property
    def notebook(self) -> Path:
        return self.folder / _FILES["notebook"]


def archive(chapter: str, full_build: str | os.PathLike, quick_build: str | os.PathLike, *,
            dest: str | os.PathLike | None = None, host: dict[str, Any] | None = None) -> Entry:
    """Archive chapter ``chapter``'s published full-mode run from ``full_build`` into ``dest/<chapter>/``.

    ``quick_build`` must hold a published quick-mode run of the same chapter made by the same gdln
    sources: its claims become the fingerprint. ``host`` describes the machine the run was made on
    (default: this one, :func:`machine`; archive on the machine that ran it). The entry replaces any
    previous one in a single rename; nothing is written when a check fails.
    """
    full, quick = published(Path(full_build), chapter), published(Path(quick_build), chapter)
    if full is None:
        raise ValueError(f"no complete published run of {chapter!r} in {full_build}")
    if quick is None:
        raise ValueError(f"no complete published quick-mode run of {chapter!r} in {quick_build} "
                         "(its claims are the archive's fingerprint)")
    (record, run_dir), (qrecord, qrun_dir) = full, quick
    if record["parameters"].get("mode") != "full":
        raise ValueError(f"the run of {chapter!r} in {full_build} has mode={record['parameters'].get('mode')!r}; "
                         "only full-mode runs are archived")
    if qrecord["parameters"].get("mode") != "quick":
        raise ValueError(f"the run of {chapter!r} in {quick_build} is not a quick-mode run")
    if qrecord["gdln_source_hash"] != record["gdln_source_hash"]:
        raise ValueError(f"the quick run of {chapter!r} was made by other gdln sources "
                         f"({qrecord['gdln_source_hash'][:10]}) than the full run ({record['gdln_source_hash'][:10]}): "
                         "its claims cannot fingerprint the full run")
    if not record.get("claims") or not qrecord.get("claims"):
        raise ValueError(f"chapter {chapter!r} wrote no claims; there is nothing to judge")
    quick_claims = json.loads((qrun_dir / f"{chapter}.json").read_text())
    root = Path(dest).resolve() if dest is not None else results_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{chapter}.", dir=root))
    try:
        shutil.copyfile(run_dir / f"{chapter}.ipynb", tmp / _FILES["notebook"])
        shutil.copyfile(run_dir / f"{chapter}.json", tmp / _FILES["claims"])
        manifest = {
            "chapter": chapter,
            "record": record,
            "machine": host if host is not None else machine(),
            "files": {k: file_digests(tmp / v)["sha256"] for k, v in _FILES.items()},
            "fingerprint": {"parameters": qrecord["parameters"], "run_id": qrecord["run_id"],
                            "claims": fingerprint_of(quick_claims)},
        }
        atomic_write_json(tmp / "manifest.json", manifest)
        for p in tmp.iterdir():
            os.chmod(p, FILE_MODE)
        os.chmod(tmp, 0o755)
        final = root / chapter
        old = root / f".{chapter}.replaced"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load(chapter, root)


def load(chapter: str, root: str | os.PathLike | None = None) -> Entry | None:
    """The archived entry of ``chapter``, or None when there is none or it is incomplete or altered."""
    folder = (Path(root) if root is not None else results_dir()) / chapter
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        for key, name in _FILES.items():
            if file_digests(folder / name)["sha256"] != manifest["files"][key]:
                return None
        claims = json.loads((folder / _FILES["claims"]).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Entry(chapter, folder, manifest, claims)


def judge(entry: Entry, quick_claims: list[dict[str, Any]] | None, *, gdln_hash: str | None = None) -> str:
    """``"current"``, ``"verified by fingerprint"`` or ``"stale"`` (see the module docstring).

    ``quick_claims``: the claims today's code measured in quick mode (None when there is no quick run).
    """
    if entry.manifest["record"]["gdln_source_hash"] == (gdln_hash or source_hash()):
        return "current"
    if quick_claims is not None and _same_numbers(fingerprint_of(quick_claims), entry.manifest["fingerprint"]["claims"]):
        return "verified by fingerprint"
    return "stale"


def standing(build: str | os.PathLike, chapter: str) -> tuple[Entry | None, str | None]:
    """``chapter``'s archived entry and its :func:`judge` verdict against build folder ``build``.

    The fingerprint is checked against the build's published run when that run is a quick-mode one (a
    build made in another mode cannot verify it). ``(None, None)`` when nothing is archived.
    """
    entry = load(chapter)
    if entry is None:
        return None, None
    found = published(Path(build), chapter)
    quick = None
    if found and found[0]["parameters"].get("mode") == "quick" and found[0].get("claims"):
        quick = json.loads((found[1] / f"{chapter}.json").read_text())
    return entry, judge(entry, quick)
