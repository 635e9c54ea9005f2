"""A page a reader trusts in one minute (issue 19), checked on the built HTML: one verdict box at the top of
every chapter page that names each claim not passing, no raw Python output (reprs, dict dumps, progress bars,
unrendered math), every link of the report landing on an anchor of its page, and a report summary that counts
the paper's own empirical claims apart from the identities, the talk's and a reader's summary's claims.

Needs the built book (`make book`; `GDLN_BUILD_DIR` for another build folder).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from gdln.book.claims import GROUPS
from gdln.book.provenance import build_dir
from gdln.book.runner import chapters

HTML = build_dir() / "html"

if not (HTML / "index.html").exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{HTML} is missing: CI must build the book (make test) before these tests")
    pytest.skip(f"{HTML} not built; run `make book`", allow_module_level=True)

CHAPTER_PAGES = [HTML / f"{name}.html" for name in chapters() if (HTML / f"{name}.html").exists()]
PAGES = sorted(HTML.glob("*.html"))
BADGE = re.compile(r'<div class="gdln-claim (claim-[a-z-]+)" id="(claim-[^"]+)">')


def read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def article(text: str) -> str:
    """The page's article (its content, without navigation, scripts and search index)."""
    start = text.find('<article class="bd-article"')
    end = text.find("</article>", start)
    if start < 0 or end < 0:
        raise AssertionError("no <article class=\"bd-article\"> in the page: the theme changed")
    return text[start:end]


def top(text: str) -> str:
    """What a chapter page shows between its title and its first section."""
    body = article(text)
    h1 = body.index("<h1")
    end = body.find("<section", h1)
    return body[h1: end if end > 0 else len(body)]


def element(text: str, start: int) -> str:
    """The ``<div>`` that opens at ``start`` in ``text``, with everything inside it."""
    depth = 0
    for m in re.finditer(r"<div\b|</div>", text[start:]):
        depth += 1 if m.group() == "<div" else -1
        if depth == 0:
            return text[start: start + m.end()]
    raise AssertionError(f"the <div> at {start} is not closed")


def visible_text(fragment: str) -> str:
    """The text a reader sees: without scripts, typeset math (MathJax's input), code and tags."""
    for pattern in (r"<script.*?</script>", r'<span class="math[^"]*">.*?</span>', r'<div class="math[^"]*">.*?</div>',
                    r"<pre.*?</pre>", r"<code.*?</code>", r"<[^>]+>"):
        fragment = re.sub(pattern, " ", fragment, flags=re.S)
    return html.unescape(fragment)


