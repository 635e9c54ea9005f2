"""One figure style for the whole book: palette, sizes, labels and the provenance footer.

The palette is Okabe & Ito's colour-blind-safe set. Chapters call :func:`use_style` once, make
their figures with :func:`figure`, and finish each with :func:`stamp`, which writes the
provenance footer (chapter, mode, seeds, gdln version and source hash, wall time) under it.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "CYCLE", "ROLE", "CMAP_DIVERGING", "CMAP_SEQUENTIAL", "CMAP_SIMILARITY", "CMAP_OUTPUT",
           "CMAP_TARGETS", "CMAP_MASK", "CMAP_CATEGORICAL", "GRAPH", "use_style", "figure", "stamp"]

#: Okabe-Ito palette (colour-blind safe), by name.
PALETTE: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#7F7F7F",
    "white": "#FFFFFF",
}
#: The default colour cycle, in the order lines are drawn.
CYCLE: list[str] = [PALETTE[k] for k in ("blue", "orange", "green", "red", "purple", "sky", "black", "yellow")]

#: Roles used across chapters, so that one quantity has one colour everywhere.
ROLE: dict[str, str] = {
    "theory": PALETTE["blue"],
    "decoupled": PALETTE["green"],
    "random": PALETTE["red"],
    "relu": PALETTE["red"],
    "trained": PALETTE["blue"],
    "untrained": PALETTE["orange"],
}

#: Diverging and sequential colour maps that stay readable for colour-blind readers.
CMAP_DIVERGING = "RdBu_r"
CMAP_SEQUENTIAL = "viridis"
#: Colour maps by role: similarity matrices (-1..1) and network outputs (symmetric) are diverging,
#: non-negative targets and the trained-route mask are single-hue, pathway labels categorical.
CMAP_SIMILARITY = CMAP_DIVERGING
CMAP_OUTPUT = CMAP_DIVERGING
CMAP_TARGETS = "Greys"
CMAP_MASK = "Blues"
CMAP_CATEGORICAL = "tab20"

#: Architecture graphs (Fig. 2, Fig. 3b): node fills by role (light tints of blue and green), the node
#: box outline and the edge-name labels.
GRAPH: dict[str, str] = {
    "input": "#dbeaf5",
    "output": "#e3f3ea",
    "hidden": "#f2f2f2",
    "box": "#444444",
    "label": "#333333",
}


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "figure.figsize": (6.4, 4.0),
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=CYCLE),
        "lines.linewidth": 1.8,
        "image.cmap": CMAP_SEQUENTIAL,
        "figure.constrained_layout.use": True,
    })


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None,
           **kwargs: Any):
    """``plt.subplots`` in the book's style, sized by panel count unless given."""
    use_style()
    w = width if width is not None else min(3.3 * ncols + 0.6, 13.0)
    h = height if height is not None else 3.0 * nrows + 0.5
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, **kwargs)


def stamp(fig, provenance, seeds=None) -> None:
    """Write the provenance footer under ``fig`` (small grey text along the bottom edge)."""
    fig.text(0.005, 0.002, provenance.footer(seeds), fontsize=6.5, color=PALETTE["grey"],
             ha="left", va="bottom", family="monospace")
    # leave room for the footer under constrained layout
    try:
        fig.get_layout_engine().set(h_pad=0.12)
    except Exception:  # layout engines differ across matplotlib versions
        fig.subplots_adjust(bottom=0.14)
