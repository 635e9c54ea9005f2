"""A small Sphinx extension: the launch and download buttons of a chapter page point at the right files.

The book is built from the *executed* notebooks (``_build/site/<page>.ipynb``), while the repository holds
the chapters' MyST sources (``book/<page>.md``). sphinx-book-theme builds its links from the staged file,
so without this extension Binder would open ``book/<page>.ipynb``, which the repository does not have.
On every chapter page (a page whose source ``book/<page>.md`` exists) this extension

- points the Binder button at ``book/<page>.md`` (Binder builds ``environment.yml``, whose jupytext opens
  the MyST source as a notebook);
- points the Colab button at ``<page>.ipynb`` on the branch ``gdln_notebooks_branch`` (default
  ``notebooks``), where the book's workflow publishes the executed notebooks (Colab opens only ``.ipynb``
  files from GitHub);
- adds the MyST source to the download menu, beside the executed ``.ipynb`` (copied into ``_sources/``,
  so the download works offline).

Enabled in ``_config.yml`` (``sphinx: extra_extensions``); :func:`launch_links` is the one place the links
are made, and what the tests check.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gdln.util.files import REPO_ROOT

__all__ = ["launch_links", "setup"]

#: Where the chapters' sources are, relative to the repository root.
SOURCES = "book"


def launch_links(repo_url: str, branch: str, page: str, *, binderhub_url: str = "", colab_url: str = "",
                 notebooks_branch: str = "notebooks", interface: str = "lab/tree") -> dict[str, str]:
    """The launch links of chapter ``page``: ``{"Binder": url, "Colab": url}`` for the providers given.

    ``repo_url`` is ``https://github.com/<org>/<repo>``; Binder opens ``book/<page>.md`` of ``branch``,
    Colab ``<page>.ipynb`` of ``notebooks_branch``.
    """
    org, repo = repo_url.rstrip("/").split("github.com/")[-1].split("/")[:2]
    links = {}
    if binderhub_url:
        links["Binder"] = (f"{binderhub_url.rstrip('/')}/v2/gh/{org}/{repo}/{branch}"
                           f"?urlpath={interface}/{SOURCES}/{page}.md")
    if colab_url:
        links["Colab"] = f"{colab_url.rstrip('/')}/github/{org}/{repo}/blob/{notebooks_branch}/{page}.ipynb"
    return links


def _buttons(tree: Any):
    """Every button dict in the header-button tree (groups hold a "buttons" list)."""
    for item in tree:
        yield item
        yield from _buttons(item.get("buttons", []))


def _page_context(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    source = REPO_ROOT / SOURCES / f"{pagename}.md"
    if not source.is_file() or "header_buttons" not in context:
        return
    opts = app.config.html_theme_options
    launch = opts.get("launch_buttons", {})
    repo_url, branch = opts.get("repository_url", ""), opts.get("repository_branch", "main") or "main"
    if "github.com/" in repo_url:
        links = launch_links(repo_url, branch, pagename, binderhub_url=launch.get("binderhub_url", ""),
                             colab_url=launch.get("colab_url", ""), notebooks_branch=app.config.gdln_notebooks_branch,
                             interface="lab/tree" if launch.get("notebook_interface") == "jupyterlab" else "tree")
        for button in _buttons(context["header_buttons"]):
            if button.get("text") in links:
                button["url"] = links[button["text"]]
    for button in _buttons(context["header_buttons"]):
        if button.get("label") == "download-buttons":
            copy = Path(app.outdir) / "_sources" / f"{pagename}.md"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
            button["buttons"].insert(1, {
                "type": "link", "url": f"{context['pathto']('_sources', 1)}/{pagename}.md", "text": ".md (source)",
                "tooltip": "Download the chapter's MyST source", "icon": "fas fa-file", "label": "download-md-button"})


def setup(app) -> dict[str, Any]:
    app.add_config_value("gdln_notebooks_branch", "notebooks", "html")
    app.connect("html-page-context", _page_context, priority=600)   # after sphinx-book-theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
