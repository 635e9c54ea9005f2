"""The routing task of Sec. 4 (Fig. 4a-d) and its P-sharing variants (Sec. 4.2, Fig. 5a), as data.

``M`` input domains and ``M`` output domains share one small data set: four items with a
7-dimensional hierarchical target (root, two branches, four leaves; Fig. 4c), inputs random
orthonormal item vectors. A *route* ``(i, j)`` maps input domain ``i`` to output domain ``j``; only
``K`` routes per input (and per output) domain are trained (Fig. 4d, :func:`trained_routes`).

- :func:`hierarchical_dataset`, :func:`routing_task` / :class:`RoutingTask`: the data and the
  trained-route pattern; :func:`task_modes`: their mode decomposition ``U S V_i^T``, ``D`` (Eqs. 7-8).
- :func:`pathway_gates`, :func:`sharing_gates`, :func:`combined_gates`, :func:`block_task`: gates of
  the P-sharing schemes and of the combined network (Sec. 4.2) for :mod:`gdln.engines.routing`.
- :func:`routing_graph`, :func:`routing_gated_data`: the same task as a core GDLN (``Graph`` +
  ``GatedData``), so that the general Eqs. 5-10 apply; :func:`path_route` and
  :func:`predicted_path_statistics`: each path's route and its path statistics in closed form
  (Eqs. 11-12, ``Sigma^yx(p) = T_ij/(KM) U S V_i^T``, ``Sigma^x(p, p) = T_ij/(KM) V_i D V_i^T``).
- :func:`shared_branch_task`: the pathway-counting example of Sec. 3.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from gdln.core.graph import Graph, Path
from gdln.core.network import GatedData
from gdln.theory.sharing import n_pathways, sharing_assignment
from gdln.util.device import resolve_device
from gdln.util.random import haar_orthonormal

__all__ = ["sharing_gates", "block_task", "combined_gates", "DEFAULT_MAGNITUDES", "hierarchical_dataset",
    "trained_routes", "trained_route_masks", "RoutingTask", "routing_task", "TaskModes", "task_modes",
    "pathway_gates", "routing_graph", "path_route", "predicted_path_statistics", "routing_gated_data",
    "shared_branch_task"]

# ----------------------------------------------------------------------------------------------
# trained P-sharing networks on the routing engine
# ----------------------------------------------------------------------------------------------
#
# A P-sharing network (all routes trained, K = M) is M**2/P pathways that share no weight: pathway
# (a, b) owns the input blocks of its s = sqrt(P) input domains, its hidden matrix and the output
# blocks of its s output domains. Its loss is the mean over all M**2 routes, i.e. the mean over
# pathways of each pathway's mean over its own P routes. Hence the gradient on pathway (a, b) is
# P/M**2 times the gradient of a stand-alone "block network" (s input and s output domains, one
# hidden pathway, all s**2 routes trained), and training the P-sharing network with step lr is
# *exactly* training M**2/P independent block networks with step lr * P/M**2. We use that identity
# to run the pathways as extra replicas of the routing engine's one-pathway network (fast, batched);
# ``tests/test_sharing.py`` checks it against the engine's gated many-pathway network.

def sharing_gates(M: int, P: int, *, dtype=torch.float32) -> torch.Tensor:
    """One-hot gates ``(M, M, M**2/P)`` of the P-sharing scheme for :mod:`gdln.engines.routing` (Fig. 5a)."""
    return pathway_gates(sharing_assignment(M, P), n_pathways(M, P), dtype=dtype)


def block_task(P: int, *, seed: int = 0, dtype=torch.float32):
    """The stand-alone block network's task: ``s = sqrt(P)`` domains, all ``s**2`` routes trained."""
    s = math.isqrt(int(P))
    if s * s != P:
        raise ValueError(f"P={P!r} is invalid; expected a perfect square")
    return routing_task(s, s, seed=seed, dtype=dtype)


def combined_gates(M: int, *, dtype=torch.float32) -> torch.Tensor:
    """Gates ``(M, M, 1 + M**2)``: every route uses the shared pathway 0 AND its private pathway
    ``1 + i M + j`` at once (the "combined network" of Sec. 4.2: P = M**2 and P = 1 side by side)."""
    G = torch.zeros(M, M, 1 + M * M, dtype=dtype)
    G[:, :, 0] = 1
    idx = torch.arange(M * M).view(M, M)
    G.view(M * M, -1)[torch.arange(M * M), 1 + idx.flatten()] = 1
    return G

