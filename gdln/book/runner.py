"""Execute the book's chapters and build the book: the runner, its cache and a small CLI.

    python -m gdln.book list
    python -m gdln.book run   [CHAPTER ...] [--mode quick|full] [--seed N] [--device D] [-p KEY VALUE ...] [--force]
    python -m gdln.book build [CHAPTER ...] [same options]

Pages are listed in ``_toc.yml`` by name; the source of page ``<name>`` is ``book/<name>.md``. A page
with code cells is a *chapter* (jupytext MyST markdown): ``run`` checks its parameters (names, types,
finite values, and the validators its ``Chapter(...)`` preamble declares) before any kernel starts,
converts it with jupytext and executes it with papermill (kernel ``python3`` = this Python, cwd
``book/``), in the order of the toc. ``build`` runs the chapters, stages the pages into ``_build/site/``
(executed notebooks, plain pages, and the Reproduction report generated from the claims manifests) and
renders them with jupyter-book into ``_build/html/``, with warnings as errors.

**A run is one unit.** Each execution gets its own folder ``_build/runs/<name>/<run id>/``: the kernel
writes its claims there (``GDLN_CLAIMS_DIR``) and the list of data files it read (``GDLN_DATA_MANIFEST``),
papermill the executed notebook. Only a run that succeeds gets a record (``record.json``: cache key,
parameters, provenance, the data it read, the SHA-256 of its notebook and claims), and is then
published in one atomic step: the link ``_build/runs/<name>/current`` is renamed to point at it. The
familiar paths ``_build/executed/<name>.ipynb``, ``_build/executed/<name>.hash.json`` (the record) and
``_build/claims/<name>.json`` are links through ``current``. Everything that reads results (the cache,
the report, the staging) goes through :func:`published`, which accepts a run only when its record, its
notebook and its claims are all there and match; a failed, rejected, interrupted or killed run leaves
the previous run in place. A per-chapter lock (``_build/locks/<name>.lock``) makes a second run of the
same chapter wait for the first.

**The cache.** A chapter is not executed again when its published run has the same cache key (chapter
source, gdln sources, parameters, dependency versions) and the data it read still resolve to the same
bytes (:func:`gdln.data.verify_manifest`).
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import yaml

from gdln.util.version import __version__
from gdln.book import budget, guards
from gdln.book.claims import bounds_dir
from gdln.book.parameters import Validator, check_parameters, check_values, declared_validators
from gdln.book.provenance import build_dir, source_hash
from gdln.data.loaders import MANIFEST_ENV, cache_dir, verify_manifest
from gdln.util.files import FILE_MODE, REPO_ROOT, atomic_write_json, file_digests

__all__ = ["REPORT", "REPORT_MARKER", "DEFAULTS", "ChapterError", "ParameterError", "RunInterrupted", "toc_pages",
    "is_chapter", "chapters", "select", "parse_value", "declared_parameters", "chapter_validators",
    "check_chapter_parameters", "dependency_versions", "cache_key", "published", "read_record", "execute", "run"]

REPORT = "report"  # the generated page
REPORT_MARKER = "<!-- gdln:report -->"
DEFAULTS: dict[str, Any] = {"mode": "quick", "seed": 0, "device": "auto"}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


class ChapterError(RuntimeError):
    """A chapter raised while executing (the message names the chapter and the cell)."""


class ParameterError(ValueError):
    """A parameter value was rejected, before the kernel started or by the chapter itself (CLI: rc 2)."""


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (SIGINT); the message says what was kept."""


# ---------------------------------------------------------------- table of contents

def _toc(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))


def toc_pages(root: Path = REPO_ROOT) -> list[str]:
    """Page names in reading order: the toc's root, then every ``file`` entry depth-first."""
    toc = _toc(root)
    names = [toc["root"]]

    def walk(entry: Mapping[str, Any]) -> None:
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or []:
                if "file" in child:
                    names.append(child["file"])
                walk(child)

    walk(toc)
    for name in names:
        if not _NAME.fullmatch(str(name)):
            raise ValueError(f"_toc.yml entry {name!r} is not a page name; expected the name of book/<name>.md")
    return names


