"""One figure style for the whole book: palette, colour maps, sizes and legibility.

The palette is Okabe & Ito's colour-blind-safe set; magnitudes use sequential maps, signed values a
diverging one. Chapters make their figures with :func:`figure` and finish each with :func:`legible`
(through :meth:`gdln.book.chapter.Chapter.stamp`, which also puts the provenance in the figure's caption).

Figures are drawn for the book's content column: at most :data:`COLUMN_WIDTH_IN` inches wide (730 CSS
pixels at 96 px per inch; a cell's output area is about 756 px at a 1400 px window), shown as SVG at their own
size, with no text under :data:`MIN_FONT_PT` points (11.3 CSS px).
"""

from __future__ import annotations

from typing import Any

import textwrap

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.text import Text

__all__ = ["PALETTE", "CYCLE", "ROLE", "CMAP_DIVERGING", "CMAP_SEQUENTIAL", "CMAP_SIMILARITY", "CMAP_OUTPUT",
           "CMAP_TARGETS", "CMAP_MASK", "CMAP_CATEGORICAL", "GRAPH", "COLUMN_WIDTH_IN", "MIN_FONT_PT", "PX_PER_IN",
           "use_style", "figure", "legible", "categorical_colour"]

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
#: Categories (e.g. the hidden pathways of Fig. 5a): the Okabe-Ito colours but black, which draws borders.
CMAP_CATEGORICAL = ListedColormap([PALETTE[k] for k in ("blue", "orange", "green", "red", "purple", "sky",
                                                          "yellow")], name="okabe_ito")

#: Architecture graphs (Fig. 2, Fig. 3b): node fills by role (light tints of blue and green), the node
#: box outline and the edge-name labels.
GRAPH: dict[str, str] = {
    "input": "#dbeaf5",
    "output": "#e3f3ea",
    "hidden": "#f2f2f2",
    "box": "#444444",
    "label": "#333333",
}


#: The widest figure, in inches: 730 CSS px, within a cell's output area (about 756 px at a 1400 px window).
COLUMN_WIDTH_IN = 7.6
#: CSS pixels per inch: an SVG figure of w inches is shown w * 96 px wide (when the column is wider).
PX_PER_IN = 96
#: The smallest text in a figure, in points: 8.5 pt = 11.3 CSS px at the size shown.
MIN_FONT_PT = 8.5


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent); in IPython, figures are shown as SVG at their own size."""
    mpl.rcParams.update({
        "figure.dpi": PX_PER_IN,
        "savefig.dpi": 2 * PX_PER_IN,
        "figure.figsize": (6.4, 3.6),
        "font.size": 9.5,
        "axes.titlesize": 9.5,
        "axes.labelsize": 9.5,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": MIN_FONT_PT,
        "legend.title_fontsize": MIN_FONT_PT,
        "legend.frameon": True,            # a light box: a legend over the data stays legible
        "legend.framealpha": 0.8,
        "legend.edgecolor": "none",
        "legend.borderpad": 0.25,
        "legend.labelspacing": 0.25,
        "legend.handlelength": 1.5,
        "legend.handletextpad": 0.4,
        "legend.columnspacing": 0.9,
        "legend.borderaxespad": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=CYCLE),
        "lines.linewidth": 1.8,
        "image.cmap": CMAP_SEQUENTIAL,
        "figure.constrained_layout.use": True,
        "svg.fonttype": "path",
        "svg.hashsalt": "gdln",    # the same figure gives the same SVG (stable ids across runs)
    })
    _svg_inline()


def _svg_inline() -> None:
    """Inline figures as SVG (sharp at any zoom, shown at their size in inches), when running in IPython."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - IPython comes with the book's dependencies
        return
    if get_ipython() is not None:
        set_matplotlib_formats("svg")


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None,
           **kwargs: Any):
    """``plt.subplots`` in the book's style, sized by panel count unless given, never wider than the column."""
    use_style()
    w = width if width is not None else 2.7 * ncols + 0.6
    h = height if height is not None else 2.9 * nrows + 0.4
    return plt.subplots(nrows, ncols, figsize=(min(w, COLUMN_WIDTH_IN), h), squeeze=False, **kwargs)


def legible(fig) -> None:
    """Make ``fig`` legible at the size it is shown: at most :data:`COLUMN_WIDTH_IN` wide (a wider one is narrowed,
    its height reduced by the same factor but never below 0.8 of it, since the text keeps its size) and no text
    under :data:`MIN_FONT_PT` (smaller text is raised to it)."""
    w, h = fig.get_size_inches()
    if w > COLUMN_WIDTH_IN:
        fig.set_size_inches(COLUMN_WIDTH_IN, h * max(0.8, COLUMN_WIDTH_IN / w))
    for ax in fig.axes:  # tick labels made later, at draw time, take the axis' tick settings
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                labels = axis.get_ticklabels(which=which)
                if labels and min(t.get_fontsize() for t in labels) < MIN_FONT_PT:
                    axis.set_tick_params(which=which, labelsize=MIN_FONT_PT)
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < MIN_FONT_PT:
            text.set_fontsize(MIN_FONT_PT)
    w, h = fig.get_size_inches()
    for ax in fig.axes:  # a title or label longer than its panel is wrapped, not run into the next panel
        spec = ax.get_subplotspec()
        if spec is None:
            continue
        grid = spec.get_gridspec()
        for text, length in ((ax.title, 0.9 * w / grid.ncols), (ax.xaxis.label, 0.9 * w / grid.ncols),
                             (ax.yaxis.label, 0.8 * h / grid.nrows)):
            _wrap(text, length)


def _wrap(text: Text, inches: float) -> None:
    """Break ``text`` into lines no longer than ``inches`` (estimated: a character is about 0.55 em wide);
    text with mathematics ($) is left alone, a line break inside it would break the formula."""
    s = text.get_text()
    chars = max(10, int(inches * 72 / (0.55 * text.get_fontsize())))
    if s and "$" not in s and "\n" not in s and len(s) > chars:
        text.set_text(textwrap.fill(s, chars))


def categorical_colour(k: int) -> str:
    """The ``k``-th category's colour (cycling through :data:`CMAP_CATEGORICAL`)."""
    colours = CMAP_CATEGORICAL.colors
    return colours[k % len(colours)]
