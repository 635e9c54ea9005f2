"""Stage the executed chapters, the plain pages and the Reproduction report, and render them with Jupyter Book.

Staging hands Jupyter Book each chapter's executed notebook (this build's run, or its archived full run) with
these changes, none of which touches a result: the parameter cells are removed (:data:`HIDDEN_TAGS`); every
cell that only checks claims has its code folded (:func:`fold_claim_cells`), so that a claim shows as its
one-line badge; and one box under the chapter's title says what the page reproduces, how many of its claims
pass, names each that does not (its number and a link to its badge), and which run the page shows (mode,
scale, date, code hash), and whether an archived full run exists and what it is worth (:func:`verdict_box`).
Progress bars that a cell left in its outputs are dropped (:func:`drop_progress_bars`), and the "Run this
chapter" box of a run made before that box was folded is folded as today's is (:func:`fold_old_run_box`).
"""

from __future__ import annotations

import ast
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gdln.book import archive
from gdln.book import scale as run_scale
from gdln.book.archive import duration
from gdln.book.claims import ClaimsTable, read, read_manifest
from gdln.book.provenance import build_dir
from gdln.book.report import MARGINS_FIGURE, ChapterClaims, margins_svg, not_passing_html, report_markdown, sentences
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

__all__ = ["HIDDEN_TAGS", "hide_parameters", "is_claim_cell", "fold_claim_cells", "drop_progress_bars", "fold_old_run_box", "with_claims_table",
           "front_matter", "statement", "reproduces",
           "verdict_box",
           "stage", "check_build_dir", "render"]


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


def _is_check(node: ast.AST) -> bool:
    """``ch.claims.check(...)`` or ``claims.check(...)``, alone or assigned (``_ = ch.claims.check(...)``)."""
    value = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute) or value.func.attr != "check":
        return False
    owner = value.func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "claims") or \
        (isinstance(owner, ast.Name) and owner.id == "claims")


