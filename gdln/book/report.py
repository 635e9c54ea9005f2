"""The Reproduction report: every chapter's claims, gathered from the claims manifests.

The page is written for a reader with one minute: a headline that counts the paper's own empirical claims
apart from the identities (the code against the math), the claims of the first author's talk and those of a
reader's summary (:func:`~gdln.book.claims.group_of`), every claim that does not pass by name (its chapter,
its number there, a link to it), the counts per chapter, a figure of the :func:`~gdln.book.claims.margin` of
the claims near or outside their criterion (how far inside or outside, on one axis; the rest are counted per
chapter in its caption), then one compact table of all claims,
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
from gdln.book.claims import (GROUPS, LARGER_RUN, STATUS_CLASS, STATUSES, anchor, criterion_text, group_of, margin,
                               measured_vs_criterion, numbered, read, read_manifest)
from gdln.book.claims import _short as short_number
from gdln.book.runner import _paths, read_record
from gdln.figures.style import PALETTE, use_style

__all__ = ["MARGINS_FIGURE", "STATUS_ORDER", "MARGIN_RANGE", "NEAR_MARGIN", "ChapterClaims", "gather", "judged_at",
           "split_first_sentence", "sentences", "not_passing", "not_passing_html", "drawn", "report_markdown", "report_text",
           "margins_figure", "margins_svg", "figure_svg"]

#: File name of the margin figure, written beside report.md in the staged site.
MARGINS_FIGURE = "report-margins.svg"
#: Order of the rows in the claims table: what needs attention first.
STATUS_ORDER: tuple[str, ...] = ("fail", "deviates", LARGER_RUN, "pass")
#: Order of the counts in the summary.
SUMMARY_ORDER: tuple[str, ...] = ("pass", "deviates", LARGER_RUN, "fail")
#: Margins are drawn clipped to this range (the table gives the exact values).
MARGIN_RANGE: tuple[float, float] = (-2.0, 2.0)
#: The margin figure draws a claim that is outside its criterion or inside it by less than this (a fifth of the
#: slack its criterion allows), and every failure and deviation; the others are counted per chapter.
NEAR_MARGIN = 0.2
DOT = "\u00b7"  # a zero count
#: A claim's group (:data:`~gdln.book.claims.GROUPS`) in a word or two, beside it in a list.
GROUP_NAMES: dict[str, str] = {"paper": "the paper, empirical", "identity": "identity", "talk": "the talk",
                               "reader": "a reader's summary", "unrecorded": "evidence not recorded"}
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


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, split as :func:`split_first_sentence` splits off the first."""
    out, rest = [], text
    while rest.strip():
        first, rest = split_first_sentence(rest)
        out.append(first)
    return out


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


def not_passing(chapters: Sequence[ChapterClaims]) -> list[tuple[ChapterClaims, int, dict[str, Any]]]:
    """``(chapter, number on its page, claim)`` of every claim whose status is not pass, in :data:`STATUS_ORDER`,
    then book order."""
    return _in_status_order([(ch, numbered(ch.claims)[c["id"]], c) for ch in chapters for c in ch.claims or []
                             if c["status"] != "pass"])


def _in_status_order(entries: list[tuple[ChapterClaims, int | None, dict[str, Any]]]) -> list:
    """``(chapter, number, claim)`` entries in :data:`STATUS_ORDER`; stable, so book order within a status."""
    order = {s: k for k, s in enumerate(STATUS_ORDER)}
    return sorted(entries, key=lambda e: order.get(e[2]["status"], len(order)))


def _counts_text(counts: dict[str, int], *, judged_here: str = "in this build") -> str:
    """``3 deviate from the paper, with the reason; 4 are not judged ...`` (only the statuses present)."""
    parts = []
    if counts.get("fail"):
        parts.append(f"**{_plural(counts['fail'], 'fails', 'fail')} without an explanation**")
    if counts.get("deviates"):
        parts.append(f"{counts['deviates']} {'deviates' if counts['deviates'] == 1 else 'deviate'} from the paper, "
                     "with the reason")
    if counts.get(LARGER_RUN):
        parts.append(f"{counts[LARGER_RUN]} {'is' if counts[LARGER_RUN] == 1 else 'are'} judged only on a larger run "
                     f"than quick mode, so not {judged_here} ({LARGER_RUN})")
    return "; ".join(parts)


