"""MNIST and CIFAR-10 loaders with a configurable data directory and an ``.npz`` cache (Sec. 5, App. D).

Where the data come from (first match wins):

1. the ``data_dir`` argument of a loader;
2. the environment variable ``GDLN_DATA_DIR``;
3. the repository's ``data/`` folder, then, if it lacks the files, ``../shared/data`` next to the
   repository (the read-only offline copies on the project's build machines) when that folder exists.

Expected layout inside a data directory (the names the official archives unpack to)::

    mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz   # MNIST, IDX (LeCun et al.)
    cifar-10-batches-py/{data_batch_1..5,test_batch}          # CIFAR-10, official python pickles
    cifar10-jpeg/cifar10-jpeg.tar.gz                          # fallback: a LOSSY JPEG copy
    resnet-cifar10/resnet20-12fca82f.th                       # pretrained CIFAR ResNet-20

CIFAR-10 is read from the official pickle batches whenever they are present; otherwise from the JPEG
copy, and then every result's ``source`` says ``"CIFAR-10, JPEG copy"`` (JPEG artefacts cost the
pretrained ResNet-20 about 11 points of test accuracy: 81.0% vs 91.8%).

Relative ``GDLN_DATA_DIR``, ``GDLN_CACHE_DIR`` and ``data_dir`` are taken relative to the caller's working
folder (made absolute when read).

**Checksums.** Every file a loader reads is identified by its SHA-256 (computed once per file version and
remembered by path, size, mtime and ctime in ``<cache>/file-hashes.json``), and the files this project
knows are checked against :data:`EXPECTED`: a truncated or altered file fails with its name and the
expected checksum (:class:`DataChecksumError`). MNIST is checked on its *decompressed* IDX bytes (mirrors
re-compress the ``.gz`` wrappers), CIFAR-10's python batches on the publisher's MD5, the ResNet-20 weights
and the project's JPEG copy of CIFAR-10 on their SHA-256.

**Caches.** Decoded arrays are cached as ``.npz`` under ``data/cache/`` (``$GDLN_CACHE_DIR`` overrides; the
folder is git-ignored), written atomically, named after the checksums of the files they were decoded
from, and carrying the shape, dtype and SHA-256 of every array: a cache that fails these checks on load
is recomputed with a one-line warning, and a cache folder that cannot be written leaves the arrays in
memory, with a warning (:func:`cached_arrays`, also used for the ResNet features).

**Manifest.** The sources and caches a process used are listed by :func:`data_manifest`; when
``$GDLN_DATA_MANIFEST`` names a file (the book's runner sets it for each run) the list is also written
there, and :func:`verify_manifest` later tells whether those sources still resolve to the same bytes.

An online user fetches the official files with ``python -m gdln.data fetch [--data-dir DIR]`` (never run
at build time).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import sys
import tarfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdln.util.files import REPO_ROOT, atomic_open, atomic_write_json, file_digests

__all__ = ["MNIST_FILES", "CIFAR_CLASSES", "CIFAR_PICKLES", "CIFAR_JPEG_TAR", "RESNET20_FILE",
    "SOURCE_OFFICIAL", "SOURCE_JPEG", "URLS", "Expected", "EXPECTED", "MANIFEST_ENV", "DataMissingError",
    "DataChecksumError", "candidate_dirs", "cache_dir", "file_identity", "atomic_save_npz", "cached_arrays",
    "data_manifest", "verify_manifest", "read_idx", "load_mnist", "CifarSplit", "load_cifar10",
    "resnet20_weights_path", "fetch", "main"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_PICKLES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR_JPEG_TAR = "cifar10-jpeg/cifar10-jpeg.tar.gz"
RESNET20_FILE = "resnet-cifar10/resnet20-12fca82f.th"
SOURCE_OFFICIAL = "CIFAR-10"
SOURCE_JPEG = "CIFAR-10, JPEG copy"
#: MNIST normalisation (training-set pixel mean and std, data README).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

#: Official download locations used by :func:`fetch` (MNIST: LeCun's site has been flaky, the
#: ossci mirror serves byte-identical files).
URLS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
    "resnet20": ["https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
                 "resnet20-12fca82f.th"],
}




@dataclass(frozen=True)
class Expected:
    """The known checksum of a data file: ``algorithm`` digest of the file (``of="file"``) or of its
    gzip-decompressed content (``of="decompressed"``), and what the file is."""

    algorithm: str
    digest: str
    of: str
    what: str


_MNIST = "official MNIST, checked on its decompressed IDX bytes since mirrors re-compress the .gz"
_CIFAR = "official CIFAR-10 python batch (the publisher's MD5, the only checksum published for it)"
#: Checksums of the files this project knows, by their name inside a data directory.
EXPECTED: dict[str, Expected] = {
    "mnist/train-images-idx3-ubyte.gz": Expected(
        "sha256", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", "decompressed", _MNIST),
    "mnist/train-labels-idx1-ubyte.gz": Expected(
        "sha256", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", "decompressed", _MNIST),
    "mnist/t10k-images-idx3-ubyte.gz": Expected(
        "sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", "decompressed", _MNIST),
    "mnist/t10k-labels-idx1-ubyte.gz": Expected(
        "sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", "decompressed", _MNIST),
    "cifar-10-batches-py/data_batch_1": Expected("md5", "c99cafc152244af753f735de768cd75f", "file", _CIFAR),
    "cifar-10-batches-py/data_batch_2": Expected("md5", "d4bba439e000b95fd0a9bffe97cbabec", "file", _CIFAR),
    "cifar-10-batches-py/data_batch_3": Expected("md5", "54ebc095f3ab1f0389bbae665268c751", "file", _CIFAR),
    "cifar-10-batches-py/data_batch_4": Expected("md5", "634d18415352ddfa80567beed471001a", "file", _CIFAR),
    "cifar-10-batches-py/data_batch_5": Expected("md5", "482c414d41f54cd18b22e5b47cb7c3cb", "file", _CIFAR),
    "cifar-10-batches-py/test_batch": Expected("md5", "40351d587109b95175f43aff81a1287e", "file", _CIFAR),
    CIFAR_JPEG_TAR: Expected("sha256", "72e70b8933e82e9dc486fd1d53f76993e988a772a59722062d6253907273f473", "file",
                             "the project's LOSSY JPEG copy of CIFAR-10 (not an official file)"),
    RESNET20_FILE: Expected("sha256", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", "file",
                            "official ResNet-20 CIFAR-10 weights (akamaster/pytorch_resnet_cifar10)"),
}
#: MD5 of the official ``cifar-10-python.tar.gz`` (checked by :func:`fetch` before unpacking).
CIFAR_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
#: The environment variable naming the file that lists the sources and caches used (see the docstring).
MANIFEST_ENV = "GDLN_DATA_MANIFEST"
#: Version of the cache layout: part of every cache name.
CACHE_FORMAT = 2


class DataMissingError(FileNotFoundError):
    """Raised when a data set is not found; the message names the folders and the files expected."""


class DataChecksumError(ValueError):
    """A data file is truncated, corrupt or altered: the message names it and its expected checksum."""


def _abs(path: str | os.PathLike) -> Path:
    """``path`` made absolute against the current working folder (``..`` collapsed, links kept)."""
    return Path(os.path.abspath(os.fspath(path)))


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The data directories searched, in order (see the module docstring)."""
    if data_dir is not None:
        return [_abs(data_dir)]
    env = os.environ.get("GDLN_DATA_DIR")
    if env:
        return [_abs(env)]
    dirs = [REPO_ROOT / "data"]
    shared = (REPO_ROOT.parent / "shared" / "data").resolve()
    if shared.is_dir():
        dirs.append(shared)
    return dirs


