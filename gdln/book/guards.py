"""Reading a chapter's quick-mode guards (``results/bounds/<chapter>.json``) so that a broken file says so.

:func:`gdln.book.claims.load_guards` reads the file; a chapter reads it through :func:`read` (via
:func:`gdln.book.bounds.load`), and the runner checks it with :func:`check` before a kernel starts:

- a file that is not valid JSON, or not an object of ``claim id -> guard``, is an error naming the file and
  where it breaks (never a bare ``JSONDecodeError``);
- a guard whose claim id is not one the chapter records is an error naming the file, the id and the
  nearest ids the chapter does record: a misspelled id would otherwise leave its claim without a guard,
  silently. The ids a chapter records are read from its source: the string literals of the form
  ``"<topic>.<name>"`` in it and its f-strings (``f"dln.chain_d{D}"`` stands for ``dln.chain_d<anything>``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

from gdln.book.claims import bounds_dir, load_guards

__all__ = ["path_of", "read", "source_claim_ids", "check", "unused"]

_FILE = re.compile(r"\.(json|npz|npy|md|ipynb|py|png|svg|pdf|txt|csv|gz|tgz|js|css|html|yml|yaml|pt)$")
_HOW = "declare the guards again with `python -m gdln.book bounds {chapter}`"


def path_of(chapter: str, folder: str | os.PathLike | None = None) -> Path:
    """Where chapter ``chapter``'s guards are declared."""
    return Path(folder or bounds_dir()) / f"{chapter}.json"


def read(chapter: str, folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The declared guards of ``chapter`` (claim id -> guard; empty when none are declared).

    Raises ``ValueError`` naming the file when it is not valid JSON, not an object, or a bound is invalid."""
    path = path_of(chapter, folder)
    if not path.exists():
        return {}
    how = _HOW.format(chapter=chapter)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: the quick-mode guards are not UTF-8 text ({err.reason}); {how}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the quick-mode guards are not valid JSON ({err.msg} at line {err.lineno} "
                         f"column {err.colno}); fix it or {how}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the quick-mode guards must be a JSON object of claim id -> guard, "
                         f"not a {type(data).__name__}; {how}")
    return load_guards(chapter, path.parent)


def source_claim_ids(source: str) -> tuple[set[str], list[re.Pattern]]:
    """The claim ids chapter source ``source`` can record: its literal ids, and patterns for its f-string ids."""
    literals = {t for t in re.findall(r"""["']([A-Za-z_][\w-]*\.[\w.-]+)["']""", source)
                if not _FILE.search(t)}  # "zeta.json" is a file name, not a claim id
    patterns = []
    for body in re.findall(r"""\bf(?:"([^"\n]*\{[^"\n]*)"|'([^'\n]*\{[^'\n]*)')""", source):
        text = body[0] or body[1]
        parts = re.split(r"\{[^{}]*\}", text)
        if len(parts) > 1 and "." in "".join(parts) and re.fullmatch(r"[\w.-]*", "".join(parts)):  # an id, no prose
            patterns.append(re.compile(r"[\w.-]+".join(re.escape(p) for p in parts)))
    return literals, patterns


def check(chapter: str, source: str, folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """:func:`read`, and every guard's claim id among the ids chapter source ``source`` records (else ``ValueError``)."""
    guards = read(chapter, folder)
    literals, patterns = source_claim_ids(source)
    for cid in guards:
        if cid in literals or any(p.fullmatch(cid) for p in patterns):
            continue
        near = difflib.get_close_matches(cid, sorted(literals), n=3, cutoff=0.6)
        raise ValueError(f"{path_of(chapter, folder)}: the guard {cid!r} names no claim that chapter {chapter!r} "
                         f"records (book/{chapter}.md)" + (f"; did you mean {' or '.join(map(repr, near))}?" if near else "")
                         + f" A misspelled id leaves its claim without a guard: fix it or {_HOW.format(chapter=chapter)}")
    return guards


def unused(chapter: str, guards: dict[str, Any], claims: list[dict[str, Any]]) -> list[str]:
    """The guard ids that no claim of a run (``claims``, its manifest) carries."""
    ids = {c.get("id") for c in claims}
    return [cid for cid in guards if cid not in ids]
