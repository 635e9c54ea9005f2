"""The claims manifest: each chapter checks the paper's claims and records them.

A claim is one number measured by a chapter, compared with a target from the paper (or from the
math) under a stated tolerance. Every chapter writes ``_build/claims/<chapter>.json``: a list of
objects with the fields of :class:`Claim`. The Reproduction report gathers them, and the test
suite fails when one fails.

Comparisons (``kind``):

- ``"abs"``: ``|measured - target| <= tolerance``
- ``"rel"``: ``|measured - target| <= tolerance * |target|``
- ``"le"``:  ``measured <= target + tolerance``  (an upper bound, e.g. an error)
- ``"ge"``:  ``measured >= target - tolerance``  (a lower bound, e.g. an accuracy)

A claim that only holds at the paper's scale is declared with ``full_only=True``: in quick mode it
is measured and shown, with ``passed = None`` and status ``"full-only"``; in full mode it is
checked like any other.

A claim the paper makes but this companion does not reproduce at the stated tolerance is still
recorded, never loosened: declare it with ``known_deviation="why"`` and, when it fails, its status is
``"deviates"`` (``passed = False``), shown in red on the chapter and in the Reproduction report with
the reason. The test suite fails on status ``"fail"`` only, i.e. on a failure nobody has explained;
a declared deviation that starts passing is reported as ``"pass"``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from gdln.book.provenance import build_dir
from gdln.util.files import atomic_write_json

__all__ = ["KINDS", "MODES", "STATUSES", "Claim", "compare", "Claims", "ClaimsTable"]

Kind = Literal["abs", "rel", "le", "ge"]
KINDS: tuple[str, ...] = ("abs", "rel", "le", "ge")
MODES: tuple[str, ...] = ("quick", "full")
#: Claim statuses and the ``passed`` value that goes with each.
STATUSES: dict[str, bool | None] = {"pass": True, "fail": False, "deviates": False, "full-only": None}


@dataclass(frozen=True)
class Claim:
    """One checked claim, as written to the manifest."""

    id: str
    ref: str
    statement: str
    measured: float
    target: float
    tolerance: float
    kind: str
    passed: bool | None
    status: str  # "pass" | "fail" | "full-only" | "deviates"
    mode: str
    note: str = ""


def compare(measured: float, target: float, tolerance: float, kind: str) -> bool:
    """Whether ``measured`` meets ``target`` under ``tolerance`` for comparison ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown claim kind {kind!r}; expected one of {KINDS}")
    if not math.isfinite(measured):
        return False
    if kind == "abs":
        return abs(measured - target) <= tolerance
    if kind == "rel":
        return abs(measured - target) <= tolerance * abs(target)
    if kind == "le":
        return measured <= target + tolerance
    return measured >= target - tolerance


class Claims:
    """Collects the claims of one chapter and writes them atomically to the manifest.

    >>> claims = Claims("framework", mode="quick")
    >>> claims.check("framework.path_gradient", ref="Eqs. 3-4", statement="...",
    ...              measured=3e-15, target=0.0, tolerance=1e-10, kind="abs")  # doctest: +SKIP
    >>> claims.save()  # doctest: +SKIP
    """

    def __init__(self, chapter: str, mode: str, out_dir: str | os.PathLike | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.chapter = chapter
        self.mode = mode
        self.out_dir = Path(out_dir) if out_dir is not None else Path(
            os.environ.get("GDLN_CLAIMS_DIR", build_dir() / "claims"))
        self.claims: list[Claim] = []

    def check(self, id: str, *, ref: str, statement: str, measured: float, target: float,
              tolerance: float, kind: Kind = "abs", full_only: bool = False, note: str = "",
              known_deviation: str = "") -> Claim:
        """Record a claim and return it (its ``passed`` says whether it held)."""
        if "." not in id:
            raise ValueError(f"claim id {id!r} should look like '<topic>.<name>'")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim {id!r} recorded twice in chapter {self.chapter!r}")
        measured, target, tolerance = float(measured), float(target), float(tolerance)
        if tolerance < 0 or not math.isfinite(tolerance):
            raise ValueError(f"tolerance must be a finite non-negative number, got {tolerance!r}")
        ok = compare(measured, target, tolerance, kind)
        if full_only and self.mode != "full":
            passed, status = None, "full-only"
        elif ok:
            passed, status = True, "pass"
        else:
            passed, status = False, ("deviates" if known_deviation else "fail")
        if known_deviation:
            note = (note + " " if note else "") + f"Known deviation: {known_deviation}"
        claim = Claim(id=id, ref=ref, statement=statement, measured=measured, target=target,
                      tolerance=tolerance, kind=kind, passed=passed, status=status, mode=self.mode,
                      note=note)
        self.claims.append(claim)
        return claim

    @property
    def path(self) -> Path:
        return self.out_dir / f"{self.chapter}.json"

    def save(self) -> Path:
        """Write the manifest ``<out_dir>/<chapter>.json`` atomically and return its path."""
        return atomic_write_json(self.path, [asdict(c) for c in self.claims])

    def table(self) -> "ClaimsTable":
        """A rich display of the claims so far (HTML in a notebook, text elsewhere)."""
        return ClaimsTable([asdict(c) for c in self.claims])


_SYMBOL = {"abs": "|m - t| <=", "rel": "|m - t|/|t| <=", "le": "m <= t +", "ge": "m >= t -"}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        if x == 0 or (1e-3 <= abs(x) < 1e4):
            return f"{x:.4g}"
        return f"{x:.2e}"
    return str(x)


class ClaimsTable:
    """Claims as an HTML table (for notebooks and the Reproduction report) or plain text."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def _cells(self, r: dict[str, Any]) -> list[str]:
        statement = r["statement"]
        if r.get("note"):
            statement = f"{statement} ({r['note']})"
        return [r["id"], r["ref"], r["status"].upper(), _fmt(r["measured"]), _fmt(r["target"]),
                f"{_SYMBOL.get(r['kind'], r['kind'])} {_fmt(r['tolerance'])}", r["mode"], statement]

    HEAD = ["claim", "paper", "status", "measured (m)", "target (t)", "criterion", "mode", "statement"]

    def _repr_html_(self) -> str:
        import html
        out = ['<table class="gdln-claims"><thead><tr>']
        out += [f"<th>{h}</th>" for h in self.HEAD]
        out.append("</tr></thead><tbody>")
        for r in self.rows:
            cls = {"pass": "claim-pass", "fail": "claim-fail", "deviates": "claim-fail"}.get(
                r["status"], "claim-full-only")
            out.append(f'<tr class="{cls}">' + "".join(
                f"<td>{html.escape(c)}</td>" for c in self._cells(r)) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    def __repr__(self) -> str:
        lines = [" | ".join(self.HEAD)]
        lines += [" | ".join(self._cells(r)) for r in self.rows]
        return "\n".join(lines)
