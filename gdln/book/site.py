"""Stage the executed chapters, the plain pages and the Reproduction report, and render them with Jupyter Book."""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gdln.book.provenance import build_dir
from gdln.book.report import MARGINS_FIGURE, margins_svg, report_markdown
from gdln.book.runner import (
    REPORT,
    REPORT_MARKER,
    ChapterError,
    _paths,
    _toc,
    chapters,
    toc_pages,
)
from gdln.data.loaders import cache_dir
from gdln.util.files import REPO_ROOT, atomic_write_text

__all__ = ["HIDDEN_TAGS", "hide_parameters", "stage", "render"]


def _sync(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` unless identical (keeps mtimes, so jupyter-book rebuilds only what changed)."""
    if not (dst.exists() and filecmp.cmp(src, dst, shallow=False)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _write(path: Path, text: str) -> None:
    if not (path.exists() and path.read_text(encoding="utf-8") == text):
        atomic_write_text(path, text)


def _keep(entry: Any, keep: set[str]) -> Any:
    """The toc restricted to the pages in ``keep``."""
    if isinstance(entry, list):
        return [e for e in (_keep(x, keep) for x in entry) if e is not None]
    if isinstance(entry, dict):
        if "file" in entry and entry["file"] not in keep:
            return None
        return {k: (_keep(v, keep) if k in ("parts", "chapters", "sections") else v) for k, v in entry.items()}
    return entry


#: Cells removed from the HTML (they stay in the executed notebook): the chapter's parameters cell and
#: the cell papermill injects with the values of the run; the "Run this chapter" box names those values.
HIDDEN_TAGS = ("parameters", "injected-parameters")


def hide_parameters(notebook: Path) -> str:
    """The executed notebook's JSON with its parameter cells tagged ``remove-cell`` for Jupyter Book."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stage(names: Sequence[str], *, root: Path = REPO_ROOT, build: Path | None = None) -> Path:
    """Assemble the book's source folder ``_build/site`` for chapters ``names`` and all plain pages."""
    build = Path(build or build_dir()).resolve()
    site, book = build / "site", root / "book"
    vendor = book / "_vendor" / "static"
    if not vendor.is_dir():
        raise FileNotFoundError(f"{vendor} is missing: run `make vendor` (python book/_vendor/fetch.py) once")
    every = chapters(root)
    pages = [p for p in toc_pages(root) if p not in every or p in names]
    sources = {book / f"{p}.md" for p in toc_pages(root)}
    copies: dict[Path, Path] = {}  # destination -> source
    notebooks: dict[Path, Path] = {}  # destination -> executed notebook (staged with its parameter cells removed)
    # never a build or cache folder that a relative GDLN_BUILD_DIR / GDLN_CACHE_DIR put inside book/
    skip = (build, cache_dir())
    for path in sorted(book.rglob("*")):
        rel = path.relative_to(book)
        if path.is_file() and path not in sources and rel.parts[0] != "_vendor" and path.suffix != ".ipynb" \
                and not any(part.startswith(".") or part in ("__pycache__", "_build") for part in rel.parts) \
                and not any(path.is_relative_to(d) for d in skip):
            copies[site / rel] = path
    for path in vendor.rglob("*"):
        if path.is_file():
            copies[site / "_vendor" / "static" / path.relative_to(vendor)] = path
    for page in pages:
        if page in every:
            notebooks[site / f"{page}.ipynb"] = _paths(build, page)[0]
        elif page != REPORT:
            copies[site / f"{page}.md"] = book / f"{page}.md"
    for dst, src in copies.items():
        _sync(src, dst)
    generated = {site / "_toc.yml": yaml.safe_dump(_keep(_toc(root), set(pages)), sort_keys=False)}
    generated.update({dst: hide_parameters(src) for dst, src in notebooks.items()})
    if REPORT in pages:
        template = book / f"{REPORT}.md"
        text = template.read_text(encoding="utf-8") if template.exists() else f"# Reproduction report\n\n{REPORT_MARKER}\n"
        generated[site / f"{REPORT}.md"] = text.replace(REPORT_MARKER, report_markdown(names, build))
        generated[site / MARGINS_FIGURE] = margins_svg(names, build)  # the report's figure, beside it
    for dst, text in generated.items():
        _write(dst, text)
    for path in site.rglob("*"):  # whatever an earlier staging left that is no longer part of the book
        if path.is_file() and path not in copies and path not in generated:
            path.unlink()
    return site


def render(site: Path, *, root: Path = REPO_ROOT, build: Path | None = None) -> Path:
    """Render the staged book with jupyter-book (warnings are errors); return the HTML folder."""
    build = Path(build or build_dir()).resolve()
    if build.name != "_build":
        raise ValueError(f"build directory {build} must be named _build (jupyter-book writes <parent>/_build/html)")
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe if exe.exists() else "jupyter-book"), "build", str(site), "--config", str(root / "_config.yml"),
           "--toc", str(site / "_toc.yml"), "--path-output", str(build.parent), "-W", "-n", "--keep-going", "-q"]
    html, toc, last_toc = build / "html", (site / "_toc.yml").read_text(), build / "html.toc.yml"
    if not last_toc.exists() or last_toc.read_text() != toc:
        shutil.rmtree(html, ignore_errors=True)  # sphinx would keep the pages of removed chapters
    started = time.perf_counter()
    if subprocess.run(cmd).returncode != 0:
        raise ChapterError("jupyter-book build failed (warnings are errors); see the messages above")
    atomic_write_text(last_toc, toc)
    print(f"[gdln.book] jupyter-book build in {time.perf_counter() - started:.1f} s: {html}", flush=True)
    return html