def _not_passing_list(entries: Sequence[tuple[ChapterClaims, int | None, dict[str, Any], str]], here: bool) -> str:
    """``entries`` (chapter, number on its page, claim, what to add) as a raw HTML list, one line each: status,
    chapter and number, id (a link to its badge), measured vs criterion, reference and group; "" for none."""
    esc = html.escape
    items = [f'<li>{_status(c["status"])} <a href="{"" if here else esc(ch.name) + ".html"}#{anchor(c["id"])}">'
             f'{"" if here else esc(ch.name) + " "}{"" if n is None else f"#{n} "}<code>{esc(c["id"])}</code></a>: '
             f'{measured_vs_criterion(c)} ({esc(c["ref"])}; {esc(GROUP_NAMES[group_of(c)])}){extra}</li>'
             for ch, n, c, extra in entries]
    return f'<ul class="gdln-not-passing">{"".join(items)}</ul>\n' if items else ""


def not_passing_html(chapters: Sequence[ChapterClaims], *, here: bool = False) -> str:
    """Every claim of ``chapters`` that does not pass, one line each (see :func:`_not_passing_list`); a raw HTML
    block, "" when every claim passes. ``here``: the links are to anchors of the page itself (a chapter's own box),
    not to ``<chapter>.html``."""
    return _not_passing_list([(ch, n, c, "") for ch, n, c in not_passing(chapters)], here)


def archived_not_passing(chapters: Sequence[ChapterClaims]) -> list[tuple[ChapterClaims, int | None, dict[str, Any]]]:
    """``(chapter, number on this build's page or None, claim)`` of every claim that does not pass on a chapter's
    archived full run that is shown (current or verified by fingerprint), in :data:`STATUS_ORDER`, then book order."""
    out = []
    for ch in _archives_shown(chapters):
        here = numbered(ch.claims) if ch.claims else {}
        out += [(ch, here.get(c["id"]), c) for c in ch.full_claims.values() if c["status"] != "pass"]
    return _in_status_order(out)


def _archives_shown(chapters: Sequence[ChapterClaims]) -> list[ChapterClaims]:
    """The chapters whose archived full run is judged (current or verified by fingerprint)."""
    return [ch for ch in chapters if ch.archived is not None and ch.archive_status in SHOWN]


def _archived_not_passing_text(chapters: Sequence[ChapterClaims]) -> str:
    """The claims that do not pass on the archived full runs, by name with the scale each was judged at (a failure
    there must not hide behind a quick-mode pass); "" when there is no archived run or every claim passes there."""
    shown = _archives_shown(chapters)
    if not shown:
        return ""
    entries = archived_not_passing(chapters)
    if not entries:
        return f"**On the archived full runs ({_plural(len(shown), 'chapter', 'chapters')}), every claim passes.**"
    esc = html.escape
    lines = [(ch, n, c, f'<br><span class="gdln-scale">judged at: {esc(judged_at(c, ch.archived.manifest)[0])}</span>')
             for ch, n, c in entries]
    return (f"**On the archived full runs ({_plural(len(shown), 'chapter', 'chapters')}), {_plural(len(entries), 'claim does', 'claims do')} "
            "not pass**, each with the scale it was judged at:\n\n" + _not_passing_list(lines, here=False))


def _larger_run_text(chapters: Sequence[ChapterClaims]) -> str:
    """What the archived full runs say of the paper's empirical claims that this build does not judge (larger-run):
    " Of those 4, the archived full runs judge 3: 2 pass, 1 deviates." ("" when there are none)."""
    waiting = [(ch, c) for ch in chapters for c in ch.claims or [] if group_of(c) == "paper" and c["status"] == LARGER_RUN]
    if not waiting:
        return ""
    there = [ch.full_claims[c["id"]]["status"] for ch, c in waiting if c["id"] in ch.full_claims]
    them = "it" if len(waiting) == 1 else f"those {len(waiting)}"
    if not there:
        return f" No archived full run shown here judges {them}."
    counts = ", ".join(f"{there.count(s)} {s}" for s in SUMMARY_ORDER if there.count(s))
    return f" Of {them}, the archived full runs judge {len(there)}: {counts}."


