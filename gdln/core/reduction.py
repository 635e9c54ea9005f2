"""Exact reduction from decoupled initial conditions (Sec. 3.1, Eqs. 7-10, App. B).

If the path statistics are mutually diagonalisable (Eqs. 7-8),

``Sigma^yx(p) = U_{t(p)} S(p) V_{s(p)}^T``,   ``Sigma^x(j, p) = V_{s(j)} D(j, p) V_{s(p)}^T``,

with one orthogonal ``U_v`` per output node, one ``V_v`` per input node and diagonal ``S, D``, then
weights of the form ``W_e = R_{t(e)} B_e R_{s(e)}^T`` (Eq. 9; ``R = U`` at outputs, ``R = V`` at
inputs, any orthonormal ``R`` at hidden nodes) with diagonal ``B_e`` stay of that form, and

``tau dB_e/dt = sum_{p in P(e)} B_{p minus e} [S(p) - sum_{j in T(t(p))} B_j D(j, p)]``   (Eq. 10)

with ``B_{p minus e} = B_{t̄(p,e)} B_{s̄(p,e)}``: one scalar ODE per edge and singular mode.

Conventions here. Modes are matched *by index* across nodes: column ``k`` of every ``R_v`` is mode
``k``. ``B_e`` is the diagonal of a ``|t(e)| x |s(e)|`` matrix, stored as a vector of length
``r_e = min(|t(e)|, |s(e)|)`` (with optional leading replica axes); ``S(p)`` and ``D(j, p)`` are
vectors of length ``min`` of the two sizes. Internally everything is zero-padded to
``r = max_v |v|`` modes; a mode ``k >= r_e`` does not exist on edge ``e`` and is held at zero, so
nodes larger than the modes that reach them simply carry unused (padded) directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from gdln.core.graph import Graph, Path
from gdln.core.integrate import check_times, gd_schedule, ode_samples
from gdln.core.network import GatedData, Weights
from gdln.core.statistics import PathStatistics
from gdln.util.random import haar_orthonormal

__all__ = ["Diagonalization", "edge_modes", "diagonalize", "node_bases",
    "decoupled_init", "modes_of", "reduced_rhs", "reduced_loss", "ReducedTrajectory", "integrate_reduced",
    "diagonalizable_data"]


@dataclass
class Diagonalization:
    """Eqs. 7-8: U (output node -> ``|v| x |v|`` orthogonal), V (input node -> orthogonal), S (path ->
    diagonal of S(p) as a vector), D (``(j, p)`` -> diagonal of D(j, p)), c0 = ``1/2 sum_v <||y_v||^2>``
    (``None`` if the statistics did not carry it), r = number of padded modes ``max_v |v|``."""

    U: dict[str, Tensor]
    V: dict[str, Tensor]
    S: dict[Path, Tensor]
    D: dict[tuple[Path, Path], Tensor]
    c0: Tensor | None
    r: int
    paths: tuple[Path, ...] = ()


def edge_modes(graph: Graph, e: str) -> int:
    """``r_e = min(|t(e)|, |s(e)|)``: the number of diagonal entries of ``B_e``."""
    return min(graph.shape(e))


# --------------------------------------------------------------------------- Eqs. 7-8
def _sym(graph: Graph, stats: PathStatistics, v: str, coef) -> Tensor:
    """A generic positive combination of the symmetric matrices that share node v's basis."""
    n = graph.nodes[v]
    A = torch.zeros(n, n, dtype=torch.float64)
    for p in stats.paths:
        m = stats.yx[p].double()
        if v == p.source:
            A += coef() * m.T @ m
        if v == p.target:
            A += coef() * m @ m.T
    for (j, p), m in stats.x.items():
        m = m.double()
        if v == j.source:
            A += coef() * m @ m.T
        if v == p.source:
            A += coef() * m.T @ m
    return A


def _couplings(graph: Graph, stats: PathStatistics, scale: float) -> list[tuple[str, str, Tensor]]:
    """(a, b, M) with ``basis_b[:, k] ∝ M basis_a[:, k]`` under Eqs. 7-8 (zero matrices, e.g. the
    Sigma^x of two paths that are never active together, couple nothing and are left out)."""
    out = []
    tiny = 1e-12 * scale
    for p in stats.paths:
        m = stats.yx[p].double()
        if m.abs().max() > tiny:
            out += [(p.source, p.target, m), (p.target, p.source, m.T)]
    for (j, p), m in stats.x.items():
        if j.source != p.source and m.abs().max() > tiny:
            m = m.double()
            out += [(j.source, p.source, m.T), (p.source, j.source, m)]
    return out