def cache_dir() -> Path:
    """Where decoded arrays and features are cached: ``$GDLN_CACHE_DIR`` or ``<repo>/data/cache``."""
    return _abs(os.environ.get("GDLN_CACHE_DIR") or REPO_ROOT / "data" / "cache")


def _find(relpaths: tuple[str, ...], what: str, data_dir) -> Path:
    dirs = candidate_dirs(data_dir)
    for d in dirs:
        if all((d / r).exists() for r in relpaths):
            return d
    raise DataMissingError(
        f"{what} not found. Searched {', '.join(str(d) for d in dirs)} for: {', '.join(relpaths)}. "
        f"Set GDLN_DATA_DIR (or pass data_dir=) to a folder holding these files, or download the "
        f"official files with `python -m gdln.data fetch` (see data/README.md).")


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Save ``arrays`` to ``path`` (.npz) atomically: temporary file in the same folder, then rename."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _warn(message: str) -> None:
    """One line on stderr (in a notebook: the cell's stderr stream)."""
    print(f"warning: gdln.data: {message}", file=sys.stderr, flush=True)


_WARNED: set[str] = set()


def _unwritable(folder: Path, err: OSError) -> None:
    if str(folder) not in _WARNED:
        _WARNED.add(str(folder))
        _warn(f"cannot write the cache folder {folder} ({err.strerror or err}); keeping results in memory")


