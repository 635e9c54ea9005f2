"""The Reproduction report: claim margins, the claim badges chapters show (the report's link targets),
the report's summary, table and folding, its margin figure, and, end to end, that jupyter-book keeps
the badges' raw HTML so the report's links land on them."""

from __future__ import annotations

import json
import math
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import FRONT_MATTER

from gdln import book
from gdln.book.claims import (Claims, anchor, badge_html, compare, criterion_text, group_of, margin,
                              one_grid_step, read, source_of)
from gdln.book.report import (
    MARGINS_FIGURE,
    STATUS_ORDER,
    ChapterClaims,
    _title,
    figure_svg,
    margins_figure,
    report_text,
    split_first_sentence,
)
from gdln.util.files import REPO_ROOT

# ---------------------------------------------------------------- margin


@pytest.mark.parametrize("measured, target, tol, kind, expected", [
    (1.0, 1.0, 0.1, "abs", 1.0),       # on target
    (1.05, 1.0, 0.1, "abs", 0.5),      # half the slack used
    (0.9, 1.0, 0.1, "abs", 0.0),       # on the boundary
    (1.3, 1.0, 0.1, "abs", -2.0),      # two slacks' worth outside
    (110.0, 100.0, 0.2, "rel", 0.5),   # slack 0.2 * |t| = 20
    (-110.0, -100.0, 0.2, "rel", 0.5),
    (0.0, 0.0, 0.1, "le", 1.0),        # an error bound met with zero error
    (0.05, 0.0, 0.1, "le", 0.5),
    (0.2, 0.0, 0.1, "le", -1.0),
    (0.5e-10, 1e-10, 0.0, "le", 0.5),  # a bound with no slack: in units of the bound itself
    (0.9, 0.9, 0.05, "ge", 1.0),
    (0.95, 0.9, 0.05, "ge", 2.0),      # lower bounds met with room to spare lie beyond 1
    (0.8, 0.9, 0.05, "ge", -1.0),
    (0.45, 0.5, 0.0, "ge", -0.1),
    (1.1, 1.0, 0.0, "abs", -0.1),      # an exact equality missed: in units of |t|
    (0.5, 0.0, 0.0, "abs", -0.5),      # ... or of 1 when t = 0
])
def test_margin_per_kind(measured, target, tol, kind, expected):
    assert margin(measured, target, tol, kind) == pytest.approx(expected, abs=1e-12)


def test_margin_sign_is_the_verdict_of_compare():
    values = [-2.0, -1.0, -0.3, 0.0, 1e-12, 0.1, 0.3, 0.7, 0.9, 1.0, 1.1, 1.2, 3.0]
    for kind in ("abs", "rel", "le", "ge"):
        for m in values:
            for t in values:
                for tol in (0.0, 0.1, 0.2, 1.0):  # 0.1 and 0.2 put some values on a boundary up to rounding
                    assert (margin(m, t, tol, kind) >= 0) == compare(m, t, tol, kind), (m, t, tol, kind)


def test_margin_of_non_finite_and_unknown_kind():
    assert margin(math.nan, 0.0, 1.0, "abs") == -math.inf
    assert margin(math.inf, 0.0, 1.0, "le") == -math.inf
    with pytest.raises(ValueError, match="unknown claim kind 'lt'"):
        margin(1.0, 1.0, 0.1, "lt")


def test_criterion_text():
    assert criterion_text(0.4, 0.1, "abs") == "0.4 \u00b1 0.1"
    assert criterion_text(24.8, 0.05, "rel") == "24.8 \u00b1 5%"
    assert criterion_text(1e-10, 0.0, "le") == "\u2264 1e\u221210"
    assert criterion_text(0.0, 1e-6, "le") == "\u2264 1e\u221206"
    assert criterion_text(1.0, 0.05, "ge") == "\u2265 1 \u2212 0.05"
    assert criterion_text(0.5, 0.0, "ge") == "\u2265 0.5"


# ---------------------------------------------------------------- the badge check() shows


