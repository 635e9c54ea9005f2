"""Tests for gdln.data: IDX decoding, data-directory resolution, clear errors, checksums, checked caches."""

import gzip
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from gdln.data import loaders as data
from gdln.util.files import FILE_MODE


def _idx_images(a: np.ndarray) -> bytes:
    n, r, c = a.shape
    return (0x803).to_bytes(4, "big") + b"".join(x.to_bytes(4, "big") for x in (n, r, c)) + a.tobytes()


def _idx_labels(a: np.ndarray) -> bytes:
    return (0x801).to_bytes(4, "big") + len(a).to_bytes(4, "big") + a.astype(np.uint8).tobytes()


def test_read_idx_roundtrip_and_bad_magic():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    np.testing.assert_array_equal(data.read_idx(_idx_images(img)), img)
    np.testing.assert_array_equal(data.read_idx(_idx_labels(np.array([1, 7, 9]))), [1, 7, 9])
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(b"\x00\x00\x08\x99" + b"\x00" * 12)


@pytest.fixture
def synthetic(monkeypatch):
    """Synthetic files under the official names: no known checksums to check them against."""
    monkeypatch.setattr(data, "EXPECTED", {})


def _synthetic_mnist(root: Path, n: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    lab = rng.integers(0, 10, n)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for name, raw in zip(data.MNIST_FILES["test"], (_idx_images(img), _idx_labels(lab))):
        (root / "mnist" / name).write_bytes(gzip.compress(raw))
    return img, lab


def test_load_mnist_from_given_dir_and_cache(tmp_path, monkeypatch, synthetic):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    lab = rng.integers(0, 10, 6)
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    for name, raw in zip(data.MNIST_FILES["test"], (_idx_images(img), _idx_labels(lab))):
        (tmp_path / "d" / "mnist" / name).write_bytes(gzip.compress(raw))
    x, y = data.load_mnist("test", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(x, img)
    np.testing.assert_array_equal(y, lab)
    [cache] = (tmp_path / "cache").glob("mnist_test-*.npz")  # named after the checksums of its sources
    assert stat.S_IMODE(cache.stat().st_mode) == FILE_MODE and FILE_MODE & 0o044  # not mkstemp's 0600
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # atomic write leaves no temporary file
    x2, _ = data.load_mnist("test", data_dir=tmp_path / "d")  # from the cache
    np.testing.assert_array_equal(x2, img)


def test_missing_data_error_names_dir_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(data.DataMissingError) as e:
        data.load_mnist("train", data_dir=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "train-images-idx3-ubyte.gz" in msg and "gdln.data fetch" in msg
    with pytest.raises(data.DataMissingError, match="cifar-10-batches-py"):
        data.load_cifar10("test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("val", data_dir=tmp_path)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_DATA_DIR", str(tmp_path))
    assert data.candidate_dirs() == [tmp_path]
    assert data.candidate_dirs("/x") == [Path("/x")]
    monkeypatch.delenv("GDLN_DATA_DIR")
    assert data.candidate_dirs()[0] == data.REPO_ROOT / "data"


def test_relative_dirs_are_taken_from_the_callers_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDLN_DATA_DIR", "../d")
    monkeypatch.setenv("GDLN_CACHE_DIR", "_build/x")
    assert data.candidate_dirs() == [tmp_path.parent / "d"]
    assert data.cache_dir() == tmp_path / "_build" / "x"
    monkeypatch.chdir(tmp_path.parent)  # read again from elsewhere: where they point is fixed when read
    assert data.candidate_dirs("rel") == [tmp_path.parent / "rel"]


def test_official_cifar_pickles_preferred(tmp_path, monkeypatch, synthetic):
    import pickle
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(2)
    for fs in data.CIFAR_PICKLES.values():
        for f in fs:
            d = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [3, 5]}
            (root / f).write_bytes(pickle.dumps(d))
    c = data.load_cifar10("test", data_dir=tmp_path)
    assert c.source == "CIFAR-10" and c.images.shape == (2, 32, 32, 3)
    raw = pickle.loads((root / "test_batch").read_bytes())[b"data"]
    np.testing.assert_array_equal(c.images[1, :, :, 0].ravel(), raw[1, :1024])  # channel-major -> HWC


def _shared_or_skip():
    try:
        return data._find(("mnist/t10k-images-idx3-ubyte.gz",), "MNIST", None)
    except data.DataMissingError as e:
        pytest.skip(f"MNIST not available: {e}")


def test_real_mnist_test_split():
    _shared_or_skip()
    x, y = data.load_mnist("test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist()[:2] == [980, 1135]  # known class counts of the MNIST test set


# ------------------------------------------------------------------ checksums of the data files

def _real_mnist_copy(tmp_path: Path) -> Path:
    root = _shared_or_skip()
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    for name in data.MNIST_FILES["test"]:
        shutil.copy(root / "mnist" / name, tmp_path / "d" / "mnist" / name)
    return tmp_path / "d"


def test_truncated_official_file_fails_with_its_name_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    d = _real_mnist_copy(tmp_path)
    images = d / "mnist" / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:100_000])
    with pytest.raises(data.DataChecksumError) as e:
        data.load_mnist("test", data_dir=d)
    assert str(images) in str(e.value) and data.EXPECTED["mnist/t10k-images-idx3-ubyte.gz"].digest in str(e.value)


def test_altered_official_file_fails_with_its_name_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    d = _real_mnist_copy(tmp_path)
    labels = d / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataChecksumError, match="t10k-labels-idx1-ubyte.gz is truncated or altered") as e:
        data.load_mnist("test", data_dir=d)
    assert data.EXPECTED["mnist/t10k-labels-idx1-ubyte.gz"].digest in str(e.value)


