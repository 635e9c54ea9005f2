"""Architecture graphs of gated deep linear networks (Sec. 2, Fig. 2).

A GDLN lives on a directed acyclic graph Gamma with named nodes ``v`` of size ``|v|`` and named
edges ``e`` with source ``s(e)`` and target ``t(e)``. Input nodes are the nodes with only outgoing
edges, output nodes the nodes with only incoming edges (Sec. 2). Parallel edges (two edges with the
same source and target) are allowed, as the paper's ``s, t: E -> V`` permit.

Paths (Sec. 3): a path is a sequence of edges joining a sequence of nodes. ``P(e)`` is the set of
input-to-output paths through ``e`` (:meth:`Graph.paths_through`), ``T(v)`` the set of paths from an
input node that terminate at ``v`` (:meth:`Graph.paths_to`), and ``s̄(p, e)``, ``t̄(p, e)`` the parts
of ``p`` before and after ``e`` (:meth:`Graph.split`, Fig. 2b).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

__all__ = ["Path", "Graph", "chain", "random_graph"]


@dataclass(frozen=True)
class Path:
    """A directed path: its edges in order (source side first), its source and target node.

    ``edges == ()`` is the empty path at a node (``source == target``); its weight ``W_p`` is the
    identity and its gate ``g_p`` is the node gate. Paths are hashable and serve as dictionary keys
    for the path statistics (Eqs. 5-6).
    """

    edges: tuple[str, ...]
    source: str
    target: str

    def __post_init__(self) -> None:
        if not isinstance(self.edges, tuple):
            object.__setattr__(self, "edges", tuple(self.edges))
        if not self.edges and self.source != self.target:
            raise ValueError(f"an empty path must start and end at the same node, got source "
                             f"{self.source!r} and target {self.target!r}")

    def __len__(self) -> int:
        return len(self.edges)

    @property
    def name(self) -> str:
        """A short label: the edge names joined by ``>`` (``[v]`` for the empty path at ``v``)."""
        return ">".join(self.edges) if self.edges else f"[{self.source}]"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.name


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} names must be non-empty strings, got {name!r}")
    return name


class Graph:
    """An architecture graph Gamma (Sec. 2): nodes with sizes, named directed edges.

    Parameters
    ----------
    nodes:
        node name -> number of neurons ``|v|`` (a positive integer).
    edges:
        edge name -> ``(source, target)``; a mapping or an iterable of ``(name, (source, target))``
        pairs (then duplicate names are reported).
    inputs, outputs:
        optionally, the input / output nodes you intend; they are checked against the ones the graph
        implies (nodes with only outgoing / only incoming edges) and a mismatch is a ``ValueError``
        naming the node and the edge that breaks it.

    Raises ``ValueError`` naming the offending value for: an empty graph, a non-string name, a
    non-positive or non-integer size, an edge to or from an unknown node, a self-loop, a duplicate
    edge name, an isolated node (it would be both input and output), and a directed cycle.

    >>> g = Graph({"x": 3, "h": 2, "y": 1}, {"W1": ("x", "h"), "W2": ("h", "y")})
    >>> g.inputs, g.hidden, g.outputs
    (('x',), ('h',), ('y',))
    >>> [p.name for p in g.paths()]
    ['W1>W2']
    """

    def __init__(self, nodes: Mapping[str, int],
                 edges: Mapping[str, tuple[str, str]] | Iterable[tuple[str, tuple[str, str]]], *,
                 inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None):
        if not isinstance(nodes, Mapping):
            raise ValueError(f"nodes must be a mapping name -> size, got {type(nodes).__name__}")
        if len(nodes) == 0:
            raise ValueError("the graph has no nodes; expected at least one input and one output node")
        self.nodes: dict[str, int] = {}
        for v, size in nodes.items():
            _check_name("node", v)
            if isinstance(size, bool) or not hasattr(size, "__index__") or size.__index__() <= 0:
                raise ValueError(f"node {v!r} has size {size!r}; expected a positive integer")
            self.nodes[v] = int(size.__index__())

        pairs = list(edges.items()) if isinstance(edges, Mapping) else list(edges)
        if len(pairs) == 0:
            raise ValueError("the graph has no edges; a GDLN needs at least one edge from an input to "
                             "an output node")
        self.edges: dict[str, tuple[str, str]] = {}
        for item in pairs:
            try:
                e, st = item
            except (TypeError, ValueError):
                raise ValueError(f"edge entries must be (name, (source, target)), got {item!r}") from None
            _check_name("edge", e)
            if e in self.edges:
                raise ValueError(f"duplicate edge name {e!r}; edge names must be unique")
            try:
                s, t = st
            except (TypeError, ValueError):
                raise ValueError(f"edge {e!r} must map to a (source, target) pair, got {st!r}") from None
            for role, v in (("source", s), ("target", t)):
                if v not in self.nodes:
                    raise ValueError(f"edge {e!r} has unknown {role} node {v!r}; known nodes: "
                                     f"{sorted(self.nodes)}")
            if s == t:
                raise ValueError(f"edge {e!r} is a self-loop on node {s!r}; the graph must be acyclic")
            self.edges[e] = (s, t)

        self._in: dict[str, list[str]] = {v: [] for v in self.nodes}
        self._out: dict[str, list[str]] = {v: [] for v in self.nodes}
        for e, (s, t) in self.edges.items():
            self._out[s].append(e)
            self._in[t].append(e)
        isolated = [v for v in self.nodes if not self._in[v] and not self._out[v]]
        if isolated:
            raise ValueError(f"node {isolated[0]!r} has no edges; every node must lie on a path from "
                             f"an input to an output node")
        self.inputs: tuple[str, ...] = tuple(v for v in self.nodes if not self._in[v])
        self.outputs: tuple[str, ...] = tuple(v for v in self.nodes if not self._out[v])
        self.hidden: tuple[str, ...] = tuple(v for v in self.nodes if self._in[v] and self._out[v])
        self.order: tuple[str, ...] = self._topological_order()

        for declared, derived, kind, bad in ((inputs, self.inputs, "input", self._in),
                                             (outputs, self.outputs, "output", self._out)):
            if declared is None:
                continue
            declared = tuple(declared)
            for v in declared:
                if v not in self.nodes:
                    raise ValueError(f"declared {kind} node {v!r} is not a node of the graph")
                if bad[v]:
                    way = "receives" if kind == "input" else "sends"
                    raise ValueError(f"node {v!r} is declared as an {kind} node but {way} edge "
                                     f"{bad[v][0]!r}; {kind} nodes have only "
                                     f"{'outgoing' if kind == 'input' else 'incoming'} edges")
            missing = [v for v in derived if v not in declared]
            if missing:
                raise ValueError(f"node {missing[0]!r} is an {kind} node of the graph (it has only "
                                 f"{'outgoing' if kind == 'input' else 'incoming'} edges) but was "
                                 f"not declared in {kind}s={list(declared)}")

    # ------------------------------------------------------------------ structure
    def _topological_order(self) -> tuple[str, ...]:
        indeg = {v: len(self._in[v]) for v in self.nodes}
        ready = [v for v in self.nodes if indeg[v] == 0]
        order: list[str] = []
        while ready:
            v = ready.pop(0)
            order.append(v)
            for e in self._out[v]:
                t = self.edges[e][1]
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        if len(order) < len(self.nodes):
            stuck = [v for v in self.nodes if v not in order]
            raise ValueError(f"the graph has a directed cycle through node(s) {stuck}; a GDLN "
                             f"architecture graph must be acyclic")
        return tuple(order)

    def source(self, e: str) -> str:
        """``s(e)``: the source node of edge ``e``."""
        return self.edges[self._edge(e)][0]

    def target(self, e: str) -> str:
        """``t(e)``: the target node of edge ``e``."""
        return self.edges[self._edge(e)][1]

    def in_edges(self, v: str) -> tuple[str, ...]:
        """Edges ``q`` with ``t(q) = v`` (the sum in the forward pass of Sec. 2)."""
        return tuple(self._in[self._node(v)])

    def out_edges(self, v: str) -> tuple[str, ...]:
        """Edges ``q`` with ``s(q) = v``."""
        return tuple(self._out[self._node(v)])

    def shape(self, e: str) -> tuple[int, int]:
        """``(|t(e)|, |s(e)|)``: the shape of ``W_e``."""
        s, t = self.edges[self._edge(e)]
        return self.nodes[t], self.nodes[s]

    def _node(self, v: str) -> str:
        if v not in self.nodes:
            raise ValueError(f"unknown node {v!r}; known nodes: {list(self.nodes)}")
        return v

    def _edge(self, e: str) -> str:
        if e not in self.edges:
            raise ValueError(f"unknown edge {e!r}; known edges: {list(self.edges)}")
        return e

    # ------------------------------------------------------------------ paths
    @cached_property
    def _paths_to(self) -> dict[str, tuple[Path, ...]]:
        out: dict[str, tuple[Path, ...]] = {}
        for v in self.order:
            if v in self.inputs:
                out[v] = (Path((), v, v),)
                continue
            acc: list[Path] = []
            for e in self._in[v]:
                for p in out[self.edges[e][0]]:
                    acc.append(Path(p.edges + (e,), p.source, v))
            out[v] = tuple(sorted(acc, key=self._path_key))
        return out

    @cached_property
    def _edge_index(self) -> dict[str, int]:
        return {e: i for i, e in enumerate(self.edges)}

    def _path_key(self, p: Path) -> tuple:
        edge_index = self._edge_index
        return (self.inputs.index(p.source) if p.source in self.inputs else -1,
                tuple(edge_index[e] for e in p.edges))

    def paths_to(self, v: str) -> tuple[Path, ...]:
        """``T(v)``: the paths from an input node terminating at ``v`` (the empty path if ``v`` is
        an input node)."""
        return self._paths_to[self._node(v)]

    @cached_property
    def _paths(self) -> tuple[Path, ...]:
        return tuple(p for v in self.outputs for p in self._paths_to[v])

    def paths(self) -> tuple[Path, ...]:
        """All input-to-output paths, grouped by output node (in ``outputs`` order)."""
        return self._paths

    def paths_through(self, e: str) -> tuple[Path, ...]:
        """``P(e)``: the input-to-output paths that pass through edge ``e`` (Eq. 3)."""
        self._edge(e)
        return tuple(p for p in self._paths if e in p.edges)

    def path(self, edges: Sequence[str]) -> Path:
        """The :class:`Path` along ``edges`` (source side first), checking that they join up."""
        edges = tuple(edges)
        if not edges:
            raise ValueError("use Path((), v, v) for the empty path at node v")
        for e in edges:
            self._edge(e)
        for a, b in zip(edges, edges[1:]):
            if self.edges[a][1] != self.edges[b][0]:
                raise ValueError(f"edges {a!r} -> {b!r} do not join: t({a})={self.edges[a][1]!r} but "
                                 f"s({b})={self.edges[b][0]!r}")
        return Path(edges, self.edges[edges[0]][0], self.edges[edges[-1]][1])

    def path_nodes(self, p: Path) -> tuple[str, ...]:
        """The nodes visited by ``p``, source first."""
        return (p.source,) + tuple(self.edges[e][1] for e in p.edges)

    def split(self, p: Path, e: str) -> tuple[Path, Path]:
        """``(s̄(p, e), t̄(p, e))``: the parts of ``p`` before and after edge ``e`` (Fig. 2b).

        ``s̄`` runs from ``s(p)`` to ``s(e)``, ``t̄`` from ``t(e)`` to ``t(p)``; either may be the
        empty path at a node. ``W_p = W_t̄ W_e W_s̄``.
        """
        self._edge(e)
        if e not in p.edges:
            raise ValueError(f"edge {e!r} is not on path {p.name!r}")
        i = p.edges.index(e)
        s, t = self.edges[e]
        return Path(p.edges[:i], p.source, s), Path(p.edges[i + 1:], t, p.target)

    @cached_property
    def _splits(self) -> dict[str, tuple[tuple[Path, Path, Path], ...]]:
        return {e: tuple((p,) + self.split(p, e) for p in self.paths_through(e)) for e in self.edges}

    def splits(self, e: str) -> tuple[tuple[Path, Path, Path], ...]:
        """``(p, s̄(p, e), t̄(p, e))`` for every ``p`` in ``P(e)`` (cached; the terms of Eq. 3)."""
        return self._splits[self._edge(e)]

    def depth(self) -> dict[str, int]:
        """Longest number of edges from any input node to each node (a layer index for drawing)."""
        d = {v: 0 for v in self.nodes}
        for v in self.order:
            for e in self._out[v]:
                t = self.edges[e][1]
                d[t] = max(d[t], d[v] + 1)
        return d

    def __repr__(self) -> str:
        return f"Graph(nodes={self.nodes!r}, edges={self.edges!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Graph) and self.nodes == other.nodes and self.edges == other.edges

    __hash__ = object.__hash__


def chain(sizes: Sequence[int], *, prefix: str = "W", names: Sequence[str] | None = None) -> Graph:
    """A plain deep linear network as a chain graph ``x -> h1 -> ... -> y`` with edges
    ``W1, W2, ...`` (the DLN of Saxe et al. 2014 is the ungated GDLN on this graph)."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"a chain needs at least two layer sizes, got {sizes!r}")
    if names is None:
        names = ["x"] + [f"h{i}" for i in range(1, len(sizes) - 1)] + ["y"]
    if len(names) != len(sizes):
        raise ValueError(f"names {list(names)!r} must have one entry per size in {sizes!r}")
    nodes = dict(zip(names, sizes))
    if len(nodes) != len(sizes):
        raise ValueError(f"node names must be distinct, got {list(names)!r}")
    edges = {f"{prefix}{i + 1}": (names[i], names[i + 1]) for i in range(len(sizes) - 1)}
    return Graph(nodes, edges)


