"""gdln.book.scale: the scale of a run from its record, the paper's scale of each Section 5 panel, the
comparison that alone may say "the paper's scale", and a scan that keeps that phrase out of every other
page, docstring and README line (and the old name "full-only" out of everything but the reader of old
manifests)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from gdln.book import scale
from gdln.book.claims import LARGER_RUN, Claims, ClaimsTable, read, read_manifest
from gdln.util.files import REPO_ROOT

SWEEPS = REPO_ROOT / "results" / "sweeps"


def record(name: str = "mnist-permuted-M10-full") -> dict:
    return json.loads((SWEEPS / f"{name}.json").read_text())


def at_papers_scale(panel: str) -> dict:
    """A sweep record whose spec is the paper's run of ``panel``: its M, N_h, seeds, K grid and data."""
    p = scale.PANELS[panel]
    rec = copy.deepcopy(record())
    rec["spec"].update(family=p.family, nonlinearity=p.nonlinearity, M=p.M, n_h=p.n_h, seeds=list(range(p.seeds)),
                       n_train=p.n_train, downsample=1)
    if p.Ks is not None:
        rec["spec"]["Ks"] = list(p.Ks)
    if p.gains is not None:
        rec["spec"]["gains"] = list(p.gains)
        rec["spec"]["train"]["lr"] = [rec["spec"]["train"]["lr"]] * len(p.gains)
    rec["machine"] = {"gpu": "NVIDIA H200", "cpu_count": 16}
    return rec


# ---------------------------------------------------------------- the paper's scale (App. D, Table 1)

def test_the_papers_panels_follow_appendix_d():
    M = {f: p.M for f, p in scale.PANELS.items()}
    assert {f for f, m in M.items() if m == 100} == {"Fig. 7c", "Fig. 8 ii", "Fig. 10 i"}
    assert {f for f, m in M.items() if m == 40} == {"Fig. 7b", "Fig. 8 i", "Fig. 8 iii", "Fig. 8 iv", "Fig. 9 i",
                                                    "Fig. 9 ii", "Fig. 10 ii", "Fig. 10 iii"}
    assert {f for f, p in scale.PANELS.items() if p.n_h == 1024} == {"Fig. 7b", "Fig. 8 i"}  # CIFAR, Table 5
    assert all(p.n_h == 128 for p in scale.PANELS.values() if p.data == "mnist")  # Table 1
    assert all(p.seeds == 10 for p in scale.PANELS.values())  # App. E.1
    assert {f for f, p in scale.PANELS.items() if p.Ks == (10,)} == {"Fig. 10 i", "Fig. 10 ii", "Fig. 10 iii"}
    assert {f for f, p in scale.PANELS.items() if p.nonlinearity == "leaky_relu"} == {"Fig. 9 i", "Fig. 9 ii"}


def test_the_papers_gradient_flow_time():
    # 1000 epochs at batch 8: 7.5 million steps on MNIST's 60,000 images, 6.25 million on CIFAR-10's 50,000
    assert scale.PANELS["Fig. 7c"].steps == 7_500_000 and scale.PANELS["Fig. 7b"].steps == 6_250_000
    assert scale.paper_flow_time("mnist") == pytest.approx(7500) and scale.paper_flow_time("cifar10") == pytest.approx(6250)
    assert scale.PANELS["Fig. 8 iii"].flow_time == pytest.approx(scale.paper_flow_time("mnist"))
    assert scale.flow_time(0.05, 6000, 0.9) == pytest.approx(3000)  # the archived protocol: 0.4x MNIST's
    with pytest.raises(ValueError, match="momentum"):
        scale.flow_time(0.05, 6000, 1.0)
    with pytest.raises(ValueError, match="data='imagenet' is invalid"):
        scale.paper_flow_time("imagenet")


# ---------------------------------------------------------------- the scale of a run, from its record

def test_the_scale_of_a_sweep_is_read_from_its_record():
    rec = record()
    s = scale.of_sweep(rec, name="mnist-permuted-M10-full", panel="Fig. 8 iii")
    spec, train = rec["spec"], rec["spec"]["train"]
    assert (s["M"], s["n_h"], s["seeds"], s["Ks"]) == (spec["M"], spec["n_h"], len(spec["seeds"]), spec["Ks"])
    assert (s["steps"], s["batch"], s["lr"], s["momentum"]) == (train["steps"], train["batch_size"], train["lr"],
                                                                 train["momentum"])
    assert s["flow_time"] == pytest.approx(train["lr"] * train["steps"] / (1 - train["momentum"]))
    assert s["n_train"] == spec["n_train"] and s["device"] == f"CPU ({rec['machine']['cpu_count']} cores)"
    assert json.loads(json.dumps(s)) == s  # a claim stores it in its manifest
    text = scale.phrase(s)
    ratio = s["flow_time"] / scale.paper_flow_time("mnist")
    assert text.startswith(f"M = {spec['M']}, N_h = {spec['n_h']}, {len(spec['seeds'])} seeds, ")
    assert f"{ratio:.2g}x the paper's training time" in text and "archived sweep mnist-permuted-M10-full" in text


