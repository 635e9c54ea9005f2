"""Gradient flow of a GDLN in path form and its integration (Eqs. 2-4, App. B).

``tau dW_e/dt = -dL/dW_e = sum_{p in P(e)} W_{t̄(p,e)}^T E(p) W_{s̄(p,e)}^T``            (Eqs. 2-3)

``E(p) = Sigma^yx(p) - sum_{j in T(t(p))} W_j Sigma^x(j, p)``                              (Eq. 4)

The data enter only through the path statistics (Eqs. 5-6), so :func:`train` accepts either a
:class:`~gdln.core.network.GatedData` or a :class:`~gdln.core.statistics.PathStatistics`. Time is measured in
units of ``tau``: a gradient-descent step of size ``dt`` is ``W <- W + (dt / tau) (-dL/dW)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from gdln.core.graph import Graph, Path
from gdln.core.integrate import check_times, gd_schedule, ode_samples
from gdln.core.network import GatedData, Weights, check_weights, loss
from gdln.core.statistics import PathStatistics, loss_from_statistics, path_statistics

__all__ = ["path_gradient", "autograd_gradient", "gradient_discrepancy", "Trajectory", "train"]


# --------------------------------------------------------------------------- Eqs. 3-4
def _prepared(graph: Graph, stats: PathStatistics) -> dict:
    """Per-output block matrices of the statistics and the (p, s̄, t̄) splits per edge (cached)."""
    key = ("prepared", id(graph))
    if key in stats._cache:
        return stats._cache[key]
    stats.validate(graph)
    outs = {}
    for v in graph.outputs:
        T = graph.paths_to(v)
        sizes = [graph.nodes[p.source] for p in T]
        yx_cat = torch.cat([stats.yx[p] for p in T], -1)                      # |v| x sum|s(p)|
        rows = [torch.cat([stats.x[(j, p)] for p in T], -1) for j in T]
        x_block = torch.cat(rows, -2)                                          # sum|s(j)| x sum|s(p)|
        outs[v] = (T, sizes, yx_cat, x_block)
    splits = {e: graph.splits(e) for e in graph.edges}
    prep = {"outs": outs, "splits": splits}
    stats._cache[key] = prep
    return prep


class _PathWeights:
    """Memoised ``W_p`` for sub-paths (``None`` stands for the identity of an empty path)."""

    def __init__(self, W: Weights):
        self.W = W
        self.cache: dict[tuple[str, ...], Tensor | None] = {(): None}

    def __call__(self, edges: tuple[str, ...]) -> Tensor | None:
        if edges in self.cache:
            return self.cache[edges]
        head = self(edges[:-1])
        w = self.W[edges[-1]]
        out = w if head is None else w @ head
        self.cache[edges] = out
        return out


def path_gradient(graph: Graph, W: Weights, stats: PathStatistics) -> Weights:
    """``-dL/dW_e`` for every edge by Eqs. 3-4 (the right-hand side of ``tau dW/dt``).

    Works with leading replica axes on the weights (the result has the broadcast replica shape).
    """
    rep = check_weights(graph, W)
    prep = _prepared(graph, stats)
    Wp = _PathWeights(W)
    E: dict[Path, Tensor] = {}
    for v, (T, sizes, yx_cat, x_block) in prep["outs"].items():
        ws = [Wp(j.edges) for j in T]
        ws = [torch.eye(graph.nodes[v], dtype=yx_cat.dtype, device=yx_cat.device) if w is None else w
              for w in ws]
        ws = [w.expand(*rep, *w.shape[-2:]) for w in ws]
        w_cat = torch.cat(ws, -1)                                   # (..., |v|, sum|s(j)|)
        e_cat = yx_cat - w_cat @ x_block                            # Eq. 4 for all p in T(v) at once
        for p, blk in zip(T, torch.split(e_cat, sizes, dim=-1)):
            E[p] = blk
    grads: Weights = {}
    for e in graph.edges:
        acc = None
        for p, s_bar, t_bar in prep["splits"][e]:
            term = E[p]
            wt = Wp(t_bar.edges)
            if wt is not None:
                term = wt.transpose(-1, -2) @ term
            ws_ = Wp(s_bar.edges)
            if ws_ is not None:
                term = term @ ws_.transpose(-1, -2)
            acc = term if acc is None else acc + term
        grads[e] = acc.expand(*rep, *acc.shape[-2:])
    return grads


def autograd_gradient(graph: Graph, W: Weights, data: GatedData) -> Weights:
    """``-dL/dW_e`` of the Eq. 1 loss on ``data`` by ``torch.autograd`` (the reference for Eqs. 3-4).

    Replicas are independent networks, so the summed loss gives each replica its own gradient.
    """
    check_weights(graph, W)
    leaves = {e: w.detach().clone().requires_grad_(True) for e, w in W.items()}
    L = loss(graph, leaves, data).sum()
    grads = torch.autograd.grad(L, [leaves[e] for e in graph.edges])
    return {e: -g for e, g in zip(graph.edges, grads)}


def gradient_discrepancy(graph: Graph, W: Weights, data: GatedData) -> float:
    """``max_e max |Eqs. 3-4 gradient - autograd gradient|`` on ``data`` (statistics from Eqs. 5-6)."""
    a = path_gradient(graph, W, path_statistics(graph, data))
    b = autograd_gradient(graph, W, data)
    return max((a[e] - b[e]).abs().max().item() for e in graph.edges)


# --------------------------------------------------------------------------- integration
@dataclass
class Trajectory:
    """A training run sampled at the requested times.

    t: ``(T,)`` times in units of tau; loss: ``(T, *replicas)`` (Eq. 1); weights: edge ->
    ``(T, *replicas, |t(e)|, |s(e)|)`` when recorded, else ``None``; final: the weights at ``t[-1]``.
    """

    t: Tensor
    loss: Tensor
    weights: dict[str, Tensor] | None = None
    final: Weights | None = None


def train(graph: Graph, W0: Weights, data_or_stats: GatedData | PathStatistics, *, tau: float = 1.0,
          t_eval: Sequence[float] | Tensor, method: str = "gd", dt: float | None = None,
          rtol: float = 1e-8, atol: float = 1e-10, record_weights: bool = False,
          gradient: str = "path", solver: str = "DOP853") -> Trajectory:
    """Integrate ``tau dW/dt = -dL/dW`` (Eq. 2) from ``W0`` and sample it at ``t_eval``.

    method="gd": gradient descent ``W <- W + (dt/tau)(-dL/dW)`` (explicit Euler with step ``dt``
    in units of tau; the last step before each sample time is shortened to land on it exactly),
    in the dtype of ``W0``; replica axes allowed.
    method="ode": :func:`gdln.core.integrate.ode_samples` (scipy ``solver``, ``rtol``, ``atol``) on the flattened
    float64 weights (replica axes allowed; they share the adaptive steps).

    gradient="path" uses Eqs. 3-4 on the path statistics (computed from a GatedData if one is
    given); gradient="autograd" differentiates the Eq. 1 loss on the examples of a GatedData and
    never forms the statistics. The loss is Eq. 1 (from the statistics, including the constant
    ``1/2<||y||^2>`` whenever the statistics carry ``yy``).
    """
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"tau must be a positive number, got {tau!r}")
    if method not in ("gd", "ode"):
        raise ValueError(f"method must be 'gd' or 'ode', got {method!r}")
    if gradient not in ("path", "autograd"):
        raise ValueError(f"gradient must be 'path' or 'autograd', got {gradient!r}")
    times = check_times(t_eval)
    rep = check_weights(graph, W0)
    dtype = torch.float64 if method == "ode" else next(iter(W0.values())).dtype
    W = {e: w.detach().to(dtype).expand(*rep, *w.shape[-2:]).clone() for e, w in W0.items()}

    if isinstance(data_or_stats, GatedData):
        data = data_or_stats.to(dtype)
        data.validate(graph)
        stats = path_statistics(graph, data) if gradient == "path" else None
    elif isinstance(data_or_stats, PathStatistics):
        if gradient == "autograd":
            raise ValueError("gradient='autograd' needs a GatedData (the examples), got PathStatistics")
        data, stats = None, data_or_stats.to(dtype)
        stats.validate(graph)
    else:
        raise ValueError(f"data_or_stats must be GatedData or PathStatistics, got {type(data_or_stats).__name__}")

    def rhs(Wc: Weights) -> Weights:
        g = path_gradient(graph, Wc, stats) if stats is not None else autograd_gradient(graph, Wc, data)
        return {e: g[e] / tau for e in graph.edges}

    def loss_of(Wc: Weights) -> Tensor:
        with torch.no_grad():
            return loss_from_statistics(graph, Wc, stats) if stats is not None else loss(graph, Wc, data)

    samples: list[Weights] = []
    if method == "gd":
        for steps in gd_schedule(times, dt):
            for h in steps:
                g = rhs(W)
                W = {e: W[e] + h * g[e] for e in graph.edges}
            samples.append(W)
    else:
        shapes = {e: W[e].shape for e in graph.edges}
        sizes = [W[e].numel() for e in graph.edges]

        def unflat(y: np.ndarray) -> Weights:
            parts = torch.split(torch.from_numpy(np.ascontiguousarray(y)), sizes)
            return {e: part.reshape(shapes[e]) for e, part in zip(graph.edges, parts)}

        def fun(_t: float, y: np.ndarray) -> np.ndarray:
            g = rhs(unflat(y))
            return torch.cat([g[e].reshape(-1) for e in graph.edges]).numpy()

        y0 = torch.cat([W[e].reshape(-1) for e in graph.edges]).numpy()
        ys = ode_samples(fun, y0, times, solver=solver, rtol=rtol, atol=atol)
        samples = [{e: w.clone() for e, w in unflat(y).items()} for y in ys]

    losses = torch.stack([loss_of(s) for s in samples])
    weights = ({e: torch.stack([s[e] for s in samples]) for e in graph.edges} if record_weights else None)
    return Trajectory(torch.as_tensor(times, dtype=torch.float64), losses, weights, samples[-1])
