"""gdln.sweep: a Section 5 sweep cut into shards, run as submitit jobs, gathers into the single run's arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gdln.data import DataMissingError
from gdln.sweep import (
    SweepSpec,
    gather,
    load_result,
    run,
    run_sharded,
    save_result,
    shard,
)
from gdln.sweep.__main__ import main as sweep_main
from gdln.sweep import spec as sweep_spec
from gdln.sweep.spec import ARRAYS, build_family

SPEC = SweepSpec(family="mnist-permuted", M=3, Ks=(1, 2, 3), gains=(0.1,), seeds=(0, 1), n_h=8,
                 n_train=200, n_test=100, downsample=4,
                 train=dict(steps=12, batch_size=20, lr=0.1, momentum=0.9, loss="ce", record_every=4))


@pytest.fixture(scope="module")
def family():
    try:
        return build_family(SPEC)
    except DataMissingError as err:
        pytest.skip(f"MNIST not available: {err}")


@pytest.fixture(scope="module")
def single(family):
    return run(SPEC, family=family)


def _same(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        same = (x == y) | (torch.isnan(x) & torch.isnan(y)) if x.is_floating_point() else x == y
        assert bool(same.all()), f"{name} differs"  # bit for bit; NaN (no untrained route at K = M) on both sides
    assert a.history.step == b.history.step
    assert torch.equal(torch.stack(a.history.loss), torch.stack(b.history.loss))
    assert a.points == b.points and list(a.seeds) == list(b.seeds)


@pytest.mark.parametrize("n_shards", [1, 2, 3, 4, 5, 6, 7, 12])
def test_shards_cover_every_replica_exactly_once(n_shards):
    parts = shard(SPEC, n_shards)
    assert 1 <= len(parts) <= n_shards
    cover = np.zeros((3, 2), dtype=int)
    for sub, pi, si in parts:
        cover[np.ix_(pi, si)] += 1
        assert sub.points == [SPEC.points[i] for i in pi] and list(sub.seeds) == [SPEC.seeds[i] for i in si]
    assert (cover == 1).all()


def test_gather_of_in_process_shards_is_the_single_run(family, single):
    for n in (2, 4):
        parts = [(pi, si, run(sub, family=family)) for sub, pi, si in shard(SPEC, n)]
        _same(gather(SPEC, parts), single)


def test_gather_refuses_a_missing_or_doubled_replica(family, single):
    (sub, pi, si), rest = shard(SPEC, 2)[0], shard(SPEC, 2)[1:]
    first = (pi, si, run(sub, family=family))
    with pytest.raises(ValueError, match="covered"):
        gather(SPEC, [first])
    with pytest.raises(ValueError, match="covered"):
        gather(SPEC, [first, first] + [(p, s, run(x, family=family)) for x, p, s in rest])


def test_two_local_submitit_jobs_gather_into_the_single_run(tmp_path, single):
    sharded = run_sharded(SPEC, 2, folder=tmp_path / "jobs", executor="local", threads=1, timeout_min=10)
    _same(sharded, single)
    print(f"sharded (2 local submitit jobs) vs single process: identical arrays {', '.join(ARRAYS)} and loss history")


def test_save_and_load_round_trip(tmp_path, single):
    path = save_result(tmp_path / "sweep.npz", SPEC, single)
    spec, res = load_result(path)
    assert spec == SPEC
    _same(res, single)


@pytest.mark.parametrize("change, message", [
    (dict(family="fashion"), "family='fashion' is invalid"),
    (dict(Ks=(1, 4)), r"every K must be <= M=3"),
    (dict(Ks=(0,)), r"Ks=\[0\] is invalid"),
    (dict(gains=(float("inf"),)), "gains=.* is invalid"),
    (dict(seeds=()), r"seeds=\[\] is invalid"),
    (dict(Ks=(1, 2), gains=(0.1, 1.0, 10.0)), "equal lengths"),
])
def test_bad_specs_are_refused_before_any_work(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SPEC, **change)


def test_cli_bad_input_is_rc_2(tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert sweep_main(["--family", "mnist-permuted", "--M", "3", "--Ks", "5", "--out", str(out)]) == 2
    assert "every K must be <= M=3" in capsys.readouterr().err
    assert sweep_main(["--family", "mnist-permuted", "--M", "3", "--Ks", "1", "--executor", "slurm",
                       "--slurm", "partition", "--out", str(out)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert not out.exists()


def test_replay_of_a_stored_run_is_exact_and_catches_a_change(family, single):
    from gdln.sweep.spec import replay_prefix

    assert replay_prefix(SPEC, single, steps=8, family=family) == 0.0
    other = dataclasses.replace(SPEC, train={**SPEC.train, "lr": 0.1 * 1.01})
    assert replay_prefix(other, single, steps=8, family=family) > 0.0  # a changed protocol does not retrace it
    with pytest.raises(ValueError, match="steps=5 is not among them"):
        replay_prefix(SPEC, single, steps=5, family=family)


def test_build_family_lets_the_kept_family_go_before_building_another(monkeypatch):
    """Two families never share the memory: an M = 40 rotated family holds 9 GB, and a chapter that
    replays one archived sweep after another would otherwise hold the old one while building the next."""
    held = []

    def fake_build(spec, **kw):
        held.append(list(sweep_spec._LAST_FAMILY))
        return object()

    monkeypatch.setattr(sweep_spec, "_LAST_FAMILY", [])
    monkeypatch.setattr(sweep_spec, "_build_family", fake_build)
    a = build_family(SPEC)
    assert build_family(SPEC) is a  # the same family again: kept, not rebuilt
    build_family(dataclasses.replace(SPEC, M=4))
    assert held == [[], []]
