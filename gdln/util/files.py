"""Where things are and how they are written: the package and repository roots, and atomic writes.

Every file the book produces (claims, provenance, reports, caches) is written through
:func:`atomic_open`: a temporary file beside the target, renamed onto it on success, so that a reader
or an interrupted run never sees a half-written file; the file gets the usual ``open()`` mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = ["PACKAGE_DIR", "REPO_ROOT", "FILE_MODE", "ensure_writable", "atomic_open", "atomic_write_text", "atomic_write_json",
           "file_digests"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The mode of every file written here: what ``open()`` would give (0644 under the usual umask 022);
#: ``mkstemp`` alone would leave 0600, unreadable to the other users of a shared build or cache.
FILE_MODE = 0o666 & ~_umask()


def ensure_writable(folder: str | os.PathLike, what: str, consequence: str = "") -> Path:
    """Create ``folder`` if needed and check that files can be written in it, before any work.

    Raises ``OSError`` (``PermissionError`` for permissions) naming ``what`` ("the results folder") and
    the folder, followed by ``consequence`` ("nothing was archived"), if given.
    """
    folder = Path(folder)
    tail = f"; {consequence}" if consequence else ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create {what} {folder}: {err.strerror or err}{tail}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {what} {folder} (permission denied){tail}")
    return folder


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it onto ``path``, on error remove it.

    Readers therefore see either the old file or the complete new one, never a half-written file. The
    file gets :data:`FILE_MODE` (0644 under umask 022), like a file made by ``open()``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"cannot serialise {type(x).__name__} to JSON")


def file_digests(path: str | os.PathLike, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of the file at ``path`` (read once, in 1 MiB blocks), by algorithm name."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}
