"""Tests for gdln.data: IDX decoding, data-directory resolution, clear errors, atomic cache."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from gdln.data import loaders as data


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


def test_load_mnist_from_given_dir_and_cache(tmp_path, monkeypatch):
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
    assert (tmp_path / "cache" / "mnist_test.npz").exists()
    assert not list((tmp_path / "cache").glob("*.tmp"))  # atomic write leaves no temporary file
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


def test_official_cifar_pickles_preferred(tmp_path, monkeypatch):
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
