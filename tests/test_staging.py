"""What staging does to a chapter's executed notebook before Jupyter Book renders it (gdln.book.site): claim
cells fold their code, progress bars go, the claims table is drawn from the run's manifest, and one box under
the title gives the page's verdict. No execution, no rendering: notebooks as JSON."""

from __future__ import annotations

import textwrap

import pytest

from gdln.book.archive import Entry, Verdict
from gdln.book.runner import chapters
from gdln.util.files import REPO_ROOT
from gdln.book.site import (_with_box, front_matter, statement, drop_progress_bars, fold_claim_cells, fold_old_run_box, is_claim_cell,
                            reproduces, verdict_box, with_claims_table)

RECORD = {"chapter": "alpha", "parameters": {"mode": "quick", "seed": 0, "device": "auto"},
          "gdln_source_hash": "abcdef0123456789", "wall_time_s": 1.5, "executed_at": "2026-01-01T00:00:00+00:00"}


def claim(id: str, status: str, measured: float = 1.0) -> dict:
    return {"id": id, "ref": "Fig. 3", "statement": "A statement.", "measured": measured, "target": 1.0,
            "tolerance": 0.1, "kind": "abs", "status": status, "mode": "quick", "note": "", "evidence": "empirical"}


def code(source: str, tags: list[str] | None = None, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "source": textwrap.dedent(source).strip(), "metadata": {"tags": tags or []},
            "outputs": outputs or []}


CHECK = 'ch.claims.check("a.b", evidence="empirical", ref="r", statement="s", measured=x, target=1, tolerance=0)'


@pytest.mark.parametrize("source", [
    CHECK,
    f"_ = {CHECK}\n{CHECK.replace('a.b', 'a.c')}",
    f"for x in (1, 2):\n    _ = {CHECK}",
    f"x = max(1, 2)  # the value the claim measures\n_ = {CHECK}",
    f"{CHECK}\nch.finish()",
    'claims.check("a.b", evidence="empirical", ref="r", statement="s", measured=1, target=1, tolerance=0)',
])
def test_a_cell_of_claim_checks_only_is_a_claim_cell(source):
    assert is_claim_cell(source)


@pytest.mark.parametrize("source", [
    "x = 1",                                    # no check at all
    f"print('hello')\n{CHECK}",                 # shows something else
    f"x = 2\n{CHECK}\nprint(x)",                # the assignment is read by other code too
    f"fig = plot()\n{CHECK}",                   # an assignment no check reads
    f"%time {CHECK}",                           # a magic: not Python
    "ch.other.check(1)",                        # not a claims object
])
def test_a_cell_with_other_code_is_not(source):
    assert not is_claim_cell(source)


def test_claim_cells_fold_their_code_and_nothing_else_changes():
    nb = {"cells": [code(CHECK), code(CHECK, ["remove-input"]), code("print(1)"), {"cell_type": "markdown", "source": "x"}]}
    tags = [c.get("metadata", {}).get("tags") for c in fold_claim_cells(nb)["cells"]]
    assert tags == [["hide-input"], ["remove-input"], [], None]


def test_progress_bars_are_dropped_and_other_outputs_kept():
    bar = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
           "text/plain": ["ResNet features (train):   0%|          | 0/10 [00:00<?, ?it/s]"]}}
    widget = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "w"},
              "text/plain": ["IntSlider(value=3)"]}}
    stderr_bar = {"output_type": "stream", "name": "stderr", "text": "training: 50%|#####     | 5/10 [00:01<00:01]\r"}
    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"}
    nb = drop_progress_bars({"cells": [code("x", outputs=[bar, widget, stderr_bar, warning])]})
    assert nb["cells"][0]["outputs"] == [widget, warning]  # a warning is not hidden here: it is fixed at its source


