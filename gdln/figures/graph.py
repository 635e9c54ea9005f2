"""Drawing an architecture graph (Fig. 2): nodes as boxes with sizes, edges as arrows, one edge
highlighted, the paths P(e) through it, and the split of one path into s̄(p, e) and t̄(p, e)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from gdln.core.graph import Graph, Path
from gdln.figures.style import GRAPH, PALETTE
from gdln.tasks.xor import xor_data, xor_graph

__all__ = ["draw_xor_gdln", "graph_layout", "draw_graph"]


def draw_xor_gdln(ax) -> None:
    """Draw the four-pathway GDLN of Fig. 3b with :func:`gdln.graph_plot.draw_graph` and label each
    hidden node with the one example on which its gate is on (red: ``y = +1``, blue: ``y = -1``)."""
    graph = xor_graph(1)
    draw_graph(graph, ax, edge_labels=False)
    pos = graph_layout(graph)
    x, y = xor_data()
    for k in range(4):
        px, py = pos[f"h{k + 1}"]
        xs = x[k].tolist()
        ax.text(px, py - 0.28, f"gate on: x=[{xs[0]:+.0f},{xs[1]:+.0f}], y={y[k, 0]:+.0f}", ha="center", va="top",
                fontsize=7, zorder=8, color=PALETTE["red"] if y[k, 0] > 0 else PALETTE["blue"],
                bbox=dict(boxstyle="round,pad=0.1", fc=PALETTE["white"], ec="none", alpha=0.85))

BOX_W, BOX_H = 0.52, 0.36


def graph_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Node positions: x = longest distance from an input (outputs in the last column), nodes of a
    column spread evenly in y in declaration order."""
    depth = graph.depth()
    last = max(depth.values())
    for v in graph.outputs:
        depth[v] = last
    cols: dict[int, list[str]] = {}
    for v in graph.nodes:
        cols.setdefault(depth[v], []).append(v)
    pos = {}
    for x, vs in cols.items():
        for i, v in enumerate(vs):
            pos[v] = (1.3 * x, (len(vs) - 1) / 2 - i)
    return pos


def _rads(graph: Graph, pos) -> dict[str, float]:
    """Arc curvature per edge: parallel edges fan out, edges that jump columns bend around boxes."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e, st in graph.edges.items():
        groups.setdefault(st, []).append(e)
    rad = {}
    for (s, t), es in groups.items():
        jump = abs(pos[t][0] - pos[s][0]) > 1.31  # skips a column: bend away from the middle
        side = -1.0 if (pos[s][1] + pos[t][1]) / 2 >= 0 else 1.0
        base = side * 0.3 if jump else 0.0
        for i, e in enumerate(es):
            rad[e] = base + (0.0 if len(es) == 1 else 0.3 * (i - (len(es) - 1) / 2))
    return rad


def _arrow(ax, pos, s, t, rad, color, lw, z, style="-|>"):
    a = FancyArrowPatch(pos[s], pos[t], connectionstyle=f"arc3,rad={rad}", arrowstyle=style,
                        mutation_scale=12, color=color, lw=lw, zorder=z, shrinkA=22, shrinkB=22)
    ax.add_patch(a)
    return a


def draw_graph(graph: Graph, ax=None, *, highlight: str | None = None, paths: Sequence[Path] = (),
               split: Path | None = None, title: str | None = None, edge_labels: bool = True):
    """Draw ``graph`` on ``ax`` (a new figure if None) and return the axes.

    highlight: an edge ``e`` drawn thick in orange (Fig. 2b). paths: paths drawn as thin coloured
    lines through the node centres (e.g. ``graph.paths_through(e)``, the set P(e)). split: one path
    ``p`` through ``highlight``, whose parts ``s̄(p, e)`` (blue) and ``t̄(p, e)`` (green) are drawn
    over its edges.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    pos = graph_layout(graph)
    rad = _rads(graph, pos)
    ax.set_aspect("equal")
    ax.axis("off")
    grey = PALETTE["grey"]
    for e, (s, t) in graph.edges.items():
        _arrow(ax, pos, s, t, rad[e], grey, 1.2, 1)
        if edge_labels:
            (x0, y0), (x1, y1) = pos[s], pos[t]
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            # the arc3 midpoint is offset perpendicular to the chord by rad * |chord| / 2
            dx, dy = x1 - x0, y1 - y0
            mx, my = mx + rad[e] * dy / 2, my - rad[e] * dx / 2
            ax.text(mx, my, e, fontsize=7, ha="center", va="center", color=GRAPH["label"], zorder=5,
                    bbox=dict(boxstyle="round,pad=0.1", fc=PALETTE["white"], ec="none", alpha=0.8))
    handles = []
    cyc = [PALETTE[k] for k in ("purple", "sky", "yellow", "red", "black", "blue")]
    for i, p in enumerate(paths):
        nodes = graph.path_nodes(p)
        off = 0.07 * (i - (len(paths) - 1) / 2)
        xs = [pos[v][0] for v in nodes]
        ys = [pos[v][1] + off for v in nodes]
        c = cyc[i % len(cyc)]
        ax.plot(xs, ys, color=c, lw=2.2, alpha=0.55, zorder=2, solid_capstyle="round")
        handles.append(Line2D([], [], color=c, lw=2.2, alpha=0.7, label=f"path {p.name}"))
    if highlight is not None:
        s, t = graph.edges[highlight]
        _arrow(ax, pos, s, t, rad[highlight], PALETTE["orange"], 3.2, 4)
        handles.insert(0, Line2D([], [], color=PALETTE["orange"], lw=3.2, label=f"edge e = {highlight}"))
    if split is not None:
        if highlight is None:
            raise ValueError("split needs highlight=<edge> to know where to split the path")
        s_bar, t_bar = graph.split(split, highlight)
        for part, col in ((s_bar, PALETTE["blue"]), (t_bar, PALETTE["green"])):
            for e in part.edges:
                a, b = graph.edges[e]
                _arrow(ax, pos, a, b, rad[e], col, 3.2, 4)
        handles += [Line2D([], [], color=PALETTE["blue"], lw=3.2, label=f"s̄(p,e) = {s_bar.name}"),
                    Line2D([], [], color=PALETTE["green"], lw=3.2, label=f"t̄(p,e) = {t_bar.name}")]
    for v, (x, y) in pos.items():
        role = "input" if v in graph.inputs else "output" if v in graph.outputs else "hidden"
        fc = GRAPH[role]
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.02", fc=fc, ec=GRAPH["box"], lw=1.0, zorder=6))
        ax.text(x, y, f"{v}\n|{v}|={graph.nodes[v]}", ha="center", va="center", fontsize=7.5, zorder=7)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.75, max(ys) + 0.75)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5)
    if title:
        ax.set_title(title)
    return ax
