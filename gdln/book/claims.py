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

A claim that quick mode's small problems cannot judge is declared with ``larger_run=True``: it is
judged only on a larger run than quick mode (a full-mode run, or the chapter's archived full run). In
quick mode it is measured and shown, with ``passed = None`` and status ``"larger-run"``; in full mode
it is checked like any other. Manifests written before the rename say ``"full-only"``: :func:`read`
maps it to ``"larger-run"`` (:data:`LEGACY_STATUSES`).

A claim judged on a particular run records that run's *scale* (``scale=``, a dict from
:mod:`gdln.book.scale`, e.g. :func:`gdln.book.scale.of_sweep` of the sweep it is judged on): ``M``,
``N_h``, seeds, steps, training time, device, and the panel of the paper it is compared with. The
chapter's claims table and the Reproduction report say it in words.

A claim the paper makes but this companion does not reproduce at the stated tolerance is still
recorded, never loosened: declare it with ``known_deviation="why"`` and, when it fails, its status is
``"deviates"`` (``passed = False``), shown in red on the chapter and in the Reproduction report with
the reason. The test suite fails on status ``"fail"`` only, i.e. on a failure nobody has explained;
a declared deviation that starts passing is reported as ``"pass"``.

The *margin* of a claim (:func:`margin`) puts every comparison on one axis: how far inside (positive)
or outside (negative) its criterion the measured value lies, in units of the slack the criterion
allows; 0 is the boundary and 1 is the target itself. :meth:`Claims.check` shows each claim where it is
made, in a notebook, as a one-line badge whose HTML id (:func:`anchor`) the Reproduction report links to.

Every claim also says what kind of evidence it is (``evidence``, one of :data:`EVIDENCE`):

- ``"consistency"``: an identity or a test of the code against the math, which holds by construction when
  the code is right (the path-form gradient against autograd, the reduction from decoupled initial
  conditions, a closed form against numerical integration of the very equation it solves);
- ``"empirical"``: a statement about what trained networks do that could have come out otherwise (transfer
  thresholds, networks from small random weights following the reduced equations, accuracies).

The report shows the kind beside each claim, so a reader sees which claims test the paper's findings.

And every claim says whose statement it checks (``source``, one of :data:`SOURCES`): the paper's, the first
author's talk (a reference that starts with "talk"), or a widely shared reader's summary of the paper (a
reference that names it); :func:`source_of` reads it from the reference when a chapter does not give it, and
:func:`read` does so for manifests written before the field existed. The report counts the paper's own
empirical claims apart from the identities, the talk's and the summary's claims (:func:`group_of`).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal

from gdln.book import scale as run_scale
from gdln.util.files import REPO_ROOT, atomic_write_json

__all__ = ["KINDS", "MODES", "STATUSES", "LEGACY_STATUSES", "LARGER_RUN", "read", "read_manifest", "Claim", "compare",
           "margin", "one_grid_step", "anchor", "criterion_text", "measured_vs_criterion", "badge_html", "Claims", "ClaimsTable", "BOUNDS_DIR",
           "bounds_dir", "load_guards", "EVIDENCE", "SOURCES", "source_of", "GROUPS", "group_of", "numbered"]

Kind = Literal["abs", "rel", "le", "ge"]
KINDS: tuple[str, ...] = ("abs", "rel", "le", "ge")
MODES: tuple[str, ...] = ("quick", "full")
#: The status of a claim that only a larger run than quick mode judges (``larger_run=True``).
LARGER_RUN = "larger-run"
#: Claim statuses and the ``passed`` value that goes with each.
STATUSES: dict[str, bool | None] = {"pass": True, "fail": False, "deviates": False, LARGER_RUN: None}
#: Statuses of manifests written before a rename -> today's name (read by :func:`read`).
LEGACY_STATUSES: dict[str, str] = {"full-only": LARGER_RUN}
Evidence = Literal["consistency", "empirical"]
#: What a claim tests: the code against the math (consistency) or the paper's findings about trained networks.
EVIDENCE: tuple[str, ...] = ("consistency", "empirical")
Source = Literal["paper", "talk", "reader"]
#: Whose statement a claim checks -> in words.
SOURCES: dict[str, str] = {"paper": "the paper", "talk": "the first author's talk",
                           "reader": "a reader's summary of the paper"}