# ------------------------------------------------------------------------------ file identity
_HASHES: dict[str, dict[str, Any]] = {}  # hash-table file -> {absolute path: entry}


def _hash_table(path: Path) -> dict[str, Any]:
    if str(path) not in _HASHES:
        try:
            table = json.loads(path.read_text())
            _HASHES[str(path)] = table if isinstance(table, dict) else {}
        except (OSError, ValueError):
            _HASHES[str(path)] = {}
    return _HASHES[str(path)]


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """``{"sha256", "md5", "size"}`` of the file at ``path``.

    Hashed once per version of the file: the digests are remembered (in memory and in
    ``<cache>/file-hashes.json``) under the file's absolute path, size, mtime, ctime and inode, so that a
    changed file (whose ctime moves even when its mtime is restored) is hashed again.
    """
    path = _abs(path)
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    table_path = cache_dir() / "file-hashes.json"
    table = _hash_table(table_path)
    entry = table.get(str(path))
    if not (isinstance(entry, dict) and entry.get("stat") == stamp):
        entry = {"stat": stamp, "size": st.st_size, **file_digests(path, ("sha256", "md5"))}
        table[str(path)] = entry
        try:
            atomic_write_json(table_path, table)
        except OSError as err:
            _unwritable(table_path.parent, err)
    return {k: entry[k] for k in ("sha256", "md5", "size")}


def _check_expected(name: str, path: Path, actual: Mapping[str, str], of: str) -> None:
    exp = EXPECTED.get(name)
    if exp is not None and exp.of == of and actual[exp.algorithm] != exp.digest:
        where = "its decompressed content" if of == "decompressed" else "the file"
        raise DataChecksumError(
            f"{path} is truncated or altered: {exp.algorithm} of {where} is {actual[exp.algorithm]}, expected "
            f"{exp.digest} ({exp.what}). Replace it with a good copy (`python -m gdln.data fetch`).")


# ------------------------------------------------------------------------------ sources and manifest
_MANIFEST: dict[str, list[dict[str, Any]]] = {"sources": [], "caches": []}


def _note(kind: str, item: dict[str, Any]) -> None:
    if item in _MANIFEST[kind]:
        return
    _MANIFEST[kind].append(item)
    target = os.environ.get(MANIFEST_ENV)
    if target:
        atomic_write_json(_abs(target), _MANIFEST)


def data_manifest() -> dict[str, list[dict[str, Any]]]:
    """The sources (data set, split, data directory, files with their SHA-256) and the caches this process used."""
    return json.loads(json.dumps(_MANIFEST))