def test_anchor_is_a_stable_html_id():
    assert anchor("xor.gdln_vs_analytic") == "claim-xor-gdln_vs_analytic"
    assert anchor("a.b-c.d e") == "claim-a-b-c-d-e"


def test_badge_carries_the_anchor_status_and_escapes_text():
    c = {"id": "x.y", "ref": "Eq. <1>", "status": "deviates", "measured": 0.11, "target": 0.0, "tolerance": 0.1,
         "kind": "le"}
    html = badge_html(c)
    assert 'id="claim-x-y"' in html and "claim-deviates" in html and "DEVIATES" in html
    assert "Eq. &lt;1&gt;" in html and "\u2264 0.1" in html and 'href="report.html#report-claim-x-y"' in html
    assert "id=" not in badge_html(c, with_id=False, report=None)


def test_check_displays_the_badge_once_in_ipython(tmp_path):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    try:
        claims = Claims("alpha", "quick", out_dir=tmp_path)
        with capture_output() as shown:
            claim = claims.check("alpha.one", evidence="empirical", ref="Eq. 1", statement="s", measured=1.0, target=1.0, tolerance=0.1)
        assert len(shown.outputs) == 1
        assert 'id="claim-alpha-one"' in shown.outputs[0].data["text/html"]
        assert "[PASS] claim alpha.one" in shown.outputs[0].data["text/plain"]
        # the cell's result (check(...) on the cell's last line) adds nothing: the claim is already shown
        assert shell.display_formatter.format(claim) == ({}, {})
        with capture_output() as again:  # shown again later: the badge, without the id (ids are unique)
            shell.display_formatter.format(claim)
        assert len(again.outputs) == 1 and "id=" not in again.outputs[0].data["text/html"]
    finally:
        InteractiveShell.clear_instance()


def test_check_outside_ipython_shows_nothing(tmp_path, capsys):
    Claims("alpha", "quick", out_dir=tmp_path).check("alpha.one", evidence="empirical", ref="r", statement="s", measured=1.0,
                                                     target=1.0, tolerance=0.1)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- the report page


@pytest.mark.parametrize("text, first, rest", [
    ("One sentence", "One sentence", ""),
    ("Eq. 15 holds. It holds well.", "Eq. 15 holds.", "It holds well."),
    ("As in Fig. 3 and e.g. Sec. 4, it works; see App. B. More", "As in Fig. 3 and e.g. Sec. 4, it works; see App. B.",
     "More"),
    ("A value 0.5 is  fine!  Rest\nhere.", "A value 0.5 is fine!", "Rest here."),
])
def test_split_first_sentence(text, first, rest):
    assert split_first_sentence(text) == (first, rest)


RECORD = {"chapter": "alpha", "parameters": {"mode": "quick", "seed": 0, "device": "auto"}, "gdln_version": "0.1.0",
          "gdln_source_hash": "abcdef0123456789", "wall_time_s": 1.5, "executed_at": "2026-01-01T00:00:00+00:00"}


def claim(id: str, status: str, measured: float = 1.0, statement: str = "First sentence. Second one.",
          note: str = "", evidence: str = "empirical") -> dict:
    return {"id": id, "ref": "Eq. 3", "statement": statement, "measured": measured, "target": 1.0,
            "tolerance": 0.1, "kind": "abs", "passed": {"pass": True, "fail": False, "deviates": False}.get(status),
            "status": status, "mode": "quick", "note": note, "evidence": evidence}


@pytest.fixture
def chapters() -> list[ChapterClaims]:
    """alpha: one claim of each status; beta: not executed; gamma: one pass."""
    return [ChapterClaims("alpha", "The alpha chapter", [
                claim("alpha.one", "pass", statement="Only one sentence", evidence="consistency"),
                claim("alpha.two", "full-only", 1.5),
                claim("alpha.three", "fail", 3.0, note="why it matters"),
                claim("alpha.four", "deviates", 1.2, note="n. Known deviation: the reason")], RECORD),
            ChapterClaims("beta", "beta", None, None),
            ChapterClaims("gamma", "gamma", [claim("gamma.one", "pass", 0.95)], RECORD)]


