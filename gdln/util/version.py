"""The package version (pyproject.toml states the same; a test checks) and a hash of its sources."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from gdln.util.files import PACKAGE_DIR

__all__ = ["__version__", "source_hash", "short_hash"]

__version__ = "0.1.0"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 over the gdln package sources (file names and contents), as 64 hex digits."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def short_hash() -> str:
    """The first 10 hex digits of :func:`source_hash`."""
    return source_hash()[:10]
