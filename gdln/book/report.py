"""The Reproduction report: every chapter's claims, gathered from the claims manifests.

The page is written for a reader with one minute: a headline and the counts by status (overall and
per chapter, linked to the chapters), a figure of every claim's :func:`~gdln.book.claims.margin`
(how far inside or outside its criterion, on one axis), then one compact table of all claims,
failures and deviations first, each linked to the place in its chapter where it is made (the badge
that :meth:`~gdln.book.claims.Claims.check` displays there). Beside each claim, the column of the archived
full run gives that run's verdict and the scale it was judged at, read from the run's record
(:mod:`gdln.book.scale`: the sweep the claim names, else the chapter run's parameters and machine), with how
that scale compares with the paper's run of the same panel. The provenance of each chapter closes the page.

:func:`report_markdown` writes the generated part of ``report.md``; :func:`margins_svg` draws the
figure, which :func:`gdln.book.site.stage` writes beside it as :data:`MARGINS_FIGURE`.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdln.book import scale as run_scale
from gdln.book.archive import SHOWN, Entry, duration, verdict
from gdln.book.claims import EVIDENCE, LARGER_RUN, STATUS_CLASS, STATUSES, anchor, criterion_text, margin, read, read_manifest
from gdln.book.claims import _short as short_number
from gdln.book.runner import _paths, read_record
from gdln.figures.style import PALETTE, use_style

__all__ = ["MARGINS_FIGURE", "STATUS_ORDER", "MARGIN_RANGE", "ChapterClaims", "gather", "judged_at", "split_first_sentence",
           "report_markdown", "report_text", "margins_figure", "margins_svg", "figure_svg"]

#: File name of the margin figure, written beside report.md in the staged site.
MARGINS_FIGURE = "report-margins.svg"
#: Order of the rows in the claims table: what needs attention first.
STATUS_ORDER: tuple[str, ...] = ("fail", "deviates", LARGER_RUN, "pass")
#: Order of the counts in the summary.
SUMMARY_ORDER: tuple[str, ...] = ("pass", "deviates", LARGER_RUN, "fail")
#: Margins are drawn clipped to this range (the table gives the exact values).
MARGIN_RANGE: tuple[float, float] = (-2.0, 2.0)
DOT = "\u00b7"  # a zero count
KNOWN_DEVIATION = "Known deviation: "  # how Claims.check() appends the reason of a declared deviation to the note

#: How each status is drawn: colour (Okabe-Ito), marker (a second cue besides colour), filled or not.
STYLE: dict[str, dict[str, Any]] = {
    "pass": {"color": PALETTE["green"], "marker": "o", "filled": True, "label": "pass"},
    "deviates": {"color": PALETTE["orange"], "marker": "D", "filled": True, "label": "deviates (explained)"},
    LARGER_RUN: {"color": PALETTE["grey"], "marker": "s", "filled": False, "label": f"{LARGER_RUN} (not judged here)"},
    "fail": {"color": PALETTE["red"], "marker": "X", "filled": True, "label": "fail"},
}


@dataclass
class ChapterClaims:
    """One chapter's claims (None: no manifest) and the record of its last execution (None: not executed)."""

    name: str
    title: str
    claims: list[dict[str, Any]] | None
    record: dict[str, Any] | None = None
    archived: Entry | None = None  # the archived full-mode run (results/<chapter>/), if any
    archive_status: str | None = None  # "current", "verified by fingerprint", "unverified", "stale" or "damaged"
    archive_reason: str = ""  # why (gdln.book.archive.verdict)

    def __post_init__(self):
        if self.claims is not None:  # in today's names, whoever wrote them (gdln.book.claims.read)
            self.claims = [read(c) for c in self.claims]

    @property
    def full_claims(self) -> dict[str, dict[str, Any]]:
        """The archived full run's claims by id (in today's names, :func:`~gdln.book.claims.read`), only when that
        run is shown (current, or verified by its fingerprint): an unverified, stale or damaged run is never judged."""
        if self.archived is None or self.archive_status not in SHOWN:
            return {}
        return {c["id"]: read(c) for c in self.archived.claims}

    @property
    def counts(self) -> dict[str, int]:
        """Number of claims by status (every status present, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for c in self.claims or []:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        return counts


def _title(notebook: Path, name: str) -> str:
    """The first level-1 heading of an executed chapter, or its name."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return name
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return name