def test_chapter_title_is_the_notebooks_first_heading(tmp_path):
    nb = tmp_path / "alpha.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "# not a title"},
                                        {"cell_type": "markdown", "source": ["Text\n", "# The alpha chapter\n"]}]}))
    assert _title(nb, "alpha") == "The alpha chapter"
    assert _title(tmp_path / "missing.ipynb", "alpha") == "alpha"


def test_report_summary_counts_and_chapters(chapters):
    text = report_text(chapters)
    # the headline counts the paper's own empirical claims; the identity (alpha.one) is counted apart
    assert text.startswith("**The paper's own empirical claims: 1 of 4 pass**; **1 fails without an explanation**; "
                           "1 deviates from the paper, with the reason; 1 is judged only on a larger run than quick "
                           "mode, so not in this quick-mode build (larger-run).")  # full-only: read as larger-run
    assert "Counted apart, identities (the code against the paper's mathematics): 1 of 1 pass." in text
    assert "All 5 claims come from 3 chapter(s) executed in quick mode." in text
    assert "**3 claims do not pass**" in text
    named = re.findall(r'<li><span class="gdln-status claim-([a-z-]+)">[A-Z-]+</span> <a href="alpha.html#claim-'
                       r'alpha-([a-z]+)">alpha #(\d) <code>', text)
    assert named == [("fail", "three", "3"), ("deviates", "four", "4"), ("larger-run", "two", "2")]
    groups = re.search(r'<table class="[^"]*gdln-group-counts">.*?</table>', text).group(0)
    assert "<td>the paper&#x27;s own empirical claims</td><td>4</td>" in groups
    assert "<td>identities (the code against the paper&#x27;s mathematics)</td><td>1</td>" in groups
    assert "talk" not in groups and "reader" not in groups  # a group without claims has no row
    assert '<a href="alpha.html">The alpha chapter</a></td><td>4</td>' in text
    assert '<a href="beta.html">beta</a></td><td colspan="5"><b>not executed</b>' in text


def test_report_table_links_to_the_chapters_anchors_failures_first(chapters):
    text = report_text(chapters)
    ids = re.findall(r'<tr class="claim-[a-z-]+" id="report-claim-([a-z-]+)">', text)
    assert ids == ["alpha-three", "alpha-four", "alpha-two", "alpha-one", "gamma-one"]
    statuses = re.findall(r'<tr class="claim-([a-z-]+)" id="report-', text)
    assert statuses == sorted(statuses, key=STATUS_ORDER.index)
    assert '<a href="alpha.html#claim-alpha-three"><code>alpha.three</code></a>' in text
    assert '<a href="gamma.html#claim-gamma-one">' in text
    assert "<b>3</b> vs 1 \u00b1 0.1" in text  # measured vs criterion in one cell
    assert "\u221219.00" in text  # margin of 3.0 vs 1 +- 0.1: (0.1 - 2) / 0.1


def test_report_says_what_kind_of_evidence_each_claim_is(chapters):
    text = report_text(chapters)
    row = re.search(r'id="report-claim-alpha-one">.*?</tr>', text).group(0)
    assert '<span class="gdln-evidence gdln-evidence-consistency">consistency</span>' in row
    old = [ChapterClaims("alpha", "alpha", [{k: v for k, v in claim("alpha.one", "pass").items() if k != "evidence"}],
                         RECORD)]
    assert "kind not recorded" in report_text(old)  # a manifest written before the field existed


