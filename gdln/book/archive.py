"""The results archive: full-mode runs kept in the repository, and whether each is still current.

A full-mode run (a larger run than quick mode: hours on a GPU or a day on a CPU) cannot be repeated at
every build, so its outputs are archived under ``results/<chapter>/``::

    results/<chapter>/manifest.json   provenance, checksums and the quick-mode fingerprint (below)
    results/<chapter>/notebook.ipynb  the executed notebook (figures included)
    results/<chapter>/claims.json     the claims manifest of the run

``manifest.json`` holds the run's record from the runner (cache key, parameters, gdln source hash,
dependency versions including torch, wall time, date, the data files it read), the machine it ran on
(CPU, GPU name, CUDA version), the SHA-256 of the two files, and a *numerical fingerprint*: the claims
that the quick mode of the same code measured (a quick run with the same gdln source hash).

What an entry is worth (:func:`assess`, with the reason in words):

- ``"damaged"``: the entry is incomplete or altered: a file is missing or unreadable, a checksum differs
  from the one its manifest records, or its claims (``claims.json``) are not the claims its notebook shows
  (every claim badge of the executed notebook, id, status and measured value, against the manifest of
  claims). A damaged entry affects only itself: it is reported as damaged with the reason, never as absent
  and never as verified, and none of its claims is used (:attr:`Entry.claims` is empty);
- ``"current"``: the gdln sources are the ones that made the run;
- ``"verified by fingerprint"``: the sources differ (a refactor, a comment), but today's quick-mode
  claims, measured with the fingerprint's parameters, equal the fingerprint number for number up to
  floating-point reproducibility across machines (:data:`FINGERPRINT_RTOL`, :data:`FINGERPRINT_ATOL`):
  the code still computes what it computed then, so the full run still stands for it;
- ``"unverified"``: the sources differ and there is no quick-mode run at the fingerprint's parameters to
  compare (none at all, or one with another seed or chapter parameter; the device is not compared): the
  run is neither confirmed nor contradicted, and it is not shown as current;
- ``"stale"``: the sources differ and today's quick-mode numbers, at the fingerprint's parameters, moved
  (the reason names the claims and both values): the run may not be what today's code would produce. A
  stale entry is never shown as current.

**Writes.** :func:`archive` builds the new entry in a temporary folder beside it and swaps it in by two
renames under a lock on the results folder (``flock``): the old entry becomes ``.<chapter>.replaced``,
the new one takes its name, the old one is removed. A process killed at any point leaves either the old
entry, the old one under ``.<chapter>.replaced``, or the new one; the next :func:`archive` or
:func:`load` (:func:`recover`) puts the old entry back when there is no new one, and removes the
temporary and replaced folders an interrupted run left.

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

import contextlib
import fcntl
import json
import math
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from gdln.book.claims import _short
from gdln.book.provenance import source_hash
from gdln.book.runner import published
from gdln.util.files import FILE_MODE, REPO_ROOT, atomic_write_json, ensure_writable, file_digests

__all__ = ["duration", "RESULTS_DIR", "STATUSES", "SHOWN", "FINGERPRINT_RTOL", "FINGERPRINT_ATOL", "Entry", "Verdict",
           "archive", "load", "recover", "notebook_claims", "assess", "judge", "standing", "verdict", "fingerprint_of",
           "machine"]

#: Where archived runs live (``$GDLN_RESULTS_DIR`` overrides, for tests and other checkouts).
RESULTS_DIR = REPO_ROOT / "results"
#: What :func:`judge` can say of an entry.
STATUSES = ("current", "verified by fingerprint", "unverified", "stale", "damaged")
#: The statuses whose entry a chapter page and the report may show as the chapter's full run.
SHOWN = ("current", "verified by fingerprint")
_FILES = {"notebook": "notebook.ipynb", "claims": "claims.json"}
_REPLACED = "replaced"


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


def _same(x: Any, y: Any) -> bool:
    """One measured value against another up to ``FINGERPRINT_RTOL`` of their size plus ``FINGERPRINT_ATOL``
    (NaN equals NaN, an infinity only itself; see the module docstring)."""
    if x == y:
        return True
    if not (isinstance(x, (int, float)) and isinstance(y, (int, float))) or isinstance(x, bool) or isinstance(y, bool):
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return False
    return abs(x - y) <= FINGERPRINT_RTOL * max(abs(x), abs(y)) + FINGERPRINT_ATOL


def _moved(then: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between the fingerprint ``then`` and today's quick-mode numbers ``now``, in words."""
    def text(x: Any) -> str:
        return _short(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else repr(x)

    out = [f"{k} {text(then[k])} -> {text(now[k])}" for k in then if k in now and not _same(then[k], now[k])]
    out += [f"{k} no longer measured" for k in then if k not in now]
    out += [f"{k} new" for k in now if k not in then]
    return out


def _same_numbers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same claim ids with the same measured values (:func:`_same`)."""
    return not _moved(a, b)


@dataclass(frozen=True)
class Entry:
    """One archived run: its folder, manifest, and claims.

    ``damaged``: why the entry cannot be trusted (None when it is whole); a damaged entry's ``claims`` are
    empty and its ``manifest`` holds what could be read of it (``record`` and ``machine`` always present)."""

    chapter: str
    folder: Path
    manifest: dict[str, Any]
    claims: list[dict[str, Any]]
    damaged: str | None = field(default=None)

    @property
    def notebook(self) -> Path:
        return self.folder / _FILES["notebook"]


class Verdict(NamedTuple):
    """An entry (None: nothing archived), its status (:data:`STATUSES`; None: nothing archived) and why."""

    entry: Entry | None
    status: str | None
    reason: str

    @property
    def shown(self) -> bool:
        """Whether the entry may be shown as the chapter's full run (current or verified by fingerprint)."""
        return self.status in SHOWN


# ---------------------------------------------------------------- the claims a notebook shows

#: The plain-text form of a claim badge (gdln.book.claims.Claims.check): status, id, reference, measured value.
_BADGE = re.compile(r"^\[([A-Z-]+)\] claim (\S+) \((.*)\): measured (\S+), criterion (.+)$")
#: Statuses renamed since a run was made (gdln.book.claims.LEGACY_STATUSES), compared under today's name.
_RENAMED = {"FULL-ONLY": "LARGER-RUN"}


def _status(text: Any) -> str:
    s = str(text).upper()
    return _RENAMED.get(s, s)


def notebook_claims(notebook: Mapping[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """Claim id -> the (status, measured value as shown) of every badge of it in an executed notebook's outputs."""
    out: dict[str, set[tuple[str, str]]] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            text = output.get("data", {}).get("text/plain") if isinstance(output, dict) else None
            if text is None:
                continue
            m = _BADGE.match(("".join(text) if isinstance(text, list) else str(text)).strip())
            if m:
                out.setdefault(m.group(2), set()).add((_status(m.group(1)), m.group(4)))
    return out


def _disagreement(claims: Any, notebook: Mapping[str, Any]) -> str | None:
    """Why the claims manifest ``claims`` is not what ``notebook`` shows (None when they agree)."""
    if not isinstance(claims, list) or not all(isinstance(c, dict) and {"id", "status", "measured"} <= c.keys()
                                               for c in claims):
        return "claims.json is not a list of claims (id, status, measured)"
    shown = notebook_claims(notebook)
    for c in claims:
        want = (_status(c["status"]), _short(c["measured"]) if isinstance(c["measured"], (int, float)) else "?")
        seen = shown.get(c["id"])
        if not seen:
            return f"claim {c['id']!r} of claims.json is not among the claims the notebook shows"
        if seen != {want}:
            got = ", ".join(f"{s} {v}" for s, v in sorted(seen))
            return (f"claim {c['id']!r} is {want[0]} {want[1]} in claims.json but {got} in the notebook's output: "
                    "the two files are not from the same run")
    extra = sorted(set(shown) - {c["id"] for c in claims})
    if extra:
        return f"the notebook shows claim(s) {', '.join(extra)} that claims.json lacks"
    return None


# ---------------------------------------------------------------- the lock, and what interrupted runs leave

@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the results folder itself (works on a read-only folder too)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _leftovers(root: Path, chapter: str) -> list[Path]:
    """The temporary folders of interrupted :func:`archive` calls of ``chapter`` (not its replaced entry)."""
    with contextlib.suppress(OSError):
        return sorted(p for p in root.iterdir() if p.name.startswith(f".{chapter}.") and
                      p.name != f".{chapter}.{_REPLACED}")
    return []


def recover(chapter: str, root: str | os.PathLike | None = None, *, log=None) -> list[str]:
    """Undo what an interrupted :func:`archive` of ``chapter`` left in ``root``; return what was done, in words.

    Without ``root/<chapter>`` the previous entry, left as ``.<chapter>.replaced``, is renamed back; with it,
    the replaced copy is removed; temporary folders are removed. Call under :func:`_locked`. A folder that
    cannot be written is left as it is (the entry is then read from where it lies, see :func:`load`).
    """
    root = Path(root) if root is not None else results_dir()
    final, old = root / chapter, root / f".{chapter}.{_REPLACED}"
    done = []
    try:
        if old.is_dir() and not final.exists():
            os.replace(old, final)
            done.append(f"restored the previous entry of {chapter!r} from {old.name} (an archive was interrupted)")
        elif old.exists():
            shutil.rmtree(old)
            done.append(f"removed {old.name}, left by an interrupted archive")
        for tmp in _leftovers(root, chapter):
            shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
            done.append(f"removed {tmp.name}, left by an interrupted archive")
    except OSError:
        pass
    for line in done:
        (log or (lambda *_: None))(f"[gdln.book] {line}")
    return done


# ---------------------------------------------------------------- writing an entry

def archive(chapter: str, full_build: str | os.PathLike, quick_build: str | os.PathLike, *,
            dest: str | os.PathLike | None = None, host: dict[str, Any] | None = None, log=None) -> Entry:
    """Archive chapter ``chapter``'s published full-mode run from ``full_build`` into ``dest/<chapter>/``.

    ``quick_build`` must hold a published quick-mode run of the same chapter made by the same gdln
    sources: its claims become the fingerprint. ``host`` describes the machine the run was made on
    (default: this one, :func:`machine`; archive on the machine that ran it). Everything is checked before
    anything is written (the runs, their modes and sources, that the full run's claims are those its
    notebook shows, that ``dest`` can be written); the entry then replaces any previous one by renames
    under a lock, and an interrupted call is undone by the next (module docstring, *Writes*).
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
    notebook, claims_file = run_dir / f"{chapter}.ipynb", run_dir / f"{chapter}.json"
    why = _disagreement(json.loads(claims_file.read_text()), json.loads(notebook.read_text(encoding="utf-8")))
    if why is not None:
        raise ValueError(f"the full run of {chapter!r} in {full_build} cannot be archived: {why}")
    quick_claims = json.loads((qrun_dir / f"{chapter}.json").read_text())
    root = Path(dest).resolve() if dest is not None else results_dir()
    ensure_writable(root, "the results folder", "nothing was archived")
    with _locked(root):
        recover(chapter, root, log=log)
        tmp = Path(tempfile.mkdtemp(prefix=f".{chapter}.", dir=root))
        try:
            shutil.copyfile(notebook, tmp / _FILES["notebook"])
            shutil.copyfile(claims_file, tmp / _FILES["claims"])
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
            os.chmod(tmp, FILE_MODE | (FILE_MODE & 0o444) >> 2)  # a folder: 0755 under umask 022
            final, old = root / chapter, root / f".{chapter}.{_REPLACED}"
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)  # the commit point
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            recover(chapter, root)  # the previous entry back in place, if it had been moved aside
            raise
        shutil.rmtree(old, ignore_errors=True)
    return load(chapter, root)


# ---------------------------------------------------------------- reading an entry

def _placeholder(chapter: str, manifest: Any) -> dict[str, Any]:
    """What could be read of a damaged entry's manifest, with a ``record`` and a ``machine`` always present."""
    m = dict(manifest) if isinstance(manifest, dict) else {}
    record = m.get("record") if isinstance(m.get("record"), dict) else {}
    m["record"] = {"chapter": chapter, "parameters": {}, "executed_at": "unknown", "gdln_source_hash": "unknown",
                   "wall_time_s": 0.0, **record}
    m["machine"] = m.get("machine") if isinstance(m.get("machine"), dict) else {}
    return m


def _read(chapter: str, folder: Path) -> Entry:
    """The entry in ``folder``, whole or damaged (with the reason)."""
    manifest: Any = None

    def damaged(why: str) -> Entry:
        return Entry(chapter, folder, _placeholder(chapter, manifest), [], damaged=why)

    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return damaged("manifest.json is missing")
    except (OSError, UnicodeDecodeError) as err:
        return damaged(f"manifest.json cannot be read ({err})")
    except ValueError as err:
        return damaged(f"manifest.json is not valid JSON ({err})")
    if not isinstance(manifest, dict):
        return damaged("manifest.json is not a JSON object")
    for key in ("record", "machine", "files", "fingerprint"):
        if not isinstance(manifest.get(key), dict):
            return damaged(f"manifest.json has no {key!r}")
    record = manifest["record"]
    for key in ("gdln_source_hash", "parameters", "executed_at", "wall_time_s", "files"):
        if key not in record:
            return damaged(f"the run record in manifest.json has no {key!r}")
    if manifest.get("chapter") != chapter:
        return damaged(f"manifest.json is the entry of chapter {manifest.get('chapter')!r}, not of {chapter!r}")
    if not isinstance(record["files"], dict) or not isinstance(record["parameters"], dict):
        return damaged("the run record in manifest.json has no 'files' or 'parameters' object")
    if not isinstance(manifest["fingerprint"].get("claims"), dict) or \
            not isinstance(manifest["fingerprint"].get("parameters", {}), dict):
        return damaged("the fingerprint in manifest.json has no claims or parameters")
    texts = {}
    for key, name in _FILES.items():
        path = folder / name
        try:
            digest = file_digests(path)["sha256"]
            texts[key] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return damaged(f"{name} is missing")
        except (OSError, UnicodeDecodeError) as err:
            return damaged(f"{name} cannot be read ({err})")
        if digest != manifest["files"].get(key):
            return damaged(f"{name} does not match the SHA-256 that manifest.json records for it (altered after archiving)")
        if digest != record["files"].get(key):
            return damaged(f"manifest.json records a SHA-256 of {name} other than the run's own record does "
                           "(the manifest was edited)")
    try:
        claims, nb = json.loads(texts["claims"]), json.loads(texts["notebook"])
    except ValueError as err:
        return damaged(f"claims.json or notebook.ipynb is not valid JSON ({err})")
    why = _disagreement(claims, nb if isinstance(nb, dict) else {})
    if why is not None:
        return damaged(why)
    return Entry(chapter, folder, manifest, claims)


def load(chapter: str, root: str | os.PathLike | None = None, *, log=None) -> Entry | None:
    """The archived entry of ``chapter``: None when nothing is archived, else an :class:`Entry` that is whole or
    ``damaged`` (with the reason). What an interrupted :func:`archive` left is recovered first (:func:`recover`);
    where the folder cannot be written, a previous entry left as ``.<chapter>.replaced`` is read where it lies."""
    root = Path(root) if root is not None else results_dir()
    if not root.is_dir():
        return None
    try:
        with _locked(root):
            recover(chapter, root, log=log)
            return _find(chapter, root)
    except OSError:  # the folder cannot be locked: read it as it is
        return _find(chapter, root)


def _find(chapter: str, root: Path) -> Entry | None:
    for folder in (root / chapter, root / f".{chapter}.{_REPLACED}"):
        if folder.exists():
            if not folder.is_dir():
                return Entry(chapter, folder, _placeholder(chapter, None), [],
                             damaged=f"{folder.name} is not a folder")
            return _read(chapter, folder)
    return None


# ---------------------------------------------------------------- judging an entry

def _comparable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "device"}


def assess(entry: Entry, quick_claims: list[dict[str, Any]] | None, *, quick_parameters: Mapping[str, Any] | None = None,
           gdln_hash: str | None = None) -> tuple[str, str]:
    """``(status, reason)`` of ``entry`` (see the module docstring).

    ``quick_claims``: the claims today's code measured in quick mode (None when there is no quick run);
    ``quick_parameters``: the parameters of that run (None: taken to be the fingerprint's).
    """
    if entry.damaged:
        return "damaged", entry.damaged
    made, today = entry.manifest["record"]["gdln_source_hash"], gdln_hash or source_hash()
    if made == today:
        return "current", f"made by today's gdln sources ({today[:10]})"
    fp = entry.manifest["fingerprint"]
    differ = f"today's gdln sources ({today[:10]}) are not the run's ({made[:10]})"
    if quick_claims is None:
        return "unverified", (f"{differ}, and this build has no quick-mode run of {entry.chapter!r} to compare with "
                              "the fingerprint")
    want = _comparable(fp.get("parameters") or {})
    have = _comparable(quick_parameters) if quick_parameters is not None else want
    if have != want:
        keys = sorted(set(want) | set(have))
        diff = ", ".join(f"{k}={have.get(k)!r} (fingerprint: {want.get(k)!r})" for k in keys if have.get(k) != want.get(k))
        return "unverified", (f"{differ}; this build's quick-mode run has {diff}, so no quick-mode run at the "
                              f"fingerprint's parameters exists to compare (run `python -m gdln.book run {entry.chapter}` "
                              "with them to check it)")
    moved = _moved(fp["claims"], fingerprint_of(quick_claims))
    if moved:
        return "stale", (f"{differ} and today's code moved its quick-mode numbers at the fingerprint's parameters: "
                         f"{'; '.join(moved[:4])}{' ...' if len(moved) > 4 else ''} (fingerprint -> today; tolerance "
                         f"{FINGERPRINT_RTOL:g} relative)")
    return "verified by fingerprint", (f"{differ}, but today's quick-mode claims equal the fingerprint "
                                       f"(within {FINGERPRINT_RTOL:g} relative)")


def judge(entry: Entry, quick_claims: list[dict[str, Any]] | None, *, gdln_hash: str | None = None,
          quick_parameters: Mapping[str, Any] | None = None) -> str:
    """The status of :func:`assess` alone."""
    return assess(entry, quick_claims, quick_parameters=quick_parameters, gdln_hash=gdln_hash)[0]


def verdict(build: str | os.PathLike, chapter: str, *, root: str | os.PathLike | None = None) -> Verdict:
    """``chapter``'s archived entry, its status and the reason, against build folder ``build``.

    The fingerprint is checked against the build's published run when that run is a quick-mode one (a
    build made in another mode cannot verify it). ``Verdict(None, None, ...)`` when nothing is archived.
    """
    entry = load(chapter, root)
    if entry is None:
        return Verdict(None, None, f"no full-mode run of {chapter!r} is archived")
    found = published(Path(build), chapter)
    quick, params = None, None
    if found and found[0]["parameters"].get("mode") == "quick" and found[0].get("claims"):
        quick, params = json.loads((found[1] / f"{chapter}.json").read_text()), found[0]["parameters"]
    status, reason = assess(entry, quick, quick_parameters=params)
    return Verdict(entry, status, reason)


def standing(build: str | os.PathLike, chapter: str) -> tuple[Entry | None, str | None]:
    """``(entry, status)`` of :func:`verdict`; ``(None, None)`` when nothing is archived."""
    v = verdict(build, chapter)
    return v.entry, v.status