def test_recompressed_official_file_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    d = _real_mnist_copy(tmp_path)
    labels = d / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()), compresslevel=1))  # another .gz wrapper
    x, y = data.load_mnist("test", data_dir=d)
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist()[:2] == [980, 1135]


def test_file_identity_is_remembered_and_renewed_on_change(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "f.bin"
    f.write_bytes(b"one")
    first = data.file_identity(f)
    assert first["size"] == 3 and str(f) in json.loads((tmp_path / "cache" / "file-hashes.json").read_text())
    st = f.stat()
    f.write_bytes(b"two")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the ctime still moves
    assert data.file_identity(f)["sha256"] != first["sha256"]


# ------------------------------------------------------------------ checked caches

def _load_twice(tmp_path, monkeypatch) -> tuple[Path, np.ndarray]:
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    img, _ = _synthetic_mnist(tmp_path / "d")
    data.load_mnist("test", data_dir=tmp_path / "d")
    [cache] = (tmp_path / "cache").glob("mnist_test-*.npz")
    return cache, img


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong shapes", "wrong shapes, own checksums",
                                    "one byte changed"])
def test_corrupt_cache_is_recomputed_with_one_line_warning(tmp_path, monkeypatch, capfd, synthetic, damage):
    cache, img = _load_twice(tmp_path, monkeypatch)
    capfd.readouterr()
    raw = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        cache.write_bytes(b"\x80\x04 not a zip file" * 100)
    elif damage == "wrong shapes":
        np.savez(cache, images=np.zeros((6, 28), np.uint8), labels=np.zeros(6, np.int64))
    elif damage == "wrong shapes, own checksums":
        with np.load(cache) as z:
            meta = json.loads(str(z["__gdln__"]))
        bad = np.zeros((6, 28), np.uint8)
        meta["arrays"]["images"] = {"dtype": "uint8", "shape": [6, 28], "sha256": data._array_sha256(bad)}
        np.savez(cache, images=bad, labels=np.zeros(6, np.int64), __gdln__=np.array(json.dumps(meta)))
    else:
        with np.load(cache) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["images"][0, 0, 0] ^= 1
        np.savez(cache, **arrays)
    x, _ = data.load_mnist("test", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(x, img)
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cache) in err[0] and "recomputing" in err[0], err
    data.load_mnist("test", data_dir=tmp_path / "d")  # the cache was rewritten: no warning now
    assert not capfd.readouterr().err


def test_cache_follows_the_content_of_the_sources(tmp_path, monkeypatch, synthetic):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    _synthetic_mnist(tmp_path / "d", seed=1)
    a, _ = data.load_mnist("test", data_dir=tmp_path / "d")
    img, _ = _synthetic_mnist(tmp_path / "d", seed=2)  # same names, other content
    b, _ = data.load_mnist("test", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(b, img)
    assert not np.array_equal(a, b) and len(list((tmp_path / "cache").glob("mnist_test-*.npz"))) == 2


def _unwritable_dir(tmp_path: Path) -> Path:
    """A folder nobody can create: its parent is a regular file (a mode bit would not stop root)."""
    (tmp_path / "blocker").write_text("a file where a folder was expected")
    return tmp_path / "blocker" / "cache"


def test_unwritable_cache_folder_falls_back_to_memory(tmp_path, monkeypatch, capfd, synthetic):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(_unwritable_dir(tmp_path)))
    img, _ = _synthetic_mnist(tmp_path / "d")
    x, _ = data.load_mnist("test", data_dir=tmp_path / "d")
    np.testing.assert_array_equal(x, img)
    err = capfd.readouterr().err.strip().splitlines()
    assert err and all("keeping results in memory" in line for line in err) and len(err) == 1, err
    x2, _ = data.load_mnist("test", data_dir=tmp_path / "d")  # from memory, no second warning
    assert x2 is x and not capfd.readouterr().err


def test_manifest_lists_sources_and_verify_tells_what_changed(tmp_path, monkeypatch, synthetic):
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(data.MANIFEST_ENV, str(tmp_path / "run" / "data.json"))
    monkeypatch.setattr(data, "_MANIFEST", {"sources": [], "caches": []})
    _synthetic_mnist(tmp_path / "d")
    monkeypatch.setenv("GDLN_DATA_DIR", str(tmp_path / "d"))
    data.load_mnist("test")
    manifest = json.loads((tmp_path / "run" / "data.json").read_text())
    assert manifest == data.data_manifest()
    [src] = manifest["sources"]
    assert src["dataset"] == "mnist" and [f["name"] for f in src["files"]] == [
        f"mnist/{n}" for n in data.MNIST_FILES["test"]] and len(manifest["caches"]) == 1
    assert data.verify_manifest(manifest) is None
    shutil.copytree(tmp_path / "d", tmp_path / "same")
    monkeypatch.setenv("GDLN_DATA_DIR", str(tmp_path / "same"))  # the same bytes elsewhere: the same data
    assert data.verify_manifest(manifest) is None
    monkeypatch.setenv("GDLN_DATA_DIR", str(tmp_path / "nowhere"))
    assert "no longer found" in data.verify_manifest(manifest)
    monkeypatch.setenv("GDLN_DATA_DIR", str(tmp_path / "d"))
    _synthetic_mnist(tmp_path / "d", seed=9)
    assert "t10k-images-idx3-ubyte.gz changed" in data.verify_manifest(manifest)
    assert "unreadable" in data.verify_manifest({"sources": [{"dataset": "mnist"}]})