def _sources(dataset: str, split: str | None, data_dir) -> list[tuple[str, Path]]:
    """``(name, absolute path)`` of every file ``dataset``/``split`` is read from now (as the loaders resolve it)."""
    if dataset == "mnist":
        rel = tuple(f"mnist/{f}" for f in MNIST_FILES[split])
        root = _find(rel, f"MNIST ({split})", data_dir)
        return [(r, root / r) for r in rel]
    if dataset == "cifar10":
        root = _official_cifar_root(data_dir)
        if root is not None:
            return [(f"cifar-10-batches-py/{f}", root / f) for f in CIFAR_PICKLES[split]]
        try:
            base = _find((CIFAR_JPEG_TAR,), f"CIFAR-10 ({split})", data_dir)
        except DataMissingError as e:
            raise DataMissingError(f"{e} (preferred: cifar-10-batches-py/{{data_batch_1..5,test_batch}})") from None
        return [(CIFAR_JPEG_TAR, base / CIFAR_JPEG_TAR)]
    if dataset == "resnet20":
        return [(RESNET20_FILE, _find((RESNET20_FILE,), "ResNet-20 CIFAR-10 weights", data_dir) / RESNET20_FILE)]
    raise ValueError(f"unknown data set {dataset!r}")


def _use(dataset: str, split: str | None, data_dir) -> list[dict[str, Any]]:
    """Resolve, identify and check the files of ``dataset``/``split``; note them in the manifest."""
    files = []
    for name, path in _sources(dataset, split, data_dir):
        ident = file_identity(path)
        _check_expected(name, path, ident, "file")
        files.append({"name": name, "path": str(path), "sha256": ident["sha256"], "size": ident["size"]})
    _note("sources", {"dataset": dataset, "split": split,
                      "data_dir": None if data_dir is None else str(_abs(data_dir)), "files": files})
    return files


def _digest(files: Sequence[Mapping[str, Any]]) -> str:
    """One SHA-256 for a list of files, from their names and contents' SHA-256."""
    return hashlib.sha256(json.dumps([[f["name"], f["sha256"]] for f in files]).encode()).hexdigest()


def verify_manifest(manifest: Mapping[str, Any] | None) -> str | None:
    """None when every source in ``manifest`` still resolves to files with the recorded SHA-256, else why not."""
    try:
        for src in (manifest or {}).get("sources", []):
            what = f"{src['dataset']}" + (f" ({src['split']})" if src.get("split") else "")
            try:
                now = _sources(src["dataset"], src.get("split"), src.get("data_dir"))
            except DataMissingError as err:
                return f"{what} is no longer found: {str(err).split('. ')[0]}"
            if [n for n, _ in now] != [f["name"] for f in src["files"]]:
                return f"{what} is now read from other files ({', '.join(n for n, _ in now)})"
            for (_, path), old in zip(now, src["files"]):
                try:
                    sha = file_identity(path)["sha256"]
                except OSError as err:
                    return f"{path} cannot be read ({err.strerror or err})"
                if sha != old["sha256"]:
                    return f"{path} changed (sha256 {old['sha256'][:12]}... is now {sha[:12]}...)"
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return f"the data manifest is unreadable ({type(err).__name__}: {err})"
    return None


# ------------------------------------------------------------------------------ checked caches
#: name -> (dtype, shape); a string in a shape is a size shared by the arrays of one cache.
Schema = Mapping[str, tuple[str, tuple[int | str, ...]]]
_MEMORY: dict[str, dict[str, np.ndarray]] = {}  # caches kept in memory when the folder cannot be written
_META = "__gdln__"


class _CacheError(Exception):
    pass


def _array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(a)).cast("B")).hexdigest()


def _schema_problem(arrays: Mapping[str, np.ndarray], schema: Schema) -> str | None:
    sizes: dict[str, int] = {}
    for name, (dtype, shape) in schema.items():
        if name not in arrays:
            return f"array {name!r} is missing"
        a = arrays[name]
        if a.dtype != np.dtype(dtype) or a.ndim != len(shape):
            return f"array {name!r} is {a.dtype} {a.shape}, expected {dtype} of {len(shape)} dimensions"
        for size, want in zip(a.shape, shape):
            if isinstance(want, str):
                want = sizes.setdefault(want, size)
            if size != want:
                return f"array {name!r} has shape {a.shape}, expected {shape} ({', '.join(f'{k}={v}' for k, v in sizes.items())})"
    return None