def _summary(chapters: list[ChapterClaims]) -> str:
    """The headline (the paper's own empirical claims, then each other group apart), every claim that does not
    pass by name, and the per-chapter counts (markdown + raw HTML blocks)."""
    every = [c for ch in chapters for c in (ch.claims or [])]
    by_group = {g: [c for c in every if group_of(c) == g] for g in GROUPS}
    counts = {g: {s: sum(c["status"] == s for c in cs) for s in SUMMARY_ORDER} for g, cs in by_group.items()}
    modes = sorted({ch.record["parameters"]["mode"] for ch in chapters if ch.record})
    judged_here = f"in this {' and '.join(modes)}-mode build" if modes else "in this build"
    paper = counts["paper"]
    n_paper = len(by_group["paper"])
    head = (f"**The paper's own empirical claims: {paper['pass']} of {n_paper} pass**"
            + (f"; {_counts_text(paper, judged_here=judged_here)}" if _counts_text(paper) else "") + "."
            if n_paper else "**No claim of the paper's own empirical findings was recorded.**")
    head += _larger_run_text(chapters)
    apart = []
    for g in ("identity", "talk", "reader", "unrecorded"):
        if by_group[g]:
            rest = _counts_text(counts[g], judged_here=judged_here)
            apart.append(f"{GROUPS[g]}: {counts[g]['pass']} of {len(by_group[g])} pass{', ' + rest if rest else ''}")
    apart_text = ("Counted apart, " + "; ".join(apart) + ".") if apart else ""
    origin = (f"All {len(every)} claims come from {len(chapters)} chapter(s)"
              + (f" executed in {' and '.join(modes)} mode" if modes else "") + ".")
    failing = not_passing(chapters)
    failing_text = (f"**{_plural(len(failing), 'claim does', 'claims do')} not pass**, each with its chapter and its "
                    "number there:") if failing else "**Every claim passes.**"
    head_cells = "".join(f"<th>{s}</th>" for s in SUMMARY_ORDER)
    group_rows = []
    for g, cs in by_group.items():
        if not cs:
            continue
        cells = _count_cells(counts[g])
        group_rows.append(f'<tr class="gdln-group-{g}"><td>{html.escape(GROUPS[g])}</td><td>{len(cs)}</td>{cells}</tr>')
    groups = (f'<table class="gdln-report-table gdln-chapter-counts gdln-group-counts"><thead><tr><th>claims</th>'
              f'<th>total</th>{head_cells}</tr></thead><tbody>{"".join(group_rows)}</tbody></table>\n')
    rows = []
    for ch in chapters:
        link = f'<a href="{html.escape(ch.name)}.html">{html.escape(ch.title)}</a>'
        if ch.claims is None:
            why = "not executed" if ch.record is None else "no claims manifest"
            rows.append(f'<tr><td>{link}</td><td colspan="{len(SUMMARY_ORDER) + 1}"><b>{why}</b></td></tr>')
            continue
        cells = _count_cells(ch.counts)
        rows.append(f"<tr><td>{link}</td><td>{len(ch.claims)}</td>{cells}</tr>")
    block = (f'<table class="gdln-report-table gdln-chapter-counts"><thead><tr><th>chapter</th><th>claims</th>{head_cells}'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table>\n')
    return "\n\n".join(x for x in (head, apart_text, groups, failing_text, not_passing_html(chapters),
                                     _archived_not_passing_text(chapters),
                                     f"{origin} By chapter, every group together:", block) if x)


def _count_cells(counts: dict[str, int]) -> str:
    """One table cell per status of :data:`SUMMARY_ORDER`: the count, coloured by its status, or a dot for none."""
    return "".join(f'<td class="{STATUS_CLASS[s] if counts.get(s) else "gdln-zero"}">{counts.get(s) or DOT}</td>'
                   for s in SUMMARY_ORDER)


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


#: The columns of the report's table of every claim; each claim's statement is a row of its own below them, across
#: the table (as a column it made the table wider than the page at any screen width).
CLAIMS_TABLE_HEAD = ("status", "claim", "paper", "measured vs criterion", "margin", "full run (archived)")


def _claims_table(chapters: list[ChapterClaims]) -> str:
    """Every claim, failures and deviations first: status, link to the claim, paper, measured vs criterion,
    margin, the archived full run's verdict; below them, across the table, the statement (first sentence; the rest
    and the notes folded)."""
    entries = [(ch, i, c) for ch in chapters for i, c in enumerate(ch.claims or [], start=1)]
    order = {s: k for k, s in enumerate(STATUS_ORDER)}
    entries.sort(key=lambda e: order.get(e[2]["status"], len(order)))  # stable: book order within a status
    rows = []
    esc = html.escape
    for ch, number, c in entries:
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
            f'<br><span class="gdln-chapter">{esc(ch.name)} #{number}</span>'
            f'<br><span class="gdln-evidence gdln-evidence-{esc(c.get("evidence") or "none")}">'
            f'{esc(c.get("evidence") or "kind not recorded")}</span>'
            + (f' <span class="gdln-source">{esc(GROUP_NAMES[group_of(c)])}</span>' if group_of(c) in ("talk", "reader")
               else "") + '</td>'
            f'<td>{esc(c["ref"])}</td>'
            f'<td class="gdln-mvc"><b>{esc(short_number(c["measured"]))}</b> vs {esc(crit)}</td>'
            f'<td class="gdln-margin">{_margin_text(_margin(c))}</td>'
            f"<td>{_full_cell(ch, c['id'])}</td></tr>"
            f'<tr class="{STATUS_CLASS.get(c["status"], "claim-larger-run")} gdln-statement">'
            f'<td colspan="{len(CLAIMS_TABLE_HEAD)}">{statement}</td></tr>')
    if not rows:
        return "No chapter recorded any claim.\n"
    head = "".join(f"<th>{h}</th>" for h in CLAIMS_TABLE_HEAD)
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