def _eig_desc(A: Tensor) -> Tensor:
    w, Q = torch.linalg.eigh((A + A.T) / 2)
    return Q[:, torch.argsort(w, descending=True)]


def _fill(A: Tensor, cols: list[Tensor | None]) -> Tensor:
    """Complete the known (unit) columns into an n x n basis; unknown columns come from the
    eigenvectors of A restricted to the orthogonal complement of the known ones."""
    n = A.shape[0]
    known = [c for c in cols if c is not None]
    if known:
        K = torch.stack(known, 1)
        P = torch.eye(n, dtype=torch.float64) - K @ K.T
    else:
        P = torch.eye(n, dtype=torch.float64)
    Q = _eig_desc(P @ A @ P + 1e-3 * P)  # the 1e-3 * P keeps complement directions ahead of span(K)
    free = iter(Q[:, : n - len(known)].T)
    return torch.stack([c if c is not None else next(free) for c in cols], 1)


def _try_root(graph: Graph, stats: PathStatistics, roots: Sequence[str], couplings, scale: float,
              seed: int) -> dict[str, Tensor]:
    gen = np.random.default_rng(seed)
    coef = lambda: float(gen.uniform(0.5, 1.5))  # noqa: E731
    terminals = list(graph.inputs) + list(graph.outputs)
    bases: dict[str, Tensor] = {}
    pending_roots = list(roots) + [v for v in terminals if v not in roots]
    while len(bases) < len(terminals):
        progressed = True
        while progressed:
            progressed = False
            for b in terminals:
                if b in bases:
                    continue
                ins = [(a, M) for a, bb, M in couplings if bb == b and a in bases]
                if not ins:
                    continue
                n = graph.nodes[b]
                cols: list[Tensor | None] = []
                for k in range(n):
                    vec = torch.zeros(n, dtype=torch.float64)
                    for a, M in ins:
                        if k < graph.nodes[a]:
                            vec += coef() * (M @ bases[a][:, k])
                    nrm = vec.norm()
                    cols.append(vec / nrm if nrm > 1e-7 * scale else None)
                bases[b] = _fill(_sym(graph, stats, b, coef), cols)
                progressed = True
        root = next((v for v in pending_roots if v not in bases), None)
        if root is None:
            break
        bases[root] = _eig_desc(_sym(graph, stats, root, coef))
    return bases


def _check(graph: Graph, stats: PathStatistics, bases: dict[str, Tensor], tol: float) -> str | None:
    for v, R in bases.items():
        err = (R.T @ R - torch.eye(R.shape[1], dtype=R.dtype)).abs().max().item()
        if err > 1e-7:
            return f"the basis found for node {v!r} is not orthogonal (|R^T R - I| = {err:.2e})"
    for p in stats.paths:
        M = bases[p.target].T @ stats.yx[p].double() @ bases[p.source]
        off = M - _rect_diag(torch.diagonal(M), M.shape)
        if off.abs().max().item() > tol:
            return (f"Sigma^yx({p.name}) is not diagonal in the common bases (largest off-diagonal "
                    f"entry {off.abs().max().item():.2e} > {tol:.2e})")
    for (j, p), m in stats.x.items():
        M = bases[j.source].T @ m.double() @ bases[p.source]
        off = M - _rect_diag(torch.diagonal(M), M.shape)
        if off.abs().max().item() > tol:
            return (f"Sigma^x({j.name}, {p.name}) is not diagonal in the common bases (largest "
                    f"off-diagonal entry {off.abs().max().item():.2e} > {tol:.2e})")
    return None


def _rect_diag(d: Tensor, shape) -> Tensor:
    out = torch.zeros(*d.shape[:-1], *shape, dtype=d.dtype, device=d.device)
    k = d.shape[-1]
    idx = torch.arange(k)
    out[..., idx, idx] = d
    return out