def test_report_counts_the_talks_and_the_readers_claims_apart_from_the_papers():
    talk = {**claim("t.one", "pass"), "ref": "talk, training speed; Saxe et al. 2014"}
    reader = {**claim("r.one", "deviates"), "ref": "Eq. 10; reader summary (not in the paper)"}
    paper = claim("p.one", "pass", evidence="empirical")
    text = report_text([ChapterClaims("alpha", "alpha", [paper, talk, reader], RECORD)])
    assert text.startswith("**The paper's own empirical claims: 1 of 1 pass**.")
    assert ("claims of the first author's talk: 1 of 1 pass; claims of a reader's summary (not in the paper): 0 of 1 "
            "pass, 1 deviates from the paper, with the reason.") in text
    assert "alpha #3 <code>r.one</code></a>: <b>1</b> vs 1 \u00b1 0.1 (Eq. 10; reader summary (not in the paper); " \
           "a reader&#x27;s summary)" in text
    assert [group_of(c) for c in (paper, talk, reader)] == ["paper", "talk", "reader"]
    assert group_of(claim("i.one", "pass", evidence="consistency")) == "identity"
    assert source_of("Sec. 4.2; reader's summary (decay hypothesis)") == "reader" and source_of("Fig. 3a") == "paper"


def test_check_records_whose_statement_a_claim_checks(tmp_path):
    claims = Claims("alpha", "quick", out_dir=tmp_path)
    assert claims.check("alpha.one", evidence="empirical", ref="talk, x", statement="s", measured=1.0, target=1.0,
                        tolerance=0.0).source == "talk"
    assert claims.check("alpha.two", evidence="empirical", ref="Fig. 1", statement="s", measured=1.0, target=1.0,
                        tolerance=0.0, source="reader").source == "reader"
    with pytest.raises(ValueError, match="source='blog' for claim 'alpha.three' is invalid"):
        claims.check("alpha.three", evidence="empirical", ref="r", statement="s", measured=1.0, target=1.0,
                     tolerance=0.0, source="blog")
    old = {k: v for k, v in claim("alpha.four", "pass").items() if k != "source"}
    assert read({**old, "ref": "talk, y"})["source"] == "talk"  # a manifest written before the field existed


def test_check_rejects_an_unknown_kind_of_evidence(tmp_path):
    with pytest.raises(ValueError, match=r"evidence='exact' for claim 'alpha.one' is invalid; expected one of"):
        Claims("alpha", "quick", out_dir=tmp_path).check("alpha.one", evidence="exact", ref="r", statement="s",
                                                         measured=1.0, target=1.0, tolerance=0.1)
    assert Claims("alpha", "quick").check("alpha.two", evidence="consistency", ref="r", statement="s", measured=1.0,
                                          target=1.0, tolerance=0.0).evidence == "consistency"


def test_report_folds_all_but_the_first_sentence(chapters):
    text = report_text(chapters)
    assert '<td colspan="6">Only one sentence</td>' in text  # nothing to fold; a row of its own across the table
    assert "<details><summary>First sentence.</summary><p>Second one.</p></details>" in text  # larger-run, folded
    assert ("<details open><summary>First sentence.</summary><p>Second one.</p><p>why it matters</p></details>"
            in text)  # a failure shows its notes
    assert "<p>n.</p><p><b>Known deviation:</b> the reason</p>" in text
    rows = re.findall(r"<tr\b[^>]*>.*?</tr>", re.search(r'<table class="[^"]*gdln-claims-table.*?</table>', text, re.S)[0])
    body = rows[1:]  # each claim: its row of six cells, then its statement in one cell across the table
    assert len(body) == 2 * text.count('id="report-') and len(body) >= 8
    assert all(a.count("<td") == 6 and b.count("<td") == 1 and 'colspan="6"' in b for a, b in zip(body[::2], body[1::2]))


def test_report_html_blocks_have_no_blank_lines(chapters):
    """MyST ends a raw HTML block at a blank line: every table must be one block."""
    text = report_text(chapters)
    for block in re.findall(r"<table.*?</table>", text, flags=re.S):
        assert "\n\n" not in block
    assert f":::{{figure}} {MARGINS_FIGURE}" in text
    assert "| {doc}`alpha <alpha>` | 4 | quick | 0 | auto | 0.1.0 | `abcdef0123` | 1.5 s |" in text


