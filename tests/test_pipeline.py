"""The book runner (gdln.book): toc order, typed parameters, clear errors, the cache, atomic output."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from helpers import chapter_md

from gdln import book
from gdln.book import runner


def chapter(body: str, params: str = 'mode = "quick"\nseed = 0\ndevice = "auto"\nsteps = 3\nrate = 0.5') -> str:
    return chapter_md("A chapter", params, body)


SAVE = """\
from gdln.book.claims import Claims
claims = Claims("alpha", mode)
claims.check("alpha.steps", evidence="empirical", ref="none", statement="steps is positive", measured=steps, target=0,
             tolerance=0, kind="ge")
claims.save()
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny book: intro (plain), alpha (chapter), beta (failing chapter), report."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: One\n    chapters:\n      - file: alpha\n"
        "        sections:\n          - file: beta\n  - caption: Two\n    chapters:\n      - file: report\n")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nNo code here.\n")
    (tmp_path / "book" / "alpha.md").write_text(chapter(SAVE))
    (tmp_path / "book" / "beta.md").write_text(chapter("x = 1\n1 / 0\n"))
    return tmp_path


def test_toc_order_and_chapters(repo):
    assert book.toc_pages(repo) == ["intro", "alpha", "beta", "report"]
    assert book.chapters(repo) == ["alpha", "beta"]  # intro has no code, report is generated


def test_toc_entry_without_source_is_named(repo):
    (repo / "book" / "beta.md").unlink()
    with pytest.raises(ValueError, match=r"'beta' but book/beta.md does not exist"):
        book.chapters(repo)


def test_unknown_chapter_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown chapter 'gamma'; expected one of: alpha, beta"):
        book.select(["gamma"], ["alpha", "beta"])
    assert book.select(["beta", "alpha"], ["alpha", "beta"]) == ["alpha", "beta"]  # toc order
    assert book.select([], ["alpha", "beta"]) == ["alpha", "beta"]


@pytest.mark.parametrize("text, value", [("true", True), ("1", 1), ("0.5", 0.5), ("1e-3", 1e-3),
                                         ("quick", "quick"), ("cuda:1", "cuda:1"), ("[1, 2]", [1, 2])])
def test_parameter_values_are_typed(text, value):
    parsed = book.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parameters_checked_against_the_parameters_cell():
    declared = {"mode": "quick", "seed": 0, "device": "auto", "steps": 3, "rate": 0.5, "flag": False}
    params = book.check_chapter_parameters("alpha", declared, {"steps": 7, "rate": 1})
    assert params == {"mode": "quick", "seed": 0, "device": "auto", "steps": 7, "rate": 1.0}
    assert isinstance(params["rate"], float)
    with pytest.raises(ValueError, match=r"chapter 'alpha' has no parameter 'stpes'; expected one of: "):
        book.check_chapter_parameters("alpha", declared, {"stpes": 7})
    with pytest.raises(ValueError, match=r"parameter steps='many' for chapter 'alpha' is invalid; expected a int"):
        book.check_chapter_parameters("alpha", declared, {"steps": "many"})
    with pytest.raises(ValueError, match=r"parameter flag=1 .* expected a bool"):
        book.check_chapter_parameters("alpha", declared, {"flag": 1})
    with pytest.raises(ValueError, match=r"parameter mode='fast' is invalid"):
        book.check_chapter_parameters("alpha", declared, {"mode": "fast"})
    with pytest.raises(ValueError, match=r"parameter seed=-1 is invalid"):
        book.check_chapter_parameters("alpha", declared, {"seed": -1})