#: The groups the report counts apart (:func:`group_of`) -> in words, the paper's own findings first.
GROUPS: dict[str, str] = {
    "paper": "the paper's own empirical claims",
    "identity": "identities (the code against the paper's mathematics)",
    "talk": "claims of the first author's talk",
    "reader": "claims of a reader's summary (not in the paper)",
    "unrecorded": "claims with no recorded kind of evidence",
}


def source_of(ref: str) -> str:
    """Whose statement a claim with reference ``ref`` checks (:data:`SOURCES`): ``"talk"`` when the reference
    starts with "talk", ``"reader"`` when it names a reader's summary, else ``"paper"``."""
    text = str(ref).strip().lower()
    if text.startswith("talk"):
        return "talk"
    if re.search(r"\breader(?:'s|s')? summary", text):
        return "reader"
    return "paper"


def group_of(claim: Mapping[str, Any]) -> str:
    """The report's group of a claim (:data:`GROUPS`): the talk's and the reader's summary's claims by their
    source; the paper's claims by their evidence, its empirical claims apart from the identities."""
    source = claim.get("source") or source_of(claim.get("ref", ""))
    if source in ("talk", "reader"):
        return source
    return {"empirical": "paper", "consistency": "identity"}.get(claim.get("evidence") or "", "unrecorded")


def numbered(claims: list[Mapping[str, Any]]) -> dict[str, int]:
    """Claim id -> its number on its chapter's page (1, 2, ... in the order the chapter checks them)."""
    return {c["id"]: i for i, c in enumerate(claims, start=1)}


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
    status: str  # "pass" | "fail" | "larger-run" | "deviates" (STATUSES)
    mode: str
    note: str = ""
    guard_expected: float | None = None  # quick-mode guard (gdln.book.bounds): declared value ...
    guard_tolerance: float | None = None  # ... and its bound from the spread over seeds
    evidence: str = ""  # "consistency" | "empirical" (EVIDENCE); "" only in manifests written before it existed
    scale: dict | None = None  # the scale of the run it is judged on (gdln.book.scale); None: not recorded
    source: str = ""  # "paper" | "talk" | "reader" (SOURCES); "" only in manifests written before it existed

    def _ipython_display_(self) -> None:
        """A claim is shown once, by :meth:`Claims.check`; displaying it again shows the badge without its id."""
        if self.__dict__.pop("_shown", False):
            return  # `claims.check(...)` as the last line of a cell: check() has already shown it
        _display(asdict(self), with_id=False)


def read(claim: Mapping[str, Any]) -> dict[str, Any]:
    """A claim as read from a manifest, in today's names: a legacy status (:data:`LEGACY_STATUSES`) is renamed,
    and a claim written before ``source`` existed gets the one its reference names (:func:`source_of`)."""
    c = dict(claim)
    c["status"] = LEGACY_STATUSES.get(c.get("status"), c.get("status"))
    if not c.get("source"):
        c["source"] = source_of(c.get("ref", ""))
    return c


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The claims of a manifest file (``_build/claims/<chapter>.json``, ``results/<chapter>/claims.json``), via :func:`read`."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: not a claims manifest (expected a list of claims)")
    return [read(c) for c in data]


#: Where each chapter's quick-mode guards are declared (``$GDLN_BOUNDS_DIR`` overrides it; :mod:`gdln.book.bounds`).
BOUNDS_DIR = REPO_ROOT / "results" / "bounds"


def bounds_dir() -> Path:
    return Path(os.environ.get("GDLN_BOUNDS_DIR") or BOUNDS_DIR)


