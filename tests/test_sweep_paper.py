"""python -m gdln.sweep paper: the sweeps of the paper's panels, their FLOP count, and the resumable run, on a CPU at a tiny size."""

from __future__ import annotations

import pytest

from gdln.data import DataMissingError
from gdln.sweep import paper
from gdln.sweep.__main__ import main as sweep_main
from gdln.sweep.spec import build_family


def test_paper_sweeps_are_at_the_papers_scale():
    by_name = {s.name: s.spec for s in paper.paper_sweeps()}
    perm = by_name["mnist-permuted-M100-s10-full"]
    assert perm.M == 100 and len(perm.seeds) == 10 and perm.n_h == 128 and perm.Ks == (5, 10, 20, 30, 40, 50, 60, 80, 100)
    assert by_name["cifar-rotated-M40-h1024-s10-full"].n_h == 1024 and by_name["cifar-rotated-M40-h1024-s10-full"].M == 40
    gains = by_name["mnist-permuted-gains-M100-s10-full"]
    assert gains.Ks == (10,) and gains.gains == (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4)
    assert gains.train["lr"] == [0.05 / 100, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert paper.k_gain(40) == 10 and paper.k_gain(10) == 4
    assert len(by_name) == 9  # eleven panels, two pairs of which share a run (Figs. 7c / 8 ii, 7b / 8 i)
    assert by_name["mnist-rotated-leaky-M40-s10-full"].nonlinearity == "leaky_relu"
    with pytest.raises(ValueError, match="mode='fast' is invalid"):
        paper.k_grid(10, "fast")


def test_flops_of_a_sweep_follow_the_step_count():
    s = next(p.spec for p in paper.paper_sweeps(n_seeds=1) if p.name == "mnist-permuted-M100-s1-full")
    # encoders dominate: 4 R M N_h d B per step
    R = len(s.points)
    enc = 4 * R * s.M * s.n_h * 784 * 100 * s.train["steps"]
    assert enc < paper.sweep_flops(s) < 2.5 * enc


def test_the_paper_command_runs_resumes_and_stops_on_a_cpu_at_a_tiny_size(tmp_path, capsys):
    try:
        build_family(paper.tiny(paper.paper_sweeps()[1]).spec)
    except DataMissingError as err:
        pytest.skip(f"MNIST not available: {err}")
    args = ["paper", "--tiny", "--device", "cpu", "--store", str(tmp_path), "--only", "mnist-permuted-M100-s10-full-tiny"]
    assert sweep_main([*args, "--dry-run"]) == 0
    assert "to train" in capsys.readouterr().out and not list(tmp_path.glob("*.json"))
    assert sweep_main(args) == 0
    assert (tmp_path / "mnist-permuted-M100-s10-full-tiny.json").exists()
    capsys.readouterr()
    assert sweep_main(args) == 0  # nothing left to train
    assert "(archived)" in capsys.readouterr().out
    assert sweep_main([*args[:-1], "no-such-sweep"]) == 2
    assert sweep_main(["paper", "--device", "tpu", "--dry-run"]) == 2