def test_values_checked_by_declared_validators_and_finite():
    from gdln.book.parameters import at_least, positive

    declared = {"mode": "quick", "seed": 0, "device": "auto", "M": 4, "K": 2, "tau": 2.5}
    validators = {"K": at_least(1, at_most="M"), "tau": positive()}
    assert runner.check_chapter_parameters("alpha", declared, {"K": 4}, validators)["K"] == 4
    with pytest.raises(runner.ParameterError, match=r"^parameter K=5 is invalid; expected an integer in \[1, M=4\]$"):
        runner.check_chapter_parameters("alpha", declared, {"K": 5}, validators)  # the bound is M's default
    assert runner.check_chapter_parameters("alpha", declared, {"K": 5, "M": 6}, validators)["K"] == 5
    for text in (".inf", "-.inf", "nan", "inf"):
        with pytest.raises(runner.ParameterError, match=r"parameter tau=(-?inf|nan) is invalid; expected a positive"):
            runner.check_chapter_parameters("alpha", declared, {"tau": book.parse_value(text)}, validators)
        with pytest.raises(runner.ParameterError, match=r"parameter tau=(-?inf|nan) is invalid; expected a finite"):
            runner.check_chapter_parameters("alpha", declared, {"tau": book.parse_value(text)})  # no validators


def test_validators_are_read_from_the_chapter_preamble_only():
    plain = chapter("x = 1\n# prose may say Chapter(...) without declaring anything\n")
    assert list(runner.chapter_validators(plain)) == ["mode", "seed", "device"]
    declared = chapter('from gdln.book import Chapter, at_least\n'
                       'ch = Chapter("alpha", mode, seed, device, steps=(steps, at_least(1)))\n')
    assert list(runner.chapter_validators(declared)) == ["mode", "seed", "device", "steps"]


def test_cache_key_changes_with_each_input():
    base = ("src", {"mode": "quick"}, "h", {"torch": "2.13.0"})
    keys = {book.cache_key(*base), book.cache_key("src2", *base[1:]),
            book.cache_key(base[0], {"mode": "full"}, *base[2:]), book.cache_key(*base[:2], "h2", base[3]),
            book.cache_key(*base[:3], {"torch": "2.14.0"})}
    assert len(keys) == 5
    assert book.cache_key(*base) == book.cache_key(*base)


def test_execute_caches_and_reexecutes_on_change(repo):
    build = repo / "_build"
    logs: list[str] = []
    first = book.execute("alpha", {}, root=repo, build=build, log=lambda *a, **k: logs.append(a[0]))
    assert not first["cached"] and first["parameters"] == {"mode": "quick", "seed": 0, "device": "auto"}
    nb = json.loads((build / "executed" / "alpha.ipynb").read_text())
    assert nb["cells"] and (build / "executed" / "alpha.hash.json").exists()
    manifest = json.loads((build / "claims" / "alpha.json").read_text())
    assert [c["id"] for c in manifest] == ["alpha.steps"]
    assert book.execute("alpha", {}, root=repo, build=build, log=logs.append)["cached"]
    again = book.execute("alpha", {"steps": 5}, root=repo, build=build, log=lambda *a, **k: None)
    assert not again["cached"] and again["parameters"]["steps"] == 5
    assert json.loads((build / "claims" / "alpha.json").read_text())[0]["measured"] == 5  # injected, typed
    (build / "claims" / "alpha.json").unlink()  # a lost manifest means the chapter must run again
    assert not book.execute("alpha", {"steps": 5}, root=repo, build=build, log=lambda *a, **k: None)["cached"]
    assert not list((build / "executed").glob(".*"))  # no temporary files left


def test_failing_cell_names_chapter_and_cell_and_leaves_no_output(repo):
    build = repo / "_build"
    with pytest.raises(book.ChapterError, match=r"chapter 'beta' failed in code cell 2 of book/beta.md "
                                                r"\(starting 'x = 1'\): ZeroDivisionError"):
        book.execute("beta", {}, root=repo, build=build, log=lambda *a, **k: None)
    assert not (build / "executed" / "beta.ipynb").exists()
    assert not (build / "executed" / "beta.hash.json").exists()
    assert (build / "executed" / "beta.failed.ipynb").exists()
    assert not list((build / "executed").glob(".*"))


