"""Panels of Fig. 4 (routing task) that are more than a line plot: data, trained routes, RSA, outputs."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import Rectangle

from .plotting import CMAP_DIVERGING, PALETTE

__all__ = ["draw_dataset", "draw_trained_routes", "draw_rsa", "draw_route_outputs"]

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
