"""What a reader sees in the built book (issue 19): numbered figures with alt text and captions, legible at
the size shown; explorers that work on the static page; buttons that run a chapter; pages that fit a phone.

Needs the built book (`make book`; `GDLN_BUILD_DIR` names another build). The checks that measure the
rendered page (widths, wrapped code, the explorer's sliders) run in headless Chromium and are skipped,
saying so, where it is not installed (`make chromium`).
"""

from __future__ import annotations

import functools
import html as htmllib
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from gdln.book.chapter import repository_url, setup_commands
from gdln.book.provenance import build_dir
from gdln.book.runner import chapters
from gdln.book.sphinx_links import launch_links
from gdln.figures.style import COLUMN_WIDTH_IN, MIN_FONT_PT, PX_PER_IN
from gdln.util.files import REPO_ROOT

HTML = build_dir() / "html"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))

if not (HTML / "index.html").exists():
    pytest.skip(f"{HTML} not built; run `make book`", allow_module_level=True)

#: The chapter pages of this build.
PAGES = [name for name in chapters(REPO_ROOT) if (HTML / f"{name}.html").exists()]
#: The width of a cell's output area at a 1400 px window, in CSS px (measured in chromium: the article is 836 px).
OUTPUT_AREA_PX = 756
#: A file name that is a content hash (what MyST-NB names an image, and used to put in its alt text).
HASHLIKE = re.compile(r"^[0-9a-f]{16,}(\.\w+)?$")


@functools.lru_cache(maxsize=None)
def page(name: str) -> str:
    return (HTML / f"{name}.html").read_text(encoding="utf-8")


def article(name: str) -> str:
    """The page's article (what the chapter shows), without the header, sidebars and footer."""
    text = page(name)
    m = re.search(r'<article class="bd-article">(.*?)</article>', text, re.S)
    assert m, f"{name}.html has no article"
    return m.group(1)


def figures(name: str) -> list[str]:
    return re.findall(r"<figure\b.*?</figure>", article(name), re.S)


def text_of(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).strip()


# ---------------------------------------------------------------- figures

@pytest.mark.parametrize("name", PAGES)
def test_every_figure_is_numbered_with_a_caption_and_alt_text(name):
    """Every image of a chapter is a numbered figure: alt text that says what is drawn (not a file hash), and a
    caption that says what to see and ends with the provenance of the run that drew it."""
    body = article(name)
    images = [img for img in re.findall(r"<img\b[^>]*>", body) if "gdln-explorer-frame" not in img]
    in_figures = [img for fig in figures(name) for img in re.findall(r"<img\b[^>]*>", fig)]
    assert len(images) == len(in_figures), f"{name}: {len(images) - len(in_figures)} image(s) outside a <figure>"
    for fig in figures(name):
        fid = re.search(r'id="([^"]+)"', fig)
        where = f"{name}#{fid.group(1) if fid else '?'}"
        alt = re.search(r'<img\b[^>]*\balt="([^"]*)"', fig)
        assert alt and len(alt.group(1)) >= 30, f"{where}: no alt text that says what is drawn ({alt and alt.group(1)!r})"
        assert not HASHLIKE.match(alt.group(1)) and not re.search(r"[0-9a-f]{32}", alt.group(1)), f"{where}: alt is a hash"
        caption = re.search(r"<figcaption>(.*?)</figcaption>", fig, re.S)
        assert caption, f"{where}: no caption"
        words = text_of(caption.group(1))
        assert re.match(r"Figure \d+", words), f"{where}: the figure is not numbered: {words[:60]!r}"
        assert "Made by chapter" in words and "gdln" in words and "mode" in words, f"{where}: no provenance in the caption"
        assert len(words.split("Made by chapter")[0]) > 40, f"{where}: the caption says nothing before its provenance"
    # numbered within the chapter ("Figure 6.1" is the first figure of chapter 6), not through the whole book
    numbers = [text_of(re.search(r"<figcaption>(.*?)</figcaption>", f, re.S).group(1)).split()[1].rstrip(".")
               for f in figures(name)]
    chapter = re.search(r'<h1>\s*<span class="section-number">(\d+)\.', article(name))
    assert chapter, f"{name}: the chapter's title carries no number"
    assert numbers == [f"{chapter.group(1)}.{i}" for i in range(1, len(numbers) + 1)], f"{name}: figures {numbers}"


def _svg_width_px(src: str) -> float | None:
    """The width an SVG image has at its own size, in CSS px (None for another format)."""
    path = HTML / src
    if path.suffix != ".svg":
        return None
    m = re.search(r'<svg\b[^>]*\bwidth="([\d.]+)(pt|px)?"', path.read_text(encoding="utf-8", errors="replace")[:4000])
    assert m, f"{src}: an SVG without a width"
    return float(m.group(1)) * (PX_PER_IN / 72 if m.group(2) in (None, "pt") else 1)