def gather(names: Sequence[str], build: Path, *, use_archive: bool = True) -> list[ChapterClaims]:
    """Every chapter's claims and provenance record, in book order, with its archived full run if any."""
    out = []
    for name in names:
        notebook, _, claims_path = _paths(build, name)
        claims = read_manifest(claims_path) if claims_path.exists() else None
        record = read_record(build, name)
        v = verdict(build, name) if use_archive else None
        entry, status, reason = (v.entry, v.status, v.reason) if v is not None else (None, None, "")
        out.append(ChapterClaims(name, _title(notebook, name), claims, record, entry, status, reason or ""))
    return out


_ABBREV = re.compile(r"\b(?:Eqs?|Figs?|Secs?|Apps?|Tab|e\.g|i\.e|vs|cf|al|approx|resp|No|ca)\.$")


def split_first_sentence(text: str) -> tuple[str, str]:
    """``(first sentence, the rest)``: the first ``.``, ``!`` or ``?`` followed by a space that does not
    end an abbreviation such as ``Eq.``, ``Fig.`` or ``e.g.``."""
    text = " ".join(text.split())
    for m in re.finditer(r"[.!?](?=\s)", text):
        head = text[: m.end()]
        if m.group() == "." and _ABBREV.search(head):
            continue
        return head, text[m.end():].strip()
    return text, ""


def _margin_text(x: float) -> str:
    if math.isinf(x):
        return "\u2212\u221e" if x < 0 else "+\u221e"
    text = f"{x:+.2f}" if 0.005 <= abs(x) < 100 or x == 0 else f"{x:+.1e}"
    return text.replace("-", "\u2212")


def _margin(c: dict[str, Any]) -> float:
    return margin(c["measured"], c["target"], c["tolerance"], c["kind"])


