"""The book's panels that are more than a line plot, one implementation of each.

Routing data and trained routes (Fig. 4c-d), the representational similarity matrix (Fig. 4g / 6c,
:func:`plot_similarity`), the output of every route (Fig. 4h / 6d, :func:`plot_route_outputs`),
P-sharing schemes (Fig. 5a) and accuracy sweeps (Figs. 7-10). Colours and colour maps come only from
:mod:`gdln.figures.style`.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.patches import Rectangle

from gdln.engines.routenet import SweepResult, mean_se
from gdln.figures.style import (CMAP_CATEGORICAL, CMAP_DIVERGING, CMAP_MASK, CMAP_OUTPUT, CMAP_SIMILARITY,
                                 CMAP_TARGETS, PALETTE, ROLE, categorical_colour)
from gdln.theory.sharing import block_size, n_pathways, sharing_assignment

__all__ = ["plot_sweep", "FEATURES", "draw_dataset", "draw_trained_routes", "block_size_ok", "plot_sharing_scheme",
    "plot_similarity", "plot_route_outputs", "UNTRAINED_FRAME"]


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
    ax_x.set_yticks(range(X.shape[0]), [str(i + 1) for i in range(X.shape[0])])
    ax_x.figure.colorbar(im, ax=ax_x, shrink=0.8)
    im = ax_y.imshow(Y, cmap=CMAP_TARGETS, vmin=0)
    ax_y.set_title("targets y (hierarchy)")
    ax_y.set_yticks(range(Y.shape[0]), FEATURES[:Y.shape[0]])
    ax_y.set_xlabel("item")
    ax_y.figure.colorbar(im, ax=ax_y, shrink=0.8, label="feature value")
    for ax, n in ((ax_x, X.shape[1]), (ax_y, Y.shape[1])):
        ax.set_xticks(range(n), [str(i + 1) for i in range(n)])


def draw_trained_routes(ax, trained):
    """Fig. 4d: which routes (input domain i -> output domain j) are trained."""
    T = _np(trained).astype(float)
    M = T.shape[0]
    ax.imshow(T, cmap=CMAP_MASK, vmin=0, vmax=1.3)
    for i in range(M):
        for j in range(M):
            ax.text(j, i, "T" if T[i, j] else "·", ha="center", va="center", fontsize=8,
                    color=PALETTE["white"] if T[i, j] else PALETTE["grey"])
    ax.set_xticks(range(M), [str(j + 1) for j in range(M)])
    ax.set_yticks(range(M), [str(i + 1) for i in range(M)])
    ax.set_xlabel("output domain j")
    ax.set_ylabel("input domain i")
    ax.set_title("trained routes (T)")


def block_size_ok(M: int, P: int) -> bool:
    """Whether ``P`` is an allowed block sharing level for ``M`` (no exception)."""
    try:
        block_size(M, P)
        return True
    except ValueError:
        return False


def plot_sharing_scheme(ax, M: int, P: int, *, title: str | None = None) -> None:
    """Fig. 5a as a route table: row = input domain, column = output domain, colour = hidden pathway.

    Each block of ``P`` routes (outlined in black) flows through one hidden weight matrix; the colours,
    Okabe-Ito, tell neighbouring blocks apart.
    """
    from matplotlib.colors import to_rgb
    a = sharing_assignment(M, P).numpy()
    H = n_pathways(M, P)
    s = block_size(M, P)
    # pathway (bi, bj) of the block grid gets colour bi + 2 bj: blocks that touch (side or corner) differ
    nb = M // s
    bi, bj = a // nb, a % nb
    colours = np.array([to_rgb(categorical_colour(int(k))) for k in range(len(CMAP_CATEGORICAL.colors))])
    ax.imshow(colours[(bi + 2 * bj) % len(colours)] if H > 1 else np.ones((M, M, 3)) * 0.85,
              interpolation="nearest")
    for b in range(0, M + 1, s):
        ax.axhline(b - 0.5, color=PALETTE["black"], lw=1.2)
        ax.axvline(b - 0.5, color=PALETTE["black"], lw=1.2)
    step = 1 if M <= 12 else 2
    ax.set_xticks(range(0, M, step), [str(k + 1) for k in range(0, M, step)])
    ax.set_yticks(range(0, M, step), [str(k + 1) for k in range(0, M, step)])
    ax.set_xlabel("output domain j")
    ax.set_ylabel("input domain i")
    ax.set_title(title or f"P = {P}: {H} hidden pathway{'s' if H > 1 else ''}")


def plot_similarity(ax, S, M: int, n: int, *, title: str = "", colorbar: bool = False):
    """A representational similarity matrix (Fig. 4g / 6c): ``S`` is ``(M n) x (M n)``, domain-major
    (``n`` items per input domain), with the domain blocks outlined. Returns the image (for a shared
    colour bar); ``colorbar=True`` adds one to ``ax``."""
    S = _np(S)
    im = ax.imshow(S, cmap=CMAP_SIMILARITY, vmin=-1, vmax=1, interpolation="nearest")
    for k in range(1, M):
        ax.axhline(k * n - 0.5, color=PALETTE["black"], lw=0.4)
        ax.axvline(k * n - 0.5, color=PALETTE["black"], lw=0.4)
    ticks = [k * n + (n - 1) / 2 for k in range(M)]
    ax.set_xticks(ticks, [str(k + 1) for k in range(M)])
    ax.set_yticks(ticks, [str(k + 1) for k in range(M)])
    ax.set_xlabel(f"input domain ({n} items each)")
    ax.set_ylabel(f"input domain ({n} items each)")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label="cosine similarity")
    return im


#: How an untrained route's block is framed in :func:`plot_route_outputs`: black and dashed, so that it
#: stands out on both ends of the diverging colour map.
UNTRAINED_FRAME = {"ec": PALETTE["black"], "ls": (0, (3, 2)), "lw": 1.3}


def plot_route_outputs(ax, outputs, trained, *, title: str = "", vmax: float | None = None,
                       colorbar: bool = False):
    """The network output of every route (Fig. 4h / 6d) as an ``M x M`` mosaic of blocks.

    ``outputs``: ``(M, M, N_y, n)``, ``[i, j]`` = route input domain ``i`` -> output domain ``j``;
    block ``(i, j)`` shows it with the ``n`` items as rows and the ``N_y`` features as columns.
    ``trained``: ``(M, M)`` booleans; untrained routes are framed by a black dashed line (:data:`UNTRAINED_FRAME`:
    no colour of the diverging map).
    The colour scale is symmetric, ``[-vmax, vmax]`` (default: the largest absolute output). Returns
    the image (for a shared colour bar); ``colorbar=True`` adds one to ``ax``.
    """
    O, T = _np(outputs), _np(trained)
    M, _, ny, n = O.shape
    mosaic = np.full((M * (n + 1) - 1, M * (ny + 1) - 1), np.nan)
    for i in range(M):
        for j in range(M):
            mosaic[i * (n + 1):i * (n + 1) + n, j * (ny + 1):j * (ny + 1) + ny] = O[i, j].T
    vmax = float(np.nanmax(np.abs(mosaic))) if vmax is None else float(vmax)
    im = ax.imshow(mosaic, cmap=CMAP_OUTPUT, vmin=-vmax, vmax=vmax, interpolation="nearest")
    for i in range(M):
        for j in range(M):
            if not T[i, j]:
                ax.add_patch(Rectangle((j * (ny + 1) - 0.5, i * (n + 1) - 0.5), ny, n, fill=False,
                                       **UNTRAINED_FRAME))
    ax.set_xticks([j * (ny + 1) + (ny - 1) / 2 for j in range(M)], [str(j + 1) for j in range(M)])
    ax.set_yticks([i * (n + 1) + (n - 1) / 2 for i in range(M)], [str(i + 1) for i in range(M)])
    ax.set_xlabel(f"output domain j ({ny} features each)")
    ax.set_ylabel(f"input domain i ({n} items each)")
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label="output value")
    return im