def diagonalize(graph: Graph, stats: PathStatistics, *, atol: float = 1e-9, seed: int = 0) -> Diagonalization:
    """Find ``U_v`` (outputs), ``V_v`` (inputs) and diagonal ``S(p)``, ``D(j, p)`` (Eqs. 7-8).

    Method: a basis for one terminal node from the eigenvectors of a generic combination of the
    symmetric matrices that must share it (e.g. ``Sigma^yx(p)^T Sigma^yx(p)``), then propagated
    mode by mode to the other nodes through ``Sigma^yx`` and cross-input ``Sigma^x`` (column ``k``
    of ``U_t`` is ``Sigma^yx(p) v_k`` normalised, etc.); uncoupled directions are completed
    orthogonally. Every root choice is tried until one verifies. The result is always checked:
    all ``U^T Sigma^yx V`` and ``V^T Sigma^x V`` must be diagonal to ``atol * max(1, max|Sigma|)``,
    otherwise ``ValueError`` names the first statistic that is not.
    """
    stats.validate(graph)
    scale = max([1.0] + [a.abs().max().item() for a in stats.yx.values()]
                + [a.abs().max().item() for a in stats.x.values()])
    tol = atol * scale
    couplings = _couplings(graph, stats, scale)
    terminals = list(graph.inputs) + list(graph.outputs)
    first_err = None
    bases = None
    for root in terminals:
        cand = _try_root(graph, stats, [root], couplings, scale, seed)
        err = _check(graph, stats, cand, tol)
        if err is None:
            bases = cand
            break
        first_err = first_err or err
    if bases is None:
        raise ValueError(f"the path statistics are not mutually diagonalisable (Eqs. 7-8): {first_err}")
    U = {v: bases[v].to(stats.dtype) for v in graph.outputs}
    V = {v: bases[v].to(stats.dtype) for v in graph.inputs}
    S = {p: torch.diagonal(U[p.target].T @ stats.yx[p] @ V[p.source]) for p in stats.paths}
    D = {(j, p): torch.diagonal(V[j.source].T @ m @ V[p.source]) for (j, p), m in stats.x.items()}
    c0 = None if stats.yy is None else 0.5 * sum(stats.yy.values())
    r = max(graph.nodes.values())
    return Diagonalization(U, V, S, D, c0, r, tuple(stats.paths))