@pytest.mark.parametrize("name", PAGES)
def test_figures_are_drawn_for_the_column(name):
    """Every figure is an SVG no wider than the column it is shown in, so its text (at least MIN_FONT_PT, enforced by
    gdln.figures.style.legible; tested in test_figures.py) is shown at its own size."""
    widths = {}
    for fig in figures(name):
        src = re.search(r'<img\b[^>]*\bsrc="([^"]+)"', fig).group(1)
        widths[src] = _svg_width_px(src)
    assert all(w is not None for w in widths.values()), f"{name}: figures that are not SVG: {widths}"
    # drawn at COLUMN_WIDTH_IN (matplotlib's tight bounding box may add a little, e.g. a legend at the edge); a
    # wider image is scaled down to the output area, and its smallest text with it
    smallest = {s: MIN_FONT_PT * PX_PER_IN / 72 * min(1.0, OUTPUT_AREA_PX / w) for s, w in widths.items()}
    small = {s: (round(widths[s]), round(px, 1)) for s, px in smallest.items() if px < 11}
    assert not small, f"{name}: figures whose smallest text is under 11 px as shown (width px, text px): {small}"
    assert COLUMN_WIDTH_IN * PX_PER_IN < OUTPUT_AREA_PX


# ---------------------------------------------------------------- explorers

EXPLORERS = {"race": ("M", "K"), "dln": ("D", "b0")}


def explorer_data(name: str) -> dict:
    m = re.search(r'<script type="application/json" class="gdln-explorer-data">(.*?)</script>', article(name), re.S)
    assert m, f"{name}: no explorer with embedded frames"
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("name", [n for n in EXPLORERS if n in PAGES])
def test_explorer_frames_are_embedded_and_consistent(name):
    """The explorer carries its frames (data URIs, nothing fetched), one per valid setting; in the race explorer
    every frame has K <= M; the page has no widget and no duplicate static copy of the initial frame."""
    d = explorer_data(name)
    names = [c["name"] for c in d["controls"]]
    assert set(EXPLORERS[name]) <= set(names)
    assert len(d["frames"]) >= 10 and all(f["src"].startswith("data:image/png;base64,") for f in d["frames"])
    assert len({f["src"] for f in d["frames"]}) == len(d["frames"]), f"{name}: identical frames"
    assert len({tuple(f["at"]) for f in d["frames"]}) == len(d["frames"])
    values = [{c["name"]: c["values"][i] for c, i in zip(d["controls"], f["at"])} for f in d["frames"]]
    if name == "race":
        assert all(v["K"] <= v["M"] for v in values), "a race frame with K > M"
        assert all(round(v["P"] ** 0.5) <= v["K"] and v["M"] % round(v["P"] ** 0.5) == 0 for v in values)
        assert len({v["M"] for v in values}) >= 3 and len({v["K"] for v in values}) >= 3
    for f, v in zip(d["frames"], values):   # the alt text names the setting it shows
        assert all(f"{k} = {v[k]:g}" in f["alt"] for k in EXPLORERS[name]), f["alt"]
    body = article(name)
    assert body.count('class="gdln-explorer"') == 1
    assert "application/vnd.jupyter.widget-view+json" not in page(name), f"{name}: a widget that needs a kernel"
    assert "static copy" not in text_of(body), f"{name}: the page still offers a static copy"


# ---------------------------------------------------------------- running a chapter from the page

def test_config_names_the_repository_and_the_buttons():
    repo, html, launch = CONFIG.get("repository", {}), CONFIG.get("html", {}), CONFIG.get("launch_buttons", {})
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo.get("url", "")), repo
    assert repo.get("path_to_book") == "book" and repo.get("branch")
    assert all(html.get(k) is True for k in ("use_repository_button", "use_issues_button", "use_download_button"))
    assert launch.get("binderhub_url", "").startswith("https://") and launch.get("colab_url", "").startswith("https://")
    assert "gdln.book.sphinx_links" in CONFIG["sphinx"].get("extra_extensions", [])
    assert "pre.gdln-command" in CONFIG["sphinx"]["config"].get("copybutton_selector", "")
    assert (REPO_ROOT / "environment.yml").is_file() and "jupytext" in (REPO_ROOT / "environment.yml").read_text()
    assert repository_url() == repo["url"]


