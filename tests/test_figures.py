"""gdln.figures: the one RSA and route-output panel, colours from the style module, the lazy explorer."""

import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gdln.figures import explorer, panels, style  # noqa: E402
from gdln.tasks.routing import routing_task, task_modes  # noqa: E402


def test_similarity_panel():
    fig, ax = style.figure(1, 1)
    S = torch.eye(12, dtype=torch.float64)
    im = panels.plot_similarity(ax[0, 0], S, 3, 4, title="t", colorbar=True)
    assert im.get_cmap().name == style.CMAP_SIMILARITY and im.get_clim() == (-1, 1)
    assert len(fig.axes) == 2                                   # the panel and its colour bar
    assert [t.get_text() for t in ax[0, 0].get_xticklabels()] == ["1", "2", "3"]


def test_route_output_panel_frames_untrained_routes():
    fig, ax = style.figure(1, 1)
    M, ny, n = 3, 7, 4
    out = torch.randn(M, M, ny, n, generator=torch.Generator().manual_seed(0))
    trained = torch.eye(M, dtype=torch.bool)
    im = panels.plot_route_outputs(ax[0, 0], out, trained)
    A = im.get_array()
    assert A.shape == (M * (n + 1) - 1, M * (ny + 1) - 1)
    np.testing.assert_array_equal(A[n + 1:2 * n + 1, :ny], out[1, 0].T.numpy())     # block (1, 0): items x features
    vmax = float(out.abs().max())
    assert im.get_cmap().name == style.CMAP_OUTPUT and im.get_clim() == pytest.approx((-vmax, vmax))
    frames = ax[0, 0].patches
    assert len(frames) == M * M - M                             # one frame per untrained route
    # black and dashed: no colour of the diverging map (issue 19: orange frames on red were lost)
    assert all(matplotlib.colors.to_hex(f.get_edgecolor()) == style.PALETTE["black"].lower() for f in frames)
    assert all(f.get_linestyle() not in ("-", "solid") for f in frames)
    assert len(fig.axes) == 1                                   # no colour bar unless asked


def test_one_panel_of_each_kind():
    for old in ("draw_rsa", "draw_route_outputs"):
        assert not hasattr(panels, old)


def test_explorer_mode_is_lazy_and_unchanged():
    code = "import gdln.figures.explorer as e; print(e.top_mode.cache_info().currsize)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "0"                            # nothing computed at import
    m = task_modes(routing_task(1, 1))
    assert explorer.top_mode() == (float(m.s[0]), float(m.d[0]))
    a = explorer.race_curves(4, 4, 0.1, 4, n_t=200)
    b = explorer.race_curves(4, 4, 0.1, 4, S=float(m.s[0]), D=float(m.d[0]), n_t=200)
    np.testing.assert_array_equal(a["B2"], b["B2"])