def _status(status: str) -> str:
    return f'<span class="gdln-status {STATUS_CLASS.get(status, "claim-larger-run")}">{html.escape(status.upper())}</span>'


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _summary(chapters: list[ChapterClaims]) -> str:
    """The headline and the per-chapter counts (markdown + one raw HTML block)."""
    total = {s: sum(ch.counts.get(s, 0) for ch in chapters) for s in SUMMARY_ORDER}
    n = sum(total.values())
    modes = sorted({ch.record["parameters"]["mode"] for ch in chapters if ch.record})
    lines = [f"**{total['pass']} of {n} claims pass**, from {len(chapters)} chapter(s)"
             + (f" executed in {' and '.join(modes)} mode" if modes else "") + "."]
    if total["fail"]:
        lines.append(f"**{_plural(total['fail'], 'claim fails', 'claims fail')} without an explanation**: "
                     "listed first below.")
    if total["deviates"]:
        lines.append(f"{_plural(total['deviates'], 'claim deviates', 'claims deviate')} from the paper, "
                     "with the reason given.")
    if total[LARGER_RUN]:
        lines.append(f"{_plural(total[LARGER_RUN], 'claim is', 'claims are')} judged only on a larger run than quick "
                     "mode (*full run (archived)* below gives that run's verdict and scale).")
    every = [c for ch in chapters for c in (ch.claims or [])]
    kinds = {k: sum(c.get("evidence") == k for c in every) for k in EVIDENCE}
    if any(kinds.values()):
        lines.append(f"Of all claims, {kinds['empirical']} test what the paper says trained networks do "
                     f"(*empirical*) and {kinds['consistency']} test the code against the math, identities that "
                     "hold by construction when the code is right (*consistency*).")
    head = "".join(f"<th>{s}</th>" for s in SUMMARY_ORDER)
    rows = []
    for ch in chapters:
        link = f'<a href="{html.escape(ch.name)}.html">{html.escape(ch.title)}</a>'
        if ch.claims is None:
            why = "not executed" if ch.record is None else "no claims manifest"
            rows.append(f'<tr><td>{link}</td><td colspan="{len(SUMMARY_ORDER) + 1}"><b>{why}</b></td></tr>')
            continue
        cells = "".join(f'<td class="{STATUS_CLASS[s] if ch.counts.get(s) else "gdln-zero"}">{ch.counts.get(s) or DOT}</td>'
                        for s in SUMMARY_ORDER)
        rows.append(f"<tr><td>{link}</td><td>{len(ch.claims)}</td>{cells}</tr>")
    pills = " ".join(f'<span class="gdln-count {STATUS_CLASS[s]}"><b>{total[s]}</b> {s}</span>' for s in SUMMARY_ORDER)
    block = (f'<div class="gdln-summary"><div class="gdln-counts">{pills}</div>'
             f'<table class="gdln-report-table gdln-chapter-counts"><thead><tr><th>chapter</th><th>claims</th>{head}'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    return " ".join(lines) + "\n\n" + block + "\n"


def judged_at(claim: dict[str, Any], manifest: dict[str, Any]) -> tuple[str, str]:
    """``(scale, against the paper)`` in words for a claim of an archived run: the claim's own ``scale`` (the run it
    names, :mod:`gdln.book.scale`), else the scale of the whole chapter run from its record (parameters, machine),
    said so; the second part is "" when there is no panel of the paper to compare with."""
    if claim.get("scale"):
        return run_scale.phrase(claim["scale"]), run_scale.against_paper(claim["scale"])
    run = run_scale.of_run(manifest["record"], manifest.get("machine"))
    return f"{run_scale.phrase(run)} (the run's parameters: the claim records no scale of its own)", ""


def _full_cell(ch: ChapterClaims, claim_id: str) -> str:
    """The archived full run's verdict on one claim: status, measured value and the scale it was judged at, or
    why there is none."""
    if ch.archived is None:
        return '<span class="gdln-zero">no full run</span>'
    if ch.archive_status not in SHOWN:
        return f'<span class="gdln-zero">{html.escape(ch.archive_status or "")}: not judged</span>'
    c = ch.full_claims.get(claim_id)
    if c is None:
        return '<span class="gdln-zero">not in the full run</span>'
    scale, versus = judged_at(c, ch.archived.manifest)
    return (f"{_status(c['status'])} <b>{html.escape(short_number(c['measured']))}</b>"
            f'<br><span class="gdln-scale">judged at: {html.escape(scale)}</span>'
            + (f'<br><span class="gdln-scale gdln-scale-vs">against {html.escape(versus)}</span>' if versus else ""))


def _archive_summary(chapters: list[ChapterClaims]) -> str:
    """One paragraph on the archived full-mode runs: which chapters, their state, their verdicts."""
    entries = [ch for ch in chapters if ch.archived is not None]
    if not entries:
        return ("**Full mode (archived):** no chapter has an archived full-mode run yet; the claims marked "
                f"{LARGER_RUN} are judged only by such a run.\n")
    parts = []
    for ch in entries:
        if ch.archive_status not in SHOWN:
            parts.append(f"{{doc}}`{ch.name}` (**{ch.archive_status}**: {ch.archive_reason}; not judged)")
            continue
        m = ch.archived.manifest
        r, host = m["record"], m["machine"]
        where = host.get("gpu") or f"CPU ({host.get('cpu_count')} cores)"
        counts = {s: sum(read(c)["status"] == s for c in ch.archived.claims) for s in SUMMARY_ORDER}
        verdict = ", ".join(f"{counts[s]} {s}" for s in SUMMARY_ORDER if counts[s])
        parts.append(f"{{doc}}`{ch.name}` ({ch.archive_status}; {where}, {r['executed_at'][:10]}, "
                     f"code `{r['gdln_source_hash'][:10]}`, {duration(r['wall_time_s'])}: {verdict})")
    return "**Full mode (archived runs, `results/`):** " + "; ".join(parts) + ".\n"


def _claims_table(chapters: list[ChapterClaims]) -> str:
    """Every claim, failures and deviations first: status, link to the claim, paper, measured vs criterion,
    margin, statement (first sentence; the rest and the notes folded)."""
    entries = [(ch, i, c) for ch in chapters for i, c in enumerate(ch.claims or [])]
    order = {s: k for k, s in enumerate(STATUS_ORDER)}
    entries.sort(key=lambda e: order.get(e[2]["status"], len(order)))  # stable: book order within a status
    rows = []
    esc = html.escape
    for ch, _, c in entries:
        first, rest = split_first_sentence(c["statement"])
        note, _, deviation = c.get("note", "").partition(KNOWN_DEVIATION)
        folded = "".join(f"<p>{esc(x.strip())}</p>" for x in (rest, note) if x.strip())
        if deviation.strip():
            folded += f"<p><b>{esc(KNOWN_DEVIATION.strip())}</b> {esc(deviation.strip())}</p>"
        if c.get("scale"):
            folded += f"<p><b>Judged at</b> (this build): {esc(run_scale.describe(c['scale']))}</p>"
        statement = esc(first)
        if folded:
            opened = " open" if c["status"] in ("fail", "deviates") else ""
            statement = f"<details{opened}><summary>{esc(first)}</summary>{folded}</details>"
        crit = criterion_text(c["target"], c["tolerance"], c["kind"])
        rows.append(
            f'<tr class="{STATUS_CLASS.get(c["status"], "claim-larger-run")}" id="report-{anchor(c["id"])}">'
            f'<td>{_status(c["status"])}</td>'
            f'<td><a href="{esc(ch.name)}.html#{anchor(c["id"])}"><code>{esc(c["id"])}</code></a>'
            f'<br><span class="gdln-chapter">{esc(ch.name)}</span>'
            f'<br><span class="gdln-evidence gdln-evidence-{esc(c.get("evidence") or "none")}">'
            f'{esc(c.get("evidence") or "kind not recorded")}</span></td>'
            f'<td>{esc(c["ref"])}</td>'
            f'<td class="gdln-mvc"><b>{esc(short_number(c["measured"]))}</b> vs {esc(crit)}</td>'
            f'<td class="gdln-margin">{_margin_text(_margin(c))}</td>'
            f"<td>{_full_cell(ch, c['id'])}</td>"
            f"<td>{statement}</td></tr>")
    if not rows:
        return "No chapter recorded any claim.\n"
    head = "".join(f"<th>{h}</th>" for h in ("status", "claim", "paper", "measured vs criterion", "margin",
                                              "full run (archived)", "statement"))
    return (f'<table class="gdln-report-table gdln-claims-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>\n')


def _provenance(chapters: list[ChapterClaims]) -> str:
    """A MyST pipe table: how and when each chapter was executed."""
    head = ["chapter", "claims", "mode", "seed", "device", "gdln", "source hash", "wall time", "executed (UTC)"]
    rows = []
    for ch in chapters:
        doc = f"{{doc}}`{ch.name} <{ch.name}>`"
        if ch.record:
            r, p = ch.record, ch.record["parameters"]
            rows.append([doc, str(len(ch.claims)) if ch.claims is not None else "**no manifest**", p["mode"],
                         str(p["seed"]), p["device"], r["gdln_version"], f"`{r['gdln_source_hash'][:10]}`",
                         f"{r['wall_time_s']:.1f} s", r["executed_at"]])
        else:
            rows.append([doc, "**not executed**"] + [""] * (len(head) - 2))
    cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows])