def _is_finish(node: ast.AST) -> bool:
    """``ch.finish()``: the chapter's claims table."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and not node.value.args
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "finish")


def is_claim_cell(source: str) -> bool:
    """Whether a code cell only checks claims: at least one claim check, and every statement a claim check, a
    ``for`` loop of claim checks, ``ch.finish()``, or an assignment to names that only claim checks of the cell
    read (the value a check measures). Code that cannot be parsed (a magic) is not such a cell."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    checks = [n for n in body if _is_check(n)]
    checks += [n for loop in body if isinstance(loop, ast.For) and loop.body and all(_is_check(b) for b in loop.body)
               for n in loop.body]
    if not checks:
        return False
    read_by_checks = {n.id for c in checks for n in ast.walk(c.value) if isinstance(n, ast.Name)}
    read_elsewhere = {n.id for stmt in body if not _is_check(stmt) for n in ast.walk(stmt)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

    def allowed(stmt: ast.stmt) -> bool:
        if _is_check(stmt) or _is_finish(stmt):
            return True
        if isinstance(stmt, ast.For):
            return bool(stmt.body) and all(_is_check(b) for b in stmt.body)
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            names = {t.id for t in stmt.targets}
            return names <= read_by_checks and not names & read_elsewhere
        return False

    return all(allowed(stmt) for stmt in body)


def fold_claim_cells(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` (a notebook as JSON) with every cell that only checks claims (:func:`is_claim_cell`) tagged
    ``hide-input``, unless its code is already removed or folded: the claim shows as its badge, its code folded."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        source = "".join(cell.get("source", ""))
        if not {"remove-cell", "remove-input", "hide-input", "hide-cell"} & set(tags) and is_claim_cell(source):
            tags.append("hide-input")
    return nb


#: A tqdm progress bar's text: "desc:  40%|####      | 4/10 [00:01<00:02, 2.9it/s]".
_PROGRESS = re.compile(r"\d+%\|.*\|\s*\d+/\d+\s*\[")


def _is_progress_bar(output: dict[str, Any]) -> bool:
    """A tqdm bar: a widget whose text form is a bar, or a stderr stream of nothing but bars."""
    if output.get("output_type") == "stream":
        lines = [x for x in re.split(r"[\r\n]+", "".join(output.get("text", ""))) if x.strip()]
        return output.get("name") == "stderr" and bool(lines) and all(_PROGRESS.search(x) for x in lines)
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data and bool(_PROGRESS.search("".join(data.get("text/plain", ""))))


def drop_progress_bars(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` without the tqdm progress bars its cells left (a finished bar stays as an empty widget, a gap in
    the page); every other output is kept."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            cell["outputs"] = [o for o in cell["outputs"] if not _is_progress_bar(o)]
    return nb


#: What ``stage(results=...)`` shows on a chapter page: this build's run, or the archived full run where one stands.
RESULTS = ("build", "archive")

_VERB = re.compile(r"\b(?:reproduc|regenerat)", re.I)


def _title_cell(cells: list[dict[str, Any]]) -> int | None:
    """The index of the markdown cell that holds the chapter's title (its first ``# `` line), or None."""
    return next((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown"
                 and any(line.startswith("# ") for line in "".join(c.get("source", "")).splitlines())), None)


def reproduces(cells: list[dict[str, Any]]) -> str:
    """What a chapter reproduces, in one sentence of its opening (the text under its title): the first that says
    it reproduces or regenerates something, else the first that starts "This chapter", else the first; "" when
    the chapter has no opening text."""
    at = _title_cell(cells)
    if at is None:
        return ""
    lines = "".join(cells[at].get("source", "")).splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("# "))
    said = sentences(" ".join(line for line in lines[title + 1:] if not line.lstrip().startswith(("#", "```", ":::"))))
    return next((x for x in said if _VERB.search(x)), None) or \
        next((x for x in said if x.startswith("This chapter")), None) or (said[0] if said else "")


def front_matter(source: Path) -> dict[str, Any]:
    """The YAML front matter of a MyST chapter ``source`` (``{}`` when it has none or the file is absent); a front
    matter that is not a YAML mapping is a ``ValueError`` naming the file."""
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---\n", 3)
    meta = yaml.safe_load(text[4:end]) if end > 0 else None
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: the front matter between the first two '---' lines is not a YAML mapping")
    return meta


def statement(source: Path, cells: list[dict[str, Any]]) -> str:
    """What a chapter page does, for the first line of its verdict box: the ``reproduces:`` sentence of the chapter's
    front matter (written to stand alone, so the box does not repeat the opening that follows it), else a sentence
    lifted from its opening (:func:`reproduces`). Read from today's source, so an archived run's page says it too."""
    declared = front_matter(source).get("reproduces")
    if declared is not None and not (isinstance(declared, str) and declared.strip()):
        raise ValueError(f"{source}: 'reproduces' in the front matter is {declared!r}; expected one sentence")
    return " ".join(declared.split()) if declared else reproduces(cells)


def _when(record: dict[str, Any]) -> str:
    return record["executed_at"].replace("T", " ")[:16] + " UTC"


def _run_line(record: dict[str, Any], machine: dict[str, Any] | None) -> str:
    """A run in a line: its scale in words (:func:`gdln.book.scale.phrase` of its record), date, code hash."""
    return (f"{run_scale.phrase(run_scale.of_run(record, machine))}, {_when(record)}, gdln "
            f"`{record['gdln_source_hash'][:10]}`")


def _passing(claims: list[dict[str, Any]]) -> str:
    """``"10 of 12 claims pass"``."""
    return f"{sum(c['status'] == 'pass' for c in claims)} of {len(claims)} claims pass"


def _judged_on(claims: list[dict[str, Any]] | None) -> str:
    """" Its claims are judged on sweeps at M = 40 (7 claims) and M = 10 (1 claim), ..." from the scale each claim
    records (a run's own parameters need not say it: a panel may come from the sweep archive at a larger M); ""
    when no claim names a sweep."""
    Ms = [c["scale"]["M"] for c in claims or [] if isinstance(c.get("scale"), dict) and c["scale"].get("M")]
    if not Ms:
        return ""
    parts = [f"M = {M} ({Ms.count(M)} {'claim' if Ms.count(M) == 1 else 'claims'})" for M in sorted(set(Ms), reverse=True)]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f" Its claims are judged on sweeps at {said}; each claim names its scale."


def verdict_box(page: str, sentence: str, shown: str, claims: list[dict[str, Any]] | None, record: dict[str, Any],
                machine: dict[str, Any] | None, v: "archive.Verdict | None") -> str:
    """The one box under a chapter's title (MyST markdown): what the page reproduces (``sentence``), how many of its
    claims pass and each that does not (status, number, id linked to its badge, measured vs criterion), and the run
    it shows in a line (``shown``: ``"build"`` or ``"archive"``; mode and scale from the run's ``record`` and
    ``machine``, date, code hash), with the archived full run's standing (``v``) when one exists."""
    if shown not in RESULTS:
        raise ValueError(f"shown={shown!r} is invalid; expected one of {RESULTS}")
    said = sentence if sentence.startswith(("This page", "This chapter")) else f"**This page:** {sentence}"
    lines = [said] if sentence else []
    failing = not_passing_html([ChapterClaims(page, page, claims)], here=True) if claims else ""
    if claims is None:
        lines.append("**This run wrote no claims manifest.**")
    elif not failing:
        lines.append("**It checks no claims.**" if not claims else "**Its one claim passes.**" if len(claims) == 1
                     else f"**All {len(claims)} of its claims pass.**")
    else:
        lines.append(f"**{_passing(claims)}**; each that does not:")
    if shown == "archive":
        run = (f"**This page shows the archived {record['parameters']['mode']}-mode run** "
               f"(`results/{page}/`, {v.status}): {_run_line(record, machine)}, {duration(record['wall_time_s'])}."
               + _judged_on(claims))
    else:
        run = (f"**This page shows this build's {record['parameters']['mode']}-mode run**: {_run_line(record, None)}."
               + _judged_on(claims))
        if v is not None and v.entry is not None:
            entry = v.entry
            if v.shown:
                there = [read(c) for c in entry.claims]
                run += (f" An archived {entry.manifest['record']['parameters'].get('mode', 'full')}-mode run also "
                        f"exists (`results/{page}/`, **{v.status}**): "
                        f"{_run_line(entry.manifest['record'], entry.manifest['machine'])}; {_passing(there)} there. "
                        "`make book RESULTS=archive` puts it on this page.")
            else:
                run += (f" An archived full-mode run exists (`results/{page}/`) but is **{v.status}** ({v.reason}), "
                        "so it is not shown.")
    box = ["::::{admonition} What this page reproduces, and how it stands", ":class: gdln-verdict",
           "\n\n".join(lines)]
    if failing:
        box.append("")
        box.append(failing.rstrip("\n"))
    box += ["", run, "::::", ""]
    return "\n".join(box)


def _with_box(nb: dict[str, Any], box: str) -> dict[str, Any]:
    """``nb`` with ``box`` as a markdown cell right under the chapter's title line (the rest of the title's cell
    follows it in a cell of its own); at the top when the notebook has no title."""
    cells = nb.setdefault("cells", [])
    at = _title_cell(cells)
    cell = {"cell_type": "markdown", "id": "gdln-verdict", "metadata": {}, "source": box}
    if at is None:
        cells.insert(0, cell)
        return nb
    lines = "".join(cells[at].get("source", "")).splitlines(keepends=True)
    title = next(i for i, line in enumerate(lines) if line.startswith("# "))
    head, rest = "".join(lines[: title + 1]), "".join(lines[title + 1:])
    cells[at] = {**cells[at], "source": head}
    tail = [{"cell_type": "markdown", "id": "gdln-opening", "metadata": {}, "source": rest}] if rest.strip() else []
    cells[at + 1: at + 1] = [cell, *tail]
    return nb


#: How runs made before the run box was folded show it (an archived notebook keeps what its run displayed).
_OLD_RUN_BOX = '<div class="admonition note gdln-run"><p class="admonition-title">Run this chapter</p>'


def fold_old_run_box(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` with a "Run this chapter" box of an older run (an admonition, a second box at the top of the page
    under the verdict box) folded as today's run element is: the same content under a ``<details>``."""
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            text = "".join(data.get("text/html", ""))
            if text.startswith(_OLD_RUN_BOX) and text.endswith("</div>"):
                data["text/html"] = ('<details class="gdln-run"><summary>Run this chapter yourself</summary>'
                                     + text[len(_OLD_RUN_BOX):-len("</div>")] + "</details>")
    return nb


def with_claims_table(nb: dict[str, Any], claims: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``nb`` with the HTML of its claims table (the output of ``ch.finish()``) drawn again from ``claims``, the
    manifest of the same run, by today's :class:`~gdln.book.claims.ClaimsTable`: an archived run's page shows the
    same compact table as this build's. Nothing changes without a manifest."""
    if claims is None:
        return nb
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if "".join(data.get("text/html", "")).startswith('<table class="gdln-claims"'):
                data["text/html"] = ClaimsTable(claims)._repr_html_()
    return nb


def _staged(notebook: Path) -> dict[str, Any]:
    """An executed notebook as a page shows it: parameter cells removed, claim cells and an older run's run box
    folded, progress bars dropped."""
    return fold_old_run_box(drop_progress_bars(fold_claim_cells(json.loads(hide_parameters(notebook)))))


def _chapter_page(build: Path, page: str, results: str, source: Path) -> str:
    """The staged notebook of chapter ``page`` (whose MyST source is ``source``): this build's run, or its archived
    full run (see :data:`RESULTS`), with its parameter cells removed, its claim cells folded and the verdict box
    under its title."""
    record = read_record(build, page)
    v = archive.verdict(build, page)
    if results == "archive" and v.entry is not None and v.shown:
        claims = [read(c) for c in v.entry.claims]
        nb = with_claims_table(_staged(v.entry.notebook), claims)
        box = verdict_box(page, statement(source, nb.get("cells", [])), "archive", claims, v.entry.manifest["record"],
                          v.entry.manifest["machine"], v)
        return json.dumps(_with_box(nb, box), indent=1, ensure_ascii=False) + "\n"
    notebook, _, claims_path = _paths(build, page)
    nb = _staged(notebook)
    if record:
        claims = read_manifest(claims_path) if claims_path.exists() else None
        nb = with_claims_table(nb, claims)
        nb = _with_box(nb, verdict_box(page, statement(source, nb.get("cells", [])), "build", claims, record, None, v))
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


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
    generated.update({dst: _chapter_page(build, page, results, book / f"{page}.md") for dst, page in notebooks.items()})
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