# --------------------------------------------------------------------------- Eq. 9
def node_bases(graph: Graph, diag: Diagonalization, *, generator: torch.Generator | None = None,
               hidden: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """The ``R_v`` of Eq. 9: ``U_v`` at outputs, ``V_v`` at inputs, and for hidden nodes the given
    matrices, else a random orthogonal one (with ``generator``), else the identity."""
    dtype = next(iter(diag.U.values())).dtype
    R: dict[str, Tensor] = {}
    for v in graph.nodes:
        if v in diag.U:
            R[v] = diag.U[v]
        elif v in diag.V:
            R[v] = diag.V[v]
        elif hidden is not None and v in hidden:
            R[v] = hidden[v].to(dtype)
        elif generator is not None:
            R[v] = haar_orthonormal(graph.nodes[v], graph.nodes[v], generator=generator, dtype=dtype)
        else:
            R[v] = torch.eye(graph.nodes[v], dtype=dtype)
    return R


def _check_R(graph: Graph, R: dict[str, Tensor]) -> None:
    for v in graph.nodes:
        if v not in R:
            raise ValueError(f"R is missing node {v!r}; Eq. 9 needs an orthonormal R_v for every node")
        need = max(edge_modes(graph, e) for e in graph.in_edges(v) + graph.out_edges(v))
        Rv = R[v]
        if Rv.ndim != 2 or Rv.shape[0] != graph.nodes[v] or Rv.shape[1] < need:
            raise ValueError(f"R[{v!r}] has shape {tuple(Rv.shape)}; expected ({graph.nodes[v]}, c) with "
                             f"c >= {need} orthonormal columns")
        err = (Rv.T @ Rv - torch.eye(Rv.shape[1], dtype=Rv.dtype)).abs().max().item()
        if err > 1e-8:
            raise ValueError(f"R[{v!r}] does not have orthonormal columns (|R^T R - I| = {err:.2e})")


def _check_B(graph: Graph, B: dict[str, Tensor], name: str = "B") -> dict[str, Tensor]:
    extra = [e for e in B if e not in graph.edges]
    if extra:
        raise ValueError(f"{name} given for unknown edge {extra[0]!r}; edges are {list(graph.edges)}")
    out = {}
    for e in graph.edges:
        if e not in B:
            raise ValueError(f"{name} is missing edge {e!r}")
        b = B[e] if isinstance(B[e], Tensor) else torch.as_tensor(B[e], dtype=torch.float64)
        r_e = edge_modes(graph, e)
        if b.ndim == 0:
            b = b.expand(r_e)
        if b.shape[-1] != r_e:
            raise ValueError(f"{name}[{e!r}] has shape {tuple(b.shape)}; expected (..., {r_e}): the "
                             f"diagonal of the {graph.shape(e)[0]} x {graph.shape(e)[1]} matrix B_e")
        out[e] = b
    return out


def decoupled_init(graph: Graph, R: dict[str, Tensor], B0: dict[str, Tensor | float]) -> Weights:
    """Eq. 9: ``W_e = R_{t(e)} B_e R_{s(e)}^T`` with diagonal ``B_e`` given as vectors of length
    ``r_e`` (or scalars: the same value for every mode); leading replica axes allowed.

    ``R`` must hold a matrix with orthonormal columns for every node (``U``/``V`` at outputs/inputs
    for the reduction to apply, see :func:`node_bases`)."""
    _check_R(graph, R)
    B = _check_B(graph, B0, "B0")
    W: Weights = {}
    for e in graph.edges:
        s, t = graph.edges[e]
        r_e = edge_modes(graph, e)
        b = B[e].to(R[t].dtype)
        W[e] = (R[t][:, :r_e] * b[..., None, :]) @ R[s][:, :r_e].T
    return W


def modes_of(graph: Graph, R: dict[str, Tensor], W: Weights) -> tuple[dict[str, Tensor], Tensor]:
    """Project weights on the bases: ``B_e = diag(R_t^T W_e R_s)`` (length ``r_e``) and the largest
    off-diagonal magnitude of any ``R_t^T W_e R_s`` (zero for decoupled weights), per replica."""
    B: dict[str, Tensor] = {}
    off = None
    for e in graph.edges:
        s, t = graph.edges[e]
        M = R[t].T @ W[e] @ R[s]
        d = torch.diagonal(M, 0, -2, -1)
        r_e = edge_modes(graph, e)
        B[e] = d[..., :r_e]
        o = (M - _rect_diag(d, M.shape[-2:])).abs().amax((-2, -1))
        off = o if off is None else torch.maximum(off, o)
    return B, off


# --------------------------------------------------------------------------- Eq. 10
def _pad(b: Tensor, r: int) -> Tensor:
    return torch.nn.functional.pad(b, (0, r - b.shape[-1]))


@dataclass
class _Compiled:
    """Index tables that turn Eq. 10 into a few gathers and scatter-adds over (path, edge) pairs."""

    edges: tuple[str, ...]
    r: int
    path_idx: Tensor     # (P, L) edge indices of each path, padded with the index of a row of ones
    S: Tensor            # (P, r) padded S(p)
    jj: Tensor           # (Q,) pairs (j, p) with t(j) = t(p)
    pp: Tensor
    D: Tensor            # (Q, r) padded D(j, p)
    q_path: Tensor       # (N,) the (p, e) pairs with e in p
    q_edge: Tensor
    other_idx: Tensor    # (N, L) edges of p other than e (B_{p minus e})
    mask: Tensor         # (E, r) mode k exists on edge e


def _compiled(graph: Graph, diag: Diagonalization) -> _Compiled:
    key = ("compiled", id(graph))
    cache = diag.__dict__.setdefault("_cache", {})
    if key in cache:
        return cache[key]
    edges = tuple(graph.edges)
    ei = {e: i for i, e in enumerate(edges)}
    one = len(edges)
    paths = list(diag.paths)
    pi = {p: i for i, p in enumerate(paths)}
    L = max(len(p) for p in paths)
    r = diag.r
    dtype = next(iter(diag.S.values())).dtype
    pad = lambda v: torch.nn.functional.pad(v.to(dtype), (0, r - v.shape[-1]))  # noqa: E731
    path_idx = torch.full((len(paths), L), one, dtype=torch.long)
    for i, p in enumerate(paths):
        path_idx[i, : len(p)] = torch.tensor([ei[e] for e in p.edges])
    pairs = list(diag.D)
    q_path, q_edge, other = [], [], []
    for e in edges:
        for p, _s, _t in graph.splits(e):
            q_path.append(pi[p]); q_edge.append(ei[e])
            row = [ei[f] for f in p.edges if f != e]
            other.append(row + [one] * (L - len(row)))
    mask = torch.zeros(len(edges), r, dtype=dtype)
    for e in edges:
        mask[ei[e], : edge_modes(graph, e)] = 1
    comp = _Compiled(edges, r, path_idx, torch.stack([pad(diag.S[p]) for p in paths]),
                     torch.tensor([pi[j] for j, _ in pairs], dtype=torch.long),
                     torch.tensor([pi[p] for _, p in pairs], dtype=torch.long),
                     torch.stack([pad(diag.D[k]) for k in pairs]),
                     torch.tensor(q_path, dtype=torch.long), torch.tensor(q_edge, dtype=torch.long),
                     torch.tensor(other, dtype=torch.long).reshape(len(q_path), L), mask)
    cache[key] = comp
    return comp


def _stack(graph: Graph, comp: _Compiled, B: dict[str, Tensor]) -> Tensor:
    """B as one padded tensor (..., E, r)."""
    rep = torch.broadcast_shapes(*[b.shape[:-1] for b in B.values()])
    dtype = comp.S.dtype
    return torch.stack([torch.nn.functional.pad(B[e].to(dtype), (0, comp.r - B[e].shape[-1])).expand(*rep, comp.r)
                        for e in comp.edges], -2)


def _unstack(graph: Graph, comp: _Compiled, Bs: Tensor) -> dict[str, Tensor]:
    return {e: Bs[..., i, : edge_modes(graph, e)] for i, e in enumerate(comp.edges)}


def _path_products(comp: _Compiled, Bs: Tensor) -> tuple[Tensor, Tensor]:
    Bx = torch.cat([Bs, torch.ones_like(Bs[..., :1, :])], -2)
    return Bx, Bx[..., comp.path_idx, :].prod(-2)                       # (..., P, r): B_p


def _rhs_stacked(comp: _Compiled, Bs: Tensor) -> Tensor:
    Bx, Bp = _path_products(comp, Bs)
    inner = torch.zeros_like(Bp).index_add_(-2, comp.pp, Bp[..., comp.jj, :] * comp.D)
    E = comp.S - inner                                                   # S(p) - sum_j B_j D(j,p)
    terms = Bx[..., comp.other_idx, :].prod(-2) * E[..., comp.q_path, :]  # B_{p minus e} E(p)
    out = torch.zeros_like(Bs).index_add_(-2, comp.q_edge, terms)
    return out * comp.mask


def _loss_stacked(comp: _Compiled, Bs: Tensor, c0) -> Tensor:
    _, Bp = _path_products(comp, Bs)
    total = -(Bp * comp.S).sum((-2, -1))
    total = total + 0.5 * (Bp[..., comp.jj, :] * Bp[..., comp.pp, :] * comp.D).sum((-2, -1))
    return total if c0 is None else total + c0


def reduced_rhs(graph: Graph, diag: Diagonalization, B: dict[str, Tensor]) -> dict[str, Tensor]:
    """Eq. 10: ``tau dB_e/dt`` for every edge, for diagonal ``B`` stored as vectors (length ``r_e``)."""
    B = _check_B(graph, B)
    comp = _compiled(graph, diag)
    return _unstack(graph, comp, _rhs_stacked(comp, _stack(graph, comp, B)))


def reduced_loss(graph: Graph, diag: Diagonalization, B: dict[str, Tensor], *,
                 include_constant: bool = True) -> Tensor:
    """Eq. 1 in the reduced variables (exact for ``W = R B R^T``):

    ``L = c0 - sum_p sum_k B_p[k] S_k(p) + 1/2 sum_v sum_{j,p in T(v)} sum_k B_j[k] B_p[k] D_k(j,p)``,

    ``c0 = 1/2 sum_v <||y_v||^2>`` (left out if ``include_constant=False`` or unknown)."""
    B = _check_B(graph, B)
    comp = _compiled(graph, diag)
    return _loss_stacked(comp, _stack(graph, comp, B), diag.c0 if include_constant else None)


@dataclass
class ReducedTrajectory:
    """Reduced dynamics sampled at ``t`` (units of tau): B: edge -> ``(T, *replicas, r_e)``;
    loss: ``(T, *replicas)`` (Eq. 1 via :func:`reduced_loss`)."""

    t: Tensor
    B: dict[str, Tensor]
    loss: Tensor


def integrate_reduced(graph: Graph, diag: Diagonalization, B0: dict[str, Tensor | float], *,
                      tau: float = 1.0, t_eval, method: str = "ode", dt: float | None = None,
                      rtol: float = 1e-10, atol: float = 1e-12, solver: str = "DOP853") -> ReducedTrajectory:
    """Integrate Eq. 10 from ``B0`` (vectors of length ``r_e`` or scalars; replica axes allowed).

    method="ode": :func:`gdln.core.integrate.ode_samples` (scipy) in float64; method="gd": Euler steps ``dt``
    (units of tau), landing exactly on the sample times, as in :func:`gdln.core.dynamics.train`.
    """

    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"tau must be a positive number, got {tau!r}")
    if method not in ("gd", "ode"):
        raise ValueError(f"method must be 'gd' or 'ode', got {method!r}")
    times = check_times(t_eval)
    B = _check_B(graph, B0, "B0")
    if method == "ode":
        diag = _cast(diag, torch.float64)
    comp = _compiled(graph, diag)
    Bs = _stack(graph, comp, B).clone()
    samples: list[Tensor] = []
    if method == "gd":
        for steps in gd_schedule(times, dt):
            for h in steps:
                Bs = Bs + (h / tau) * _rhs_stacked(comp, Bs)
            samples.append(Bs)
    else:
        shape = Bs.shape

        def fun(_t: float, y: np.ndarray) -> np.ndarray:
            return (_rhs_stacked(comp, torch.from_numpy(y).reshape(shape)) / tau).reshape(-1).numpy()

        ys = ode_samples(fun, Bs.reshape(-1).numpy(), times, solver=solver, rtol=rtol, atol=atol)
        samples = [torch.from_numpy(np.array(y)).reshape(shape) for y in ys]
    traj = torch.stack(samples)
    losses = _loss_stacked(comp, traj, diag.c0)
    return ReducedTrajectory(torch.as_tensor(times, dtype=torch.float64), _unstack(graph, comp, traj), losses)


