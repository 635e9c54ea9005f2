"""The results archive (gdln.book.archive): full-mode runs kept with provenance, and judged current,
verified by fingerprint, or stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import chapter_md

from gdln.book import archive as A
from gdln.book import runner

BODY = """\
from gdln.book.claims import Claims
claims = Claims("alpha", mode)
claims.check("alpha.size", evidence="empirical", ref="none", statement="the problem is large enough",
             measured=steps * (100 if mode == "full" else 1), target=1, tolerance=0, kind="ge")
claims.save()
"""


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """A one-chapter book, executed once in quick mode and once in full mode."""
    root = tmp_path_factory.mktemp("book")
    (root / "book").mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: alpha\n")
    (root / "book" / "alpha.md").write_text(
        chapter_md("Alpha", 'mode = "quick"\nseed = 0\ndevice = "auto"\nsteps = 3', BODY))
    quick, full = root / "_quick", root / "_full"
    runner.execute("alpha", {"mode": "quick"}, root=root, build=quick, log=lambda *a, **k: None)
    runner.execute("alpha", {"mode": "full"}, root=root, build=full, log=lambda *a, **k: None)
    return root, quick, full


def _quick_claims(quick: Path) -> list[dict]:
    record, run_dir = runner.published(quick, "alpha")
    return json.loads((run_dir / "alpha.json").read_text())


def test_archive_keeps_the_run_with_its_provenance(builds, tmp_path):
    _, quick, full = builds
    entry = A.archive("alpha", full, quick, dest=tmp_path)
    assert entry.notebook.exists() and entry.claims[0]["measured"] == 300.0
    m = entry.manifest
    assert m["record"]["parameters"]["mode"] == "full"
    for key in ("gdln_source_hash", "wall_time_s", "executed_at", "dependencies", "run_id"):
        assert key in m["record"], key
    assert m["machine"]["torch"] and "gpu" in m["machine"]
    assert m["fingerprint"]["claims"] == {"alpha.size": 3.0}
    assert (entry.folder / "notebook.ipynb").stat().st_mode & 0o777 == 0o644
    assert A.load("alpha", tmp_path).manifest == m


def test_judge_current_verified_and_stale(builds, tmp_path):
    _, quick, full = builds
    entry = A.archive("alpha", full, quick, dest=tmp_path)
    today = _quick_claims(quick)
    assert A.judge(entry, today) == "current"
    other_code = "0" * 64  # the sources changed ...
    assert A.judge(entry, today, gdln_hash=other_code) == "verified by fingerprint"  # ... the numbers did not
    # another CPU: the same code, the last bits differ (relative 1e-4 here; measured across machines: up to 1.1e-4)
    noise = [{**today[0], "measured": today[0]["measured"] * (1 + 1e-4)}]
    assert A.judge(entry, noise, gdln_hash=other_code) == "verified by fingerprint"
    moved = [{**today[0], "measured": today[0]["measured"] * (1 + 1e-2)}]          # a change the code made
    assert A.judge(entry, moved, gdln_hash=other_code) == "stale"
    assert A.judge(entry, None, gdln_hash=other_code) == "unverified"  # no quick run today: cannot verify either way
    nan = [{**today[0], "measured": float("nan")}]
    assert A.judge(entry, nan, gdln_hash=other_code) == "stale"
    extra = today + [{**today[0], "id": "alpha.new"}]
    assert A.judge(entry, extra, gdln_hash=other_code) == "stale"


def test_an_altered_entry_is_loaded_as_damaged_with_the_reason(builds, tmp_path):
    _, quick, full = builds
    entry = A.archive("alpha", full, quick, dest=tmp_path)
    claims = entry.folder / "claims.json"
    claims.write_text(claims.read_text().replace("300.0", "301.0"))
    damaged = A.load("alpha", tmp_path)
    assert damaged is not None and damaged.claims == [] and "claims.json does not match the SHA-256" in damaged.damaged
    assert A.assess(damaged, _quick_claims(quick)) == ("damaged", damaged.damaged)
    # the checksum updated to match: the claims are still not the ones the notebook shows
    manifest = json.loads((entry.folder / "manifest.json").read_text())
    digest = A.file_digests(claims)["sha256"]
    manifest["files"]["claims"] = manifest["record"]["files"]["claims"] = digest
    (entry.folder / "manifest.json").write_text(json.dumps(manifest))
    damaged = A.load("alpha", tmp_path)
    assert "'alpha.size' is PASS 301 in claims.json but PASS 300 in the notebook" in damaged.damaged, damaged.damaged
    assert damaged.manifest["record"]["executed_at"]  # what the report reads is there


def test_the_claims_a_notebook_shows(builds):
    _, _, full = builds
    record, run_dir = runner.published(full, "alpha")
    shown = A.notebook_claims(json.loads((run_dir / "alpha.ipynb").read_text()))
    assert shown == {"alpha.size": {("PASS", "300")}}


def test_other_quick_parameters_than_the_fingerprint_are_not_stale(builds, tmp_path):
    _, quick, full = builds
    entry = A.archive("alpha", full, quick, dest=tmp_path)
    other_code = "0" * 64
    seed3 = [{**c, "measured": c["measured"] + 1} for c in _quick_claims(quick)]  # another seed, other numbers
    status, why = A.assess(entry, seed3, quick_parameters={"mode": "quick", "seed": 3, "device": "auto", "steps": 3},
                           gdln_hash=other_code)
    assert status == "unverified" and "seed=3 (fingerprint: 0)" in why and "no quick-mode run at the fingerprint" in why
    status, why = A.assess(entry, seed3, quick_parameters=entry.manifest["fingerprint"]["parameters"], gdln_hash=other_code)
    assert status == "stale" and "alpha.size 3 -> 4" in why, why
    # the device is not a parameter of the numbers' identity (the tolerance is that of machines)
    status, _ = A.assess(entry, _quick_claims(quick), gdln_hash=other_code,
                         quick_parameters={**entry.manifest["fingerprint"]["parameters"], "device": "cpu"})
    assert status == "verified by fingerprint"


def test_archive_refuses_a_quick_run_as_full_and_keeps_the_old_entry(builds, tmp_path):
    _, quick, full = builds
    first = A.archive("alpha", full, quick, dest=tmp_path)
    with pytest.raises(ValueError, match="only full-mode runs are archived"):
        A.archive("alpha", quick, quick, dest=tmp_path)
    with pytest.raises(ValueError, match="no complete published quick-mode run"):
        A.archive("alpha", full, tmp_path / "nothing", dest=tmp_path)
    assert A.load("alpha", tmp_path).manifest == first.manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha"]  # no temporary folder left behind


def test_an_interrupted_archive_is_recovered(builds, tmp_path):
    _, quick, full = builds
    first = A.archive("alpha", full, quick, dest=tmp_path)
    # killed between its two renames: the old entry aside, no new one; and a temporary folder of another kill
    (tmp_path / "alpha").rename(tmp_path / ".alpha.replaced")
    (tmp_path / ".alpha.k2j4x_").mkdir()
    (tmp_path / ".alpha.k2j4x_" / "notebook.ipynb").write_text("{}")
    entry = A.load("alpha", tmp_path)
    assert entry is not None and entry.damaged is None and entry.manifest == first.manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha"]
    # killed after the commit rename: the replaced copy is removed, the new entry stands
    A.archive("alpha", full, quick, dest=tmp_path)
    (tmp_path / ".alpha.replaced").mkdir()
    assert A.load("alpha", tmp_path).damaged is None and sorted(p.name for p in tmp_path.iterdir()) == ["alpha"]


def test_staging_shows_the_archived_run_only_where_it_stands(builds, tmp_path, monkeypatch):
    from gdln.book.site import stage

    root, quick, full = builds
    (root / "book" / "_vendor" / "static").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("GDLN_RESULTS_DIR", str(tmp_path / "results"))
    entry = A.archive("alpha", full, quick, dest=tmp_path / "results")

    def page(results):
        site = stage(["alpha"], root=root, build=quick, results=results)
        return (site / "alpha.ipynb").read_text()

    shown = page("archive")
    assert "archived full-mode run" in shown and "current" in shown and "300" in shown
    built = page("build")
    assert "this build's quick-mode run" in built and "shows the archived" not in built
    manifest = json.loads((entry.folder / "manifest.json").read_text())  # make it stale: another code ...
    manifest["record"]["gdln_source_hash"] = "0" * 64
    manifest["fingerprint"]["claims"] = {"alpha.size": 4.0}  # ... whose quick numbers differ from today's
    (entry.folder / "manifest.json").write_text(json.dumps(manifest))
    stale = page("archive")
    assert "shows the archived" not in stale and "**stale**" in stale and "this build's quick-mode run" in stale
    assert "alpha.size 4 -> 3" in stale  # and why
    with pytest.raises(ValueError, match="results='full' is invalid"):
        stage(["alpha"], root=root, build=quick, results="full")