def test_the_scale_of_a_sweep_trained_now_comes_from_its_spec_and_device():
    @dataclasses.dataclass(frozen=True)
    class Spec:  # the fields of gdln.sweep.SweepSpec (gdln.book may not import gdln.sweep)
        family: str = "mnist-permuted"
        M: int = 10
        Ks: tuple = (4,)
        gains: tuple = (10.0, 0.1)
        seeds: tuple = (0, 1)
        n_h: int = 64
        n_train: int = 2000
        n_test: int = 500
        downsample: int = 2
        train: dict = dataclasses.field(default_factory=lambda: {"steps": 250, "batch_size": None, "lr": [0.002, 0.2],
                                                                  "momentum": 0.0, "loss": "mse"})

    s = scale.of_sweep(Spec(), device="cpu", panel="Fig. 10 ii")
    assert s["device"] == "CPU" and s["sweep"] is None and s["flow_time"] == pytest.approx([0.5, 50.0])
    text = scale.phrase(s)
    assert "250 steps at full batch" in text and "(2x2-pooled)" in text and "trained by this run" in text
    assert " to " in text.split("training time")[0].rsplit(":", 1)[1]  # two step sizes: a range of training times
    diffs = scale.differences(s)
    assert "K = 4 instead of the paper's K = 10" in diffs and "2 of 10 seeds" in diffs
    assert "2,000 of 60,000 training images" in diffs and any("pooled" in d for d in diffs)
    assert any(d.startswith("gains 0.1 ... 10 (2 values) instead of the paper's") for d in diffs)


def test_a_run_at_M_10_is_not_called_the_papers_scale():
    for rec_path in sorted(SWEEPS.glob("*.json")):  # every archived sweep, against every panel of its family
        rec = json.loads(rec_path.read_text())
        for figure, p in scale.PANELS.items():
            if p.family != rec["spec"]["family"]:
                continue
            s = scale.of_sweep(rec, name=rec_path.stem, panel=figure)
            versus = scale.against_paper(s)
            assert scale.PAPER_SCALE not in versus and scale.PAPER_SCALE not in scale.describe(s), (rec_path, figure)
            if rec["spec"]["M"] < p.M:
                assert f"M = {rec['spec']['M']} of the paper's {p.M}" in versus
    s = scale.of_sweep(record(), panel="Fig. 8 iii")
    assert scale.against_paper(s) == (f"Fig. 8 iii: M = {s['M']} of the paper's 40; "
                                      f"{s['seeds']} of {scale.PROTOCOL['seeds']} seeds")


@pytest.mark.parametrize("panel", ["Fig. 7b", "Fig. 7c", "Fig. 8 iii", "Fig. 9 ii", "Fig. 10 i"])
def test_a_run_matching_the_papers_M_N_h_seeds_and_K_grid_is_the_papers_scale(panel):
    s = scale.of_sweep(at_papers_scale(panel), name="paper", panel=panel)
    assert scale.differences(s) == []
    assert scale.against_paper(s) == f"{panel}: {scale.PAPER_SCALE}"
    assert s["device"] == "NVIDIA H200"
    for field, value in (("M", 10), ("n_h", 64), ("seeds", [0, 1, 2]), ("n_train", 2000)):
        rec = at_papers_scale(panel)
        rec["spec"][field] = value
        assert scale.PAPER_SCALE not in scale.against_paper(scale.of_sweep(rec, panel=panel)), field


def test_the_K_grid_of_a_gain_sweep_is_compared():
    rec = at_papers_scale("Fig. 10 ii")
    rec["spec"]["Ks"] = [4]
    versus = scale.against_paper(scale.of_sweep(rec, panel="Fig. 10 ii"))
    assert versus == "Fig. 10 ii: K = 4 instead of the paper's K = 10"


def test_the_scale_of_a_chapter_run_comes_from_its_record_and_machine():
    manifest = json.loads((REPO_ROOT / "results" / "xor" / "manifest.json").read_text())
    s = scale.of_run(manifest["record"], manifest["machine"])
    assert s["mode"] == manifest["record"]["parameters"]["mode"] and scale.against_paper(s) == ""
    assert scale.phrase(s).startswith(f"{s['mode']} mode, seed {manifest['record']['parameters']['seed']}; ")
    run = scale.of_run({"parameters": {"mode": "full", "seed": 0, "device": "auto", "M_mnist": 10, "n_seeds": 3}},
                       {"gpu": None, "cpu_count": 2})
    assert scale.phrase(run) == "full mode (M_mnist = 10, n_seeds = 3), seed 0; CPU (2 cores)"