def report_markdown(names: Sequence[str], build: Path) -> str:
    """The generated part of the Reproduction report for chapters ``names`` of build folder ``build``.

    It shows the figure :data:`MARGINS_FIGURE`, which the caller writes beside the page (see :func:`margins_svg`).
    """
    return report_text(gather(names, Path(build)))


def report_text(chapters: Sequence[ChapterClaims]) -> str:
    """The generated part of the Reproduction report (MyST markdown with raw HTML tables) for ``chapters``."""
    chapters = list(chapters)
    lo, hi = MARGIN_RANGE
    caption = (
        "**Every claim's margin**, one marker per claim, grouped by chapter. The margin is how far inside (> 0) or "
        "outside (< 0) its criterion the measured value lies, in units of the slack the criterion allows: 1 is on "
        "the paper's target, 0 on the edge of the tolerance. What to look for: anything left of the solid line, "
        "i.e. a failure (red cross), a declared deviation (orange diamond) or a claim judged only on a larger run "
        f"than quick mode (hollow grey square). Drawn clipped to [{lo:g}, {hi:g}]; the table gives each value.")
    figure = (f":::{{figure}} {MARGINS_FIGURE}\n:name: report-margins\n:class: gdln-report-figure\n"
              f":alt: Margin of every claim, one marker per claim, coloured and shaped by status.\n\n{caption}\n:::\n")
    return (f"{_summary(chapters)}\n{_archive_summary(chapters)}\n{figure}\n## Every claim\n\n"
            "Failures and deviations first, then claims not judged in this mode, then passes; within each, book "
            "order. A claim's id links to the place in its chapter where it is checked; click a statement to "
            "unfold its notes. The column *full run (archived)* judges the same claim on the chapter's archived "
            "full-mode run (`results/<chapter>/`), when there is one that today's code still stands for, and says "
            "the scale it was judged at, read from that run's record, against the paper's run of the same panel.\n\n"
            f"{_claims_table(chapters)}\n## Provenance of each chapter\n\n"
            f":::{{div}} gdln-report\n{_provenance(chapters)}\n:::\n")