def _near(c: dict[str, Any]) -> bool:
    """Whether the margin figure draws claim ``c``: a failure, a deviation, or a margin under :data:`NEAR_MARGIN`."""
    return c["status"] in ("fail", "deviates") or _margin(c) < NEAR_MARGIN


def drawn(chapters: Sequence[ChapterClaims]) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, int]]:
    """``(entries, rest)``: the (chapter, claim) pairs the margin figure draws (:func:`_near`), in book order, and
    per chapter the number of its claims it leaves out (inside their criterion by at least :data:`NEAR_MARGIN`)."""
    entries = [(ch.name, c) for ch in chapters for c in ch.claims or [] if _near(c)]
    rest = {ch.name: sum(not _near(c) for c in ch.claims or []) for ch in chapters if ch.claims}
    return entries, rest


def report_text(chapters: Sequence[ChapterClaims]) -> str:
    """The generated part of the Reproduction report (MyST markdown with raw HTML tables) for ``chapters``."""
    chapters = list(chapters)
    lo, hi = MARGIN_RANGE
    entries, rest = drawn(chapters)
    left_out = ", ".join(f"{name} {n}" for name, n in rest.items() if n)
    caption = (
        f"**The margin of each claim near or outside its criterion** ({len(entries)} of "
        f"{len(entries) + sum(rest.values())}), one marker per claim, grouped by chapter. The margin is how far inside "
        "(> 0) or outside (< 0) its criterion the measured value lies, in units of the slack the criterion allows: 1 "
        "is on the paper's target, 0 on the edge of the tolerance. What to look for: anything left of the solid line, "
        "i.e. a failure (red cross), a declared deviation (orange diamond) or a claim judged only on a larger run "
        f"than quick mode (hollow grey square). Drawn clipped to [{lo:g}, {hi:g}]; the table gives each value. "
        f"Not drawn: the claims inside their criterion by at least {NEAR_MARGIN:g} of its slack"
        + (f", per chapter: {left_out}." if left_out else " (none)."))
    figure = (f":::{{figure}} {MARGINS_FIGURE}\n:name: report-margins\n:class: gdln-report-figure\n"
              f":alt: Margin of each claim near or outside its criterion, one marker per claim, coloured and shaped by status.\n\n{caption}\n:::\n")
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
            ax.text(0.5, 0.5, "no claim near or outside its criterion", transform=ax.transAxes, ha="center",
                    va="center")
            ax.set_yticks([])
    return fig


def margins_svg(names: Sequence[str], build: Path) -> str:
    """The margin figure of the claims of chapters ``names`` near or outside their criterion (:func:`drawn`) as SVG
    text (byte-identical for identical claims)."""
    return figure_svg(margins_figure(drawn(gather(names, Path(build)))[0]))


def figure_svg(fig: Figure) -> str:
    """``fig`` as SVG text: text kept as text (searchable, small), no date or random ids (reproducible bytes)."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gdln-report-margins"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
