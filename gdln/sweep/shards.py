"""Resumable sweeps: each shard is filed in the sweep store the moment it finishes.

A sweep at ``M = 40`` trains for hours on two CPU cores, longer than a background job or a
pre-emptible cluster job can be relied on to live. So a sweep bound for the archive (``python -m
gdln.sweep ... --archive NAME``) is cut into shards (:func:`gdln.sweep.spec.shard`) and every
finished shard is filed at once in ``<store>/NAME.shards/``:

- ``shard-IIII-of-NNNN.npz``: the shard's arrays and its own spec (:func:`gdln.sweep.spec.save_result`);
- ``shard-IIII-of-NNNN.json``: its record, written last (the commit point): the whole sweep's spec,
  the number of shards, the shard's index and its points and seeds, the SHA-256 of the ``.npz``,
  wall time, machine and code.

Running the same command again trains only the shards that are missing. A shard whose record is
absent (killed while writing) does not count; one whose arrays do not match its record is reported
(:class:`~gdln.sweep.store.DamagedEntry`) and trained again; shards of another sweep, or of another
cut, are refused before any training. When every shard is present they are gathered into the arrays
of the single-process run (bit for bit, tested) and archived as one entry, and the shards folder is
removed.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import warnings
from pathlib import Path

from gdln.engines.routenet import SweepResult
from gdln.sweep.spec import SweepSpec, gather, load_result, save_result, shard
from gdln.sweep.store import DamagedEntry, _store, machine
from gdln.util.files import atomic_write_json, file_digests
from gdln.util.version import __version__, source_hash

__all__ = ["shards_dir", "shard_stem", "file_shard", "filed_shards", "assemble", "discard_shards"]


def shards_dir(name: str, store=None) -> Path:
    """The folder where the shards of entry ``name`` wait until the sweep is complete."""
    return _store(store) / f"{name}.shards"


def shard_stem(index: int, n_shards: int) -> str:
    return f"shard-{index:04d}-of-{n_shards:04d}"


def file_shard(name: str, spec: SweepSpec, n_shards: int, index: int, result: SweepResult, *,
               wall_time_s: float, device="cpu", store=None) -> Path:
    """File shard ``index`` of ``spec`` cut into ``n_shards``: arrays first, then the record (atomically)."""
    sub, pi, si = shard(spec, n_shards)[index]
    folder = shards_dir(name, store)
    folder.mkdir(parents=True, exist_ok=True)
    stem = shard_stem(index, n_shards)
    npz = save_result(folder / f"{stem}.npz", sub, result)
    atomic_write_json(folder / f"{stem}.json", {
        "sweep": json.loads(spec.to_json()), "n_shards": n_shards, "index": index, "points": pi, "seeds": si,
        "sha256": file_digests(npz)["sha256"], "wall_time_s": round(float(wall_time_s), 1),
        "executed_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": machine(device), "code": {"gdln_version": __version__, "gdln_source_hash": source_hash()}})
    return npz


def filed_shards(name: str, spec: SweepSpec, n_shards: int, store=None) -> dict[int, tuple[list, list, SweepResult, dict]]:
    """The shards of ``spec`` already filed: ``{index: (point_indices, seed_indices, result, record)}``.

    Raises ``ValueError`` (before any training) when the folder holds shards of another sweep or of
    another number of shards. A damaged shard is left out with one :class:`DamagedEntry` warning, so
    that it is trained again.
    """
    folder = shards_dir(name, store)
    if not folder.is_dir():
        return {}
    want = json.loads(spec.to_json())
    expected = shard(spec, n_shards)
    out = {}
    for rec in sorted(folder.glob("shard-*.json")):
        try:
            record = json.loads(rec.read_text())
            sweep, n = record["sweep"], record["n_shards"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            warnings.warn(f"{rec}: the shard record cannot be read ({err}); the shard is trained again", DamagedEntry)
            continue
        if sweep != want:
            raise ValueError(f"{folder} holds shards of another sweep ({rec.name}); finish that sweep, "
                             "choose another name, or remove the folder")
        if n != n_shards:
            raise ValueError(f"{folder} holds a sweep cut into {n} shards; run it again with --shards {n}")
        index = record.get("index")
        npz = rec.with_suffix(".npz")
        try:
            if not isinstance(index, int) or not 0 <= index < n_shards or rec.stem != shard_stem(index, n_shards):
                raise ValueError(f"index {index!r} does not match the file name")
            if not npz.exists() or file_digests(npz)["sha256"] != record.get("sha256"):
                raise ValueError(f"{npz.name} is missing or does not match the SHA-256 in its record")
            sub, res = load_result(npz)
            if sub != expected[index][0]:
                raise ValueError(f"{npz.name} holds another part of the sweep than shard {index}")
        except Exception as err:  # damaged arrays: BadZipFile, KeyError, EOFError, ValueError
            warnings.warn(f"{rec}: skipping a damaged shard ({type(err).__name__}: {err}); it is trained again",
                          DamagedEntry)
            continue
        out[index] = (expected[index][1], expected[index][2], res, record)
    return out


def assemble(spec: SweepSpec, n_shards: int, done: dict) -> SweepResult:
    """The whole sweep from all its filed shards (:func:`gdln.sweep.spec.gather`)."""
    missing = sorted(set(range(len(shard(spec, n_shards)))) - set(done))
    if missing:
        raise ValueError(f"shards {missing} of {n_shards} are missing; run the same command again to train them")
    return gather(spec, [(pi, si, res) for pi, si, res, _ in (done[i] for i in sorted(done))])


def discard_shards(name: str, store=None) -> None:
    """Remove the shards folder of ``name`` (after the assembled sweep is archived)."""
    shutil.rmtree(shards_dir(name, store), ignore_errors=True)