def test_bad_input_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="panel='Fig. 11' is invalid"):
        scale.of_sweep(record(), panel="Fig. 11")
    rec = record()
    del rec["spec"]["train"]["momentum"]
    with pytest.raises(ValueError, match=r"lacks \['train.momentum'\]"):
        scale.of_sweep(rec)
    with pytest.raises(TypeError, match="expected a sweep record"):
        scale.of_sweep(42)
    with pytest.raises(ValueError, match="expected a runner record"):
        scale.of_run({"parameters": {}})
    with pytest.raises(ValueError, match="is invalid; expected a dict from gdln.book.scale"):
        scale.check({"M": 10})
    with pytest.raises(ValueError, match="names no panel"):
        scale.differences(scale.of_sweep(record()))


# ---------------------------------------------------------------- claims record the scale; old names are read

def test_a_claim_records_the_scale_it_was_judged_at(tmp_path):
    s = scale.of_sweep(record(), name="mnist-permuted-M10-full", panel="Fig. 7c")
    claims = Claims("alpha", "quick", out_dir=tmp_path)
    c = claims.check("alpha.thr", evidence="empirical", ref="Fig. 7c", statement="s", measured=0.4, target=0.4,
                     tolerance=0.1, larger_run=True, scale=s)
    assert (c.status, c.passed, c.scale) == (LARGER_RUN, None, s)
    assert claims.check("alpha.other", evidence="empirical", ref="r", statement="s", measured=1.0, target=1.0,
                        tolerance=0.0).scale is None
    saved = read_manifest(claims.save())
    assert saved[0]["scale"] == s and saved[1]["scale"] is None
    assert "Judged at: " + scale.describe(s) in repr(ClaimsTable(saved))
    with pytest.raises(ValueError, match="scale"):
        claims.check("alpha.bad", evidence="empirical", ref="r", statement="s", measured=1.0, target=1.0,
                     tolerance=0.0, scale={"M": 10})
    full = Claims("alpha", "full").check("alpha.thr", evidence="empirical", ref="r", statement="s", measured=0.4,
                                         target=0.4, tolerance=0.1, larger_run=True)
    assert full.status == "pass"


def test_old_manifests_are_read_in_todays_names(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps([{"id": "a.b", "status": "full-only", "passed": None},
                                {"id": "a.c", "status": "pass", "passed": True}]))
    assert [c["status"] for c in read_manifest(path)] == [LARGER_RUN, "pass"]
    assert read({"id": "a.b", "status": "deviates"})["status"] == "deviates"
    for chapter in ("experiments", "framework", "reduction", "xor"):  # the archived runs, written before the rename
        archived = REPO_ROOT / "results" / chapter / "claims.json"
        if archived.exists():
            assert all("status" in c and c["status"] != "full-only" for c in read_manifest(archived))


# ---------------------------------------------------------------- the typed phrase cannot come back

#: "the paper's scale", "paper scale", "paper-scale", "the paper's data scale", across a line break too.
PHRASE = re.compile(r"paper(?:'|\u2019)?s?[\s\-]+(?:data\s+)?scale", re.IGNORECASE)
#: The old name of the larger-run status and argument.
OLD_NAME = re.compile(r"full[-_]only", re.IGNORECASE)
#: The one module that computes the phrase.
COMPUTES = {Path("gdln/book/scale.py")}
#: The modules that read old manifests and notebooks (they map the old name to the new one).
READS_OLD = {Path("gdln/book/claims.py"), Path("gdln/book/archive.py")}


def _scanned() -> list[Path]:
    files = [Path("README.md"), Path("Makefile"), *sorted(Path("book").glob("*.md")),
             *sorted(Path(".github/workflows").glob("*.yml")), *sorted(Path("gdln").rglob("*.py"))]
    return [f for f in files if (REPO_ROOT / f).exists()]


def _hits(pattern: re.Pattern, path: Path) -> list[str]:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    return [f"{path}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()!r}" for m in pattern.finditer(text)]


def test_no_page_docstring_or_readme_line_types_the_papers_scale():
    found = [h for f in _scanned() if f not in COMPUTES for h in _hits(PHRASE, f)]
    assert not found, ("a run is called the paper's scale in typed text; say what it is, or compute the comparison "
                       "with gdln.book.scale.against_paper:\n  " + "\n  ".join(found))
    assert _hits(PHRASE, next(iter(COMPUTES)))  # the scan itself finds the phrase where it is computed


def test_the_old_name_full_only_is_gone_but_for_reading_old_manifests():
    found = [h for f in _scanned() if f not in READS_OLD for h in _hits(OLD_NAME, f)]
    assert not found, "the old status name, renamed larger-run:\n  " + "\n  ".join(found)