def _fake_run(build: Path, name: str, claims: list[dict]) -> None:
    """A complete published run of chapter ``name`` with these claims (the runner's own publication)."""
    run_dir = build / "runs" / name / "fake-run"
    run_dir.mkdir(parents=True)
    (run_dir / f"{name}.ipynb").write_text("{}")
    (run_dir / f"{name}.json").write_text(json.dumps(claims))
    sha = {f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest() for f in (f"{name}.ipynb", f"{name}.json")}
    runner._publish(build, name, run_dir, {
        "chapter": name, "run_id": "fake-run", "key": "k", "parameters": {"mode": "quick", "seed": 0, "device": "auto"},
        "gdln_version": "0.1.0", "gdln_source_hash": "abcdef0123456789", "wall_time_s": 1.5,
        "executed_at": "2026-01-01T00:00:00+00:00", "claims": True,
        "files": {"notebook": sha[f"{name}.ipynb"], "claims": sha[f"{name}.json"]}, "data": {}})


def _claim(id: str, status: str) -> dict:
    return {"id": id, "ref": "Eq. 3", "statement": "a | b", "measured": 1.0, "target": 1.0, "tolerance": 0.1,
            "kind": "abs", "passed": {"pass": True, "fail": False, "deviates": False}.get(status), "status": status,
            "mode": "quick", "note": ""}


def test_report_gathers_every_claim_with_status_link_and_provenance(repo):
    build = repo / "_build"
    _fake_run(build, "alpha", [_claim("alpha.one", "pass"), _claim("alpha.two", "full-only"),
                               _claim("alpha.three", "fail"), _claim("alpha.four", "deviates")])
    text = book.report_markdown(["alpha", "beta"], build)
    # claims that record no kind of evidence are never counted as the paper's empirical claims
    assert text.startswith("**No claim of the paper's own empirical findings was recorded.**")
    assert "Counted apart, claims with no recorded kind of evidence: 1 of 4 pass, **1 fails" in text
    assert "**3 claims do not pass**" in text and "All 4 claims come from 2 chapter(s) executed in quick mode." in text
    row = re.search(r'<tr><td><a href="alpha.html">.*?</tr>', text).group(0)
    for status in ("pass", "fail", "deviates", "larger-run"):  # "full-only", a manifest's old name, is read as larger-run
        assert f'<td class="claim-{status}">1</td>' in row
    assert text.index("alpha.three") < text.index("alpha.four") < text.index("alpha.two") < text.index("alpha.one")
    assert 'href="alpha.html#claim-alpha-one"' in text and ">LARGER-RUN<" in text and "{doc}`alpha <alpha>`" in text
    assert "<td colspan=\"6\">a | b</td>" in text  # the claims table is raw HTML: a pipe needs no escaping there
    assert "`abcdef0123`" in text and "1.5 s" in text and "**not executed**" in text


def test_stage_uses_executed_notebooks_not_sources(repo):
    build = repo / "_build"
    (repo / "book" / "_vendor" / "static").mkdir(parents=True)
    (repo / "book" / "_vendor" / "static" / "x.js").write_text("//")
    (repo / "book" / "report.md").write_text("# Report\n\n<!-- gdln:report -->\n")
    _fake_run(build, "alpha", [_claim("alpha.one", "pass")])
    (build / "site").mkdir(parents=True)
    (build / "site" / "beta.md").write_text("left by an earlier staging")  # would duplicate a page
    site = book.stage(["alpha"], root=repo, build=build)
    assert sorted(p.name for p in site.iterdir()) == ["_toc.yml", "_vendor", "alpha.ipynb", "intro.md",
                                                      "report-margins.svg", "report.md"]
    assert "alpha.html#claim-alpha-one" in (site / "report.md").read_text()
    toc = (site / "_toc.yml").read_text()
    assert "alpha" in toc and "beta" not in toc  # only the chapters asked for


def test_cli_reports_unknown_chapter_and_bad_value(capsys):
    assert book.main(["run", "no-such-chapter"]) == 2
    err = capsys.readouterr().err
    assert "unknown chapter 'no-such-chapter'; expected one of:" in err
    first = book.chapters()[0]
    assert book.main(["run", first, "--mode", "fast"]) == 2
    assert "parameter mode='fast' is invalid; expected one of ('quick', 'full')" in capsys.readouterr().err
    assert book.main(["run", first, "-p", "no_such_parameter", "1"]) == 2
    assert f"chapter {first!r} has no parameter 'no_such_parameter'" in capsys.readouterr().err