def load_guards(chapter: str, folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The declared quick-mode guards of ``chapter`` (claim id -> guard); empty when none were declared."""
    path = Path(folder or bounds_dir()) / f"{chapter}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    for cid, b in data.items():
        if not (isinstance(b, dict) and math.isfinite(b.get("expected", math.nan))
                and math.isfinite(b.get("tolerance", math.nan)) and b["tolerance"] >= 0):
            raise ValueError(f"{path}: the bound of {cid!r} is invalid ({b!r}); expected finite 'expected' and "
                             "'tolerance' >= 0; declare it again with `python -m gdln.book bounds`")
    return data


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


def margin(measured: float, target: float, tolerance: float, kind: str) -> float:
    """How far inside (> 0) or outside (< 0) its criterion a measured value lies, on one normalised axis.

    ``margin = (allowed - miss) / scale``, where the *miss* and the slack *allowed* are, per ``kind``:

    - ``"abs"``: miss ``|m - t|``, allowed ``tol``
    - ``"rel"``: miss ``|m - t|``, allowed ``tol * |t|``
    - ``"le"``:  miss ``m - t`` (negative below the target), allowed ``tol``
    - ``"ge"``:  miss ``t - m`` (negative above the target), allowed ``tol``

    and ``scale = allowed`` when it is positive, else ``|t|`` (a bound with no slack is measured in
    units of itself), else 1. So 0 is the criterion's boundary and 1 is the target itself (or, for a
    bound given with no slack, a measured value of 0); ``abs`` and ``rel`` margins are at most 1,
    ``le``/``ge`` margins exceed 1 when the value is on the good side of the target. A non-finite
    measured value has margin ``-inf``. The sign always agrees with :func:`compare`:
    ``margin >= 0`` exactly when the claim's criterion holds.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown claim kind {kind!r}; expected one of {KINDS}")
    measured, target, tolerance = float(measured), float(target), float(tolerance)
    if not math.isfinite(measured):
        return -math.inf
    if kind == "abs":
        allowed, miss = tolerance, abs(measured - target)
    elif kind == "rel":
        allowed, miss = tolerance * abs(target), abs(measured - target)
    elif kind == "le":
        allowed, miss = tolerance, measured - target
    else:
        allowed, miss = tolerance, target - measured
    scale = allowed if allowed > 0 else (abs(target) if target != 0 else 1.0)
    value = (allowed - miss) / scale
    # rounding at the boundary must not contradict compare(): the sign is the verdict
    return max(value, 0.0) if compare(measured, target, tolerance, kind) else min(value, -5e-324)


def one_grid_step(grid, around: float) -> float:
    """A tolerance of one step of a sampling ``grid`` around the value ``around`` (a threshold read on the grid).

    When ``around`` is a grid point the step is the distance to its nearer neighbour (so both
    neighbours pass on a uniform grid, and only the nearer one on a grid that widens); between grid
    points it is the interval that holds it (beyond the grid, the end interval). To it is added the
    rounding error of a difference of two grid values: in floating point ``|0.3 - 0.4| =
    0.10000000000000003 > 0.1``, so a bare step would reject a value exactly one step away. The slack
    is a few units in the last place of the grid's largest value, far below any step.
    """
    g = sorted({float(x) for x in grid})
    if len(g) < 2 or not all(math.isfinite(x) for x in g) or not math.isfinite(float(around)):
        raise ValueError(f"grid={list(grid)!r}, around={around!r} are invalid; expected at least two finite grid values")
    a = float(around)
    slack = 4 * math.ulp(max(abs(g[0]), abs(g[-1]), abs(a)))
    on = [i for i, x in enumerate(g) if abs(x - a) <= slack]
    if on:
        i = on[0]
        step = min(g[j + 1] - g[j] for j in (i - 1, i) if 0 <= j < len(g) - 1)
    elif a < g[0] or a > g[-1]:
        step = g[1] - g[0] if a < g[0] else g[-1] - g[-2]
    else:
        step = next(hi - lo for lo, hi in zip(g, g[1:]) if lo < a < hi)
    return step + slack


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's badge on its chapter page: ``xor.gdln_vs_analytic`` -> ``claim-xor-gdln_vs_analytic``."""
    return "claim-" + re.sub(r"[^A-Za-z0-9_-]", "-", claim_id)