def test_margin_figure_is_svg_with_every_claim_and_status(chapters):
    entries = [(ch.name, c) for ch in chapters for c in ch.claims or []]
    svg = figure_svg(margins_figure(entries))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    text = " ".join(t for t in root.itertext())
    for cid in ("alpha.one", "alpha.two", "alpha.three", "alpha.four", "gamma.one"):
        assert cid in text
    for label in ("pass: 2", "deviates (explained): 1", "larger-run (not judged here): 1", "fail: 1", "margin"):
        assert label in text
    assert figure_svg(margins_figure(entries)) == svg  # byte-identical: the staged page is not rewritten


def test_margin_figure_without_claims():
    assert "no claim near or outside its criterion" in figure_svg(margins_figure([]))


# ---------------------------------------------------------------- end to end: jupyter-book keeps the anchors

CHAPTER = FRONT_MATTER + textwrap.dedent("""\
    # Alpha

    As shown by {cite:t}`saxe2022neural`.

    ```{code-cell} ipython3
    :tags: [parameters]
    mode = "quick"
    seed = 0
    device = "auto"
    ```

    ```{code-cell} ipython3
    from gdln.book.claims import Claims
    claims = Claims("alpha", mode)
    claims.check("alpha.steps", evidence="empirical", ref="Eq. 1", statement="One is one. Always.", measured=1, target=1, tolerance=0)
    ```

    ```{code-cell} ipython3
    claims.save()
    claims.table()
    ```
    """)


@pytest.mark.skipif(shutil.which("jupyter-book") is None and not (Path(__file__).parents[1] / ".venv" / "bin" /
                    "jupyter-book").exists(), reason="jupyter-book is not installed")
