"""The gated forward pass and the L2 loss of a GDLN (Sec. 2, Eq. 1).

A data set is a :class:`GatedData`: inputs ``x_v`` for the input nodes, targets ``y_v`` for the
output nodes, and the gating variables -- a node gate ``g_v`` and an edge gate ``g_e`` per example
(scalars). The paper treats the gates as part of the data set (end of Sec. 2); a gate that is not
given is 1.

Forward pass (Sec. 2): input nodes are clamped, ``h_v = x_v``; every other node computes
``h_v = g_v sum_{q: t(q) = v} g_q W_q h_{s(q)}`` in topological order. A node gate given for an
*input* node multiplies its clamped value, ``h_v = g_v x_v`` (the paper's case is ``g_v = 1``); it is
included in the path gate ``g_p`` of every path leaving that node (Eqs. 5-6), so forward pass and
path statistics stay consistent.

Weights are a dict edge -> tensor of shape ``(..., |t(e)|, |s(e)|)``; leading dimensions are replica
axes (seeds x sweep points) and broadcast against each other, so many networks run at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from gdln.core.graph import Graph, Path

__all__ = ["GatedData", "replica_shape", "check_weights", "forward", "loss", "init_weights", "path_weight",
    "random_gated_data"]

Weights = dict[str, Tensor]


@dataclass
class GatedData:
    """A data set with its gating structure (Sec. 2).

    x: input node -> ``(n, |v|)``; y: output node -> ``(n, |v|)``; node_gates: node -> ``(n,)``;
    edge_gates: edge -> ``(n,)``. Missing gates are 1. All tensors share one floating dtype.
    """

    x: dict[str, Tensor]
    y: dict[str, Tensor]
    node_gates: dict[str, Tensor] = field(default_factory=dict)
    edge_gates: dict[str, Tensor] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of examples."""
        return next(iter(self.x.values())).shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.x.values())).dtype

    def validate(self, graph: Graph) -> None:
        """Raise ``ValueError`` naming the offending entry unless this data set fits ``graph``:
        inputs exactly for ``graph.inputs``, targets exactly for ``graph.outputs``, shapes
        ``(n, |v|)`` with one ``n``, gates ``(n,)`` for known nodes/edges, one floating dtype."""
        for name, given, expected in (("x", self.x, graph.inputs), ("y", self.y, graph.outputs)):
            if not isinstance(given, dict):
                raise ValueError(f"data.{name} must be a dict node -> tensor, got {type(given).__name__}")
            extra = [v for v in given if v not in expected]
            if extra:
                kind = "input" if name == "x" else "output"
                raise ValueError(f"data.{name} has an entry for node {extra[0]!r}, which is not an {kind} "
                                 f"node; {kind} nodes are {list(expected)}")
            missing = [v for v in expected if v not in given]
            if missing:
                raise ValueError(f"data.{name} is missing node {missing[0]!r}; expected entries for "
                                 f"{list(expected)}")
        n = None
        dtype = None
        for name, d in (("x", self.x), ("y", self.y)):
            for v, a in d.items():
                if not isinstance(a, Tensor):
                    raise ValueError(f"data.{name}[{v!r}] must be a torch.Tensor, got {type(a).__name__}")
                if not a.is_floating_point():
                    raise ValueError(f"data.{name}[{v!r}] has dtype {a.dtype}; expected a floating dtype")
                if a.ndim != 2 or a.shape[1] != graph.nodes[v]:
                    raise ValueError(f"data.{name}[{v!r}] has shape {tuple(a.shape)}; expected "
                                     f"(n, {graph.nodes[v]}) for node {v!r} of size {graph.nodes[v]}")
                if n is None:
                    n, dtype = a.shape[0], a.dtype
                if a.shape[0] != n:
                    raise ValueError(f"data.{name}[{v!r}] has {a.shape[0]} examples; other entries have {n}")
                if a.dtype != dtype:
                    raise ValueError(f"data.{name}[{v!r}] has dtype {a.dtype}; other entries have {dtype}")
        if n == 0:
            raise ValueError("the data set has no examples (n = 0)")
        for name, gates, known in (("node_gates", self.node_gates, graph.nodes),
                                   ("edge_gates", self.edge_gates, graph.edges)):
            if not isinstance(gates, dict):
                raise ValueError(f"data.{name} must be a dict, got {type(gates).__name__}")
            for k, g in gates.items():
                if k not in known:
                    kind = "node" if name == "node_gates" else "edge"
                    raise ValueError(f"data.{name} has a gate for unknown {kind} {k!r}; known: {list(known)}")
                if not isinstance(g, Tensor):
                    raise ValueError(f"data.{name}[{k!r}] must be a torch.Tensor, got {type(g).__name__}")
                if tuple(g.shape) != (n,):
                    raise ValueError(f"data.{name}[{k!r}] has shape {tuple(g.shape)}; expected ({n},): "
                                     f"one scalar gate per example")
                if g.dtype != dtype:
                    raise ValueError(f"data.{name}[{k!r}] has dtype {g.dtype}; expected {dtype} like x and y")

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "GatedData":
        """A copy with all tensors cast / moved."""
        f = lambda d: {k: v.to(dtype=dtype, device=device) for k, v in d.items()}  # noqa: E731
        return GatedData(f(self.x), f(self.y), f(self.node_gates), f(self.edge_gates))

    def node_gate(self, v: str) -> Tensor | None:
        return self.node_gates.get(v)

    def edge_gate(self, e: str) -> Tensor | None:
        return self.edge_gates.get(e)