def test_the_claims_table_is_drawn_from_the_runs_manifest():
    old = {"output_type": "execute_result", "data": {"text/html": '<table class="gdln-claims"><tr><td>wide</td></tr>',
                                                     "text/plain": "old"}}
    nb = with_claims_table({"cells": [code("ch.finish()", outputs=[old])]}, [claim("a.one", "pass"), claim("a.two", "fail")])
    html = nb["cells"][0]["outputs"][0]["data"]["text/html"]
    assert "wide" not in html and '<a href="#claim-a-two"><code>a.two</code></a>' in html and "<td>2</td>" in html
    assert "<details open><summary>Fig. 3</summary>" in html  # an unexplained failure shows its statement
    assert with_claims_table({"cells": [code("ch.finish()", outputs=[old])]}, None)["cells"][0]["outputs"][0] == old


def test_what_a_page_reproduces_is_read_from_its_opening():
    title = {"cell_type": "markdown", "source": "# Alpha\n\nA deep network. As in Fig. 3, it learns.\n"
                                                 "This chapter reproduces Fig. 3 and Eq. 2. More."}
    assert reproduces([title]) == "This chapter reproduces Fig. 3 and Eq. 2."
    plain = {"cell_type": "markdown", "source": "# Beta\n\nOne thing. This chapter builds the rest."}
    assert reproduces([plain]) == "This chapter builds the rest."
    assert reproduces([{"cell_type": "markdown", "source": "# Gamma\n\nOnly this."}]) == "Only this."
    assert reproduces([code("x")]) == ""


def test_a_declared_statement_stands_in_for_the_lifted_sentence(tmp_path):
    src = tmp_path / "alpha.md"
    cells = [{"cell_type": "markdown", "source": "# Alpha\n\nThis chapter reproduces Fig. 3 and Eq. 2."}]
    src.write_text("---\nkernelspec:\n  name: python3\nreproduces: >-\n  This page reproduces Fig. 3\n  and Eq. 2 of\n"
                   "  the paper.\n---\n\n# Alpha\n", encoding="utf-8")
    assert statement(src, cells) == "This page reproduces Fig. 3 and Eq. 2 of the paper."
    assert statement(tmp_path / "absent.md", cells) == "This chapter reproduces Fig. 3 and Eq. 2."  # lifted
    src.write_text("---\nreproduces: ''\n---\n# Alpha\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'reproduces' in the front matter is ''"):
        statement(src, cells)
    src.write_text("---\n- a list\n---\n# Alpha\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a YAML mapping"):
        statement(src, cells)


def test_every_chapter_declares_what_it_does_in_words_its_opening_does_not_repeat():
    """The verdict box stands right above the chapter's opening: its first line must not be a sentence the reader
    meets again a line below (it was, on routing, race and experiments, when it was lifted from the opening)."""
    for name in chapters(REPO_ROOT):
        src = REPO_ROOT / "book" / f"{name}.md"
        said = front_matter(src).get("reproduces")
        assert isinstance(said, str) and said.startswith("This page "), f"{src}: no 'reproduces:' sentence"
        opening = " ".join(src.read_text(encoding="utf-8").split("\n---\n", 1)[1].split())
        assert " ".join(said.split()) not in opening, f"{src}: the box would repeat the opening"
        box = verdict_box(name, statement(src, []), "build", [], RECORD, None, None)
        assert box.splitlines()[2] == " ".join(said.split())  # the box's first line, without a "This page:" label


def test_the_box_names_every_claim_that_does_not_pass_with_its_number_and_anchor():
    claims = [claim("a.one", "pass"), claim("a.two", "deviates", 1.2), claim("a.three", "larger-run", 3.0)]
    box = verdict_box("alpha", "It reproduces Fig. 3.", "build", claims, RECORD, None, None)
    assert box.startswith("::::{admonition}") and box.count("::::") == 2
    assert "**This page:** It reproduces Fig. 3." in box and "**1 of 3 claims pass**; each that does not:" in box
    assert '<a href="#claim-a-two">#2 <code>a.two</code></a>: <b>1.2</b> vs 1 \u00b1 0.1' in box
    assert '<a href="#claim-a-three">#3 <code>a.three</code></a>' in box and "#claim-a-one" not in box
    assert ("**This page shows this build's quick-mode run**: quick mode, seed 0; device auto, 2026-01-01 00:00 UTC, "
            "gdln `abcdef0123`.") in box
    assert "**Its one claim passes.**" in verdict_box("alpha", "", "build", claims[:1], RECORD, None, None)
    assert "**All 2 of its claims pass.**" in verdict_box("alpha", "", "build", claims[:1] * 2, RECORD, None, None)
    assert "wrote no claims manifest" in verdict_box("alpha", "", "build", None, RECORD, None, None)
    with pytest.raises(ValueError, match="shown='full' is invalid"):
        verdict_box("alpha", "", "full", claims, RECORD, None, None)


