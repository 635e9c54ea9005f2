"""gdln.figures: the one RSA and route-output panel, colours from the style module, the lazy explorer."""

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
    assert all(matplotlib.colors.to_hex(f.get_edgecolor()) == style.ROLE["untrained"].lower() for f in frames)
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