def _short(x: float) -> str:
    """A number in at most 3 significant digits (scientific notation outside [1e-3, 1e4))."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}".replace("-", "\u2212")
    return f"{x:.2g}".replace("-", "\u2212")


def criterion_text(target: float, tolerance: float, kind: str) -> str:
    """The criterion in a few characters: ``0.4 ± 0.1``, ``24.8 ± 5%``, ``≤ 1e-06``, ``≥ 1 − 0.1``."""
    t, tol = float(target), float(tolerance)
    if kind == "abs":
        return f"= {_short(t)}" if tol == 0 else f"{_short(t)} \u00b1 {_short(tol)}"
    if kind == "rel":
        return f"= {_short(t)}" if tol == 0 else f"{_short(t)} \u00b1 {_short(100 * tol)}%"
    sign, op = ("\u2264", "+") if kind == "le" else ("\u2265", "\u2212")
    if tol == 0:
        return f"{sign} {_short(t)}"
    if t == 0:
        return f"{sign} {_short(tol if kind == 'le' else -tol)}"
    return f"{sign} {_short(t)} {op} {_short(tol)}"


#: Status -> CSS class (the book's stylesheet colours them; see book/_assets/gdln.css).
STATUS_CLASS: dict[str, str] = {"pass": "claim-pass", "fail": "claim-fail", "deviates": "claim-deviates",
                                 LARGER_RUN: "claim-larger-run"}


def measured_vs_criterion(claim: Mapping[str, Any]) -> str:
    """``<b>0.43</b> vs 0.4 ± 0.1``: a claim's measured value against its criterion, as HTML."""
    crit = criterion_text(claim["target"], claim["tolerance"], claim["kind"])
    return f'<b>{html.escape(_short(claim["measured"]))}</b> vs {html.escape(crit)}'


def badge_html(claim: dict[str, Any], *, with_id: bool = True, report: str | None = "report.html",
               number: int | None = None) -> str:
    """One line that shows a claim where a chapter makes it: status, number, id, measured vs criterion, reference.

    With ``with_id`` the line carries the claim's :func:`anchor`, which the Reproduction report links
    to; ``report`` (a relative URL, or None) links back to the claim's row in the report; ``number`` is the
    claim's number on its page (:func:`numbered`), shown as ``#3``.
    """
    c, esc = claim, html.escape
    ident = f' id="{anchor(c["id"])}"' if with_id else ""
    back = (f' <a class="gdln-claim-report" href="{esc(report)}#report-{anchor(c["id"])}" '
            f'title="this claim in the Reproduction report">report</a>') if report else ""
    css = STATUS_CLASS.get(c["status"], "claim-larger-run")
    num = f"#{number} " if number is not None else ""
    return (f'<div class="gdln-claim {css}"{ident}><span class="gdln-status {css}">{esc(c["status"].upper())}</span> '
            f'{num}<code>{esc(c["id"])}</code> {measured_vs_criterion(c)} '
            f'<span class="gdln-claim-ref">\u00b7 {esc(c["ref"])}</span>{back}</div>')


def _badge_text(c: dict[str, Any]) -> str:
    return (f'[{c["status"].upper()}] claim {c["id"]} ({c["ref"]}): measured {_short(c["measured"])}, '
            f'criterion {criterion_text(c["target"], c["tolerance"], c["kind"])}')