def replica_shape(graph: Graph, W: Weights) -> torch.Size:
    """Check ``W`` against ``graph`` (see :func:`check_weights`) and return the broadcast replica shape."""
    return check_weights(graph, W)


def check_weights(graph: Graph, W: Weights) -> torch.Size:
    """Raise ``ValueError`` unless ``W`` has exactly one tensor per edge, of shape
    ``(..., |t(e)|, |s(e)|)`` with broadcastable leading replica axes; return the replica shape."""
    if not isinstance(W, dict):
        raise ValueError(f"weights must be a dict edge -> tensor, got {type(W).__name__}")
    extra = [e for e in W if e not in graph.edges]
    if extra:
        raise ValueError(f"weights given for unknown edge {extra[0]!r}; edges are {list(graph.edges)}")
    missing = [e for e in graph.edges if e not in W]
    if missing:
        raise ValueError(f"weights missing for edge {missing[0]!r}")
    batch: list[torch.Size] = []
    for e, w in W.items():
        if not isinstance(w, Tensor):
            raise ValueError(f"weight {e!r} must be a torch.Tensor, got {type(w).__name__}")
        if w.ndim < 2 or tuple(w.shape[-2:]) != graph.shape(e):
            raise ValueError(f"weight {e!r} has shape {tuple(w.shape)}; expected (..., {graph.shape(e)[0]}, "
                             f"{graph.shape(e)[1]}) = (..., |t(e)|={graph.target(e)!r}, |s(e)|={graph.source(e)!r})")
        batch.append(w.shape[:-2])
    try:
        return torch.broadcast_shapes(*batch)
    except RuntimeError:
        raise ValueError(f"the replica axes of the weights do not broadcast: "
                         f"{ {e: tuple(w.shape[:-2]) for e, w in W.items()} }") from None


def forward(graph: Graph, W: Weights, data: GatedData) -> dict[str, Tensor]:
    """All node activations, ``h_v = g_v sum_{q: t(q)=v} g_q W_q h_{s(q)}`` (Sec. 2).

    Returns node -> ``(..., n, |v|)`` (inputs are returned as given, times their node gate).
    """
    data.validate(graph)
    check_weights(graph, W)
    h: dict[str, Tensor] = {}
    for v in graph.order:
        gv = data.node_gates.get(v)
        if v in graph.inputs:
            hv = data.x[v]
        else:
            hv = 0
            for q in graph.in_edges(v):
                term = h[graph.source(q)] @ W[q].transpose(-1, -2)
                gq = data.edge_gates.get(q)
                if gq is not None:
                    term = gq[:, None] * term
                hv = hv + term
        if gv is not None:
            hv = gv[:, None] * hv
        h[v] = hv
    return h


