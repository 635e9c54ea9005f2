"""Provenance of a computed result: gdln version, a hash of its sources, mode, seeds, wall time.

Every figure's caption in the book ends with a line built from :class:`Provenance`
(:meth:`Provenance.caption`, glued by :meth:`gdln.book.chapter.Chapter.stamp`), so that a reader can
trace it to the exact code and parameters that made it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gdln.util.version import __version__, short_hash, source_hash
from gdln.util.files import REPO_ROOT

__all__ = ["source_hash", "short_hash", "build_dir", "Provenance"]


def build_dir() -> Path:
    """Where executed chapters and claims go: ``$GDLN_BUILD_DIR`` (relative: to the current folder) or ``<repo>/_build``."""
    return Path(os.environ.get("GDLN_BUILD_DIR") or REPO_ROOT / "_build").resolve()


@dataclass
class Provenance:
    """What made a result: chapter, mode, seeds, gdln version and source hash, wall time.

    ``started`` is taken when the object is created (the top of a chapter), so
    :meth:`caption` reports the wall time of everything computed up to the figure.
    """

    chapter: str
    mode: str
    seeds: Sequence[int] | int
    device: str = "cpu"
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def caption(self, seeds: Sequence[int] | int | None = None) -> str:
        """The provenance line of a figure's caption: chapter, mode, seeds, device, gdln version and hash, wall time."""
        s = self.seeds if seeds is None else seeds
        if isinstance(s, int):
            seed_txt = str(s)
        else:
            s = list(s)
            seed_txt = (f"{s[0]}..{s[-1]} ({len(s)})" if len(s) > 3 else ",".join(map(str, s))) if s else "-"
        return (f"Made by chapter {self.chapter} in {self.mode} mode, seeds {seed_txt}, on {self.device}, with "
                f"gdln {__version__} ({short_hash()}), {self.elapsed:.1f} s into the run.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "mode": self.mode,
            "seeds": self.seeds if isinstance(self.seeds, int) else list(self.seeds),
            "device": self.device,
            "gdln_version": __version__,
            "gdln_source_hash": source_hash(),
            "wall_time_s": round(self.elapsed, 3),
        }