def _display(claim: dict[str, Any], *, with_id: bool, number: int | None = None) -> bool:
    """Show a claim's badge in a running IPython kernel (HTML and plain text); False elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # gdln without the book extras
        return False
    if get_ipython() is None:
        return False
    display({"text/html": badge_html(claim, with_id=with_id, number=number), "text/plain": _badge_text(claim)},
            raw=True)
    return True


class Claims:
    """Collects the claims of one chapter and writes them atomically to the manifest.

    >>> claims = Claims("framework", mode="quick")
    >>> claims.check("framework.path_gradient", ref="Eqs. 3-4", statement="...",
    ...              measured=3e-15, target=0.0, tolerance=1e-10, evidence="consistency")  # doctest: +SKIP
    >>> claims.save()  # doctest: +SKIP
    """

    def __init__(self, chapter: str, mode: str, out_dir: str | os.PathLike | None = None,
                 guards: Mapping[str, Mapping[str, Any]] | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.chapter = chapter
        self.mode = mode
        # the runner sets GDLN_CLAIMS_DIR to the folder of the run it executes; a chapter run anywhere else
        # (your own Jupyter, plain papermill) shows its claims but writes them nowhere unless told where:
        # never into the book's build folder, whose manifests belong to the runs that made them
        where = out_dir if out_dir is not None else os.environ.get("GDLN_CLAIMS_DIR") or None
        self.out_dir: Path | None = Path(os.path.abspath(where)) if where is not None else None
        self.claims: list[Claim] = []
        # quick-mode guards of claims that quick mode cannot judge against the paper (gdln.book.bounds)
        self.guards = dict(guards or {}) if mode == "quick" else {}

    def check(self, id: str, *, ref: str, statement: str, measured: float, target: float,
              tolerance: float, evidence: Evidence, kind: Kind = "abs", larger_run: bool = False,
              note: str = "", known_deviation: str = "", scale: Mapping[str, Any] | None = None,
              source: Source | None = None) -> Claim:
        """Record a claim and return it (its ``passed`` says whether it held).

        ``evidence`` says what the claim tests (:data:`EVIDENCE`): ``"consistency"`` for an identity or the code
        against the math, ``"empirical"`` for what trained networks do. ``larger_run``: judged only on a larger
        run than quick mode (status ``"larger-run"`` in quick mode). ``scale``: the scale of the run the claim is
        judged on, from that run's record (:mod:`gdln.book.scale`). ``source``: whose statement it checks
        (:data:`SOURCES`; None: read from ``ref`` by :func:`source_of`).
        """
        if "." not in id:
            raise ValueError(f"claim id {id!r} should look like '<topic>.<name>'")
        if evidence not in EVIDENCE:
            raise ValueError(f"evidence={evidence!r} for claim {id!r} is invalid; expected one of {EVIDENCE}")
        source = source_of(ref) if source is None else source
        if source not in SOURCES:
            raise ValueError(f"source={source!r} for claim {id!r} is invalid; expected one of {tuple(SOURCES)}")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim {id!r} recorded twice in chapter {self.chapter!r}")
        measured, target, tolerance = float(measured), float(target), float(tolerance)
        if tolerance < 0 or not math.isfinite(tolerance):
            raise ValueError(f"tolerance must be a finite non-negative number, got {tolerance!r}")
        scale = run_scale.check(scale) if scale is not None else None
        ok = compare(measured, target, tolerance, kind)
        if larger_run and self.mode != "full":
            passed, status = None, LARGER_RUN
        elif ok:
            passed, status = True, "pass"
        else:
            passed, status = False, ("deviates" if known_deviation else "fail")
        if known_deviation:
            note = (note + " " if note else "") + f"Known deviation: {known_deviation}"
        g = self.guards.get(id)
        if g is not None:
            held = compare(measured, g["expected"], g["tolerance"], "abs")
            seeds = ", ".join(map(str, g.get("seeds", [])))
            note = (note + " " if note else "") + (
                f"Quick-mode guard {_short(g['expected'])} \u00b1 {_short(g['tolerance'])} ({g.get('rule', '')}; "
                f"seeds {seeds}): " + ("held." if held else f"BROKEN, {_short(measured)} is outside it: the quick-mode "
                                      "value moved; find the change, or declare the bound again if it was intended."))
            if not held:
                passed, status = False, "fail"
        claim = Claim(id=id, ref=ref, statement=statement, measured=measured, target=target,
                      tolerance=tolerance, kind=kind, passed=passed, status=status, mode=self.mode,
                      note=note, guard_expected=None if g is None else float(g["expected"]),
                      guard_tolerance=None if g is None else float(g["tolerance"]), evidence=evidence,
                      scale=scale, source=source)
        self.claims.append(claim)
        if _display(asdict(claim), with_id=True, number=len(self.claims)):
            claim.__dict__["_shown"] = True  # so that a cell ending in check(...) does not show it twice
        return claim

    @property
    def path(self) -> Path | None:
        return self.out_dir / f"{self.chapter}.json" if self.out_dir is not None else None

    def save(self) -> Path | None:
        """Write the manifest ``<out_dir>/<chapter>.json`` atomically and return its path (None: no folder)."""
        if self.path is None:
            return None
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


def _details(r: Mapping[str, Any]) -> list[str]:
    """What a claim's row folds: its statement, notes, the scale it was judged at, its kind of evidence, mode."""
    out = [r["statement"]]
    if r.get("note"):
        out.append(r["note"])
    if r.get("scale"):
        out.append(f"Judged at: {run_scale.describe(r['scale'])}.")
    source = SOURCES.get(r.get("source") or source_of(r.get("ref", "")), "")
    out.append(f"Evidence: {r.get('evidence') or 'not recorded'}; the statement of {source}; {r['mode']} mode.")
    return out