def loss(graph: Graph, W: Weights, data: GatedData) -> Tensor:
    """Eq. 1: ``L = < 1/2 sum_{v in Out} ||y_v - h_v||^2 >`` averaged over the examples.

    Returns a tensor of the replica shape (a scalar for a single network).
    """
    h = forward(graph, W, data)
    total = 0
    for v in graph.outputs:
        total = total + 0.5 * ((data.y[v] - h[v]) ** 2).sum(-1).mean(-1)
    return total


def init_weights(graph: Graph, scale: float, *, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32, replicas: tuple[int, ...] = ()) -> Weights:
    """Random weights with i.i.d. entries ``N(0, scale^2 / |s(e)|)``, shape ``(*replicas, |t|, |s|)``.

    With ``scale = 1`` this is LeCun-normal (unit-variance pre-activations for unit-variance
    inputs); small ``scale`` is the rich / neural-race regime of Sec. 4.3. Edges are drawn in the
    graph's edge order from ``generator`` (on the generator's device).
    """
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator (every draw is seeded), got {generator!r}")
    if not (isinstance(scale, (int, float)) and scale >= 0):
        raise ValueError(f"scale must be a non-negative number, got {scale!r}")
    replicas = tuple(int(r) for r in replicas)
    if any(r <= 0 for r in replicas):
        raise ValueError(f"replicas must be positive sizes, got {replicas!r}")
    out: Weights = {}
    for e in graph.edges:
        nt, ns = graph.shape(e)
        w = torch.randn(*replicas, nt, ns, generator=generator, dtype=dtype, device=generator.device)
        out[e] = w * (scale / ns ** 0.5)
    return out


def path_weight(graph: Graph, W: Weights, p: Path) -> Tensor:
    """``W_p``: the ordered product of the weights along ``p``, target on the left (Sec. 3).

    The empty path at ``v`` gives the ``|v| x |v|`` identity (in the dtype/device of the weights).
    """
    if not p.edges:
        w0 = next(iter(W.values()))
        return torch.eye(graph.nodes[p.source], dtype=w0.dtype, device=w0.device)
    out = W[p.edges[0]]
    for e in p.edges[1:]:
        out = W[e] @ out
    return out


def random_gated_data(graph: Graph, n: int, *, generator: torch.Generator,
                      dtype: torch.dtype = torch.float64, p_on: float = 0.6,
                      node_gates: bool = True, edge_gates: bool = True,
                      n_patterns: int | None = None) -> GatedData:
    """A random data set for tests and demonstrations: Gaussian inputs, targets and binary gates.

    Every node (hidden and output; input nodes keep the paper's ``g_v = 1``) and every edge gets a
    gate that is on with probability ``p_on`` independently per example, when asked for. With
    ``n_patterns``, only that many gate patterns ("contexts") are drawn and example ``i`` uses
    pattern ``i % n_patterns``.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of examples, got {n!r}")
    if not 0.0 <= p_on <= 1.0:
        raise ValueError(f"p_on must be a probability in [0, 1], got {p_on!r}")
    dev = generator.device
    x = {v: torch.randn(n, graph.nodes[v], generator=generator, dtype=dtype, device=dev) for v in graph.inputs}
    y = {v: torch.randn(n, graph.nodes[v], generator=generator, dtype=dtype, device=dev) for v in graph.outputs}
    if n_patterns is not None and not (isinstance(n_patterns, int) and n_patterns >= 1):
        raise ValueError(f"n_patterns must be a positive integer or None, got {n_patterns!r}")
    m = n if n_patterns is None else n_patterns
    idx = torch.arange(n, device=dev) % m

    def gate() -> Tensor:
        return (torch.rand(m, generator=generator, dtype=dtype, device=dev) < p_on).to(dtype)[idx]

    ng = {v: gate() for v in graph.nodes if v not in graph.inputs} if node_gates else {}
    eg = {e: gate() for e in graph.edges} if edge_gates else {}
    return GatedData(x, y, ng, eg)