def _load_checked(path: Path, schema: Schema, key: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise _CacheError("it carries no checksums (an older format)")
            meta = json.loads(str(z[_META]))
            if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
                raise _CacheError("it was made from other sources")
            arrays = {k: z[k] for k in meta["arrays"]}
    except _CacheError:
        raise
    except Exception as err:  # BadZipFile, EOFError, zlib.error, ValueError (garbage), KeyError, ...
        raise _CacheError(f"not a readable .npz: {type(err).__name__}: {err}") from None
    problem = _schema_problem(arrays, schema)
    if problem:
        raise _CacheError(problem)
    for k, a in arrays.items():
        m = meta["arrays"][k]
        if [str(a.dtype), list(a.shape)] != [m.get("dtype"), m.get("shape")] or _array_sha256(a) != m.get("sha256"):
            raise _CacheError(f"array {k!r} does not match its recorded shape, dtype or SHA-256")
    return arrays


def cached_arrays(stem: str, key: Any, build: Callable[[], dict[str, np.ndarray]], schema: Schema, *,
                  use_cache: bool = True) -> dict[str, np.ndarray]:
    """The arrays ``build()`` makes, cached as ``<cache>/<stem>-<digest>.npz``.

    ``key`` (JSON-serialisable) names what the arrays were made from, e.g. the SHA-256 of their source
    files: it is hashed into the file name and recorded inside. On load every array is checked against
    ``schema`` and its recorded dtype, shape and SHA-256; a cache that fails is recomputed with a one-line
    warning. When the cache folder cannot be written the arrays are kept in memory (warning once).
    """
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, stem, key], sort_keys=True).encode()).hexdigest()
    name = f"{stem}-{digest[:16]}.npz"
    path = cache_dir() / name
    if use_cache and name in _MEMORY:
        _note("caches", {"name": name, "path": None})
        return _MEMORY[name]
    if use_cache and path.is_file():
        try:
            arrays = _load_checked(path, schema, digest)
            _note("caches", {"name": name, "path": str(path)})
            return arrays
        except _CacheError as err:
            _warn(f"cache {path} is unusable ({err}); recomputing")
    arrays = build()
    problem = _schema_problem(arrays, schema)
    if problem:
        raise ValueError(f"{stem}: computed arrays do not fit: {problem}")
    if use_cache:
        meta = {"format": CACHE_FORMAT, "key": digest, "made_from": key,
                "arrays": {k: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": _array_sha256(a)}
                           for k, a in arrays.items()}}
        try:
            atomic_save_npz(path, **arrays, **{_META: np.array(json.dumps(meta))})
            _note("caches", {"name": name, "path": str(path)})
        except OSError as err:
            _unwritable(path.parent, err)
            _MEMORY[name] = arrays
            _note("caches", {"name": name, "path": None})
    return arrays