# ----------------------------------------------------------------------------------------------
# Data (Fig. 4c) and trained routes (Fig. 4d)
# ----------------------------------------------------------------------------------------------

#: Feature magnitudes (root, branch, leaf) of the authors' notebook (root 6, branch 4, leaf 3).
DEFAULT_MAGNITUDES: tuple[float, float, float] = (6.0, 4.0, 3.0)


def hierarchical_dataset(seed: int = 0, *, n_x: int = 4,
                         magnitudes: Sequence[float] = DEFAULT_MAGNITUDES,
                         dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """The small hierarchical data set of Fig. 4c: ``(X, Y)`` with items as columns.

    ``Y`` is ``7 x 4``: row 0 the root feature (all four items), rows 1-2 the branch features
    (items {0,1} and {2,3}), rows 3-6 the leaf features (one item each), scaled by ``magnitudes``.
    ``X`` is ``n_x x 4`` with random orthonormal columns ("inputs are random orthogonal vectors for
    each item"), drawn with ``seed``. ``n_x >= 4`` is required for the columns to be orthonormal.
    """
    if not isinstance(n_x, int) or n_x < 4:
        raise ValueError(f"n_x={n_x!r} is invalid; expected an integer >= 4 (four orthonormal items)")
    if len(magnitudes) != 3 or any(float(m) <= 0 for m in magnitudes):
        raise ValueError(f"magnitudes={tuple(magnitudes)!r} is invalid; expected three positive numbers")
    r, b, l = (float(m) for m in magnitudes)
    Y = torch.zeros(7, 4, dtype=torch.float64)
    Y[0] = r
    Y[1, :2] = b
    Y[2, 2:] = b
    Y[3:] = l * torch.eye(4, dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    X = haar_orthonormal(n_x, 4, generator=g)
    return X.to(dtype), Y.to(dtype)


def trained_routes(M: int, K: int, seed: int = 0) -> Tensor:
    """The ``M x M`` boolean pattern of trained routes (Fig. 4d), ``[i, j]`` = route i -> j trained.

    As in the authors' MNIST/CIFAR code: input ``i`` is trained with outputs ``(i + k) mod M`` for ``k < K``,
    then the output columns are shuffled with a permutation drawn from ``seed``. (Their Fig. 4 and Fig. 6
    notebooks train the unshuffled band ``(i + o) mod M``, ``o = -1, 0, 1, 2``: the same pattern with other
    column labels, :func:`gdln.tasks.readings.band_routes`.) Every input and every
    output domain has exactly ``K`` trained partners; for ``K < M`` some routes are never trained.
    """
    if isinstance(M, bool) or not isinstance(M, int) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a positive integer (number of domains)")
    if isinstance(K, bool) or not isinstance(K, int) or not 0 <= K <= M:
        raise ValueError(f"K={K!r} is invalid; expected an integer with 0 <= K <= M={M} (K = 0: no trained route)")
    i = torch.arange(M).unsqueeze(1)
    j = torch.arange(M).unsqueeze(0)
    base = ((j - i) % M) < K
    perm = torch.randperm(M, generator=torch.Generator().manual_seed(int(seed)))
    return base[:, perm]


def trained_route_masks(M: int, Ks: Sequence[int], seeds: Sequence[int]) -> Tensor:
    """Stack of trained-route patterns, shape ``(len(Ks), M, M)``, one per (K, seed) pair."""
    if len(Ks) != len(seeds):
        raise ValueError(f"Ks and seeds must have the same length, got {len(Ks)} and {len(seeds)}")
    return torch.stack([trained_routes(M, int(k), int(s)) for k, s in zip(Ks, seeds)])


@dataclass(frozen=True)
class RoutingTask:
    """One routing task: per-domain inputs, per-domain targets, the trained-route pattern.

    ``X``: ``(M, N_x, n)`` input domain ``i`` shows item ``mu`` as ``X[i, :, mu]``.
    ``Y``: ``(M, N_y, n)`` output domain ``j`` wants ``Y[j, :, mu]``.
    ``trained``: ``(M, M)`` or ``(R, M, M)`` boolean, ``[.., i, j]`` = route ``(i, j)`` trained.
    """

    X: Tensor
    Y: Tensor
    trained: Tensor

    @property
    def M(self) -> int:
        return self.X.shape[0]

    @property
    def n_x(self) -> int:
        return self.X.shape[1]

    @property
    def n_y(self) -> int:
        return self.Y.shape[1]

    @property
    def n(self) -> int:
        return self.X.shape[2]

    def to(self, device=None, dtype=None) -> "RoutingTask":
        return RoutingTask(self.X.to(device=device, dtype=dtype), self.Y.to(device=device, dtype=dtype),
                           self.trained.to(device=device))

    def with_trained(self, trained: Tensor) -> "RoutingTask":
        return RoutingTask(self.X, self.Y, trained.to(device=self.X.device, dtype=torch.bool))


def routing_task(M: int, K: int, *, seed: int = 0, n_x: int = 4,
                 magnitudes: Sequence[float] = DEFAULT_MAGNITUDES, domain_inputs: str = "shared",
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> RoutingTask:
    """The routing task of Fig. 4 with ``M`` domains and ``K`` trained outputs per input domain.

    ``domain_inputs="shared"``: every input domain presents the same orthonormal item vectors (the
    paper's "the target input-output mapping ... is the same for all pathways"; the authors' notebook
    uses the identity for every domain). ``"independent"``: each input domain draws its own random
    orthonormal item vectors (seeded), so that domains share no input coordinates at all.
    Targets are the same for all output domains. ``seed`` draws the inputs and the route pattern.
    """
    if domain_inputs not in ("shared", "independent"):
        raise ValueError(f"domain_inputs={domain_inputs!r} is invalid; expected 'shared' or 'independent'")
    X0, Y0 = hierarchical_dataset(seed, n_x=n_x, magnitudes=magnitudes)
    if domain_inputs == "shared":
        X = X0.unsqueeze(0).repeat(M, 1, 1)
    else:
        g = torch.Generator().manual_seed(int(seed) + 7919)
        X = torch.stack([haar_orthonormal(n_x, 4, generator=g) for _ in range(M)])
    Y = Y0.unsqueeze(0).repeat(M, 1, 1)
    dev = resolve_device(device)
    return RoutingTask(X.to(dtype=dtype, device=dev), Y.to(dtype=dtype, device=dev),
                       trained_routes(M, K, seed).to(dev))


@dataclass(frozen=True)
class TaskModes:
    """Singular value decomposition of one route's statistics (Eqs. 7-8, Eq. 11 without 1/KM).

    ``Sigma^yx = <y x^T>_items = U diag(s) V_i^T`` and ``V_i^T <x x^T> V_i = diag(d)``; ``U``: (N_y, r),
    ``V``: (M, N_x, r) (one per input domain), ``s``, ``d``: (r,), ``y_power = <||y||^2>_items``.
    """

    U: Tensor
    s: Tensor
    V: Tensor
    d: Tensor
    y_power: float


def task_modes(task: RoutingTask, *, atol: float = 1e-9) -> TaskModes:
    """Mode decomposition of the routing data (Eqs. 7-8); requires shared targets and orthonormal items.

    Raises ``ValueError`` if the output domains have different targets or if the inputs of a domain
    are not orthonormal items (then the statistics are not mutually diagonalisable as assumed).
    """
    X, Y = task.X.double().cpu(), task.Y.double().cpu()
    if not torch.allclose(Y, Y[:1].expand_as(Y), atol=atol):
        raise ValueError("task_modes needs the same targets Y in every output domain")
    n = task.n
    gram = X.transpose(1, 2) @ X
    if not torch.allclose(gram, torch.eye(n, dtype=gram.dtype).expand_as(gram), atol=1e-7):
        raise ValueError("task_modes needs orthonormal item vectors in every input domain")
    U, sy, Qt = torch.linalg.svd(Y[0], full_matrices=False)  # Y = U diag(sy) Q^T in item space
    keep = sy > atol * max(1.0, float(sy.max()))
    U, sy, Q = U[:, keep], sy[keep], Qt[keep].T
    V = X @ Q  # (M, N_x, r): V_i = X_i Q
    s = sy / n
    d = torch.full_like(s, 1.0 / n)
    y_power = float((Y[0] ** 2).sum() / n)
    return TaskModes(U=U, s=s, V=V, d=d, y_power=y_power)


# ----------------------------------------------------------------------------------------------
# Weights and gates
# ----------------------------------------------------------------------------------------------

def pathway_gates(pathway: Tensor | Sequence[Sequence[int]], H: int | None = None, *,
                  dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """One-hot gates ``G[..., i, j, h] = 1[pathway[..., i, j] == h]`` from an integer assignment.

    ``pathway``: ``(M, M)`` or ``(R, M, M)`` integers in ``[0, H)``; ``H`` defaults to ``max + 1``.
    """
    p = torch.as_tensor(pathway, device=device)
    if p.dtype.is_floating_point or p.dim() not in (2, 3) or p.shape[-1] != p.shape[-2]:
        raise ValueError(f"pathway must be an integer (M, M) or (R, M, M) tensor, got {tuple(p.shape)} {p.dtype}")
    H = int(p.max()) + 1 if H is None else int(H)
    if int(p.min()) < 0 or int(p.max()) >= H:
        raise ValueError(f"pathway entries must lie in [0, H={H}), got range [{int(p.min())}, {int(p.max())}]")
    return torch.nn.functional.one_hot(p.long(), H).to(dtype)


# ----------------------------------------------------------------------------------------------
# The same task in the core GDLN formalism (Graph + GatedData), so Eqs. 5-10 apply
# ----------------------------------------------------------------------------------------------

def routing_graph(M: int, n_x: int, n_h: int, n_y: int):
    """The architecture graph of Fig. 4a-b: nodes ``x{i}``, ``h1``, ``h2``, ``y{j}``; edges
    ``W1_{i}: x{i} -> h1``, ``W2: h1 -> h2``, ``W3_{j}: h2 -> y{j}``. M^2 input-output paths."""

    nodes = {f"x{i}": n_x for i in range(M)}
    nodes.update({"h1": n_h, "h2": n_h})
    nodes.update({f"y{j}": n_y for j in range(M)})
    edges = {f"W1_{i}": (f"x{i}", "h1") for i in range(M)}
    edges["W2"] = ("h1", "h2")
    edges.update({f"W3_{j}": ("h2", f"y{j}") for j in range(M)})
    return Graph(nodes, edges)


def path_route(path: Path) -> tuple[int, int]:
    """The route ``(i, j)`` (input domain ``i``, output domain ``j``) of a path ``x{i} -> h1 -> h2 -> y{j}``
    of :func:`routing_graph`. Raises ``ValueError`` for a path that does not run from an input to an
    output node of that graph."""
    src, tgt = path.source, path.target
    if not (src[:1] == "x" and src[1:].isdigit() and tgt[:1] == "y" and tgt[1:].isdigit()):
        raise ValueError(f"path {path.name!r} ({src!r} -> {tgt!r}) is not an input-output path of routing_graph "
                         "(expected 'x<i>' -> 'y<j>')")
    return int(src[1:]), int(tgt[1:])


def predicted_path_statistics(task: RoutingTask, paths: Sequence[Path]
                              ) -> tuple[dict[Path, Tensor], dict[tuple[Path, Path], Tensor]]:
    """Eqs. 11-12: the path statistics of :func:`routing_gated_data` on :func:`routing_graph`.

    Returns ``(yx, x)``: ``yx[p] = T_ij / (KM) Sigma^yx_ij`` for the path ``p`` of route ``(i, j)``
    (``Sigma^yx_ij = <y_j x_i^T>_items = U S V_i^T``), and ``x[(j, p)]`` for every pair of paths with
    the same output node: ``T_ij / (KM) <x_i x_i^T>_items`` (``= V_i D V_i^T``) if ``j == p``, else 0,
    since two routes are never active together. ``T`` is the trained pattern, ``KM`` the number of
    trained routes.
    """
    if task.trained.dim() != 2:
        raise ValueError("predicted_path_statistics needs a single (M, M) trained pattern")
    KM = int(task.trained.sum())
    if KM == 0:
        raise ValueError("predicted_path_statistics needs at least one trained route (K >= 1)")
    route = {p: path_route(p) for p in paths}
    yx, x = {}, {}
    for p, (i, j) in route.items():
        w = float(task.trained[i, j]) / KM
        yx[p] = w * (task.Y[j] @ task.X[i].T / task.n)
        for q, (_, jq) in route.items():
            if jq == j:
                x[(q, p)] = (task.X[i] @ task.X[i].T / task.n) * w if q == p else torch.zeros(
                    task.n_x, task.n_x, dtype=task.X.dtype, device=task.X.device)
    return yx, x


def routing_gated_data(task: RoutingTask):
    """The routing data set as a core ``GatedData`` (Sec. 2: gates are part of the data).

    One example per (trained route, item): every input node shows the item (its own domain's
    vector), the edge gate of ``W1_{i}`` is on only for the active input domain and that of
    ``W3_{j}`` only for the active output domain (Fig. 4a-b); inactive output nodes are also gated
    off at the node and have target 0, so Eq. 1 averages exactly as :func:`routing_loss`.
    """

    if task.trained.dim() != 2:
        raise ValueError("routing_gated_data needs a single (M, M) trained pattern")
    M, n = task.M, task.n
    routes = [(i, j) for i in range(M) for j in range(M) if bool(task.trained[i, j])]
    dt, dev = task.X.dtype, task.X.device
    ii = torch.tensor([i for i, _ in routes for _ in range(n)], device=dev)
    jj = torch.tensor([j for _, j in routes for _ in range(n)], device=dev)
    mu = torch.tensor([k for _ in routes for k in range(n)], device=dev)
    x = {f"x{i}": task.X[i][:, mu].T.contiguous() for i in range(M)}
    y, node_gates, edge_gates = {}, {}, {}
    for j in range(M):
        on = (jj == j).to(dt)
        y[f"y{j}"] = task.Y[j][:, mu].T * on.unsqueeze(1)
        node_gates[f"y{j}"] = on
        edge_gates[f"W3_{j}"] = on
    for i in range(M):
        edge_gates[f"W1_{i}"] = (ii == i).to(dt)
    return GatedData(x=x, y=y, node_gates=node_gates, edge_gates=edge_gates)


def shared_branch_task(P: int, *, shared: bool = True, seed: int = 0, strengths=(3.0, 2.0, 1.0)):
    """A pathway-counting example (Sec. 3.1): ``P`` input branches ``x_k`` to one output ``y``.

    ``shared=True``: edges ``in{k}: x{k} -> h`` and one shared ``out: h -> y`` (on all ``P`` paths).
    ``shared=False``: every branch has its own hidden node ``h{k}`` and edge ``out{k}: h{k} -> y``.
    Three orthonormal items (seeded) with targets ``diag(strengths)``; an example on branch ``k`` gates
    on ``in{k}`` only. Returns ``(Graph, GatedData)`` in float64.
    """

    if not isinstance(P, int) or P < 1:
        raise ValueError(f"P={P!r} is invalid; expected a positive integer (number of branches)")
    F64 = torch.float64
    X = haar_orthonormal(3, 3, generator=torch.Generator().manual_seed(int(seed)))
    Y = torch.diag(torch.tensor([float(v) for v in strengths], dtype=F64))
    nodes = {f"x{k}": 3 for k in range(P)}
    nodes.update({"h": 5} if shared else {f"h{k}": 5 for k in range(P)})
    nodes["y"] = 3
    edges = {f"in{k}": (f"x{k}", "h" if shared else f"h{k}") for k in range(P)}
    edges.update({"out": ("h", "y")} if shared else {f"out{k}": (f"h{k}", "y") for k in range(P)})
    k_of = torch.arange(P).repeat_interleave(3)
    mu = torch.arange(3).repeat(P)
    x = {f"x{k}": X[:, mu].T.contiguous() for k in range(P)}
    gates = {f"in{k}": (k_of == k).to(F64) for k in range(P)}
    return Graph(nodes, edges), GatedData(x=x, y={"y": Y[:, mu].T.contiguous()}, node_gates={}, edge_gates=gates)