def is_chapter(source: Path) -> bool:
    """A page is a chapter (executed) when its markdown has code cells."""
    return "```{code-cell}" in source.read_text(encoding="utf-8")


def chapters(root: Path = REPO_ROOT) -> list[str]:
    """The chapters (pages with code) in toc order."""
    out = []
    for name in toc_pages(root):
        source = root / "book" / f"{name}.md"
        if not source.exists():
            if name == REPORT:
                continue
            raise ValueError(f"_toc.yml lists {name!r} but book/{name}.md does not exist")
        if name != REPORT and is_chapter(source):
            out.append(name)
    return out


def select(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """``requested`` chapters in toc order (all when empty); an unknown name is a ValueError."""
    for name in requested:
        if name not in available:
            raise ValueError(f"unknown chapter {name!r}; expected one of: {', '.join(available)}")
    return [n for n in available if not requested or n in requested]


# ---------------------------------------------------------------- parameters

def parse_value(text: str) -> Any:
    """A command-line parameter value, typed: ``3`` -> 3, ``0.5``/``1e-3`` -> float, ``true`` -> True."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    return value


def declared_parameters(notebook) -> dict[str, Any]:
    """Names and default values assigned in the cell tagged ``parameters`` (None if not a literal)."""
    cell = next((c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])), None)
    out: dict[str, Any] = {}
    for node in ast.parse(cell.source).body if cell is not None else []:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            try:
                out[target.id] = ast.literal_eval(node.value)
            except ValueError:
                out[target.id] = None
    return out


def _same_kind(value: Any, default: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _finite(value: Any) -> bool:
    """False for a float that is inf or nan, also inside lists and dicts."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def chapter_validators(source: str) -> dict[str, Validator]:
    """The validators declared by the ``Chapter(...)`` preamble of a chapter's MyST ``source`` (read statically:
    :func:`gdln.book.parameters.declared_validators`); mode, seed and device only for a chapter without one."""
    return declared_validators(source, required=False)


def check_chapter_parameters(name: str, declared: Mapping[str, Any], params: Mapping[str, Any],
                             validators: Mapping[str, Validator] | None = None) -> dict[str, Any]:
    """``params`` checked against chapter ``name``'s parameters cell (mode, seed, device always) and ``validators``.

    Raises :class:`ParameterError` for an unknown name, a value its chapter's validator rejects (the very
    message the chapter would give), a value of another type than the default's, or a non-finite number.
    """
    params = {**DEFAULTS, **params}
    try:
        check_parameters(params["mode"], params["seed"], params["device"])
        for key in params:
            if key not in DEFAULTS and key not in declared:
                raise ValueError(f"chapter {name!r} has no parameter {key!r}; "
                                 f"expected one of: {', '.join(sorted(declared) or DEFAULTS)}")
        if validators:  # bounds may name other parameters: check against the defaults overridden by params
            check_values({**{k: v for k, v in declared.items() if v is not None}, **params}, validators)
        for key, value in params.items():
            if key in DEFAULTS:
                continue
            if not _same_kind(value, declared[key]):
                raise ValueError(f"parameter {key}={value!r} for chapter {name!r} is invalid; expected a "
                                 f"{type(declared[key]).__name__} like its default {declared[key]!r}")
            if not _finite(value):
                raise ValueError(f"parameter {key}={value!r} is invalid; expected a finite number")
            if isinstance(declared[key], float):
                params[key] = float(value)
    except ParameterError:
        raise
    except ValueError as err:
        raise ParameterError(str(err)) from None
    return params


# ---------------------------------------------------------------- cache

def dependency_versions() -> dict[str, str]:
    """Installed versions of gdln's declared dependencies (all extras), by name."""
    try:
        requirements = metadata.requires("gdln") or []
    except metadata.PackageNotFoundError:
        return {}
    names = sorted({re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in requirements})
    versions = {}
    for n in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[n] = metadata.version(n)
    return versions


def cache_key(source: str, params: Mapping[str, Any], gdln_hash: str, deps: Mapping[str, str]) -> str:
    """SHA-256 of everything an executed chapter depends on."""
    blob = json.dumps({"source": source, "parameters": params, "gdln": gdln_hash, "dependencies": deps},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


RUNS, CURRENT, RECORD = "runs", "current", "record.json"


def _views(build: Path, name: str) -> tuple[Path, Path, Path]:
    """The published paths (links through ``runs/<name>/current``): notebook, record, claims manifest."""
    return (build / "executed" / f"{name}.ipynb", build / "executed" / f"{name}.hash.json",
            build / "claims" / f"{name}.json")


def _run_files(run_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """The files of one run: executed notebook, record, claims manifest."""
    return run_dir / f"{name}.ipynb", run_dir / RECORD, run_dir / f"{name}.json"


def _sha256(path: Path) -> str:
    return file_digests(path)["sha256"]


def published(build: Path, name: str) -> tuple[dict[str, Any], Path] | None:
    """The record and folder of chapter ``name``'s published run, or None when there is no complete one.

    Complete means: ``runs/<name>/current`` names a run folder; the published paths lead into it; its
    record names that run and chapter; the SHA-256 of its notebook and claims manifest are the ones the
    record vouches for (and there is no manifest when the record says the chapter wrote none).
    """
    build = Path(build)
    runs = build / RUNS / name
    try:
        run_id = os.readlink(runs / CURRENT)
        run_dir = runs / run_id
        notebook, record_path, claims = _run_files(run_dir, name)
        nb_view, record_view, claims_view = _views(build, name)
        if not (os.path.samefile(nb_view, notebook) and os.path.samefile(record_view, record_path)):
            return None
        record = json.loads(record_path.read_text(encoding="utf-8"))
        files = record["files"]
        if record.get("run_id") != run_id or record.get("chapter") != name or _sha256(notebook) != files["notebook"]:
            return None
        if files.get("claims") is None:
            if claims_view.exists() or claims.exists():
                return None
        elif not (os.path.samefile(claims_view, claims) and _sha256(claims) == files["claims"]):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return record, run_dir


def _paths(build: Path, name: str) -> tuple[Path, Path, Path]:
    """(executed notebook, record, claims manifest) of chapter ``name``'s complete published run, as files
    inside its run folder; when there is none, paths that do not exist."""
    found = published(build, name)
    return _run_files(found[1] if found else Path(build) / RUNS / name / "none", name)


def read_record(build: Path, name: str) -> dict[str, Any] | None:
    """The record of chapter ``name``'s complete published run (see :func:`published`), if any."""
    found = published(build, name)
    return found[0] if found else None


def _link(path: Path, target: str) -> None:
    """Make ``path`` a symbolic link to ``target``, atomically (a new link renamed over the old path)."""
    if os.path.islink(path) and os.readlink(path) == target:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _publish(build: Path, name: str, run_dir: Path, record: Mapping[str, Any]) -> None:
    """Write the run's record, then make it the published run in one rename (the commit point)."""
    atomic_write_json(run_dir / RECORD, record)
    via = f"../{RUNS}/{name}/{CURRENT}"
    for view, file in zip(_views(build, name), (f"{name}.ipynb", RECORD, f"{name}.json")):
        _link(view, f"{via}/{file}")  # through `current`: these links never need to change again
    _link(build / RUNS / name / CURRENT, run_dir.name)


def _is_current(run_dir: Path) -> bool:
    with contextlib.suppress(OSError):
        return os.readlink(run_dir.parent / CURRENT) == run_dir.name
    return False


def _collect(build: Path, name: str, keep: Sequence[str] = ()) -> None:
    """Remove the run folders of chapter ``name`` other than the published one and ``keep`` (under its lock).

    Left behind by killed runs (and the run a publication replaced, kept one round for readers that
    resolved it just before)."""
    runs = build / RUNS / name
    with contextlib.suppress(OSError):
        current = os.readlink(runs / CURRENT)
        keep = {current, *keep}
    try:
        entries = list(runs.iterdir()) if runs.is_dir() else []
    except OSError:
        return
    for entry in entries:
        if entry.name == CURRENT or entry.name in keep:
            continue
        with contextlib.suppress(OSError):
            if entry.is_symlink() or entry.is_file():
                entry.unlink()  # a link a killed run left half-made
            else:
                shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _chapter_lock(build: Path, name: str, log) -> Iterator[None]:
    """Hold ``_build/locks/<name>.lock`` (``flock``): a second run of the chapter waits for the first."""
    path = build / "locks" / f"{name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except PermissionError:  # a read-only build folder: a published run can still be read
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise ChapterError(f"chapter {name!r}: cannot take its lock {path}: {err}") from None
    except OSError as err:
        raise ChapterError(f"chapter {name!r}: cannot take its lock {path}: {err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            log(f"[gdln.book] {name}: waiting for the run of this chapter already in progress ({holder}) ...",
                flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # who holds it, for the message of a run that waits
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {_now()}".encode(), 0)
        yield
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _kept(name: str, previous: Mapping[str, Any] | None) -> str:
    if previous is None:
        return f"{name} has no previous results"
    return (f"previous results of {name} kept (run {previous['run_id']}, executed {previous['executed_at']}, "
            f"{_show(previous['parameters'])})")


# ---------------------------------------------------------------- execution

@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _kernel_path(build: Path) -> str:
    """A Jupyter data dir whose kernel ``python3`` is this interpreter (put first on JUPYTER_PATH)."""
    # log level CRITICAL: ipykernel 7 warns on every start that its local TCP transport is unencrypted, and
    # logs a traceback when it is shut down (interrupted run) while a reply is on its way
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=CRITICAL"],
            "display_name": "Python 3", "language": "python"}
    path = build / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not path.exists() or json.loads(path.read_text()) != spec:
        atomic_write_json(path, spec)
    return _prepend(str(build / "jupyter"), "JUPYTER_PATH")


def _prepend(path: str, variable: str) -> str:
    return os.pathsep.join(filter(None, [path, os.environ.get(variable)]))


#: How a chapter's own parameter check words a rejected value (gdln.book.parameters.Validator.check).
_PARAMETER_MESSAGE = re.compile(r"parameter \S+=.* is invalid; expected ")


def check_device(device: str) -> None:
    """Raise :class:`ParameterError` when ``device`` names a GPU this machine does not have (before any kernel:
    a chapter would otherwise fail in its first cell)."""
    if not (isinstance(device, str) and device.startswith("cuda")):
        return
    import torch

    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ParameterError(f"parameter device={device!r} is invalid; expected a device this machine has: {why} "
                             f"(torch {torch.__version__}); use --device cpu or --device auto")
    count = torch.cuda.device_count()
    if device != "cuda" and int(device.split(":", 1)[1]) >= count:
        raise ParameterError(f"parameter device={device!r} is invalid; expected a device this machine has: "
                             + ("cuda:0" if count == 1 else f"cuda:0 .. cuda:{count - 1}"))


def _checked(name: str, params: Mapping[str, Any], root: Path, *, size_check: bool = True,
             max_hours: float | None = None) -> tuple[str, Any, dict[str, Any]]:
    """The chapter's source, its notebook and ``params`` checked, all before any kernel starts: the values
    (:func:`check_chapter_parameters`), the device (:func:`check_device`), the chapter's quick-mode guards
    (:func:`gdln.book.guards.check`, quick mode) and, unless ``size_check`` is False, the size of the run
    against this machine (:func:`gdln.book.budget.check`)."""
    import jupytext

    source = (root / "book" / f"{name}.md").read_text(encoding="utf-8")
    notebook = jupytext.reads(source, fmt="md:myst")
    try:
        validators = chapter_validators(source)
    except ValueError as err:
        raise ChapterError(f"chapter {name!r}: cannot read the validators of its parameters: {err}") from None
    declared = declared_parameters(notebook)
    params = check_chapter_parameters(name, declared, params, validators)
    check_device(params["device"])
    if params["mode"] == "quick":
        try:
            guards.check(name, source)
        except ValueError as err:
            raise ChapterError(f"chapter {name!r}: {err}") from None
    if size_check:
        try:
            budget.check(name, {**declared, **params}, {**DEFAULTS, **declared}, max_hours=max_hours)
        except ValueError as err:
            raise ParameterError(str(err)) from None
    return source, notebook, params


def execute(name: str, params: Mapping[str, Any], *, root: Path = REPO_ROOT, build: Path | None = None,
            force: bool = False, log=print, size_check: bool = True, max_hours: float | None = None) -> dict[str, Any]:
    """Execute chapter ``name`` unless its published run is up to date; return that run's record.

    The parameters are checked first (:func:`_checked`: values, device, guards, the size of the run;
    nothing is started or removed for a rejected value); then, holding the chapter's lock, the published run is reused when its cache
    key matches and the data it read are unchanged; otherwise the chapter runs in a new run folder that
    is published only when it succeeds. Raises :class:`ParameterError` (also when the chapter itself
    rejects a value), :class:`ChapterError` or :class:`RunInterrupted`; the previous run stays published.
    """
    build = Path(build or build_dir()).resolve()
    source, notebook, params = _checked(name, params, root, size_check=size_check, max_hours=max_hours)
    gdln_hash, deps = source_hash(), dependency_versions()
    guard_file = bounds_dir() / f"{name}.json"  # a new declaration of the quick-mode guards re-judges the chapter
    key = cache_key(source + (f"\n# guards {_sha256(guard_file)}" if guard_file.exists() else ""), params, gdln_hash,
                    deps)
    with _chapter_lock(build, name, log):
        found = published(build, name)
        previous = found[0] if found else None
        if not force and previous is not None and previous["key"] == key:
            changed = verify_manifest(previous.get("data"))
            if changed is None:
                _collect(build, name)
                return {**previous, "cached": True}
            log(f"[gdln.book] {name}: the data of its last run changed ({changed}); executing again", flush=True)
        try:
            record = _execute(name, notebook, params, key, gdln_hash, deps, root=root, build=build, log=log)
        except ParameterError:
            log(f"[gdln.book] {_kept(name, previous)}", flush=True)
            raise
        except ChapterError as err:
            raise ChapterError(f"{err}\n  {_kept(name, previous)}") from None
        except KeyboardInterrupt:
            raise RunInterrupted(f"{name}: {_kept(name, previous)}") from None
        finally:  # the run this one replaced is kept one round, for a reader that resolved it just before
            _collect(build, name, keep=[previous["run_id"]] if previous else [])
    return {**record, "cached": False}


def _execute(name: str, notebook, params: Mapping[str, Any], key: str, gdln_hash: str, deps: Mapping[str, str], *,
             root: Path, build: Path, log) -> dict[str, Any]:
    """Run the chapter in a run folder of its own and publish it; on any failure remove the folder."""
    import nbformat
    import papermill

    run_id = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}-{secrets.token_hex(3)}"
    run_dir = build / RUNS / name / run_id
    out, _, claims = _run_files(run_dir, name)
    failed = build / "executed" / f"{name}.failed.ipynb"
    source_in = run_dir / f".{name}.input.ipynb"
    try:
        env = {"GDLN_CLAIMS_DIR": str(run_dir), "GDLN_BUILD_DIR": str(build), "GDLN_CACHE_DIR": str(cache_dir()),
               MANIFEST_ENV: str(run_dir / "data.json"), "JUPYTER_PATH": _kernel_path(build),
               "PYTHONPATH": _prepend(str(REPO_ROOT), "PYTHONPATH")}
        if os.environ.get("GDLN_DATA_DIR"):  # the kernel runs in book/: a relative folder is the caller's
            env["GDLN_DATA_DIR"] = os.path.abspath(os.environ["GDLN_DATA_DIR"])
        run_dir.mkdir(parents=True)
        nbformat.write(notebook, source_in)
        log(f"[gdln.book] {name}: executing with {_show(params)} ...", flush=True)
        started = time.perf_counter()
        try:
            with _environ(**env):
                papermill.execute_notebook(source_in, out, parameters=dict(params), kernel_name="python3",
                                           language="python", cwd=str(root / "book"), progress_bar=False,
                                           log_output=False)
        except papermill.PapermillExecutionError as err:
            if out.exists():
                failed.parent.mkdir(parents=True, exist_ok=True)
                os.replace(out, failed)
            if err.ename == "ValueError" and _PARAMETER_MESSAGE.match(err.evalue or ""):
                raise ParameterError(err.evalue) from None  # the chapter's own check: the same message
            first = next((line for line in err.source.splitlines() if line.strip()), "")
            raise ChapterError(
                f"chapter {name!r} failed in code cell {_failed_cell(failed)} of book/{name}.md "
                f"(starting {first!r}): {err.ename}: {err.evalue}\n  notebook with the traceback: {failed}") from None
        except Exception as err:  # the kernel died, could not start, ...
            raise ChapterError(f"chapter {name!r} could not be executed: {type(err).__name__}: {err}") from err
        wall = time.perf_counter() - started
        source_in.unlink()
        data_path = run_dir / "data.json"
        data = json.loads(data_path.read_text()) if data_path.exists() else {"sources": [], "caches": []}
        record = {"chapter": name, "run_id": run_id, "key": key, "parameters": dict(params),
                  "gdln_version": __version__, "gdln_source_hash": gdln_hash, "dependencies": dict(deps),
                  "wall_time_s": round(wall, 2), "executed_at": _now(), "claims": claims.exists(),
                  "files": {"notebook": _sha256(out), "claims": _sha256(claims) if claims.exists() else None},
                  "data": data}
        _publish(build, name, run_dir, record)
        failed.unlink(missing_ok=True)
        if params.get("mode") == "quick" and claims.exists():
            with contextlib.suppress(ValueError, OSError):
                left = guards.unused(name, guards.read(name), json.loads(claims.read_text()))
                if left:
                    log(f"[gdln.book] warning: {guards.path_of(name)}: guard(s) {', '.join(left)} matched no claim of "
                        f"this run of {name}; those claims are unguarded", flush=True)
        return record
    except OSError as err:  # the build folder cannot be written, ...
        raise ChapterError(f"chapter {name!r}: cannot write its run to {run_dir}: {err}") from None
    finally:
        if not _is_current(run_dir):  # failed, rejected or interrupted: nothing of it stays
            shutil.rmtree(run_dir, ignore_errors=True)


def _failed_cell(executed: Path) -> int | str:
    """1-based number, among the chapter's own code cells, of the first cell with an error output."""
    import nbformat

    if not executed.exists():
        return "?"
    code = [c for c in nbformat.read(executed, as_version=4).cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    return next((i for i, c in enumerate(code, 1) if any(o.output_type == "error" for o in c.outputs)), "?")


def _show(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def run(names: Sequence[str], params: Mapping[str, Any], *, root: Path = REPO_ROOT,
        build: Path | None = None, force: bool = False, log=print, size_check: bool = True,
        max_hours: float | None = None) -> list[dict[str, Any]]:
    """Execute ``names`` (toc order) with ``params``; log each chapter's wall time.

    Every chapter is checked (:func:`_checked`) before the first one runs."""
    for name in names:
        _checked(name, params, root, size_check=size_check, max_hours=max_hours)
    records, started = [], time.perf_counter()
    for name in names:
        record = execute(name, params, root=root, build=build, force=force, log=log, size_check=size_check,
                         max_hours=max_hours)
        how = "cached, executed" if record["cached"] else "executed"
        log(f"[gdln.book] {name}: {how} in {record['wall_time_s']:.1f} s ({_show(record['parameters'])})",
            flush=True)
        if not record["claims"]:
            log(f"[gdln.book] warning: {name} wrote no claims manifest", flush=True)
        records.append(record)
    log(f"[gdln.book] {len(records)} chapter(s) in {time.perf_counter() - started:.1f} s", flush=True)
    return records


# ---------------------------------------------------------------- report, staging, jupyter-book