class ClaimsTable:
    """A chapter's claims as a compact HTML table (number, status, claim, measured vs criterion; the statement
    and notes folded under the paper's reference) for the chapter's last cell, or as plain text."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def _cells(self, r: dict[str, Any]) -> list[str]:
        statement = f"{r['statement']} ({r['note']})" if r.get("note") else r["statement"]
        if r.get("scale"):
            statement = f"{statement} Judged at: {run_scale.describe(r['scale'])}."
        return [r["id"], r["ref"], r["status"].upper(), _fmt(r["measured"]), _fmt(r["target"]),
                f"{_SYMBOL.get(r['kind'], r['kind'])} {_fmt(r['tolerance'])}", r["mode"], r.get("evidence") or "-",
                statement]

    HEAD = ["claim", "paper", "status", "measured (m)", "target (t)", "criterion", "mode", "evidence", "statement"]

    def _repr_html_(self) -> str:
        esc = html.escape
        out = ['<table class="gdln-claims"><thead><tr><th>#</th><th>status</th><th>claim (its reference unfolds the '
               "statement)</th><th>measured vs criterion</th></tr></thead><tbody>"]
        for i, r in enumerate(self.rows, start=1):
            css = STATUS_CLASS.get(r["status"], "claim-larger-run")
            folded = "".join(f"<p>{esc(x)}</p>" for x in _details(r))
            opened = " open" if r["status"] == "fail" else ""
            out.append(
                f'<tr class="{css}"><td>{i}</td><td><span class="gdln-status {css}">{esc(r["status"].upper())}</span></td>'
                f'<td><a href="#{anchor(r["id"])}"><code>{esc(r["id"])}</code></a>'  # to the claim's badge on this page
                f"<details{opened}><summary>{esc(r['ref'])}</summary>{folded}</details></td>"
                f'<td class="gdln-mvc" style="white-space: nowrap">{measured_vs_criterion(r)}</td></tr>')
        out.append("</tbody></table>")
        return "".join(out)

    def __repr__(self) -> str:
        lines = [" | ".join(self.HEAD)]
        lines += [" | ".join(self._cells(r)) for r in self.rows]
        return "\n".join(lines)