def test_built_book_keeps_claim_anchors_and_the_report_links_to_them(tmp_path):
    """Execute a one-chapter book with the real _config.yml, stage and render it: the chapter's HTML keeps the
    badge (raw HTML output) with its id, once; the report links to it and shows the figure; citations resolve."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "book" / "_assets", repo / "book" / "_assets")
    for name in ("references.bib", "references.md", "report.md"):
        shutil.copy(REPO_ROOT / "book" / name, repo / "book" / name)
    shutil.copy(REPO_ROOT / "_config.yml", repo / "_config.yml")
    (repo / "book" / "_vendor" / "static").mkdir(parents=True)
    (repo / "book" / "_vendor" / "static" / "x.js").write_text("//")
    (repo / "book" / "intro.md").write_text("# Intro\n\nThe paper {cite:p}`saxe2022neural`.\n")
    (repo / "book" / "alpha.md").write_text(CHAPTER)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: alpha\n  - file: report\n"
                                   "  - file: references\n")
    build = repo / "_build"
    book.execute("alpha", {}, root=repo, build=build, log=lambda *a, **k: None)
    site = book.stage(["alpha"], root=repo, build=build)
    assert (site / MARGINS_FIGURE).read_text().startswith("<?xml") and MARGINS_FIGURE in (site / "report.md").read_text()
    assert not [p for p in site.rglob(".*")]  # the figure and the page are written atomically: no temporary left
    html = book.render(site, root=repo, build=build)
    alpha = (html / "alpha.html").read_text(encoding="utf-8")
    assert alpha.count('id="claim-alpha-steps"') == 1  # shown once, although check() ends its cell
    assert 'href="report.html#report-claim-alpha-steps"' in alpha
    assert 'href="#claim-alpha-steps"' in alpha  # the chapter's claims table links to the badge
    report = (html / "report.html").read_text(encoding="utf-8")
    assert 'href="alpha.html#claim-alpha-steps"' in report and 'id="report-claim-alpha-steps"' in report
    assert "<details><summary>One is one.</summary><p>Always.</p></details>" in report
    assert (html / "_images" / MARGINS_FIGURE).exists() and MARGINS_FIGURE in report
    references = (html / "references.html").read_text(encoding="utf-8")
    assert "The Neural Race Reduction" in references and "Exact solutions to the nonlinear dynamics" in references
    assert 'href="references.html#id' in (html / "intro.html").read_text(encoding="utf-8")  # the citation link


# ---------------------------------------------------------------- the archived full run's column

def _entry(tmp_path, claims):
    from gdln.book.archive import Entry

    manifest = {"record": {"executed_at": "2026-12-01T10:00:00+00:00", "gdln_source_hash": "ab" * 32,
                           "wall_time_s": 3600.0, "parameters": {"mode": "full"}},
                "machine": {"gpu": None, "cpu_count": 2}, "fingerprint": {"claims": {}}}
    return Entry("alpha", tmp_path, manifest, claims)


def test_report_judges_the_archived_full_run_beside_the_build(tmp_path):
    from gdln.book.report import ChapterClaims, report_text

    quick = [{"id": "alpha.size", "ref": "Fig. 1", "statement": "Large. More.", "measured": 3.0, "target": 10.0,
              "tolerance": 0.0, "kind": "ge", "passed": None, "status": "full-only", "mode": "quick", "note": ""}]
    full = [{**quick[0], "measured": 300.0, "passed": True, "status": "pass", "mode": "full"}]
    entry = _entry(tmp_path, full)
    text = report_text([ChapterClaims("alpha", "Alpha", quick, None, entry, "verified by fingerprint")])
    assert "full run (archived)" in text and "<b>300</b>" in text
    assert "verified by fingerprint; CPU (2 cores), 2026-12-01" in text and "1 pass" in text
    # a claim that names no run of its own: the scale of the whole chapter run, from the archive's record
    assert ('<span class="gdln-scale">judged at: full mode; CPU (2 cores) (the run&#x27;s parameters: the claim '
            'records no scale of its own)</span>') in text
    stale = report_text([ChapterClaims("alpha", "Alpha", quick, None, entry, "stale")])
    assert "<b>300</b>" not in stale and "stale: not judged" in stale and "**stale**" in stale
    unverified = report_text([ChapterClaims("alpha", "Alpha", quick, None, entry, "unverified", "seed 3 (fingerprint: 0)")])
    assert "<b>300</b>" not in unverified and "**unverified**: seed 3 (fingerprint: 0); not judged" in unverified
    none = report_text([ChapterClaims("alpha", "Alpha", quick, None)])
    assert "no full run" in none and "no chapter has an archived full-mode run yet" in none


def test_report_names_the_scale_of_every_archived_value_from_its_record(tmp_path):
    """The archived column says the scale each value was judged at: the sweep the claim names (from its record),
    compared with the paper's run of the same panel; never the words "the paper's scale" for a smaller run."""
    from gdln.book import scale
    from gdln.book.report import ChapterClaims, judged_at, report_text

    record = json.loads((REPO_ROOT / "results" / "sweeps" / "mnist-permuted-M10-full.json").read_text())
    s = scale.of_sweep(record, name="mnist-permuted-M10-full", panel="Fig. 8 iii")
    quick = [claim("alpha.thr", "larger-run", 0.2)]
    full = [{**quick[0], "status": "pass", "passed": True, "mode": "full", "measured": 0.4, "scale": s}]
    text = report_text([ChapterClaims("alpha", "Alpha", quick, None, _entry(tmp_path, full), "current")])
    cell = re.search(r'id="report-claim-alpha-thr">.*?</tr>', text).group(0)
    M, seeds = record["spec"]["M"], len(record["spec"]["seeds"])
    assert f"judged at: M = {M}, N_h = {record['spec']['n_h']}, {seeds} seeds" in cell
    assert f"against Fig. 8 iii: M = {M} of the paper&#x27;s {scale.PANELS['Fig. 8 iii'].M}" in cell
    assert f"{seeds} of {scale.PROTOCOL['seeds']} seeds" in cell and "the paper&#x27;s training time" in cell
    assert scale.PAPER_SCALE.replace("'", "&#x27;") not in text
    assert "archived sweep mnist-permuted-M10-full" in cell and "CPU (2 cores)" in cell
    assert judged_at(full[0], _entry(tmp_path, full).manifest) == (scale.phrase(s), scale.against_paper(s))


