"""Panels of Fig. 4 (routing task) that are more than a line plot: data, trained routes, RSA, outputs."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import Rectangle

from gdln.engines.routenet import SweepResult, mean_se
from gdln.figures.style import CMAP_DIVERGING, PALETTE, ROLE
from gdln.theory.sharing import block_size, n_pathways, sharing_assignment

__all__ = ["plot_sweep", "FEATURES", "draw_dataset", "draw_trained_routes", "draw_rsa", "draw_route_outputs",
    "block_size_ok", "plot_sharing_scheme", "plot_similarity", "plot_route_outputs"]


def plot_sweep(ax, x, res: SweepResult, *, xlabel: str, title: str = "", logx: bool = False,
               chance: float | None = 0.1) -> None:
    """Trained (blue) and untrained (orange) route accuracy, mean +- standard error over seeds (Figs. 7-10)."""

    x = [float(v) for v in x]
    for name, acc in (("trained routes", res.trained), ("untrained routes (zero-shot)", res.untrained)):
        m, se = mean_se(acc.double(), dim=1)
        ok = ~torch.isnan(m)
        xs = [v for v, k in zip(x, ok.tolist()) if k]
        role = "trained" if name.startswith("trained") else "untrained"
        ax.errorbar(xs, m[ok].tolist(), yerr=se[ok].tolist(), marker="o", ms=4, capsize=3,
                    color=ROLE[role], label=name)
    if chance is not None:
        ax.axhline(chance, color=PALETTE["grey"], ls=":", lw=1, label="chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="best")

FEATURES = ["root", "branch A", "branch B", "leaf 1", "leaf 2", "leaf 3", "leaf 4"]


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def draw_dataset(ax_x, ax_y, X, Y):
    """Fig. 4c: the item inputs ``X`` (N_x x n) and the hierarchical targets ``Y`` (7 x n)."""
    X, Y = _np(X), _np(Y)
    v = np.abs(X).max()
    im = ax_x.imshow(X, cmap=CMAP_DIVERGING, vmin=-v, vmax=v)
    ax_x.set_title("inputs x (one domain)")
    ax_x.set_xlabel("item")
    ax_x.set_ylabel("input unit")
    ax_x.figure.colorbar(im, ax=ax_x, shrink=0.8)
    im = ax_y.imshow(Y, cmap="Greys", vmin=0)
    ax_y.set_title("targets y (hierarchy)")
    ax_y.set_yticks(range(Y.shape[0]), FEATURES[:Y.shape[0]], fontsize=7)
    ax_y.set_xlabel("item")
    ax_y.figure.colorbar(im, ax=ax_y, shrink=0.8, label="feature value")
    for ax, n in ((ax_x, X.shape[1]), (ax_y, Y.shape[1])):
        ax.set_xticks(range(n), [str(i + 1) for i in range(n)])


def draw_trained_routes(ax, trained):
    """Fig. 4d: which routes (input domain i -> output domain j) are trained."""
    T = _np(trained).astype(float)
    M = T.shape[0]
    ax.imshow(T, cmap="Blues", vmin=0, vmax=1.3)
    for i in range(M):
        for j in range(M):
            ax.text(j, i, "T" if T[i, j] else "·", ha="center", va="center", fontsize=8,
                    color="white" if T[i, j] else PALETTE["grey"])
    ax.set_xticks(range(M), [str(j + 1) for j in range(M)])
    ax.set_yticks(range(M), [str(i + 1) for i in range(M)])
    ax.set_xlabel("output domain j")
    ax.set_ylabel("input domain i")
    ax.set_title("trained routes (T)")


def draw_rsa(ax, S, M: int, n: int, *, title: str = "similarity at hidden layer 1"):
    """Fig. 4g: the (M n) x (M n) similarity matrix, domain-major, with domain blocks outlined."""
    S = _np(S)
    im = ax.imshow(S, cmap=CMAP_DIVERGING, vmin=-1, vmax=1)
    for k in range(1, M):
        ax.axhline(k * n - 0.5, color="k", lw=0.4)
        ax.axvline(k * n - 0.5, color="k", lw=0.4)
    ticks = [k * n + (n - 1) / 2 for k in range(M)]
    ax.set_xticks(ticks, [str(k + 1) for k in range(M)])
    ax.set_yticks(ticks, [str(k + 1) for k in range(M)])
    ax.set_xlabel(f"input domain (each block: {n} items)")
    ax.set_ylabel("input domain")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="cosine similarity")


def draw_route_outputs(ax, outputs, trained, *, vmax: float | None = None):
    """Fig. 4h: the network output of every route as an M x M mosaic of N_y x n blocks.

    ``outputs``: (M, M, N_y, n); untrained routes are framed in orange.
    """
    O, T = _np(outputs), _np(trained)
    M, _, ny, n = O.shape
    mosaic = np.full((M * (ny + 1) - 1, M * (n + 1) - 1), np.nan)
    for i in range(M):
        for j in range(M):
            mosaic[i * (ny + 1):i * (ny + 1) + ny, j * (n + 1):j * (n + 1) + n] = O[i, j]
    vmax = float(np.nanmax(np.abs(mosaic))) if vmax is None else vmax
    im = ax.imshow(mosaic, cmap="Greys", vmin=0, vmax=vmax, interpolation="nearest")
    for i in range(M):
        for j in range(M):
            if not T[i, j]:
                ax.add_patch(Rectangle((j * (n + 1) - 0.5, i * (ny + 1) - 0.5), n, ny, fill=False,
                                       ec=PALETTE["orange"], lw=1.6))
    ax.set_xticks([j * (n + 1) + (n - 1) / 2 for j in range(M)], [str(j + 1) for j in range(M)])
    ax.set_yticks([i * (ny + 1) + (ny - 1) / 2 for i in range(M)], [str(i + 1) for i in range(M)])
    ax.set_xlabel("output domain j (block: 4 items x 7 features)")
    ax.set_ylabel("input domain i")
    ax.set_title("outputs of every route (orange: never trained)")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="output value")


def block_size_ok(M: int, P: int) -> bool:
    """Whether ``P`` is an allowed block sharing level for ``M`` (no exception)."""
    try:
        block_size(M, P)
        return True
    except ValueError:
        return False


def plot_sharing_scheme(ax, M: int, P: int, *, title: str | None = None) -> None:
    """Fig. 5a as a route table: row = input domain, column = output domain, colour = hidden pathway.

    Routes with one colour flow through one hidden weight matrix; each colour covers ``P`` routes.
    """
    import matplotlib.pyplot as plt
    a = sharing_assignment(M, P).numpy()
    H = n_pathways(M, P)
    # scramble colours so neighbouring pathways differ
    perm = np.random.default_rng(0).permutation(H)
    ax.imshow(perm[a], cmap=plt.get_cmap("tab20", max(H, 2)) if H > 1 else "Greys", vmin=-0.5,
              vmax=max(H, 2) - 0.5, interpolation="nearest")
    s = int(round(P ** 0.5))
    for b in range(0, M + 1, s):
        ax.axhline(b - 0.5, color="k", lw=1.2)
        ax.axvline(b - 0.5, color="k", lw=1.2)
    ax.set_xticks(range(M))
    ax.set_yticks(range(M))
    ax.tick_params(labelsize=6)
    ax.set_xlabel("output domain j")
    ax.set_ylabel("input domain i")
    ax.set_title(title or f"P = {P}: {H} hidden pathway{'s' if H > 1 else ''}")


def plot_similarity(ax, S, M: int, n: int, *, title: str = "") -> object:
    """A representational similarity matrix ordered domain-major (Fig. 4g / 6c), grid lines between domains."""
    im = ax.imshow(np.asarray(S), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for b in range(0, M * n + 1, n):
        ax.axhline(b - 0.5, color="k", lw=0.4)
        ax.axvline(b - 0.5, color="k", lw=0.4)
    ticks = np.arange(M) * n + (n - 1) / 2
    ax.set_xticks(ticks, [str(i) for i in range(M)], fontsize=6)
    ax.set_yticks(ticks, [str(i) for i in range(M)], fontsize=6)
    ax.set_xlabel("input domain (4 items each)")
    ax.set_ylabel("input domain (4 items each)")
    ax.set_title(title)
    return im


def plot_route_outputs(ax, outputs, trained, *, title: str = "", vmax: float | None = None) -> object:
    """Network outputs for every route (Fig. 4h / 6d): block (i, j) is route i -> j, rows = items,
    columns = the 7 output features; untrained routes are outlined in red."""
    import matplotlib.patches as mpatches
    o = np.asarray(outputs)                  # (M, M, N_y, n)
    M, _, Ny, n = o.shape
    big = o.transpose(0, 3, 1, 2).reshape(M * n, M * Ny)
    vmax = vmax or float(np.abs(big).max())
    im = ax.imshow(big, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest", aspect="auto")
    tr = np.asarray(trained)
    for i in range(M):
        for j in range(M):
            if not tr[i, j]:
                ax.add_patch(mpatches.Rectangle((j * Ny - 0.5, i * n - 0.5), Ny, n, fill=False,
                                                edgecolor="#D55E00", lw=1.0))
    ax.set_xticks(np.arange(M) * Ny + (Ny - 1) / 2, [str(j) for j in range(M)], fontsize=6)
    ax.set_yticks(np.arange(M) * n + (n - 1) / 2, [str(i) for i in range(M)], fontsize=6)
    ax.set_xlabel("output domain j (7 features each)")
    ax.set_ylabel("input domain i (4 items each)")
    ax.set_title(title)
    return im