# ----------------------------------------------------------------------------------------- MNIST
def read_idx(raw: bytes) -> np.ndarray:
    """Decode an (uncompressed) IDX file: big-endian magic 0x0803 (images) or 0x0801 (labels)."""
    magic = int.from_bytes(raw[:4], "big")
    if magic == 0x00000803:
        n, rows, cols = (int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
        data = np.frombuffer(raw, dtype=np.uint8, offset=16)
        if data.size != n * rows * cols:
            raise ValueError(f"IDX image file holds {data.size} bytes, expected {n}x{rows}x{cols}")
        return data.reshape(n, rows, cols)
    if magic == 0x00000801:
        n = int.from_bytes(raw[4:8], "big")
        data = np.frombuffer(raw, dtype=np.uint8, offset=8)
        if data.size != n:
            raise ValueError(f"IDX label file holds {data.size} labels, expected {n}")
        return data
    raise ValueError(f"not an IDX image/label file: magic {magic:#010x}, expected 0x00000803 or 0x00000801")


MNIST_SCHEMA: Schema = {"images": ("uint8", ("n", 28, 28)), "labels": ("int64", ("n",))}
CIFAR_SCHEMA: Schema = {"images": ("uint8", ("n", 32, 32, 3)), "labels": ("int64", ("n",))}


def _read_idx_gz(file: Mapping[str, Any]) -> np.ndarray:
    """Decompress and decode one MNIST file, checking its decompressed content against :data:`EXPECTED`."""
    path, exp = Path(file["path"]), EXPECTED.get(file["name"])
    expected = f"; expected {exp.algorithm} {exp.digest} of its decompressed content ({exp.what})" if exp else ""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise DataChecksumError(f"{path} is truncated or corrupt: cannot decompress it "
                                f"({type(err).__name__}: {err}){expected}") from None
    _check_expected(file["name"], path, {"sha256": hashlib.sha256(raw).hexdigest(),
                                         "md5": hashlib.md5(raw).hexdigest()}, "decompressed")
    try:
        return read_idx(raw)
    except ValueError as err:
        raise DataChecksumError(f"{path} is not a valid IDX file: {err}{expected}") from None


def load_mnist(split: str = "train", *, data_dir=None, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ("train": 60,000, "test": 10,000) as ``(images uint8 (n,28,28), labels int64 (n,))``."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = _use("mnist", split, data_dir)

    def build():
        imgs, labels = (_read_idx_gz(f) for f in files)
        return {"images": imgs, "labels": labels.astype(np.int64)}

    a = cached_arrays(f"mnist_{split}", _digest(files), build, MNIST_SCHEMA, use_cache=use_cache)
    return a["images"], a["labels"]


# -------------------------------------------------------------------------------------- CIFAR-10
@dataclass(frozen=True)
class CifarSplit:
    """CIFAR-10 images ``(n, 32, 32, 3)`` uint8 RGB, labels ``(n,)`` int64, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # "CIFAR-10" (official pickles) or "CIFAR-10, JPEG copy"
    digest: str = ""  # SHA-256 over the names and SHA-256 of the files read (keys derived caches)


def _official_cifar_root(data_dir) -> Path | None:
    for d in candidate_dirs(data_dir):
        for sub in ("cifar-10-batches-py", "cifar10/cifar-10-batches-py"):
            if all((d / sub / f).exists() for fs in CIFAR_PICKLES.values() for f in fs):
                return d / sub
    return None


def _read_cifar_pickles(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    imgs, labels = [], []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
            imgs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(d[b"labels"], dtype=np.int64))
        except Exception as err:  # truncated pickle, wrong content
            raise DataChecksumError(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    return {"images": np.concatenate(imgs), "labels": np.concatenate(labels)}


def _read_cifar_jpeg(tar_path: Path, split: str) -> dict[str, np.ndarray]:
    from PIL import Image

    index = {c: i for i, c in enumerate(CIFAR_CLASSES)}
    items: list[tuple[str, int, np.ndarray]] = []
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for m in tar:
                parts = m.name.split("/")
                if not m.isfile() or len(parts) != 3 or parts[0] != split or not parts[2].endswith(".jpg"):
                    continue
                with Image.open(io.BytesIO(tar.extractfile(m).read())) as im:
                    items.append((m.name, index[parts[1]], np.asarray(im.convert("RGB"), dtype=np.uint8)))
    except (OSError, EOFError, tarfile.TarError, zlib.error, KeyError) as err:
        raise DataChecksumError(f"{tar_path} cannot be read ({type(err).__name__}: {err})") from None
    items.sort(key=lambda t: t[0])  # deterministic order: class folder, then file number
    return {"images": np.stack([t[2] for t in items]), "labels": np.array([t[1] for t in items], np.int64)}


def load_cifar10(split: str = "train", *, data_dir=None, use_cache: bool = True) -> CifarSplit:
    """CIFAR-10 ``split``: the official pickle batches if present, else the JPEG copy (labelled so)."""
    if split not in CIFAR_PICKLES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    files = _use("cifar10", split, data_dir)
    digest = _digest(files)
    if files[0]["name"] != CIFAR_JPEG_TAR:
        a = cached_arrays(f"cifar10_official_{split}", digest,
                          lambda: _read_cifar_pickles([Path(f["path"]) for f in files]), CIFAR_SCHEMA,
                          use_cache=use_cache)
        return CifarSplit(a["images"], a["labels"], SOURCE_OFFICIAL, digest)
    a = cached_arrays(f"cifar10_jpeg_{split}", digest, lambda: _read_cifar_jpeg(Path(files[0]["path"]), split),
                      CIFAR_SCHEMA, use_cache=use_cache)
    return CifarSplit(a["images"], a["labels"], SOURCE_JPEG, digest)


def resnet20_weights_path(*, data_dir=None) -> Path:
    """Path of the pretrained CIFAR-10 ResNet-20 weights (``resnet-cifar10/resnet20-12fca82f.th``), checked."""
    return Path(_use("resnet20", None, data_dir)[0]["path"])


# ------------------------------------------------------------------------------------ download
def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=60) as r, atomic_open(dest, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)


def fetch(data_dir: str | os.PathLike | None = None, which: tuple[str, ...] = ("mnist", "cifar10", "resnet20")) -> Path:
    """Download the official files into ``data_dir`` (default: the repository's ``data/``).

    For online users only; never called by the book or the tests. Returns the data directory.
    """
    root = _abs(data_dir if data_dir is not None else os.environ.get("GDLN_DATA_DIR") or REPO_ROOT / "data")
    unknown = set(which) - set(URLS)
    if unknown:
        raise ValueError(f"unknown data set(s) {sorted(unknown)}; expected some of {sorted(URLS)}")
    if "mnist" in which:
        for name in (f for fs in MNIST_FILES.values() for f in fs):
            dest = root / "mnist" / name
            if dest.exists():
                continue
            for base in URLS["mnist"]:
                try:
                    _download(base + name, dest)
                    break
                except OSError as e:  # try the next mirror
                    print(f"  {base + name}: {e}", file=sys.stderr)
            else:
                raise RuntimeError(f"could not download MNIST file {name}")
    if "cifar10" in which and _official_cifar_root(root) is None:
        arch = root / "cifar-10-python.tar.gz"
        _download(URLS["cifar10"][0], arch)
        if (md5 := file_digests(arch, ("md5",))["md5"]) != CIFAR_ARCHIVE_MD5:
            arch.unlink()
            raise DataChecksumError(f"downloaded {arch.name} has MD5 {md5}, expected {CIFAR_ARCHIVE_MD5}")
        with tarfile.open(arch, "r:gz") as tar:
            tar.extractall(root, filter="data")  # creates cifar-10-batches-py/
        arch.unlink()
    if "resnet20" in which and not (root / RESNET20_FILE).exists():
        _download(URLS["resnet20"][0], root / RESNET20_FILE)
    return root


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m gdln.data", description="Fetch or locate the data sets.")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download the official MNIST, CIFAR-10 (python) and ResNet-20 files")
    f.add_argument("--data-dir", default=None)
    f.add_argument("--only", nargs="+", choices=sorted(URLS), default=sorted(URLS))
    w = sub.add_parser("where", help="print the data directories searched")
    w.add_argument("--data-dir", default=None)
    a = p.parse_args(argv)
    if a.cmd == "fetch":
        print(f"data in {fetch(a.data_dir, tuple(a.only))}")
    else:
        for d in candidate_dirs(a.data_dir):
            print(d, "(exists)" if d.is_dir() else "(missing)")
    return 0