@pytest.mark.parametrize("name", PAGES)
def test_launch_and_download_buttons_point_at_the_chapter(name):
    """Binder opens the chapter's MyST source in the repository (Binder builds environment.yml); Colab opens its
    executed notebook on the notebooks branch; the download menu has the .md source and the executed .ipynb."""
    text = page(name)
    repo, launch = CONFIG["repository"], CONFIG["launch_buttons"]
    org_repo = urlparse(repo["url"]).path.strip("/")
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', text)
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', text)
    assert len(binder) == 1 and len(colab) == 1, (binder, colab)
    b = urlparse(htmllib.unescape(binder[0]))
    assert b.path == f"/v2/gh/{org_repo}/{repo['branch']}"
    target = parse_qs(b.query)["urlpath"][0].split("/tree/", 1)[1]
    assert target == f"book/{name}.md" and (REPO_ROOT / target).is_file(), target
    branch = CONFIG["sphinx"]["config"]["gdln_notebooks_branch"]
    assert htmllib.unescape(colab[0]) == f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{name}.ipynb"
    assert launch_links(repo["url"], repo["branch"], name, binderhub_url=launch["binderhub_url"],
                        colab_url=launch["colab_url"], notebooks_branch=branch)["Colab"] == htmllib.unescape(colab[0])
    assert f'href="{repo["url"]}"' in text, "no repository button"
    assert f'href="{repo["url"]}/issues' in text, "no issues button"
    for suffix in (".md", ".ipynb"):
        assert f'href="_sources/{name}{suffix}"' in text, f"no download of {name}{suffix}"
        assert (HTML / "_sources" / f"{name}{suffix}").is_file()
    copy = (HTML / "_sources" / f"{name}.md").read_text(encoding="utf-8")   # the MyST source, not the notebook
    title = next(line for line in (REPO_ROOT / "book" / f"{name}.md").read_text(encoding="utf-8").splitlines()
                 if line.startswith("# "))
    assert copy.startswith("---\njupytext:") and title in copy.splitlines()