def test_the_box_says_which_run_is_shown_and_what_the_archived_one_is_worth(tmp_path):
    full = {**RECORD, "parameters": {"mode": "full", "seed": 0, "device": "auto", "M": 10}, "wall_time_s": 3600.0}
    manifest = {"record": full, "machine": {"gpu": None, "cpu_count": 2}}
    entry = Entry("alpha", tmp_path, manifest, [claim("a.one", "pass"), claim("a.two", "fail")])
    shown = Verdict(entry, "verified by fingerprint", "equal")
    on_page = verdict_box("alpha", "", "archive", entry.claims, full, manifest["machine"], shown)
    assert ("**This page shows the archived full-mode run** (`results/alpha/`, verified by fingerprint): full mode "
            "(M = 10), seed 0; CPU (2 cores), 2026-01-01 00:00 UTC, gdln `abcdef0123`, 60 min.") in on_page
    assert "#2 <code>a.two</code>" in on_page
    beside = verdict_box("alpha", "", "build", [claim("a.one", "pass")], RECORD, None, shown)
    assert "this build's quick-mode run" in beside and "An archived full-mode run also exists (`results/alpha/`, " \
        "**verified by fingerprint**): full mode (M = 10)" in beside and "1 of 2 claims pass there" in beside
    stale = verdict_box("alpha", "", "build", [claim("a.one", "pass")], RECORD, None,
                        Verdict(entry, "stale", "a.one 1 -> 2"))
    assert "but is **stale** (a.one 1 -> 2), so it is not shown." in stale


def test_the_box_goes_right_under_the_title():
    nb = {"cells": [code("x"), {"cell_type": "markdown", "id": "t", "metadata": {}, "source": "# Alpha\n\nOpening.\n"}]}
    cells = _with_box(nb, "BOX")["cells"]
    assert [c.get("source") for c in cells] == ["x", "# Alpha\n", "BOX", "\nOpening.\n"]
    assert len({c.get("id") for c in cells if c.get("id")}) == 3  # cell ids stay unique


def test_an_older_runs_run_box_is_folded_so_the_verdict_stays_the_only_box():
    old = ('<div class="admonition note gdln-run"><p class="admonition-title">Run this chapter</p><p>built in full</p>'
           "<details><summary>Parameters</summary><table></table></details></div>")
    out = {"output_type": "display_data", "data": {"text/html": old, "text/plain": "Run this chapter"}}
    nb = fold_old_run_box({"cells": [code("ch = Chapter()", outputs=[out])]})
    assert nb["cells"][0]["outputs"][0]["data"]["text/html"] == (
        '<details class="gdln-run"><summary>Run this chapter yourself</summary><p>built in full</p>'
        "<details><summary>Parameters</summary><table></table></details></details>")


def test_the_box_says_at_which_M_the_claims_were_judged_from_their_records():
    """A run's parameters (M_mnist = 10) need not be the M its panels were judged at (taken from the sweep archive
    at M = 40): the box counts the M that each claim's recorded scale names."""
    at = lambda M: {"kind": "sweep", "M": M}  # noqa: E731
    claims = [{**claim("a.one", "pass"), "scale": at(40)}, {**claim("a.two", "pass"), "scale": at(40)},
              {**claim("a.three", "fail"), "scale": at(10)}, claim("a.four", "pass")]
    box = verdict_box("alpha", "It reproduces Fig. 3.", "build", claims, RECORD, None, None)
    assert "Its claims are judged on sweeps at M = 40 (2 claims) and M = 10 (1 claim); each claim names its scale." in box
    assert "judged on sweeps" not in verdict_box("alpha", "x", "build", [claim("a.one", "pass")], RECORD, None, None)
