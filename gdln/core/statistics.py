"""Path statistics: the only data quantities the gradient flow sees (Eqs. 5-6).

For input-to-output paths ``j, p`` of the graph,

- ``Sigma^yx(p)   = < g_p y_{t(p)} x_{s(p)}^T >``          (Eq. 5, shape ``|t(p)| x |s(p)|``)
- ``Sigma^x(j, p) = < g_j x_{s(j)} x_{s(p)}^T g_p >``       (Eq. 6, shape ``|s(j)| x |s(p)|``)

where ``g_p`` is the product of all gates along ``p``: the edge gates of its edges and the node
gates of its nodes (see :mod:`gdln.core.network` for the convention on input-node gates). Eq. 4 only
uses ``Sigma^x(j, p)`` for ``j`` in ``T(t(p))``, i.e. for pairs of paths that end at the same output
node, so only those pairs are stored. ``yy[v] = < ||y_v||^2 >`` completes the statistics the loss
(Eq. 1) needs: with them, the loss is a function of the weights and these statistics alone
(:func:`loss_from_statistics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from gdln.core.graph import Graph, Path
from gdln.core.network import GatedData, Weights, path_weight
from gdln.util.random import haar_orthonormal

__all__ = ["PathStatistics", "path_gates", "path_statistics", "loss_from_statistics", "same_statistics_data"]


@dataclass
class PathStatistics:
    """Eqs. 5-6 for all input-to-output paths of a graph.

    paths: the paths, in ``graph.paths()`` order; yx: path -> Sigma^yx(p); x: ``(j, p)`` -> Sigma^x(j, p)
    for every pair with ``t(j) = t(p)``; yy: output node -> ``<||y_v||^2>`` (a scalar tensor), or
    ``None`` when unknown (then losses computed from the statistics omit the constant
    ``1/2 sum_v <||y_v||^2>``).
    """

    paths: tuple[Path, ...]
    yx: dict[Path, Tensor]
    x: dict[tuple[Path, Path], Tensor]
    yy: dict[str, Tensor] | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.yx.values())).dtype

    def validate(self, graph: Graph) -> None:
        """Raise ``ValueError`` unless these statistics belong to ``graph`` (paths, keys, shapes)."""
        if tuple(self.paths) != graph.paths():
            raise ValueError(f"statistics paths {[p.name for p in self.paths]} do not match the graph's "
                             f"input-to-output paths {[p.name for p in graph.paths()]}")
        for p in self.paths:
            if p not in self.yx:
                raise ValueError(f"Sigma^yx missing for path {p.name!r}")
            want = (graph.nodes[p.target], graph.nodes[p.source])
            if tuple(self.yx[p].shape[-2:]) != want:
                raise ValueError(f"Sigma^yx({p.name}) has shape {tuple(self.yx[p].shape)}; expected {want}")
            for j in graph.paths_to(p.target):
                if (j, p) not in self.x:
                    raise ValueError(f"Sigma^x missing for the pair ({j.name!r}, {p.name!r})")
                want = (graph.nodes[j.source], graph.nodes[p.source])
                if tuple(self.x[(j, p)].shape[-2:]) != want:
                    raise ValueError(f"Sigma^x({j.name}, {p.name}) has shape {tuple(self.x[(j, p)].shape)}; "
                                     f"expected {want}")

    def to(self, dtype: torch.dtype | None = None, device=None) -> "PathStatistics":
        f = lambda a: a.to(dtype=dtype, device=device)  # noqa: E731
        yy = None if self.yy is None else {v: f(a) for v, a in self.yy.items()}
        return PathStatistics(self.paths, {p: f(a) for p, a in self.yx.items()},
                              {k: f(a) for k, a in self.x.items()}, yy)


def path_gates(graph: Graph, data: GatedData, p: Path) -> Tensor:
    """``g_p`` per example, shape ``(n,)``: the product of the node gates of the nodes of ``p`` and
    the edge gates of its edges (missing gates are 1)."""
    g = torch.ones(data.n, dtype=data.dtype, device=next(iter(data.x.values())).device)
    for v in graph.path_nodes(p):
        if v in data.node_gates:
            g = g * data.node_gates[v]
    for e in p.edges:
        if e in data.edge_gates:
            g = g * data.edge_gates[e]
    return g


def path_statistics(graph: Graph, data: GatedData) -> PathStatistics:
    """Compute Eqs. 5-6 (and ``<||y_v||^2>``) from a gated data set, averaging over its examples."""
    data.validate(graph)
    n = data.n
    paths = graph.paths()
    gates = {p: path_gates(graph, data, p) for p in paths}
    yx = {p: (gates[p][:, None] * data.y[p.target]).T @ data.x[p.source] / n for p in paths}
    x: dict[tuple[Path, Path], Tensor] = {}
    for v in graph.outputs:
        T = graph.paths_to(v)
        for j in T:
            gx = (gates[j][:, None] * data.x[j.source]).T
            for p in T:
                x[(j, p)] = gx @ (gates[p][:, None] * data.x[p.source]) / n
    yy = {v: (data.y[v] ** 2).sum(1).mean() for v in graph.outputs}
    return PathStatistics(paths, yx, x, yy)


def loss_from_statistics(graph: Graph, W: Weights, stats: PathStatistics, *,
                         include_constant: bool = True) -> Tensor:
    """Eq. 1 written with the path statistics only:

    ``L = 1/2 sum_v <||y_v||^2> - sum_p tr(W_p^T Sigma^yx(p)) + 1/2 sum_v sum_{j,p in T(v)}
    tr(W_p^T W_j Sigma^x(j, p))``.

    Equals :func:`gdln.core.network.loss` on the data the statistics came from. Without ``yy`` (or with
    ``include_constant=False``) the constant first term is left out.
    """
    Wp = {p: path_weight(graph, W, p) for p in stats.paths}
    total = 0
    for p in stats.paths:
        total = total - (Wp[p] * stats.yx[p]).sum((-2, -1))
    for (j, p), sx in stats.x.items():
        total = total + 0.5 * ((Wp[j] @ sx) * Wp[p]).sum((-2, -1))
    if include_constant and stats.yy is not None:
        total = total + 0.5 * sum(stats.yy.values())
    return total


def same_statistics_data(data: GatedData, *, generator: torch.Generator) -> GatedData:
    """A *different* data set with exactly the same path statistics (Eqs. 5-6) and ``<||y||^2>``.

    Examples that share one gate pattern (all node and edge gates equal) enter Eqs. 5-6 only
    through the sum of ``z z^T`` over them, where ``z`` stacks all inputs and targets of an
    example. Mixing those examples with a random orthogonal matrix ``Q`` (``Z -> Q Z``) keeps
    ``Z^T Z``, hence every statistic, while changing every input and target vector.
    """
    keys_n = sorted(data.node_gates)
    keys_e = sorted(data.edge_gates)
    pattern = torch.stack([data.node_gates[k] for k in keys_n] + [data.edge_gates[k] for k in keys_e]
                          + [torch.zeros(data.n, dtype=data.dtype)], 1)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(pattern.tolist()):
        groups.setdefault(tuple(row), []).append(i)
    xs = {v: a.clone() for v, a in data.x.items()}
    ys = {v: a.clone() for v, a in data.y.items()}
    for idx in groups.values():
        m = len(idx)
        if m < 2:
            continue
        q = haar_orthonormal(m, m, generator=generator, dtype=data.dtype)
        ii = torch.tensor(idx)
        for d_in, d_out in ((data.x, xs), (data.y, ys)):
            for v, a in d_in.items():
                d_out[v][ii] = q @ a[ii]
    return GatedData(xs, ys, dict(data.node_gates), dict(data.edge_gates))
