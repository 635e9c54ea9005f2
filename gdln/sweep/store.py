"""Archived sweeps: a finished sweep with its provenance, found again by what it trained.

A sweep at the paper's data scale takes from half an hour (CPU, ``M = 10``) to GPU-hours, so a
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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gdln.engines.routenet import SweepResult
from gdln.sweep.spec import SweepSpec, load_result, replay_prefix, run, save_result
from gdln.tasks.images import TaskFamily
from gdln.util.files import REPO_ROOT, atomic_write_json, file_digests
from gdln.util.version import __version__, source_hash

__all__ = ["STORE", "Archived", "machine", "archive", "find", "load", "replay", "obtain", "Origins"]

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

    @property
    def name(self) -> str:
        return self.path.stem


def archive(name: str, spec: SweepSpec, result: SweepResult, *, what: str, command: str, wall_time_s: float,
            device="cpu", store=None) -> Path:
    """Write ``<store>/<name>.npz`` and its record ``<name>.json`` (both atomically; the arrays first).

    Refuses a ``name`` that would leave the store, and an existing entry of another spec.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name={name!r} is invalid; expected a plain file name such as 'mnist-permuted-M10-full'")
    folder = _store(store)
    npz, rec = folder / f"{name}.npz", folder / f"{name}.json"
    if npz.exists() and load_result(npz)[0] != spec:
        raise ValueError(f"{npz} holds another sweep; choose another name or remove it first")
    folder.mkdir(parents=True, exist_ok=True)
    save_result(npz, spec, result)
    record = {"what": what, "command": command, "spec": json.loads(spec.to_json()), "machine": machine(device),
              "wall_time_s": round(float(wall_time_s), 1),
              "executed_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
              "code": {"gdln_version": __version__, "gdln_source_hash": source_hash()},
              "sha256": file_digests(npz)["sha256"]}
    atomic_write_json(rec, record)
    return npz


def _record(npz: Path) -> dict:
    rec = npz.with_suffix(".json")
    if not rec.exists():
        raise ValueError(f"{npz} has no record {rec.name}; an archived sweep needs both (see gdln.sweep.store)")
    return json.loads(rec.read_text())


def load(path: str | os.PathLike) -> Archived:
    """Read an archived sweep, after checking its ``.npz`` against the SHA-256 in its record."""
    npz = Path(path)
    record = _record(npz)
    digest = file_digests(npz)["sha256"]
    if digest != record.get("sha256"):
        raise ValueError(f"{npz} does not match its record: sha256 {digest[:12]}... != {str(record.get('sha256'))[:12]}...; "
                         "the archive is damaged or was rewritten without its record")
    spec, result = load_result(npz)
    return Archived(npz, spec, result, record)


def find(spec: SweepSpec, store=None) -> Path | None:
    """The archived ``.npz`` whose spec equals ``spec`` (every field), or None."""
    folder = _store(store)
    for npz in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        if load_result(npz)[0] == spec:
            return npz
    return None


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
        atomic_write_json(entry.path.with_suffix(".json"), entry.record)
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
        return [label, data, f"archive: results/sweeps/{origin['name']}.npz", where, check]

    HEAD = ["sweep", "scale", "source", "run on", "replay check"]

    def _repr_html_(self) -> str:
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(*r)) + "</tr>"
                       for r in self.rows)
        head = "".join(f"<th>{h}</th>" for h in self.HEAD)
        return f'<table class="gdln-sweeps"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(" | ".join(c) for c in [self.HEAD, *(self._cells(*r) for r in self.rows)])
