"""gdln.sweep.store: archived sweeps are found by their exact spec, checked by checksum, and replayed."""

from __future__ import annotations

import dataclasses
import json
import os

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


def test_largest_archived_is_the_largest_M_whose_sweep_the_archive_holds(tmp_path, result):
    def panel(M):  # a panel's rule: its K grid depends on M
        return dataclasses.replace(SPEC, M=M, Ks=(1, M - 1))
    assert store.largest_archived(panel, (3, 5, 8), tmp_path) is None  # an empty archive holds none
    store.archive("tiny", SPEC, result, what="a tiny sweep", command="pytest", wall_time_s=1.0, store=tmp_path)
    assert store.largest_archived(panel, (8, 5, 3), tmp_path) == 3  # SPEC is panel(3)
    assert store.largest_archived(panel, (8, 5), tmp_path) is None  # not at the M asked for
    assert store.largest_archived(lambda M: dataclasses.replace(panel(M), seeds=(0,)), (3,), tmp_path) is None
    with pytest.raises(ValueError, match=r"Ms=\[1\] is invalid"):
        store.largest_archived(panel, (1,), tmp_path)


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


def test_a_killed_sweep_resumes_with_the_missing_shards_and_equals_one_run(tmp_path, family, result, monkeypatch):
    """Shard 1 of 2 is killed mid-training: its siblings stay filed, nothing of it counts, and the same
    call again trains only the missing shard and archives exactly the single-process arrays."""
    from gdln.sweep import shards, submit

    real_run, calls = submit.run, []

    def dies_on_second(spec, **kw):
        calls.append(spec.Ks)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while training the second shard
        return real_run(spec, **kw)

    monkeypatch.setattr(submit, "estimate_seconds", lambda *a, **k: 0.0)
    monkeypatch.setattr(submit, "run", dies_on_second)
    kw = dict(what="resumed", command="pytest", store=tmp_path, log=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        submit.run_to_store("resumed", SPEC, 2, **kw)
    filed = shards.filed_shards("resumed", SPEC, 2, tmp_path)
    assert sorted(filed) == [0] and store.find(SPEC, tmp_path) is None
    (shards.shards_dir("resumed", tmp_path) / "shard-0001-of-0002.npz").write_bytes(b"half a shard")  # no record
    calls.clear()
    monkeypatch.setattr(submit, "run", real_run)
    path = submit.run_to_store("resumed", SPEC, 2, **kw)
    entry = store.load(path)
    for name in ("trained", "untrained", "acc", "masks"):
        assert torch.equal(getattr(entry.result, name), getattr(result, name)), name
    assert all(torch.equal(a, b) for a, b in zip(entry.result.history.loss, result.history.loss))
    assert entry.record["shards"]["n"] == 2 and not shards.shards_dir("resumed", tmp_path).exists()


def test_shards_of_another_sweep_or_cut_are_refused_before_training(tmp_path, family, result, monkeypatch):
    from gdln.sweep import shards, submit

    sub, pi, si = shard(SPEC, 2)[0]
    shards.file_shard("s", SPEC, 2, 0, run(sub, family=family), wall_time_s=1.0, store=tmp_path)
    monkeypatch.setattr(submit, "run", lambda *a, **k: pytest.fail("trained although the call must be refused"))
    with pytest.raises(ValueError, match="cut into 2 shards; run it again with --shards 2"):
        submit.run_to_store("s", SPEC, 4, what="x", command="x", store=tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="holds shards of another sweep"):
        submit.run_to_store("s", dataclasses.replace(SPEC, n_h=9), 2, what="x", command="x", store=tmp_path,
                            log=lambda _: None)
    npz = shards.shards_dir("s", tmp_path) / "shard-0000-of-0002.npz"
    npz.write_bytes(npz.read_bytes()[:-10])  # damaged: reported and trained again, never used
    with pytest.warns(store.DamagedEntry, match="shard-0000-of-0002.json"):
        assert shards.filed_shards("s", SPEC, 2, tmp_path) == {}


def test_a_damaged_entry_is_skipped_with_a_warning_and_the_rest_works(tmp_path, family, result):
    store.archive("good", SPEC, result, what="x", command="x", wall_time_s=0, store=tmp_path)
    other = dataclasses.replace(SPEC, seeds=(0,))
    bad = store.archive("bad", other, result, what="x", command="x", wall_time_s=0, store=tmp_path)
    bad.write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.warns(store.DamagedEntry) as seen:
        assert store.find(SPEC, tmp_path) is not None  # the good entry is still found
        assert store.find(other, tmp_path) is None
    text = " ".join(str(w.message) for w in seen)
    assert "broken.json" in text and "bad.json" in text
    rec = json.loads((tmp_path / "good.json").read_text())
    rec["spec"]["n_h"] = 99  # an edited record no longer matches the arrays it vouches for
    rec_path = tmp_path / "edited.json"
    rec_path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="edited"):
        store.load(rec_path)