def random_graph(seed: int, *, n_inputs: int = 2, n_hidden: int = 3, n_outputs: int = 2,
                 p_edge: float = 0.5, sizes: tuple[int, int] = (1, 4), parallel: bool = True) -> Graph:
    """A random architecture graph for tests and demonstrations (seeded, deterministic).

    Nodes ``x0.., h0.., y0..`` are placed in that order; each forward pair (inputs never receive,
    outputs never send) gets an edge with probability ``p_edge``, so skip connections and paths of
    different lengths occur; every node is then connected to make inputs/outputs exactly as named.
    With ``parallel=True`` one parallel edge is added. Sizes are uniform in ``sizes`` (inclusive).
    """
    import random

    if n_inputs < 1 or n_outputs < 1 or n_hidden < 0:
        raise ValueError(f"need n_inputs >= 1, n_outputs >= 1, n_hidden >= 0; got "
                         f"{(n_inputs, n_hidden, n_outputs)}")
    rng = random.Random(seed)
    xs = [f"x{i}" for i in range(n_inputs)]
    hs = [f"h{i}" for i in range(n_hidden)]
    ys = [f"y{i}" for i in range(n_outputs)]
    names = xs + hs + ys
    nodes = {v: rng.randint(*sizes) for v in names}
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a in ys or b in xs:
                continue
            if rng.random() < p_edge:
                pairs.append((a, b))
    has_in = {b for _, b in pairs}
    has_out = {a for a, _ in pairs}
    for i, v in enumerate(names):
        if v not in xs and v not in has_in:  # give it a predecessor
            a = rng.choice([u for u in names[:i] if u not in ys])
            pairs.append((a, v)); has_in.add(v); has_out.add(a)
        if v not in ys and v not in has_out:  # give it a successor
            b = rng.choice([u for u in names[i + 1:] if u not in xs])
            pairs.append((v, b)); has_out.add(v); has_in.add(b)
    if parallel and pairs:
        pairs.append(pairs[rng.randrange(len(pairs))])
    edges = {f"e{k}": st for k, st in enumerate(pairs)}
    return Graph(nodes, edges, inputs=xs, outputs=ys)
