"""gdln.book.bounds: quick-mode guards from the spread over seeds, and Claims that apply them."""

from __future__ import annotations

import json

import pytest

from gdln.book import bounds
from gdln.book.claims import Claims


def test_bound_is_three_sample_sd_or_the_resolution():
    expected, tol, rule = bounds.bound_of([0.80, 0.82, 0.84], resolution=0.0)
    assert expected == pytest.approx(0.82) and tol == pytest.approx(3 * 0.02) and "sd" in rule
    expected, tol, rule = bounds.bound_of([0.4, 0.4, 0.4], resolution=0.1)
    assert (expected, tol) == (0.4, 0.1) and "resolution" in rule
    for bad in ([0.4], [0.4, float("nan")]):
        with pytest.raises(ValueError, match="at least two finite values"):
            bounds.bound_of(bad, 0.0)


def test_every_declaring_seed_lies_inside_its_bound():
    # with n seeds a value is at most (n - 1)/sqrt(n) sample sd from their mean: < 3 sd for n <= 10
    for vals in ([0.1, 0.5, 0.9], [0.0, 0.0, 1.0], [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]):
        expected, tol, _ = bounds.bound_of(vals, 0.0)
        assert all(abs(v - expected) <= tol for v in vals)


def _check(claims, measured):
    return claims.check("t.x", evidence="empirical", ref="r", statement="s", measured=measured, target=0.25, tolerance=0.1,
                        kind="abs", larger_run=True)


def test_a_guard_that_holds_keeps_the_status_and_a_broken_one_fails():
    guards = {"t.x": {"expected": 0.4, "tolerance": 0.05, "seeds": [0, 1, 2], "rule": "3 x sample sd over seeds"}}
    inside = _check(Claims("t", "quick", guards=guards), 0.42)
    assert inside.status == "larger-run" and inside.passed is None and "held" in inside.note
    assert (inside.guard_expected, inside.guard_tolerance) == (0.4, 0.05)
    broken = _check(Claims("t", "quick", guards=guards), 0.5)
    assert broken.status == "fail" and broken.passed is False and "BROKEN" in broken.note
    full = _check(Claims("t", "full", guards=guards), 0.5)  # guards are quick-mode bounds only
    assert full.status == "fail" and full.guard_expected is None  # judged against the paper: 0.5 vs 0.25 +- 0.1
    deviates = Claims("t", "quick", guards=guards).check("t.x", evidence="empirical", ref="r", statement="s", measured=0.6, target=1.0,
                                                        tolerance=0.0, kind="ge", known_deviation="why")
    assert deviates.status == "fail"  # a deviation that grows past its guard is no longer the declared one


def test_load_refuses_a_damaged_file(tmp_path):
    assert bounds.load("none", tmp_path) == {}
    (tmp_path / "c.json").write_text(json.dumps({"c.x": {"expected": 0.4, "tolerance": -1}}))
    with pytest.raises(ValueError, match="the bound of 'c.x' is invalid"):
        bounds.load("c", tmp_path)


def test_guarded_claims_are_larger_run_or_declared_deviations():
    assert bounds.guarded({"status": "larger-run"}) and bounds.guarded({"status": "deviates"})
    assert bounds.guarded({"status": "pass", "note": "x. Known deviation: y"})  # a deviation that passes today
    assert not bounds.guarded({"status": "pass", "note": ""})


def test_declare_refuses_fewer_than_two_seeds():
    with pytest.raises(ValueError, match="at least two different seeds"):
        bounds.declare("framework", [0, 0])


def test_declare_runs_the_chapter_per_seed_and_writes_the_guards(tmp_path):
    from helpers import chapter_md

    # a tiny book whose one chapter measures a seed-dependent value that only full mode judges
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: gamma\n")
    body = """\
    from gdln.book.claims import Claims
    claims = Claims("gamma", mode)
    claims.check("gamma.v", evidence="empirical", ref="none", statement="a value", measured=0.5 + 0.01 * seed, target=0.9,
                 tolerance=0.1, kind="ge", larger_run=True)
    claims.check("gamma.ok", evidence="empirical", ref="none", statement="judged in quick mode", measured=1.0, target=1.0,
                 tolerance=0.0, kind="abs")
    claims.save()
    """
    (tmp_path / "book" / "gamma.md").write_text(chapter_md("Gamma", 'mode = "quick"\nseed = 0\ndevice = "auto"', body))
    path = bounds.declare("gamma", [0, 1, 2], root=tmp_path, folder=tmp_path / "bounds", log=lambda *a, **k: None)
    declared = json.loads(path.read_text())
    assert list(declared) == ["gamma.v"]  # only the claim quick mode cannot judge
    g = declared["gamma.v"]
    assert g["values"] == pytest.approx([0.5, 0.51, 0.52]) and g["seeds"] == [0, 1, 2]
    assert g["expected"] == pytest.approx(0.51) and g["tolerance"] == pytest.approx(0.03)
    assert not (tmp_path / "_build").exists()  # scratch build folders only: the book's build is not touched


def test_a_new_declaration_re_judges_the_cached_quick_run(tmp_path, monkeypatch):
    from helpers import chapter_md

    from gdln.book.runner import execute

    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: delta\n")
    body = """\
    from gdln.book.claims import Claims, load_guards
    claims = Claims("delta", mode, guards=load_guards("delta"))
    claims.check("delta.v", evidence="empirical", ref="none", statement="a value", measured=0.5, target=0.9, tolerance=0.1, kind="ge",
                 larger_run=True)
    claims.save()
    """
    (tmp_path / "book" / "delta.md").write_text(chapter_md("Delta", 'mode = "quick"\nseed = 0\ndevice = "auto"', body))
    monkeypatch.setenv("GDLN_BOUNDS_DIR", str(tmp_path / "bounds"))
    quiet = dict(root=tmp_path, build=tmp_path / "_build", log=lambda *a, **k: None)
    assert not execute("delta", {"mode": "quick"}, **quiet)["cached"]
    assert execute("delta", {"mode": "quick"}, **quiet)["cached"]
    (tmp_path / "bounds").mkdir()
    (tmp_path / "bounds" / "delta.json").write_text(json.dumps({"delta.v": {"expected": 0.7, "tolerance": 0.05}}))
    assert not execute("delta", {"mode": "quick"}, **quiet)["cached"]  # the guard changed: judged again
    claims = json.loads((tmp_path / "_build" / "claims" / "delta.json").read_text())
    assert claims[0]["status"] == "fail" and "BROKEN" in claims[0]["note"]
