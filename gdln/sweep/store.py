"""Archived sweeps: a finished sweep with its provenance, found again by what it trained.

A sweep on every training image takes from half an hour (CPU, ``M = 10``) to GPU-hours, so a
finished one is kept: ``<name>.npz`` (the arrays and the :class:`~gdln.sweep.spec.SweepSpec`, written by
:func:`~gdln.sweep.spec.save_result`) beside ``<name>.json``, its record:

- ``spec``: the sweep (family, ``M``, ``K`` values, gains, seeds, width, data scale, protocol);
- ``what``, ``command``: in words, and the command that made it;
- ``machine``: platform, CPU count, GPU name, CUDA and torch versions;
- ``code``: the gdln version and source hash of the run; ``wall_time_s``, ``executed_at``;
- ``sha256`` of the ``.npz``, checked by every load (:func:`load`);
- ``replay_check``: today's code re-trains the first steps and compares the stored loss history
  (:func:`replay`); ``0.0`` means bit for bit.

:func:`obtain` is the one entry point a chapter uses: the archived result whose spec equals the one
asked for (exactly: every field, every float), or a new run. The spec is the cache key, the replay is
the guard against code that would no longer produce the stored numbers.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import platform
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gdln.engines.routenet import SweepResult
from gdln.sweep.spec import SweepSpec, load_result, replay_prefix, run, save_result
from gdln.tasks.images import TaskFamily
from gdln.util.files import REPO_ROOT, atomic_write_json, ensure_writable, file_digests
from gdln.util.version import __version__, source_hash

__all__ = ["STORE", "Archived", "DamagedEntry", "machine", "preflight", "archive", "entries", "find", "largest_archived", "load", "replay",
           "obtain", "Origins"]

#: The repository's sweep archive (``$GDLN_SWEEPS_DIR`` overrides it).
STORE = REPO_ROOT / "results" / "sweeps"


def _store(store) -> Path:
    return Path(store if store is not None else os.environ.get("GDLN_SWEEPS_DIR") or STORE)


def machine(device="cpu") -> dict:
    """Where a sweep ran: platform, CPU count, GPU name (or None), CUDA and torch versions."""
    dev = torch.device(device)
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    return {"platform": platform.platform(), "cpu": platform.machine(), "cpu_count": os.cpu_count(),
            "gpu": gpu, "cuda": torch.version.cuda if gpu else None, "torch": torch.__version__}


@dataclass
class Archived:
    """An archived sweep: where it lies, its spec, its arrays and its record (the ``.json``)."""

    path: Path
    spec: SweepSpec
    result: SweepResult
    record: dict = field(default_factory=dict)
    record_path: Path | None = None

    @property
    def name(self) -> str:
        return (self.record_path or self.path).stem


class DamagedEntry(UserWarning):
    """An entry of the sweep archive that cannot be read or does not agree with its record."""


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith(".") \
            or name.endswith((".npz", ".json", ".shards")):
        raise ValueError(f"name={name!r} is invalid; expected a plain file name without extension, "
                         "such as 'mnist-permuted-M10-full'")


def _arrays_path(rec_path: Path, record: dict) -> Path:
    """The ``.npz`` a record vouches for: ``record["arrays"]`` (new entries), else ``<name>.npz``."""
    name = record.get("arrays", f"{rec_path.stem}.npz")
    if Path(name).name != name:
        raise ValueError(f"{rec_path}: 'arrays' = {name!r} is not a file name in the store")
    return rec_path.with_name(name)


def preflight(name: str, spec: SweepSpec, store=None) -> Path:
    """Check, before any training, that ``spec`` can be filed as ``name``; returns the store folder.

    Refuses an invalid ``name``, a store that cannot be created or written (tried with a temporary
    file), and an entry ``name`` that holds another sweep. An entry of the same spec is allowed (it
    will be replaced by the new run, atomically, only once that run is complete).
    """
    _check_name(name)
    folder = _store(store)
    try:
        ensure_writable(folder, "the sweep store", "choose another --store or fix its permissions")
    except OSError as err:
        raise ValueError(str(err)) from None
    rec = folder / f"{name}.json"
    if rec.exists():
        try:
            other = SweepSpec.from_json(json.dumps(json.loads(rec.read_text())["spec"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{rec} exists but cannot be read ({err}); choose another name or move it away") from None
        if other != spec:
            raise ValueError(f"{rec} holds another sweep ({other.family}, M = {other.M}, K = {list(other.Ks)}); "
                             "choose another name or remove it first")
    return folder


def archive(name: str, spec: SweepSpec, result: SweepResult, *, what: str, command: str, wall_time_s: float,
            device="cpu", store=None, extra: dict | None = None) -> Path:
    """File ``result`` as entry ``name``: its arrays ``<name>-<sha12>.npz`` and its record ``<name>.json``.

    One atomic step: the arrays are written under a name of their own (their checksum) beside any
    previous entry, and the record, written atomically last, is the commit point; only then is the
    previous entry's arrays file removed. A run killed at any moment leaves the previous entry intact
    (or the new one complete) and at most an unreferenced arrays file, which the next ``archive``
    of that name removes. Refuses what :func:`preflight` refuses. Returns the arrays' path.
    """
    folder = preflight(name, spec, store)
    rec = folder / f"{name}.json"
    old = None
    if rec.exists():
        try:
            old = _arrays_path(rec, json.loads(rec.read_text()))
        except (OSError, ValueError):
            old = None
    tmp = folder / f".{name}.arrays.tmp.npz"
    save_result(tmp, spec, result)
    digest = file_digests(tmp)["sha256"]
    npz = folder / f"{name}-{digest[:12]}.npz"
    os.replace(tmp, npz)
    record = {"what": what, "command": command, "spec": json.loads(spec.to_json()), "machine": machine(device),
              "wall_time_s": round(float(wall_time_s), 1),
              "executed_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
              "code": {"gdln_version": __version__, "gdln_source_hash": source_hash()},
              "arrays": npz.name, "sha256": digest, **(extra or {})}
    atomic_write_json(rec, record)
    for stale in [old] if old is not None and old != npz else []:
        stale.unlink(missing_ok=True)
    _remove_orphans(folder, name, keep=npz)
    return npz


def _remove_orphans(folder: Path, name: str, keep: Path) -> None:
    """Arrays files of entry ``name`` that its record does not name (left by an interrupted archive)."""
    for f in folder.glob(f"{name}-*.npz"):
        if f != keep and len(f.stem) == len(name) + 13:
            f.unlink(missing_ok=True)
    (folder / f".{name}.arrays.tmp.npz").unlink(missing_ok=True)


def _record(rec: Path) -> dict:
    try:
        record = json.loads(rec.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{rec}: the record cannot be read ({err})") from None
    if not isinstance(record, dict) or "spec" not in record or "sha256" not in record:
        raise ValueError(f"{rec}: not a sweep record (expected an object with 'spec' and 'sha256')")
    return record


def load(path: str | os.PathLike) -> Archived:
    """Read an archived sweep (its record ``.json``, or the entry's ``.npz``), after checking that the
    arrays match the SHA-256 in the record and that the spec in the arrays is the record's spec."""
    path = Path(path)
    rec = path if path.suffix == ".json" else _record_of(path)
    record = _record(rec)
    npz = _arrays_path(rec, record)
    if not npz.exists():
        raise ValueError(f"{rec} names the arrays {npz.name}, which are missing")
    digest = file_digests(npz)["sha256"]
    if digest != record.get("sha256"):
        raise ValueError(f"{npz} does not match its record {rec.name}: sha256 {digest[:12]}... != "
                         f"{str(record.get('sha256'))[:12]}...; the archive is damaged or was rewritten without its record")
    try:
        spec, result = load_result(npz)
    except Exception as err:  # a damaged zip: BadZipFile, KeyError, EOFError, ValueError
        raise ValueError(f"{npz} cannot be read ({type(err).__name__}: {err})") from None
    try:
        rec_spec = SweepSpec.from_json(json.dumps(record["spec"]))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{rec}: its spec is not a valid sweep ({err})") from None
    if rec_spec != spec:
        raise ValueError(f"{rec}: its spec differs from the one stored in {npz.name}; the record was edited")
    return Archived(npz, spec, result, record, rec)


def _record_of(npz: Path) -> Path:
    """The record of an arrays file: ``<name>.json`` for ``<name>.npz`` or ``<name>-<sha12>.npz``."""
    direct = npz.with_suffix(".json")
    stem = npz.stem
    for rec in (direct, npz.with_name(f"{stem[:-13]}.json") if len(stem) > 13 and stem[-13] == "-" else None):
        if rec is not None and rec.exists():
            return rec
    raise ValueError(f"{npz} has no record {direct.name}; an archived sweep needs both (see gdln.sweep.store)")


def entries(store=None) -> list[Path]:
    """The records (``.json``) of the store's entries, by name."""
    folder = _store(store)
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []


def find(spec: SweepSpec, store=None) -> Path | None:
    """The arrays (``.npz``) of the archived entry whose spec equals ``spec`` (every field), or None.

    An entry that cannot be read, or whose arrays do not match its record, is skipped with one
    :class:`DamagedEntry` warning naming its file and what is wrong; the rest of the store keeps working.
    """
    for rec in entries(store):
        try:
            if SweepSpec.from_json(json.dumps(_record(rec)["spec"])) != spec:
                continue
            entry = load(rec)
        except (ValueError, TypeError, KeyError) as err:
            warnings.warn(f"sweep archive: skipping {rec.name}: {err}", DamagedEntry, stacklevel=2)
            continue
        return entry.path
    return None


def largest_archived(make_spec: Callable[[int], SweepSpec], Ms: Iterable[int], store=None) -> int | None:
    """The largest ``M`` of ``Ms`` whose sweep ``make_spec(M)`` the archive holds (every field equal), or None.

    A panel of Section 5 is a rule that makes a sweep from its number of domains (the K grid and the
    gain's K depend on ``M``); this finds the largest ``M`` at which that rule's sweep has been run, so a
    page can show each panel at the largest scale archived for it without training anything.
    """
    Ms = sorted({int(m) for m in Ms}, reverse=True)
    if not Ms or Ms[-1] < 2:
        raise ValueError(f"Ms={Ms!r} is invalid; expected one or more numbers of domains >= 2")
    return next((M for M in Ms if find(make_spec(M), store) is not None), None)


def replay(entry: Archived, *, steps: int = 100, family: TaskFamily | None = None, device="cpu", data_dir=None,
           write: bool = False) -> float:
    """Re-train the first ``steps`` steps with today's code; the largest loss difference (0.0: bit for bit).

    ``write=True`` stores the result in the entry's record as ``replay_check``.
    """
    diff = replay_prefix(entry.spec, entry.result, steps=steps, family=family, device=device, data_dir=data_dir)
    if write:
        entry.record["replay_check"] = {
            "steps": steps, "max_abs_loss_difference": diff, "device": str(torch.device(device)),
            "checked_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
            "code": {"gdln_version": __version__, "gdln_source_hash": source_hash()},
            "meaning": "today's code retrained the first steps and compared the stored loss history (0.0: bit for bit)"}
        atomic_write_json(entry.record_path or entry.path.with_suffix(".json"), entry.record)
    return diff


def obtain(spec: SweepSpec, *, family: TaskFamily | None = None, device="cpu", data_dir=None, store=None,
           replay_steps: int = 0) -> tuple[SweepResult, dict]:
    """The result of ``spec``: from the archive when an entry has exactly this spec, else trained now.

    Returns ``(result, origin)``; ``origin`` says ``"archive"`` (with the entry's name, record and,
    when ``replay_steps > 0``, the replay difference measured now) or ``"computed"``.
    An archived result carries no trained networks (``result.net is None``).
    """
    path = find(spec, store)
    if path is None:
        return run(spec, family=family, device=device, data_dir=data_dir), {"source": "computed"}
    entry = load(path)
    origin = {"source": "archive", "name": entry.name, "record": entry.record}
    if replay_steps:
        origin["replay"] = {"steps": replay_steps, "max_abs_loss_difference":
                            replay(entry, steps=replay_steps, family=family, device=device, data_dir=data_dir)}
    return entry.result, origin


class Origins:
    """Where each sweep of a page came from, shown as a table (HTML in a notebook, text elsewhere).

    ``origins.add(label, spec, origin)`` with the ``origin`` that :func:`obtain` returned.
    """

    def __init__(self):
        self.rows: list[tuple[str, SweepSpec, dict]] = []

    def add(self, label: str, spec: SweepSpec, origin: dict) -> None:
        self.rows.append((label, spec, origin))

    @property
    def archived(self) -> list[str]:
        return [label for label, _, o in self.rows if o["source"] == "archive"]

    def _cells(self, label: str, spec: SweepSpec, origin: dict) -> list[str]:
        data = f"M = {spec.M}, {spec.n_train:,} train / {spec.n_test:,} test, N_h = {spec.n_h}, {spec.train.get('steps')} steps"
        if origin["source"] != "archive":
            return [label, data, "computed by this run", "", ""]
        rec = origin["record"]
        m = rec.get("machine", {})
        where = f"{m.get('gpu') or 'CPU'} ({m.get('cpu_count')} cores), {rec.get('executed_at', '?')}"
        rep = origin.get("replay")
        check = (f"first {rep['steps']} steps retrained now: max |loss difference| {rep['max_abs_loss_difference']:.2g}"
                 if rep else "not replayed by this run")
        return [label, data, f"archive: results/sweeps/{rec.get('arrays', origin['name'] + '.npz')}", where, check]

    HEAD = ["sweep", "scale", "source", "run on", "replay check"]

    def _repr_html_(self) -> str:
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(*r)) + "</tr>"
                       for r in self.rows)
        head = "".join(f"<th>{h}</th>" for h in self.HEAD)
        return f'<table class="gdln-sweeps"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(" | ".join(c) for c in [self.HEAD, *(self._cells(*r) for r in self.rows)])