def _cast(diag: Diagonalization, dtype: torch.dtype) -> Diagonalization:
    f = lambda a: a.to(dtype)  # noqa: E731
    return Diagonalization({k: f(a) for k, a in diag.U.items()}, {k: f(a) for k, a in diag.V.items()},
                           {k: f(a) for k, a in diag.S.items()}, {k: f(a) for k, a in diag.D.items()},
                           None if diag.c0 is None else f(torch.as_tensor(diag.c0)), diag.r, diag.paths)


def diagonalizable_data(graph: Graph, n: int, *, generator: torch.Generator, n_modes: int | None = None,
                        p_on: float = 0.7, dtype: torch.dtype = torch.float64):
    """A gated data set whose path statistics are mutually diagonalisable (Eqs. 7-8) for *any*
    gating: example ``i`` lives in one mode ``k_i``, ``x_{v,i} = a_{v,i} V_v[:, k_i]`` on every input
    node and ``y_{v,i} = b_{v,i} U_v[:, k_i]`` on every output node, with random orthogonal ``U, V``,
    amplitudes ``a > 0``, ``b`` of strength ``m - k`` for mode ``k`` (times ``1 + 0.2 N(0, 1)`` and a
    random sign per output node and mode) and random binary node/edge gates (on with ``p_on``).

    Returns ``(data, U, V)``. ``n_modes`` defaults to the smallest input/output size.
    """

    terminals = list(graph.inputs) + list(graph.outputs)
    kmax = min(graph.nodes[v] for v in terminals)
    m = kmax if n_modes is None else n_modes
    if not (isinstance(m, int) and 1 <= m <= kmax):
        raise ValueError(f"n_modes must be an integer in [1, {kmax}] (the smallest input/output size), got {m!r}")
    if n < m:
        raise ValueError(f"n={n} examples cannot populate n_modes={m} modes")
    k = torch.arange(n) % m
    U = {v: haar_orthonormal(graph.nodes[v], graph.nodes[v], generator=generator, dtype=dtype) for v in graph.outputs}
    V = {v: haar_orthonormal(graph.nodes[v], graph.nodes[v], generator=generator, dtype=dtype) for v in graph.inputs}
    x = {v: (0.5 + torch.rand(n, generator=generator, dtype=dtype))[:, None] * V[v][:, k].T for v in graph.inputs}
    strength = torch.arange(m, 0, -1, dtype=dtype)  # mode 0 strongest: distinct singular values
    y = {}
    for v in graph.outputs:
        sign = torch.where(torch.rand(m, generator=generator, dtype=dtype) < 0.2, -1.0, 1.0).to(dtype)
        b = (sign * strength)[k] * (1 + 0.2 * torch.randn(n, generator=generator, dtype=dtype))
        y[v] = b[:, None] * U[v][:, k].T
    gate = lambda: (torch.rand(n, generator=generator, dtype=dtype) < p_on).to(dtype)  # noqa: E731
    ng = {v: gate() for v in graph.nodes if v not in graph.inputs}
    eg = {e: gate() for e in graph.edges}
    return GatedData(x, y, ng, eg), U, V