def test_chain_explorer_curves_are_the_chain_flow_and_refuse_a_finished_start():
    from gdln.theory.dln import chain_ode
    c = explorer.chain_curves(3, 0.5, 2.0, 4.0, depths=(1, 2, 3, 4))
    t, frac = c["curves"][2]
    # the quadrature curve is the gradient flow of the chain itself: integrate to a few of its times
    idx = [5, len(t) // 2, len(t) - 10]
    a = chain_ode(3, 4.0, 2.0, 0.5, 1.0, t[idx]).numpy() * 2.0 / 4.0
    np.testing.assert_allclose(a, frac[idx], rtol=1e-6)
    assert c["t_half_D"] == c["t_half"][2]
    # from b0 < 1 deeper chains wait longer beyond D = 2
    assert np.all(np.diff(c["t_half"][1:]) > 0)
    with pytest.raises(ValueError, match="b0=1.0"):
        explorer.chain_curves(2, 1.0, 4.0, 4.0)
    with pytest.raises(ValueError, match="D=0"):
        explorer.chain_curves(0, 0.3)
    pytest.importorskip("ipywidgets")
    w = explorer.chain_explorer(D=3, b0=0.3, lam=1.0)
    assert len(w.children) == 2


# ---------------------------------------------------------------- legibility (issue 19, item 4)

def _texts(fig):
    from matplotlib.text import Text
    return [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def test_legible_narrows_wide_figures_and_raises_small_text():
    fig, ax = style.figure(3, 1, width=13.0, height=4.0)
    assert fig.get_size_inches()[0] <= style.COLUMN_WIDTH_IN    # figure() never draws wider than the column
    fig.set_size_inches(13.0, 4.0)
    ax[0, 0].plot([0, 1], label="a line")
    ax[0, 0].legend(fontsize=6)
    ax[0, 1].set_xticks([0, 1], ["tick", "labels"], fontsize=5)
    ax[0, 2].tick_params(labelsize=6)
    ax[0, 2].text(0.5, 0.5, "a note", fontsize=4)
    assert min(t.get_fontsize() for t in _texts(fig)) < style.MIN_FONT_PT
    style.legible(fig)
    fig.canvas.draw()                                           # ticks made at draw time count too
    w, h = fig.get_size_inches()
    assert w == style.COLUMN_WIDTH_IN and h == pytest.approx(4.0 * 0.8)
    assert min(t.get_fontsize() for t in _texts(fig)) >= style.MIN_FONT_PT
    assert style.MIN_FONT_PT * style.PX_PER_IN / 72 >= 11      # at least 11 CSS px at the size shown


def test_legible_wraps_a_title_longer_than_its_panel():
    fig, ax = style.figure(3, 1)
    long = "a title much too long to fit above one of three panels side by side"
    ax[0, 0].set_title(long)
    ax[0, 1].set_title("short")
    ax[0, 2].set_title("with $math$ it is left alone, however long the title may be")
    style.legible(fig)
    assert "\n" in ax[0, 0].get_title() and ax[0, 0].get_title().replace("\n", " ") == long
    assert ax[0, 1].get_title() == "short" and "\n" not in ax[0, 2].get_title()


def test_book_figures_are_svg_at_their_own_size():
    style.use_style()
    assert matplotlib.rcParams["figure.dpi"] == style.PX_PER_IN and matplotlib.rcParams["svg.fonttype"] == "path"


def test_sharing_scheme_uses_okabe_ito_and_neighbouring_blocks_differ():
    M, P = 6, 4
    fig, ax = style.figure(1, 1)
    panels.plot_sharing_scheme(ax[0, 0], M, P)
    rgb = ax[0, 0].images[0].get_array()[:, :, :3]
    allowed = {tuple(np.round(matplotlib.colors.to_rgb(c), 4)) for c in style.CMAP_CATEGORICAL.colors}
    used = {tuple(np.round(rgb[i, j], 4)) for i in range(M) for j in range(M)}
    assert used <= allowed and len(used) > 1
    s = 2                                                       # block size sqrt(P)
    blocks = rgb[::s, ::s]
    nb = M // s
    for i in range(nb):
        for j in range(nb):
            for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if 0 <= i + di < nb and 0 <= j + dj < nb:
                    assert not np.allclose(blocks[i, j], blocks[i + di, j + dj]), (i, j, di, dj)
    assert [t.get_text() for t in ax[0, 0].get_xticklabels()] == [str(k + 1) for k in range(M)]


def test_dataset_panel_labels_input_units_by_integer():
    fig, ax = style.figure(2, 1)
    X = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    Y = torch.rand(7, 4, generator=torch.Generator().manual_seed(1))
    panels.draw_dataset(ax[0, 0], ax[0, 1], X, Y)
    assert list(ax[0, 0].get_yticks()) == [0, 1, 2, 3]
    assert [t.get_text() for t in ax[0, 0].get_yticklabels()] == ["1", "2", "3", "4"]


# ---------------------------------------------------------------- explorers on a static page (item 5)

def test_race_frames_hold_every_valid_setting_and_only_those():
    grid = {"M": (2, 4), "K": (1, 2, 4), "P": (1, 4, 16), "sigma0": (0.2,)}
    ex = explorer.race_frames(M=4, K=4, sigma0=0.2, P=4, grid=grid)
    settings = ex.settings()
    expected = {(M, K, P) for M in (2, 4) for K in (1, 2, 4) for P in (1, 4, 16)
                if K <= M and M % round(P ** 0.5) == 0 and round(P ** 0.5) <= K}
    assert {(s["M"], s["K"], s["P"]) for s in settings} == expected
    assert all(s["K"] <= s["M"] for s in settings)
    html = ex._repr_html_()
    assert html.count("data:image/png;base64,") == len(settings) + 1     # every frame, and the first one shown
    assert "<script" in html and not re.search(r'(?:src|href)="(?:https?:)?//', html)   # nothing from another host
    assert 'type="range"' in html and "M = 4, K = 4, P = 4" in html    # the initial frame's alt text
    d = ex.data()
    assert [c["name"] for c in d["controls"]] == ["M", "K", "P", "sigma0"]
    with pytest.raises(ValueError, match="no frame"):
        explorer.FrameExplorer(ex.controls, ex.frames, {"M": 2, "K": 4, "P": 4, "sigma0": 0.2}, alt=str)
    with pytest.raises(ValueError, match="expected a setting the explorer allows"):   # before any frame is drawn
        explorer.race_frames(M=2, K=4, sigma0=0.2, P=4, grid=grid)   # K > M


def test_frame_explorer_adds_the_pages_own_setting_to_its_grid():
    ex = explorer.frame_explorer([explorer.Control("a", (1, 2))], lambda a: style.figure()[0], {"a": 3},
                                 alt=lambda v: f"a = {v['a']}")
    assert ex.controls[0].values == [1, 2, 3] and set(ex.frames) == {(1,), (2,), (3,)}


def test_stamp_puts_the_provenance_in_the_caption_not_under_the_figure(tmp_path, monkeypatch, capsys):
    from gdln.book.chapter import Chapter

    monkeypatch.setenv("GDLN_CLAIMS_DIR", str(tmp_path))
    ch = Chapter("alpha", "quick", 3, "cpu", replicas=2, show=False, threads=None)
    fig, ax = style.figure(3, 1, width=12.0)
    fig.set_size_inches(12.0, 3.0)
    n_texts = len(fig.texts)
    ch.stamp(fig, "fig-alpha-x")
    assert len(fig.texts) == n_texts                            # no footer drawn in the figure
    assert fig.get_size_inches()[0] == style.COLUMN_WIDTH_IN     # and it is made legible
    text = ch.prov.caption()
    assert text.startswith("Made by chapter alpha in quick mode, seeds 3,4, on cpu, with gdln ")