def margins_figure(entries: Sequence[tuple[str, dict[str, Any]]]) -> Figure:
    """The margin of each claim, one row per claim grouped by chapter: ``entries`` are (chapter, claim) in book order."""
    lo, hi = MARGIN_RANGE
    n = len(entries)
    with mpl.rc_context():
        use_style()
        fig = Figure(figsize=(7.4, 1.35 + 0.17 * max(n, 3)), layout="constrained")
        ax = fig.add_subplot()
        ax.set_xlim(lo - 0.12, hi + 0.12)
        ax.set_ylim(-0.6, max(n, 1) - 0.4)
        ax.axvspan(lo - 0.12, 0, color=PALETTE["red"], alpha=0.07, lw=0, zorder=0)
        ax.axvline(0, color=PALETTE["black"], lw=0.9, zorder=1)
        ax.axvline(1, color=PALETTE["grey"], lw=0.8, ls=":", zorder=1)
        ys = [n - 1 - i for i in range(n)]
        # alternate bands per chapter, the chapter's name at the right
        start, group = 0, 0
        for k in range(1, n + 1):
            if k == n or entries[k][0] != entries[start][0]:
                top, bottom = ys[start] + 0.5, ys[k - 1] - 0.5
                if group % 2 == 0:
                    ax.axhspan(bottom, top, color=PALETTE["grey"], alpha=0.09, lw=0, zorder=0)
                group += 1
                ax.text(1.01, (top + bottom) / 2, entries[start][0], transform=ax.get_yaxis_transform(),
                        ha="left", va="center", fontsize=7.5, style="italic", color="#555555", clip_on=False)
                start = k
        for y, (_, c) in zip(ys, entries):
            x = min(max(_margin(c), lo), hi)
            st = STYLE.get(c["status"], STYLE[LARGER_RUN])
            ax.plot([0, x], [y, y], color=st["color"], lw=1.0, alpha=0.6, zorder=2, solid_capstyle="butt")
            ax.plot([x], [y], ls="", marker=st["marker"], ms=6.5, mec=st["color"], mew=1.3, zorder=3,
                    mfc=st["color"] if st["filled"] else "white")
        ax.set_yticks(ys, [c["id"] for _, c in entries], fontsize=7.5)
        for label, (_, c) in zip(ax.get_yticklabels(), entries):
            if c["status"] in ("fail", "deviates"):
                label.set_fontweight("bold")
        ticks = [lo, -1.0, 0.0, 1.0, hi]
        ax.set_xticks(ticks, [f"\u2264 {lo:g}".replace("-", "\u2212"), "\u22121", "0\nboundary", "1\non target",
                              f"\u2265 {hi:g}"], fontsize=8)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("margin: distance inside the criterion, in units of its allowed slack (< 0: outside)")
        ax.set_ylabel("claim (grouped by chapter)")
        counts = {s: sum(1 for _, c in entries if c["status"] == s) for s in STYLE}
        handles = [Line2D([], [], ls="", marker=st["marker"], ms=6.5, mec=st["color"], mew=1.3,
                          mfc=st["color"] if st["filled"] else "white", label=f"{st['label']}: {counts[s]}")
                   for s, st in STYLE.items()]
        fig.legend(handles=handles, loc="outside upper center", ncol=4, fontsize=8, handletextpad=0.3,
                   columnspacing=1.2)
        if not entries:
            ax.text(0.5, 0.5, "no claims recorded", transform=ax.transAxes, ha="center", va="center")
            ax.set_yticks([])
    return fig


def margins_svg(names: Sequence[str], build: Path) -> str:
    """The margin figure of every claim of chapters ``names`` as SVG text (byte-identical for identical claims)."""
    return figure_svg(margins_figure([(ch.name, c) for ch in gather(names, Path(build)) for c in ch.claims or []]))


def figure_svg(fig: Figure) -> str:
    """``fig`` as SVG text: text kept as text (searchable, small), no date or random ids (reproducible bytes)."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gdln-report-margins"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
