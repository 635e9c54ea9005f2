"""The built book works offline: no page loads a script or stylesheet from another host, and in a
headless browser (with every host but localhost unresolvable) MathJax typesets and widgets render.

Needs the built book (`make book`, or `make test` which builds it first). The browser check needs
Debian's chromium (`make chromium`); without it that test is skipped, saying so.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from gdln.book.provenance import build_dir

HTML = build_dir() / "html"
REMOTE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+""", re.I)
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

if not (HTML / "index.html").exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{HTML} is missing: CI must build the book (make test) before these tests")
    pytest.skip(f"{HTML} not built; run `make book`", allow_module_level=True)

PAGES = sorted(HTML.rglob("*.html"))


def pages_with(marker: str) -> list[Path]:
    return [p for p in PAGES if marker in p.read_text(encoding="utf-8")]


def test_no_page_loads_anything_from_another_host():
    remote = {p.relative_to(HTML).as_posix(): REMOTE.findall(p.read_text(encoding="utf-8")) for p in PAGES}
    remote = {k: v for k, v in remote.items() if v}
    assert not remote, f"pages referencing remote resources: {remote}"


def test_math_and_widget_scripts_are_served_by_the_book():
    math = pages_with("_static/mathjax/tex-chtml.js")
    assert math, "no page loads the vendored MathJax"
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in pages_with("application/vnd.jupyter.widget-state+json"):
        text = page.read_text(encoding="utf-8")
        assert "_static/require.js" in text and "_static/widgets/embed-amd.js" in text, page.name
    assert (HTML / "_static" / "widgets" / "embed-amd.js").exists()


def test_every_link_to_a_claim_lands_on_its_badge():
    """A link of the form page.html#claim-... (the report's, and the chapters' own) names an id that the
    page holds: a claim whose cell drops its output would leave the link landing at the top of the page."""
    ids = {p.relative_to(HTML).as_posix(): set(re.findall(r'\bid="([^"]+)"', p.read_text(encoding="utf-8")))
           for p in PAGES}
    links = {(p.relative_to(HTML).as_posix(), m.group(1) or p.relative_to(HTML).as_posix(), m.group(2))
             for p in PAGES for m in re.finditer(r'href="([\w./-]*\.html)?#(claim-[^"]+)"', p.read_text(encoding="utf-8"))}
    assert links, "no page links to a claim"
    dead = sorted(f"{src} -> {dst}#{frag}" for src, dst, frag in links if frag not in ids.get(dst, set()))
    assert not dead, f"{len(dead)} of {len(links)} claim links land nowhere:\n  " + "\n  ".join(dead[:20])


@functools.lru_cache(maxsize=None)
def render(page: str, screenshot: Path | None = None) -> str:
    """The DOM of ``page`` after scripts ran, served from localhost with all other hosts unresolvable."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/{page}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--virtual-time-budget=20000",
             "--window-size=1280,1800"]
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([BROWSER, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run([BROWSER, *flags, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
                               capture_output=True, timeout=120)
    finally:
        server.shutdown()
    return dom


needs_browser = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (make chromium); "
                                   "the static no-CDN check above still ran")


@needs_browser
def test_mathjax_typesets_offline():
    page = pages_with("_static/mathjax/tex-chtml.js")[0].relative_to(HTML).as_posix()
    dom = render(page, build_dir() / "screenshots" / page.replace("/", "_").replace(".html", ".png"))
    assert "<mjx-container" in dom, f"MathJax did not typeset {page}"


@needs_browser
def test_widgets_render_offline():
    widget_pages = pages_with("application/vnd.jupyter.widget-view+json")
    if not widget_pages:
        pytest.skip("no page of this book contains a widget")
    missing = []
    for path in widget_pages:
        page = path.relative_to(HTML).as_posix()
        dom = render(page, build_dir() / "screenshots" / page.replace("/", "_").replace(".html", ".png"))
        if not re.search(r'class="[^"]*\blm-Widget\b[^"]*\bjupyter-widgets\b', dom):
            missing.append(page)
    assert not missing, f"no widget rendered on {missing}"
