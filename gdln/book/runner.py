"""Execute the book's chapters and build the book: the runner, its cache and a small CLI.

    python -m gdln.book list
    python -m gdln.book run   [CHAPTER ...] [--mode quick|full] [--seed N] [--device D] [-p KEY VALUE ...] [--force]
    python -m gdln.book build [CHAPTER ...] [same options]

Pages are listed in ``_toc.yml`` by name; the source of page ``<name>`` is ``book/<name>.md``. A page
with code cells is a *chapter* (jupytext MyST markdown): ``run`` converts it with jupytext and executes
it with papermill (kernel ``python3`` = this Python, cwd ``book/``, env ``GDLN_CLAIMS_DIR``) into
``_build/executed/<name>.ipynb``, in the order of the toc. ``<name>.hash.json`` beside it holds the
cache key (chapter source, gdln sources, parameters, dependency versions) and the provenance of the
run; a chapter whose key has not changed is not executed again. ``build`` runs the chapters, stages
the pages into ``_build/site/`` (executed notebooks, plain pages, and the Reproduction report
generated from the claims manifests ``_build/claims/<name>.json``) and renders them with
jupyter-book into ``_build/html/``, with warnings as errors.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import hashlib
import json
import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import yaml

from gdln.util.version import __version__
from gdln.book.parameters import check_parameters
from gdln.book.provenance import build_dir, source_hash
from gdln.util.files import REPO_ROOT, atomic_write_json

__all__ = ["REPORT", "REPORT_MARKER", "DEFAULTS", "ChapterError", "toc_pages", "is_chapter", "chapters",
    "select", "parse_value", "declared_parameters", "check_chapter_parameters", "dependency_versions",
    "cache_key", "read_record", "execute", "run"]

REPORT = "report"  # the generated page
REPORT_MARKER = "<!-- gdln:report -->"
DEFAULTS: dict[str, Any] = {"mode": "quick", "seed": 0, "device": "auto"}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


class ChapterError(RuntimeError):
    """A chapter raised while executing (the message names the chapter and the cell)."""


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


def check_chapter_parameters(name: str, declared: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against chapter ``name``'s parameters cell (mode, seed, device always)."""

    params = {**DEFAULTS, **params}
    check_parameters(params["mode"], params["seed"], params["device"])
    for key, value in params.items():
        if key in DEFAULTS:
            continue
        if key not in declared:
            raise ValueError(f"chapter {name!r} has no parameter {key!r}; "
                             f"expected one of: {', '.join(sorted(declared) or DEFAULTS)}")
        if not _same_kind(value, declared[key]):
            raise ValueError(f"parameter {key}={value!r} for chapter {name!r} is invalid; expected a "
                             f"{type(declared[key]).__name__} like its default {declared[key]!r}")
        if isinstance(declared[key], float):
            params[key] = float(value)
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


def _paths(build: Path, name: str) -> tuple[Path, Path, Path]:
    """(executed notebook, its record, its claims manifest)."""
    return (build / "executed" / f"{name}.ipynb", build / "executed" / f"{name}.hash.json",
            build / "claims" / f"{name}.json")


def read_record(build: Path, name: str) -> dict[str, Any] | None:
    """The provenance record of chapter ``name``'s last successful execution, if any."""
    path = _paths(build, name)[1]
    return json.loads(path.read_text()) if path.exists() else None


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
    # log level ERROR: ipykernel 7 warns on every start that its local TCP transport is unencrypted
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],
            "display_name": "Python 3", "language": "python"}
    path = build / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not path.exists() or json.loads(path.read_text()) != spec:
        atomic_write_json(path, spec)
    return _prepend(str(build / "jupyter"), "JUPYTER_PATH")


def _prepend(path: str, variable: str) -> str:
    return os.pathsep.join(filter(None, [path, os.environ.get(variable)]))