def test_one_grid_step_accepts_exactly_one_step_in_floating_point():
    assert not compare(0.3, 0.4, 0.1, "abs")  # the bug it fixes: |0.3 - 0.4| = 0.10000000000000003
    grid = [k / 10 for k in (1, 2, 3, 4, 5, 6, 8, 10)]
    tol = one_grid_step(grid, 0.4)
    assert tol - 0.1 < 1e-12
    assert compare(0.3, 0.4, tol, "abs") and compare(0.5, 0.4, tol, "abs") and not compare(0.2, 0.4, tol, "abs")
    assert not compare(0.6, 0.4, tol, "abs")
    assert abs(one_grid_step(grid, 0.7) - 0.2) < 1e-12  # between grid points: the interval that holds it
    quick = [0.1, 0.2, 0.3, 0.4, 0.6]  # a widening grid: only the nearer neighbour of 0.4 is one step away
    assert abs(one_grid_step(quick, 0.4) - 0.1) < 1e-12 and not compare(0.6, 0.4, one_grid_step(quick, 0.4), "abs")
    assert abs(one_grid_step(quick, 0.05) - 0.1) < 1e-12 and abs(one_grid_step(quick, 0.9) - 0.2) < 1e-12
    assert abs(one_grid_step([0.05, 0.1, 0.2, 0.3], 0.25) - 0.1) < 1e-12
    for M in (7, 10, 40, 100):  # every grid 1/M: a value one step off the target passes, two steps off fails
        g = [k / M for k in range(1, M + 1)]
        t = g[M // 2]
        tol = one_grid_step(g, t)
        assert compare(g[M // 2 - 1], t, tol, "abs") and compare(g[M // 2 + 1], t, tol, "abs")
        assert not compare(g[M // 2 - 2], t, tol, "abs")
    with pytest.raises(ValueError, match="at least two finite grid values"):
        one_grid_step([0.4], 0.4)


def test_a_claim_that_fails_on_the_archived_run_is_named_in_the_headline_though_it_passes_here(tmp_path):
    """A quick-mode pass must not hide a failure of the larger archived run: the summary names it, with its number
    on the page and the scale it was judged at; a stale archive is not judged, so it names nothing."""
    from gdln.book.report import ChapterClaims, archived_not_passing, report_text

    quick = [claim("alpha.one", "pass"), claim("alpha.two", "pass", 2.0)]
    full = [{**quick[0], "mode": "full"}, {**quick[1], "status": "fail", "passed": False, "mode": "full", "measured": 0.3}]
    shown = ChapterClaims("alpha", "Alpha", quick, None, _entry(tmp_path, full), "verified by fingerprint")
    text = report_text([shown])
    headline = text.split("By chapter, every group together")[0]
    assert "**Every claim passes.**" in headline
    assert "**On the archived full runs (1 chapter), 1 claim does not pass**" in headline
    item = re.search(r'<li><span class="gdln-status claim-fail">FAIL</span> <a href="alpha.html#claim-alpha-two">alpha #2 '
                     r'<code>alpha.two</code></a>: .*?judged at: full mode; CPU \(2 cores\).*?</li>', headline)
    assert item, headline
    assert [(n, c["id"]) for _, n, c in archived_not_passing([shown])] == [(2, "alpha.two")]
    stale = report_text([ChapterClaims("alpha", "Alpha", quick, None, _entry(tmp_path, full), "stale")])
    assert "On the archived full runs" not in stale and archived_not_passing(
        [ChapterClaims("alpha", "Alpha", quick, None, _entry(tmp_path, full), "stale")]) == []
    passing = report_text([ChapterClaims("alpha", "Alpha", quick, None, _entry(tmp_path, full[:1]), "current")])
    assert "**On the archived full runs (1 chapter), every claim passes.**" in passing