def outputs(text: str) -> list[str]:
    """The text of every cell output of a page (what the chapter printed or displayed)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<script.*?</script>", "", element(text, m.start()), flags=re.S)))
            for m in re.finditer(r'<div class="cell_output docutils container">', text)]


def test_there_are_chapter_pages():
    assert CHAPTER_PAGES, f"no chapter page in {HTML}"


# ---------------------------------------------------------------- item 1: the verdict first

@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_one_box_at_the_top_names_every_claim_that_does_not_pass(page):
    text = read(page)
    head = top(text)
    boxes = re.findall(r'<(?:div|aside)[^>]*class="[^"]*\badmonition\b[^"]*"', head)
    assert len(boxes) == 1 and "gdln-verdict" in boxes[0], \
        f"{page.name}: {len(boxes)} boxes between the title and the first section, expected one (the verdict): {boxes}"
    box = element(head, head.index(boxes[0]))
    failing = {anchor for css, anchor in BADGE.findall(article(text)) if css != "claim-pass"}
    named = set(re.findall(r'<a href="#(claim-[^"]+)"', box))
    assert named == failing, f"{page.name}: the box names {sorted(named)}, the page's badges not passing are {sorted(failing)}"
    badges = len(BADGE.findall(article(text)))
    said = re.search(r"(\d+) of (\d+) claims pass|All (\d+) of its claims pass|Its one claim passes", visible_text(box))
    assert said, f"{page.name}: the box does not say how many claims pass"
    total = int(said.group(2) or said.group(3) or 1)
    assert total == badges, f"{page.name}: the box counts {total} claims, the page shows {badges} badges"
    assert re.search(r"This page shows (?:this build[’']s|the archived) (?:quick|full)-mode run", visible_text(box)), \
        f"{page.name}: the box does not say which run the page shows"
    words = html.unescape(re.sub(r"<[^>]+>", "", box))
    assert re.search(r"gdln [0-9a-f]{10}", words) and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", words), \
        f"{page.name}: the box does not give the run's date and code hash"


# ---------------------------------------------------------------- item 3: nothing raw

RAW = {
    "a numpy scalar's repr": re.compile(r"np\.(?:float|int)\d*\("),
    "a tensor's repr": re.compile(r"\btensor\(\["),
    "a dict dump": re.compile(r"\{\s*(?:'[^']*'|\"[^\"]*\"|-?[\d.]+(?:e-?\d+)?)\s*:\s*[^,{}]+,"),
    "a float printed to 10 or more digits": re.compile(r"(?<![\w.])\d+\.\d{10,}"),
    "a progress bar": re.compile(r"\d+%\|.*\|\s*\d+/\d+\s*\["),
}


@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_no_output_shows_a_python_repr_or_a_progress_bar(page):
    found = [(what, m.group(0)[:80]) for out in outputs(read(page)) for what, pattern in RAW.items()
             if (m := pattern.search(out))]
    assert not found, f"{page.name}: raw output a reader should not see: {found[:10]}"


@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_no_cell_leaves_a_warning_or_a_progress_widget(page):
    text = read(page)
    stderr = re.findall(r'<div class="output stderr">.*?<pre>(.*?)</pre>', text, flags=re.S)
    assert not stderr, f"{page.name}: output on stderr: {[html.unescape(s)[:120] for s in stderr]}"
    bars = re.findall(r"\d+/\d+ \[[^\]]*(?:it/s|s/it)\]", text)  # tqdm's text, in an output or a widget's saved state
    assert not bars, f"{page.name}: progress bar(s) left in the page: {bars[:3]}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_no_unrendered_dollar_math(page):
    text = read(page)
    if '<article class="bd-article"' not in text:
        pytest.skip(f"{page.name} has no article (an index page)")
    shown = visible_text(article(text))
    left = re.findall(r".{0,40}\$[^$\s][^$]{0,40}\$.{0,20}", shown)
    assert not left, f"{page.name}: text with $...$ that was not typeset: {left[:5]}"


# ---------------------------------------------------------------- item 2: every anchor of a link exists

def test_every_link_of_the_report_lands_on_an_anchor_of_its_page():
    report = read(HTML / "report.html")
    links = set(re.findall(r'href="([\w-]+\.html)#([^"]+)"', article(report)))
    assert any(frag.startswith("claim-") for _, frag in links), "the report links to no claim"
    ids = {}
    dead = []
    for page, frag in sorted(links):
        if page not in ids:
            ids[page] = set(re.findall(r'\bid="([^"]+)"', read(HTML / page))) if (HTML / page).exists() else set()
        if frag not in ids[page]:
            dead.append(f"{page}#{frag}")
    assert not dead, f"{len(dead)} of {len(links)} report links land nowhere: {dead[:20]}"


# ---------------------------------------------------------------- item 8: an honest headline

def test_the_reports_summary_counts_the_papers_empirical_claims_apart():
    report = article(read(HTML / "report.html"))
    first = visible_text(report[report.index("<h1"):])
    first = " ".join(first.split())
    m = re.search(r"The paper[’']s own empirical claims: (\d+) of (\d+) pass", first)
    assert m, "the report's headline does not count the paper's own empirical claims"
    passed, total = int(m.group(1)), int(m.group(2))
    table = re.search(r'<table class="[^"]*gdln-group-counts[^"]*">(.*?)</table>', report, flags=re.S)
    assert table, "the report has no table of the claims by group"
    rows = {html.unescape(name): [int(x) if x.isdigit() else 0 for x in cells] for name, cells in
            ((r[0], re.findall(r"<td[^>]*>([^<]*)</td>", r[1])) for r in
             re.findall(r"<tr[^>]*><td>([^<]+)</td>(.*?)</tr>", table.group(1), flags=re.S))}
    paper = rows.get(GROUPS["paper"])
    assert paper is not None and paper[0] == total and paper[1] == passed, (rows, passed, total)
    assert GROUPS["identity"] in rows, "identities are not counted apart"
    assert sum(r[0] for r in rows.values()) == len(re.findall(r'<tr class="claim-[a-z-]+" id="report-claim-', report))
    # every claim that does not pass is named in the summary, with its chapter's number and a link
    not_passing = set(re.findall(r'<tr class="claim-(?!pass)[a-z-]+" id="report-(claim-[^"]+)"', report))
    listed = re.search(r'<ul class="gdln-not-passing">(.*?)</ul>', report, flags=re.S)
    named = set(re.findall(r'href="[\w-]+\.html#(claim-[^"]+)">[\w-]+ #\d+ ', listed.group(1))) if listed else set()
    assert named == not_passing, f"named in the summary: {sorted(named)}; not passing: {sorted(not_passing)}"
