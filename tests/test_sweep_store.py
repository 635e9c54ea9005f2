"""gdln.sweep.store: archived sweeps are found by their exact spec, checked by checksum, and replayed."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from gdln.data import DataMissingError
from gdln.sweep import Origins, SweepSpec, obtain, run, shard
from gdln.sweep import store
from gdln.sweep.__main__ import main as sweep_main
from gdln.sweep.spec import build_family

SPEC = SweepSpec(family="mnist-permuted", M=3, Ks=(1, 2), gains=(0.1, 1.0), seeds=(0, 1), n_h=8,
                 n_train=200, n_test=100, downsample=4,
                 train=dict(steps=8, batch_size=20, lr=[0.1, 0.05], momentum=0.9, loss="ce", record_every=4))


@pytest.fixture(scope="module")
def family():
    try:
        return build_family(SPEC)
    except DataMissingError as err:
        pytest.skip(f"MNIST not available: {err}")


@pytest.fixture(scope="module")
def result(family):
    return run(SPEC, family=family)


def test_per_point_steps_are_one_per_point_and_split_with_the_points():
    with pytest.raises(ValueError, match=r"train\['lr'\] has 3 values; expected one number or one per point \(2\)"):
        dataclasses.replace(SPEC, train={**SPEC.train, "lr": [0.1, 0.2, 0.3]})
    parts = shard(SPEC, 2)
    assert [sub.train["lr"] for sub, _, _ in parts] == [[0.1], [0.05]]


def test_archive_find_load_round_trip(tmp_path, family, result):
    path = store.archive("tiny", SPEC, result, what="a tiny sweep", command="pytest", wall_time_s=1.0, store=tmp_path)
    record = json.loads((tmp_path / "tiny.json").read_text())
    assert path.name == record["arrays"] and path.name.startswith("tiny-")
    assert record["spec"] == json.loads(SPEC.to_json()) and record["machine"]["torch"] == torch.__version__
    assert store.find(SPEC, tmp_path) == path
    assert store.find(dataclasses.replace(SPEC, seeds=(0,)), tmp_path) is None  # another spec is another sweep
    entry = store.load(path)
    assert entry.spec == SPEC and torch.equal(entry.result.acc, result.acc)
    with pytest.raises(ValueError, match="holds another sweep"):
        store.archive("tiny", dataclasses.replace(SPEC, seeds=(1,)), result, what="x", command="x", wall_time_s=0,
                      store=tmp_path)
    with pytest.raises(ValueError, match="name='../x' is invalid"):
        store.archive("../x", SPEC, result, what="x", command="x", wall_time_s=0, store=tmp_path)


def test_obtain_takes_the_archive_only_for_the_same_spec_and_replays_it(tmp_path, family, result):
    store.archive("tiny", SPEC, result, what="a tiny sweep", command="pytest", wall_time_s=1.0, store=tmp_path)
    got, origin = obtain(SPEC, family=family, store=tmp_path, replay_steps=4)
    assert origin["source"] == "archive" and origin["name"] == "tiny"
    assert origin["replay"]["max_abs_loss_difference"] == 0.0  # today's code retraces the stored run bit for bit
    assert torch.equal(got.trained, result.trained) and got.net is None
    other = dataclasses.replace(SPEC, train={**SPEC.train, "momentum": 0.5})
    _, origin = obtain(other, family=family, store=tmp_path)
    assert origin["source"] == "computed"
    table = Origins()
    table.add("archived", SPEC, obtain(SPEC, store=tmp_path)[1])
    table.add("new", other, origin)
    assert f"results/sweeps/{store.find(SPEC, tmp_path).name}" in repr(table) and "computed by this run" in table._repr_html_()


def test_a_damaged_archive_is_refused(tmp_path, result):
    path = store.archive("tiny", SPEC, result, what="x", command="x", wall_time_s=0, store=tmp_path)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="does not match its record"):
        store.load(path)
    (tmp_path / "tiny.json").unlink()
    with pytest.raises(ValueError, match="has no record"):
        store.load(path)


def test_cli_archives_with_a_record(tmp_path, family):
    args = ["--family", "mnist-permuted", "--M", "3", "--Ks", "1", "2", "--gains", "0.1", "1.0", "--lr", "0.1", "0.05",
            "--seeds", "0", "--n-h", "8", "--n-train", "200", "--n-test", "100", "--downsample", "4", "--steps", "4",
            "--batch-size", "20", "--executor", "none", "--store", str(tmp_path)]
    with pytest.raises(SystemExit):
        sweep_main([*args, "--archive", "cli"])
    assert sweep_main([*args, "--lr", "0.1", "0.2", "0.3", "--archive", "cli", "--what", "x"]) == 2
    assert sweep_main([*args, "--archive", "cli", "--what", "a CLI test"]) == 0
    record = json.loads((tmp_path / "cli.json").read_text())
    assert record["what"] == "a CLI test" and record["command"].startswith("python -m gdln.sweep --family")
    assert store.load(tmp_path / "cli.json").spec.train["lr"] == [0.1, 0.05]
    assert not (tmp_path / "cli.shards").exists()  # the shards were assembled and removed


def test_plateau_exit_reads_the_first_step_below_the_fraction():
    from gdln.engines.routenet import History, plateau_exit

    h = History(lr=0.1)
    h.step = [0, 50, 100, 150]
    h.loss = [torch.tensor([2.0, 2.0]), torch.tensor([1.5, 2.0]), torch.tensor([0.9, 1.9]), torch.tensor([0.1, 1.2])]
    got = plateau_exit(h, fraction=0.5)
    assert got[0].item() == 100.0 and torch.isnan(got[1])