def test_re_archiving_keeps_the_old_entry_until_the_new_one_is_complete(tmp_path, family, result, monkeypatch):
    first = store.archive("e", SPEC, result, what="first", command="x", wall_time_s=0, store=tmp_path)
    import gdln.sweep.store as S

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(S, "atomic_write_json", killed)  # killed after the new arrays, before the record
    with pytest.raises(KeyboardInterrupt):
        store.archive("e", SPEC, result, what="second", command="x", wall_time_s=5, store=tmp_path)
    monkeypatch.undo()
    entry = store.load(tmp_path / "e.json")
    assert entry.record["what"] == "first" and entry.path == first  # the old entry, intact
    second = store.archive("e", SPEC, result, what="second", command="x", wall_time_s=5, store=tmp_path)
    assert store.load(tmp_path / "e.json").record["what"] == "second"
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == [second.name]  # nothing left behind


@pytest.mark.parametrize("extra,message", [
    (["--lr", "nan"], "--lr nan is invalid"),
    (["--momentum", "nan"], "--momentum nan is invalid"),
    (["--momentum", "1.5"], "--momentum 1.5 is invalid"),
    (["--threads", "-1"], "--threads -1 is invalid"),
    (["--device", "tpu"], "--device tpu"),
    (["--executor", "slurm"], "no SLURM"),
    (["--archive", "../up"], "name='../up' is invalid"),
])
def test_cli_refuses_bad_values_before_any_work(tmp_path, monkeypatch, capsys, extra, message):
    import gdln.sweep.__main__ as cli

    monkeypatch.setattr(cli, "run_to_store", lambda *a, **k: pytest.fail("started although refused"))
    monkeypatch.setattr(cli, "run", lambda *a, **k: pytest.fail("started although refused"))
    monkeypatch.setenv("PATH", "/nonexistent")  # no sbatch
    args = ["--family", "mnist-permuted", "--M", "3", "--Ks", "1", "--seeds", "0", "--store", str(tmp_path),
            "--executor", "none", "--archive", "x", "--what", "x"]
    assert cli.main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_a_name_taken_by_another_sweep_before_training(tmp_path, family, result, monkeypatch, capsys):
    import gdln.sweep.__main__ as cli

    store.archive("taken", SPEC, result, what="x", command="x", wall_time_s=0, store=tmp_path)
    monkeypatch.setattr(cli, "run_to_store", lambda *a, **k: pytest.fail("started although refused"))
    args = ["--family", "mnist-permuted", "--M", "3", "--Ks", "1", "--seeds", "0", "--store", str(tmp_path),
            "--executor", "none", "--archive", "taken", "--what", "x"]
    assert cli.main(args) == 2 and "holds another sweep" in capsys.readouterr().err
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):
        pytest.skip("running as a user who can write anywhere (root): the permission check cannot be tried")
    assert cli.main([*args[:-4], "--store", str(ro), "--archive", "y", "--what", "x"]) == 2


def test_jobs_are_cancelled_when_the_parent_is_interrupted_or_terminated():
    """Ctrl-C or SIGTERM of the parent cancels every job still running (a submitit local job ignores
    SIGTERM by design, so it would otherwise train on alone)."""
    import signal

    from gdln.sweep.submit import _cancel_on_exit

    class Job:
        def __init__(self, done):
            self._done, self.cancelled = done, False

        def done(self):
            return self._done

        def cancel(self):
            self.cancelled = True

    jobs = [Job(False), Job(True)]
    with pytest.raises(KeyboardInterrupt):
        with _cancel_on_exit(jobs):
            os.kill(os.getpid(), signal.SIGTERM)  # turned into KeyboardInterrupt inside the block
    assert jobs[0].cancelled and not jobs[1].cancelled
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored


def test_local_shards_that_would_not_fit_in_memory_are_refused_before_any_work(tmp_path, monkeypatch):
    """submitit's local executor starts every shard at once: nine M = 40 rotated shards need ~80 GB."""
    from gdln.sweep import submit

    big = dataclasses.replace(SPEC, family="mnist-rotated", M=40, n_train=60000, n_test=10000, downsample=1,
                              n_h=128, Ks=tuple(range(2, 11)), gains=(0.1,), seeds=(0, 1, 2),
                              train={**SPEC.train, "lr": 0.05, "batch_size": 100})
    each = submit.shard_memory_bytes(big, 9)
    assert 8.8e9 < each < 10e9  # 40 rotated copies of 70,000 images of 784 float32 pixels: 8.8 GB
    perm = submit.shard_memory_bytes(dataclasses.replace(big, family="mnist-permuted"), 9)
    assert perm < each / 5  # permuted domains hold the images once
    monkeypatch.setattr(submit, "_available_memory", lambda: int(24e9))
    monkeypatch.setattr(submit, "run", lambda *a, **k: pytest.fail("trained although the call must be refused"))
    with pytest.raises(ValueError, match=r"9 local shard processes at once need about 8\d\.\d GB .* 24\.0 GB available"):
        submit.run_to_store("big", big, 9, what="x", command="x", executor="local", folder=tmp_path / "jobs",
                            store=tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="--executor none"):
        submit.run_sharded(big, 9, folder=tmp_path / "jobs", executor="local")
    assert not any(tmp_path.glob("*.shards"))


def test_a_sweep_killed_by_sigkill_resumes_and_equals_one_uninterrupted_run(tmp_path, family):
    """The real thing, not a simulated exception: ``python -m gdln.sweep ... --archive`` in its own process is
    killed with SIGKILL while it trains (after its first shard is filed, before its last), which leaves
    nothing that counts as a result; the same command again trains only what is missing and archives exactly
    the arrays of the same sweep run in one piece without interruption."""
    import signal
    import subprocess
    import sys
    import time

    from gdln.sweep import shards

    args = ["--family", "mnist-permuted", "--M", "3", "--Ks", "1", "2", "3", "--gains", "0.1", "--seeds", "0", "1",
            "--n-h", "8", "--n-train", "200", "--n-test", "100", "--downsample", "4", "--steps", "2000",
            "--batch-size", "20", "--lr", "0.05", "--executor", "none", "--threads", "1", "--what", "killed"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gdln.sweep", *args, "--store", str(killed), "--archive", "k"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = killed / "k.shards"
    deadline = time.monotonic() + 300
    while not list(folder.glob("shard-*.json")):  # wait for the first shard's record, the commit point
        assert proc.poll() is None, f"the sweep ended before a shard was filed: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no shard was filed in 5 minutes"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    records = sorted(p.stem for p in folder.glob("shard-*.json"))
    assert 1 <= len(records) < 3, f"the kill did not land mid-sweep ({records} filed)"
    assert not list(killed.glob("k*.json")) and not list(killed.glob("k-*.npz")), "a killed sweep left an entry"
    # what the killed process left (a shard's arrays without a record, temporary files) is not a filed shard
    spec = next(iter(json.loads(p.read_text())["sweep"] for p in folder.glob("shard-*.json")))
    spec = SweepSpec.from_json(json.dumps(spec))
    assert sorted(shards.filed_shards("k", spec, 3, killed)) == [int(r.split("-")[1]) for r in records]

    threads = torch.get_num_threads()  # --threads 1 (the killed process's, for the same bits) sets this process's
    try:
        assert sweep_main([*args, "--store", str(killed), "--archive", "k"]) == 0
        assert sweep_main([*args, "--store", str(whole), "--archive", "k", "--shards", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    resumed, uninterrupted = store.load(killed / "k.json"), store.load(whole / "k.json")
    assert resumed.spec == uninterrupted.spec == spec
    for name in ("trained", "untrained", "acc", "masks"):  # bit for bit (NaN where K = M leaves no untrained route)
        torch.testing.assert_close(getattr(resumed.result, name), getattr(uninterrupted.result, name),
                                   rtol=0, atol=0, equal_nan=True, msg=name)
    for a, b in zip(resumed.result.history.loss, uninterrupted.result.history.loss, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.record["shards"]["n"] == 3 and not folder.exists()
