"""Stage the executed chapters, the plain pages and the Reproduction report, and render them with Jupyter Book."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gdln.book import archive
from gdln.book.archive import duration
from gdln.book.provenance import build_dir
from gdln.book.report import MARGINS_FIGURE, margins_svg, report_markdown
from gdln.book.runner import (
    REPORT,
    REPORT_MARKER,
    ChapterError,
    _paths,
    _toc,
    chapters,
    read_record,
    toc_pages,
)
from gdln.data.loaders import cache_dir
from gdln.util.files import REPO_ROOT, atomic_write_text

__all__ = ["HIDDEN_TAGS", "hide_parameters", "stage", "check_build_dir", "render"]


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


#: What ``stage(results=...)`` shows on a chapter page: this build's run, or the archived full run where one stands.
RESULTS = ("build", "archive")


def _banner(record: dict[str, Any], *, host: dict[str, Any] | None = None, status: str | None = None,
            archived: "archive.Verdict | None" = None) -> str:
    """One line under a chapter's title saying what the page shows: mode, device, date, code hash.

    ``archived``: the verdict on the chapter's archived full run when it is not shown (stale, unverified or
    damaged): the line then says so, and why."""
    p = record["parameters"]
    when, code = record["executed_at"].replace("T", " ")[:16], record["gdln_source_hash"][:10]
    if host is not None:  # an archived run
        device = host.get("gpu") or f"CPU ({host.get('cpu_count')} cores)"
        given = ", ".join(f"`{k} = {v!r}`" for k, v in p.items() if k not in ("mode", "seed", "device"))
        text = (f"**This page shows the archived {p['mode']}-mode run** (`results/{record['chapter']}/`)"
                + (f" with {given}" if given else "") + f": {device}, {when} UTC, gdln `{code}`, "
                f"{duration(record['wall_time_s'])}; {status}.")
    else:
        text = (f"**This page shows this build's {p['mode']}-mode run**: seed {p['seed']}, device `{p['device']}`, "
                f"{when} UTC, gdln `{code}`.")
        if archived is not None and archived.entry is not None and not archived.shown:
            text += (f" An archived full-mode run exists (`results/{archived.entry.chapter}/`) but is "
                     f"**{archived.status}** ({archived.reason}), so it is not shown.")
    return f":::{{admonition}} What this page shows\n:class: gdln-page-source\n{text}\n:::\n"


def _with_banner(notebook_json: str, banner: str) -> str:
    """Insert ``banner`` as a markdown cell right after the cell that holds the chapter's title."""
    nb = json.loads(notebook_json)
    cells = nb.get("cells", [])
    at = next((i + 1 for i, c in enumerate(cells) if c.get("cell_type") == "markdown"
               and any(line.startswith("# ") for line in "".join(c.get("source", "")).splitlines())), 0)
    cells.insert(at, {"cell_type": "markdown", "id": "gdln-page-source", "metadata": {}, "source": banner})
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _chapter_page(build: Path, page: str, results: str) -> str:
    """The staged notebook of chapter ``page``: this build's run, or its archived full run (see :data:`RESULTS`)."""
    record = read_record(build, page)
    v = archive.verdict(build, page) if results == "archive" else None
    if v is not None and v.entry is not None and v.shown:
        return _with_banner(hide_parameters(v.entry.notebook),
                            _banner(v.entry.manifest["record"], host=v.entry.manifest["machine"], status=v.status))
    text = hide_parameters(_paths(build, page)[0])
    return _with_banner(text, _banner(record, archived=v)) if record else text


def _readable_tree(folder: Path) -> list[Path]:
    """Every file under ``folder``; an OSError naming the first folder or file that cannot be read (``rglob``
    would skip an unreadable folder without a word, and the book would silently lack, say, MathJax)."""
    def fail(err: OSError) -> None:
        raise OSError(f"{err.filename}: cannot be read ({err.strerror}); the book would be built without it. Make "
                      f"it readable (chmod -R a+rX {folder}) or vendor again: `make vendor` "
                      "(python book/_vendor/fetch.py)") from None

    files = []
    for top, _, names in os.walk(folder, onerror=fail):
        for name in names:
            path = Path(top) / name
            if not os.access(path, os.R_OK):
                fail(PermissionError(13, "Permission denied", str(path)))
            files.append(path)
    return files


def stage(names: Sequence[str], *, root: Path = REPO_ROOT, build: Path | None = None, results: str = "build") -> Path:
    """Assemble the book's source folder ``_build/site`` for chapters ``names`` and all plain pages.

    ``results="archive"`` shows, on each chapter page, the chapter's archived full-mode run when it is current
    or verified by its fingerprint (:mod:`gdln.book.archive`), and this build's run elsewhere; every page says
    which, and why an archived run is not shown (stale, unverified or damaged, with the reason).
    """
    if results not in RESULTS:
        raise ValueError(f"results={results!r} is invalid; expected one of {RESULTS}")
    build = Path(build or build_dir()).resolve()
    site, book = build / "site", root / "book"
    vendor = book / "_vendor" / "static"
    if not vendor.is_dir():
        raise FileNotFoundError(f"{vendor} is missing: run `make vendor` (python book/_vendor/fetch.py) once")
    every = chapters(root)
    pages = [p for p in toc_pages(root) if p not in every or p in names]
    sources = {book / f"{p}.md" for p in toc_pages(root)}
    copies: dict[Path, Path] = {}  # destination -> source
    notebooks: dict[Path, str] = {}  # destination -> chapter page (staged with its parameter cells removed)
    # never a build or cache folder that a relative GDLN_BUILD_DIR / GDLN_CACHE_DIR put inside book/
    skip = (build, cache_dir())
    for path in sorted(book.rglob("*")):
        rel = path.relative_to(book)
        if path.is_file() and path not in sources and rel.parts[0] != "_vendor" and path.suffix != ".ipynb" \
                and not any(part.startswith(".") or part in ("__pycache__", "_build") for part in rel.parts) \
                and not any(path.is_relative_to(d) for d in skip):
            copies[site / rel] = path
    for path in _readable_tree(vendor):
        if path.is_file():
            copies[site / "_vendor" / "static" / path.relative_to(vendor)] = path
    for page in pages:
        if page in every:
            notebooks[site / f"{page}.ipynb"] = page
        elif page != REPORT:
            copies[site / f"{page}.md"] = book / f"{page}.md"
    for dst, src in copies.items():
        _sync(src, dst)
    generated = {site / "_toc.yml": yaml.safe_dump(_keep(_toc(root), set(pages)), sort_keys=False)}
    generated.update({dst: _chapter_page(build, page, results) for dst, page in notebooks.items()})
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


def check_build_dir(build: Path | None = None) -> Path:
    """The build folder, resolved; ``ValueError`` unless it is named ``_build`` (jupyter-book writes into
    ``<parent>/_build/html``). ``build`` checks it before any chapter runs."""
    build = Path(build or build_dir()).resolve()
    if build.name != "_build":
        raise ValueError(f"build directory {build} is invalid; expected a folder named _build (jupyter-book "
                         f"writes <parent>/_build/html): for example {build / '_build'}")
    return build


def render(site: Path, *, root: Path = REPO_ROOT, build: Path | None = None) -> Path:
    """Render the staged book with jupyter-book (warnings are errors); return the HTML folder."""
    build = check_build_dir(build)
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