def execute(name: str, params: Mapping[str, Any], *, root: Path = REPO_ROOT, build: Path | None = None,
            force: bool = False, log=print) -> dict[str, Any]:
    """Execute chapter ``name`` unless its cache key is unchanged; return its provenance record.

    The cache is checked before the parameters are validated: a record exists only for parameters
    that passed validation when it was written, and an unchanged build then imports nothing heavy.
    """
    build = Path(build or build_dir()).resolve()
    source = (root / "book" / f"{name}.md").read_text(encoding="utf-8")
    params = {**DEFAULTS, **params}
    gdln_hash, deps = source_hash(), dependency_versions()
    key = cache_key(source, params, gdln_hash, deps)
    out, record_path, claims = _paths(build, name)
    record = read_record(build, name)
    if (not force and record and record["key"] == key and out.exists()
            and (claims.exists() or not record["claims"])):
        return {**record, "cached": True}

    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.reads(source, fmt="md:myst")
    params = check_chapter_parameters(name, declared_parameters(notebook), params)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_in, tmp_out = out.with_name(f".{name}.in.ipynb"), out.with_name(f".{name}.out.ipynb")
    nbformat.write(notebook, tmp_in)
    claims.unlink(missing_ok=True)  # a stale manifest must not pass for this run's
    log(f"[gdln.book] {name}: executing with {_show(params)} ...", flush=True)
    started = time.perf_counter()
    try:
        with _environ(GDLN_CLAIMS_DIR=str(claims.parent), GDLN_BUILD_DIR=str(build),
                      JUPYTER_PATH=_kernel_path(build), PYTHONPATH=_prepend(str(REPO_ROOT), "PYTHONPATH")):
            papermill.execute_notebook(tmp_in, tmp_out, parameters=dict(params), kernel_name="python3",
                                       language="python", cwd=str(root / "book"), progress_bar=False,
                                       log_output=False)
        wall = time.perf_counter() - started
        os.replace(tmp_out, out)  # the notebook first: a record never vouches for a missing notebook
        out.with_name(f"{name}.failed.ipynb").unlink(missing_ok=True)
    except papermill.PapermillExecutionError as err:
        failed = out.with_name(f"{name}.failed.ipynb")
        if tmp_out.exists():
            os.replace(tmp_out, failed)
        first = next((line for line in err.source.splitlines() if line.strip()), "")
        raise ChapterError(
            f"chapter {name!r} failed in code cell {_failed_cell(failed)} of book/{name}.md "
            f"(starting {first!r}): "
            f"{err.ename}: {err.evalue}\n  notebook with the traceback: {failed}") from None
    except Exception as err:  # the kernel died, could not start, ...
        raise ChapterError(f"chapter {name!r} could not be executed: {type(err).__name__}: {err}") from err
    finally:  # an interrupted run leaves no half-written notebook behind
        tmp_in.unlink(missing_ok=True)
        tmp_out.unlink(missing_ok=True)
    record = {"chapter": name, "key": key, "parameters": dict(params), "gdln_version": __version__,
              "gdln_source_hash": gdln_hash, "dependencies": deps, "wall_time_s": round(wall, 2),
              "executed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "claims": claims.exists()}
    atomic_write_json(record_path, record)
    return {**record, "cached": False}


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
        build: Path | None = None, force: bool = False, log=print) -> list[dict[str, Any]]:
    """Execute ``names`` (toc order) with ``params``; log each chapter's wall time."""
    records, started = [], time.perf_counter()
    for name in names:
        record = execute(name, params, root=root, build=build, force=force, log=log)
        how = "cached, executed" if record["cached"] else "executed"
        log(f"[gdln.book] {name}: {how} in {record['wall_time_s']:.1f} s ({_show(record['parameters'])})",
            flush=True)
        if not record["claims"]:
            log(f"[gdln.book] warning: {name} wrote no claims manifest", flush=True)
        records.append(record)
    log(f"[gdln.book] {len(records)} chapter(s) in {time.perf_counter() - started:.1f} s", flush=True)
    return records


# ---------------------------------------------------------------- report, staging, jupyter-book