def test_the_workflow_publishes_the_notebooks_colab_opens():
    workflow = (REPO_ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    branch = CONFIG["sphinx"]["config"]["gdln_notebooks_branch"]
    assert f"push --force origin HEAD:{branch}" in workflow and "_build/executed/" in workflow


@pytest.mark.parametrize("name", PAGES)
def test_run_box_is_folded_with_setup_command_and_parameter_table(name):
    body = article(name)
    m = re.search(r'<details class="gdln-run">(.*?)</details>', body, re.S)
    assert m, f"{name}: no folded 'Run this chapter yourself'"
    box = htmllib.unescape(m.group(1))
    assert "<summary>Run this chapter yourself</summary>" in box
    assert 'class="admonition' not in m.group(0), "the run box must not look like a verdict box"
    commands = re.findall(r'<pre class="gdln-command">(.*?)</pre>', box, re.S)
    assert commands[0].splitlines() == setup_commands(repository_url())
    assert re.search(rf"python -m gdln\.book run {name} --mode \w+ --seed \d+ --device \S+", commands[1])
    table = re.search(r'<table class="gdln-parameters">(.*?)</table>', box, re.S).group(1)
    head = [text_of(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    assert head == ["parameter", "meaning", "this page", "the paper", "accepts"]
    rows = [[text_of(c) for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    rows = [r for r in rows if r]
    names = [r[0] for r in rows]
    assert names[:3] == ["mode", "seed", "device"]
    for param in re.findall(r"-p (\w+) ", commands[1] + " "):
        assert param in names, f"{name}: -p {param} is not explained in the table"
    assert all(r[1] for r in rows), f"{name}: a parameter without a meaning: {[r[0] for r in rows if not r[1]]}"


def test_parameter_table_reads_the_papers_values():
    if "routing" not in PAGES:
        pytest.skip("the routing chapter is not in this build")
    rows = re.search(r'<table class="gdln-parameters">(.*?)</table>', article("routing"), re.S).group(1)
    cells = {text_of(r[0]): [text_of(c) for c in r] for r in
             (re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", rows, re.S)) if r}
    assert cells["M"][1] == "domains" and cells["M"][3] == "7 (Fig. 4)"


# ---------------------------------------------------------------- measured in a browser

needs_browser = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (make chromium)")

#: Loads a page in an iframe of a given width (the viewport the page sees), opens every fold, and reports
#: the page's scroll width, each shown code block's overflow, each figure's shown and natural width and the
#: copy buttons of the run box.
PROBE = """<!doctype html><html><body style="margin:0">
<iframe id="f" src="/PAGE" style="width:WIDTHpx;height:3000px;border:0"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () { setTimeout(function () {
  var d = document.getElementById("f").contentDocument, out = {};
  out.copy = d.querySelectorAll("details.gdln-run .copybtn").length;
  d.querySelectorAll("details").forEach(function (x) { x.open = true; });
  out.scroll = d.documentElement.scrollWidth;
  out.code = []; d.querySelectorAll("div.cell_input pre").forEach(function (p) {
    out.code.push([p.scrollWidth - p.clientWidth, p.textContent.split("\\n")[0].slice(0, 60)]); });
  out.wide = []; d.querySelectorAll(".bd-article *").forEach(function (e) {
    var r = e.getBoundingClientRect(); if (r.right > WIDTH + 1 && !e.closest("mjx-container, .gdln-table-scroll, table, pre"))
      out.wide.push(e.tagName + "." + e.className + " " + Math.round(r.right)); });
  out.figures = []; d.querySelectorAll("figure img").forEach(function (i) {
    out.figures.push([i.naturalWidth, i.getBoundingClientRect().width]); });
  var p = document.createElement("pre"); p.id = "probe"; p.textContent = JSON.stringify(out);
  document.body.appendChild(p); }, 1500); });
</script></body></html>"""


@functools.lru_cache(maxsize=None)
def measure(name: str, width: int) -> dict:
    """What :data:`PROBE` reports for page ``name`` at ``width`` px (served from localhost, nothing else reachable)."""
    probe = PROBE.replace("PAGE", f"{name}.html").replace("WIDTH", str(width)).encode()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(HTML), **k)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.startswith("/__probe__.html"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(probe)
            else:
                super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run(
                [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--virtual-time-budget=15000",
                 f"--window-size={max(width, 500) + 40},2000", "--dump-dom",
                 f"http://127.0.0.1:{server.server_port}/__probe__.html"],
                capture_output=True, text=True, timeout=180).stdout
    finally:
        server.shutdown()
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, f"{name}: the probe did not report (is the page loading?)"
    return json.loads(htmllib.unescape(m.group(1)))


@needs_browser
@pytest.mark.parametrize("name", PAGES)
def test_no_page_is_wider_than_a_phone(name):
    """At a 420 px viewport nothing is wider than the screen; wide equations and tables scroll in their own box."""
    got = measure(name, 420)
    assert got["scroll"] <= 420, f"{name}: {got['scroll']} px wide at 420 px; widest: {got['wide'][:8]}"


@needs_browser
@pytest.mark.parametrize("name", PAGES)
def test_code_fits_its_column_and_figures_are_shown_at_their_size(name):
    """At a 1400 px window no code line runs past the code column (long lines wrap), every figure is shown at
    (nearly) its own size, so that its smallest text (MIN_FONT_PT) is at least 11 CSS px, and the run box's
    commands have a copy button."""
    got = measure(name, 1400)
    over = [c for c in got["code"] if c[0] > 1]
    assert not over, f"{name}: code lines wider than the column: {over[:5]}"
    assert got["figures"], f"{name}: no figure measured"
    small = [f for f in got["figures"] if f[1] < 0.97 * f[0]]
    assert not small, f"{name}: figures shown smaller than drawn (natural, shown px): {small}"
    assert MIN_FONT_PT * PX_PER_IN / 72 >= 11
    assert got["copy"] >= 2, f"{name}: the run box's commands have no copy button"


@needs_browser
@pytest.mark.parametrize("name", [n for n in EXPLORERS if n in PAGES])
def test_explorer_sliders_switch_frames_and_keep_constraints(name):
    """In a browser, moving the first slider to its lowest value and every other to its highest shows another
    frame, and (race) K never passes M."""
    block = re.search(r'<div class="gdln-explorer".*?</script></div>', article(name), re.S).group(0)
    driver = """<script>
    var r = document.querySelector(".gdln-explorer"), ins = r.querySelectorAll("input[type=range]"), img = r.querySelector("img");
    function state() { return {values: Array.from(r.querySelectorAll("output")).map(function (o) { return o.textContent; }),
                               src: img.src.length + ":" + img.src.slice(-40), alt: img.alt}; }
    function move(i, v) { ins[i].value = v; ins[i].dispatchEvent(new Event("input")); }
    var out = [state()]; move(0, 0); out.push(state());
    for (var i = 1; i < ins.length; i++) { move(i, ins[i].max); out.push(state()); }
    move(0, ins[0].max); out.push(state());
    var p = document.createElement("pre"); p.id = "result"; p.textContent = JSON.stringify(out); document.body.appendChild(p);
    </script>"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "explorer.html"
        path.write_text(f"<!doctype html><html><body>{block}{driver}</body></html>", encoding="utf-8")
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                                  "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    states = json.loads(htmllib.unescape(re.search(r'<pre id="result">(.*?)</pre>', dom, re.S).group(1)))
    names = [c["name"] for c in explorer_data(name)["controls"]]
    assert len({s["src"] for s in states}) >= 3, "the sliders do not switch frames"
    for s in states:
        v = dict(zip(names, s["values"]))
        assert all(f"{k} = {v[k]}" in s["alt"] for k in EXPLORERS[name]), (v, s["alt"])   # the frame shown is the setting
        if name == "race":
            assert int(v["K"]) <= int(v["M"]), f"K = {v['K']} > M = {v['M']}"
