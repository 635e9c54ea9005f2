"""The multi-view task of the reader's summary, and what Eq. 10 says about it.

**The task.** ``K`` classes (the summary's ``K``), each carried by ``M`` views: unit vectors
``phi_{y,m}`` in ``R^d``, mutually orthogonal (the summary's assumption A2 at its best: exactly orthogonal).
An example of class ``y`` (probability ``1/K``) shows a set ``A`` of views, drawn from a distribution
over non-empty subsets of ``{0, ..., M-1}`` that is the same for every class, and its input is the
OR-gated sum ``x = sum_{m in A} phi_{y,m}``; the target is the one-hot ``e_y`` (Eq. 1's squared error).
Three view schemes (:func:`view_sets`):

- ``"one"``: every example shows exactly one view, view ``m`` with frequency ``p_m`` (``sum p = 1``);
- ``"or"``: view ``m`` is shown with probability ``p_m``, independently, conditioned on at least one view;
- ``"all"``: every example shows all ``M`` views (the views are fully redundant).

Only two numbers per pair of views enter the dynamics: the frequency ``p_m = P(m in A)`` and the
co-occurrence ``Q_mj = P(m in A and j in A)`` (``Q_mm = p_m``; :func:`cooccurrence`).

**The GDLN.** One pathway per view (the summary's A4: different views drive different neurons): input
node ``v{m}`` holds the coordinates of ``x`` in view ``m``'s frame, ``x_m = Phi_m^T x`` (``= e_y`` when view
``m`` is shown, else 0), a chain of ``depth`` weight layers through hidden nodes of ``n_h`` units, and the
output node ``y`` shared by all pathways; the hidden nodes of pathway ``m`` are gated on when view ``m``
is shown (OR-gating: several views switch on the union of their pathways, A5). By Eqs. 5-6 the
statistics are multiples of the identity (:func:`view_statistics`),

``Sigma^yx(m) = (p_m / K) I_K``,   ``Sigma^x(j, m) = (Q_jm / K) I_K``,

so they are mutually diagonalisable (Eqs. 7-8) with one mode per class, and from decoupled balanced
initial weights (Eq. 9) every pathway's mode ``y`` is a chain of ``D = depth`` equal singular values
``b``. Its strength ``s_{y,m} = b^D`` (the Frobenius norm of the view's effective map, the output for
the view shown alone) obeys Eq. 10 summed over the ``D`` layers:

``tau ds_{y,m}/dt = (D / K) s_{y,m}^(2 - 2/D) (p_m - sum_j Q_mj s_{y,j})``      (:func:`lv_rhs`)

For ``D = 2`` this is exactly a Lotka-Volterra competition equation, with growth rate ``2 p_m / K`` and
an interaction matrix equal to the co-occurrence ``Q``: views compete only through the examples they
share, linearly in ``s`` and not through a common capacity ``s_max``. Its stable state is the
non-negative least-squares solution of ``Q s = p`` (the minimum of Eq. 1 over ``s >= 0``): ``s = 1`` for
every view when views never co-occur (``Q`` diagonal), an interior point for ``"or"``
(:func:`lv_fixed_point`), and the line ``sum_m s_m = 1`` for ``"all"``, where every per-capita rate is
the same and (``D = 2``) the ratios ``s_m/s_j`` are conserved.

**The summary's form** (not in the paper): ``ds_m/dt = sigma_m s_m (1 - sum_j s_j^2 / s_max^2)`` with
``sigma_m = p_m |phi| / K`` (:func:`summary_rhs`, :func:`fit_summary`), and its "initial advantage"
``A_{y,m} = sigma_m s_{y,m}(0)`` (:func:`initial_advantage`).

**Measurements on any network's strengths** ``s (..., K, M)``: :func:`coverage` (participation ratio of
the views per class over ``M``: 1 when every view is equally strong, ``1/M`` when one view carries the
class), :func:`winners`, :func:`learning_times`, :func:`post_race_growth` (a losing view's strength at the
end over its strength when the race was decided: < 1 decays, 1 freezes, > 1 keeps growing).

May import: :mod:`gdln.util`, :mod:`gdln.core`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import least_squares
from torch import Tensor

from gdln.core.graph import Graph
from gdln.core.integrate import check_times, ode_samples
from gdln.core.network import GatedData
from gdln.core.statistics import PathStatistics
from gdln.util.random import haar_orthonormal

__all__ = ["SCHEMES", "view_sets", "check_view_sets", "cooccurrence", "MultiViewTask", "multiview_task",
           "view_graph", "view_path", "view_statistics", "gated_data", "lv_rhs", "integrate_lv", "lv_fixed_point",
           "summary_rhs", "integrate_summary", "SummaryFit", "fit_summary", "initial_advantage", "coverage",
           "winners", "learning_times", "post_race_growth", "shrinking_losers", "falling_views", "random_or_races"]

SCHEMES: tuple[str, ...] = ("one", "or", "all")

ViewSets = tuple[tuple[tuple[int, ...], float], ...]


def _check_int(name: str, v, low: int = 1) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__") or int(v) < low:
        raise ValueError(f"{name}={v!r} is invalid; expected an integer >= {low}")
    return int(v)


def _check_p(p, M: int, scheme: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != (M,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"p={p!r} is invalid for scheme {scheme!r}; expected {M} finite frequencies, one per view")
    return arr


# --------------------------------------------------------------------------- the task
def view_sets(M: int, scheme: str = "one", p: Sequence[float] | None = None) -> ViewSets:
    """The distribution of the set of views an example shows: ``((views, probability), ...)``.

    ``"one"``: ``((m,), p_m)``, ``p`` non-negative and summing to 1 (default ``1/M`` each).
    ``"or"``: every non-empty subset ``A``, with probability ``prod_{m in A} p_m prod_{m not in A} (1 - p_m)``
    divided by ``1 - prod_m (1 - p_m)`` (each view shown independently with probability ``p_m`` in ``(0, 1]``,
    conditioned on at least one view; default 1/2 each).
    ``"all"``: the single set of all views, probability 1 (``p`` must be omitted).
    Subsets of probability 0 are left out.
    """
    M = _check_int("M", M)
    if scheme == "one":
        q = np.full(M, 1.0 / M) if p is None else _check_p(p, M, scheme)
        if np.any(q < 0) or abs(q.sum() - 1) > 1e-9:
            raise ValueError(f"p={list(q)} is invalid for scheme 'one'; expected non-negative frequencies summing to 1")
        return tuple(((m,), float(q[m])) for m in range(M) if q[m] > 0)
    if scheme == "or":
        q = np.full(M, 0.5) if p is None else _check_p(p, M, scheme)
        if np.any(q <= 0) or np.any(q > 1):
            raise ValueError(f"p={list(q)} is invalid for scheme 'or'; expected probabilities in (0, 1]")
        z = 1.0 - float(np.prod(1.0 - q))
        out = []
        for r in range(1, M + 1):
            for A in itertools.combinations(range(M), r):
                w = float(np.prod([q[m] if m in A else 1.0 - q[m] for m in range(M)])) / z
                if w > 0:
                    out.append((A, w))
        return tuple(out)
    if scheme == "all":
        if p is not None:
            raise ValueError(f"p={p!r} is invalid for scheme 'all' (every example shows every view); omit it")
        return ((tuple(range(M)), 1.0),)
    raise ValueError(f"scheme={scheme!r} is invalid; expected one of {SCHEMES}")


def check_view_sets(sets, M: int) -> ViewSets:
    """Validate a distribution over view sets (as :func:`view_sets` returns, or your own) and return it as tuples.

    Each entry is ``(views, probability)``: a non-empty tuple of distinct view indices in ``[0, M)`` and a
    probability ``> 0``; the sets are distinct and the probabilities sum to 1.
    """
    M = _check_int("M", M)
    out, seen = [], set()
    for item in sets:
        try:
            A, w = item
            A = tuple(int(m) for m in A)
            w = float(w)
        except (TypeError, ValueError):
            raise ValueError(f"view set entry {item!r} is invalid; expected (tuple of view indices, probability)") from None
        if not A or len(set(A)) != len(A) or min(A) < 0 or max(A) >= M:
            raise ValueError(f"view set {A!r} is invalid; expected distinct view indices in [0, {M})")
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"the probability {w!r} of view set {A!r} is invalid; expected a number > 0")
        if frozenset(A) in seen:
            raise ValueError(f"view set {A!r} is listed twice")
        seen.add(frozenset(A))
        out.append((tuple(sorted(A)), w))
    if not out:
        raise ValueError("the view sets are empty; expected at least one (views, probability) entry")
    total = sum(w for _, w in out)
    if abs(total - 1) > 1e-9:
        raise ValueError(f"the view-set probabilities sum to {total!r}; expected 1")
    return tuple(out)


def cooccurrence(sets, M: int) -> tuple[np.ndarray, np.ndarray]:
    """``(p, Q)``: the frequency ``p_m = P(m in A)`` of each view and the co-occurrence
    ``Q_mj = P(m in A and j in A)`` (``Q_mm = p_m``), in float64."""
    sets = check_view_sets(sets, M)
    Q = np.zeros((M, M))
    for A, w in sets:
        idx = np.array(A)
        Q[np.ix_(idx, idx)] += w
    return np.diag(Q).copy(), Q


@dataclass(frozen=True)
class MultiViewTask:
    """The multi-view data set: every distinct example once, with its probability.

    ``views (M, K, d)``: ``views[m, y] = phi_{y,m}``; ``x (n, d)``, ``y (n, K)`` one-hot, ``labels (n,)``,
    ``shown (n, M)`` bool (which views example ``i`` shows), ``weight (n,)`` probabilities (sum 1). Examples
    are ordered by class, then by view set in the order of ``sets``. ``p``, ``Q``: :func:`cooccurrence`.
    """

    K: int
    M: int
    sets: ViewSets
    p: np.ndarray
    Q: np.ndarray
    views: Tensor
    x: Tensor
    y: Tensor
    labels: Tensor
    shown: Tensor
    weight: Tensor

    @property
    def d(self) -> int:
        return self.views.shape[-1]

    @property
    def n(self) -> int:
        return self.x.shape[0]

    def probes(self) -> Tensor:
        """Every view on its own, ``(M * K, d)``, row ``m * K + y`` = ``phi_{y,m}`` (for the view strengths)."""
        return self.views.reshape(self.M * self.K, self.d)

    def coordinates(self) -> Tensor:
        """``x_m = Phi_m^T x`` for every example: ``(M, n, K)``, the input of the GDLN's pathway ``m``."""
        return torch.einsum("myd,nd->mny", self.views, self.x)


def multiview_task(K: int, M: int, sets, *, d: int | None = None, generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float64) -> MultiViewTask:
    """The task with ``K`` classes, ``M`` views per class and the view-set distribution ``sets``
    (:func:`view_sets` or your own, checked by :func:`check_view_sets`).

    Views: without ``generator`` the standard basis of ``R^(K M)`` (``phi_{y,m} = e_{m K + y}``); with it, a
    Haar-random orthonormal frame of ``K M`` vectors in ``R^d`` (``d >= K M``, default ``K M``).
    """
    K, M = _check_int("K", K, 2), _check_int("M", M)
    sets = check_view_sets(sets, M)
    n_views = K * M
    if d is None:
        d = n_views
    d = _check_int("d", d)
    if d < n_views:
        raise ValueError(f"d={d} is invalid; K M = {n_views} orthonormal views need d >= {n_views}")
    if generator is None:
        if d != n_views:
            raise ValueError(f"d={d} needs a generator (a random frame); the standard basis has d = K M = {n_views}")
        frame = torch.eye(n_views, dtype=torch.float64)
    else:
        frame = haar_orthonormal(d, n_views, generator=generator).T          # (K M, d) orthonormal rows
    views = frame.reshape(M, K, d)
    p, Q = cooccurrence(sets, M)
    xs, ys, labels, shown, weight = [], [], [], [], []
    for c in range(K):
        for A, w in sets:
            xs.append(views[list(A), c].sum(0))
            ys.append(torch.nn.functional.one_hot(torch.tensor(c), K).to(torch.float64))
            labels.append(c)
            shown.append(torch.tensor([m in A for m in range(M)]))
            weight.append(w / K)
    return MultiViewTask(K, M, sets, p, Q, views.to(dtype), torch.stack(xs).to(dtype), torch.stack(ys).to(dtype),
                         torch.tensor(labels), torch.stack(shown), torch.tensor(weight, dtype=torch.float64))


# --------------------------------------------------------------------------- the GDLN and its statistics
def view_graph(K: int, M: int, n_h: int, depth: int = 2) -> Graph:
    """One pathway per view: ``v{m} -> h{m}_1 -> ... -> h{m}_{depth-1} -> y`` (edges ``W{m}_1 ... W{m}_{depth}``);
    the input nodes hold the view coordinates (``K`` each), the hidden nodes ``n_h`` units, the output ``K``."""
    K, M, n_h = _check_int("K", K, 2), _check_int("M", M), _check_int("n_h", n_h)
    depth = _check_int("depth", depth, 2)
    nodes: dict[str, int] = {f"v{m}": K for m in range(M)}
    edges: dict[str, tuple[str, str]] = {}
    for m in range(M):
        chain = [f"v{m}"] + [f"h{m}_{layer}" for layer in range(1, depth)] + ["y"]
        for layer in range(1, depth):
            nodes[f"h{m}_{layer}"] = n_h
        for k in range(depth):
            edges[f"W{m}_{k + 1}"] = (chain[k], chain[k + 1])
    nodes["y"] = K
    return Graph(nodes, edges)


def view_path(graph: Graph, m: int):
    """The path of view ``m`` in a :func:`view_graph` (the one starting at input node ``v{m}``)."""
    for p in graph.paths():
        if p.source == f"v{m}":
            return p
    raise ValueError(f"m={m!r} is invalid; the graph has view pathways from {list(graph.inputs)}")


def _check_graph(task: MultiViewTask, graph: Graph) -> None:
    want = tuple(f"v{m}" for m in range(task.M))
    if graph.inputs != want or graph.outputs != ("y",) or any(graph.nodes[v] != task.K for v in (*want, "y")):
        raise ValueError(f"the graph (inputs {graph.inputs}, outputs {graph.outputs}) is not a view_graph for "
                         f"K={task.K}, M={task.M}; expected inputs {want} of size {task.K} and output 'y'")


def _orthonormal(task: MultiViewTask) -> None:
    V = task.views.reshape(task.M * task.K, task.d).double()
    err = (V @ V.T - torch.eye(V.shape[0], dtype=torch.float64)).abs().max().item()
    if err > 1e-9:
        raise ValueError(f"the views are not orthonormal (|Phi Phi^T - I| = {err:.2e}); the closed-form statistics "
                         "assume orthonormal views (use gated_data and gdln.core.statistics.path_statistics)")


def view_statistics(task: MultiViewTask, graph: Graph) -> PathStatistics:
    """Eqs. 5-6 for the view GDLN in closed form: ``Sigma^yx(m) = (p_m/K) I``, ``Sigma^x(j, m) = (Q_jm/K) I``,
    ``<||y||^2> = 1``.

    Derivation: pathway ``m`` is gated on exactly when view ``m`` is shown, and then its input is
    ``x_m = e_y``; so ``<g_m y x_m^T> = sum_y (1/K) P(m in A) e_y e_y^T`` and
    ``<g_j g_m x_j x_m^T> = sum_y (1/K) P(j, m in A) e_y e_y^T``. Needs orthonormal views.
    """
    _check_graph(task, graph)
    _orthonormal(task)
    eye = torch.eye(task.K, dtype=torch.float64)
    path = {m: view_path(graph, m) for m in range(task.M)}
    yx = {path[m]: task.p[m] / task.K * eye for m in range(task.M)}
    x = {(path[j], path[m]): task.Q[j, m] / task.K * eye for j in range(task.M) for m in range(task.M)}
    return PathStatistics(graph.paths(), yx, x, {"y": torch.tensor(1.0, dtype=torch.float64)})


def gated_data(task: MultiViewTask, graph: Graph) -> GatedData:
    """The examples as a :class:`~gdln.core.network.GatedData` for a :func:`view_graph`: inputs ``x_m`` per view,
    hidden-node gates ``1[view m shown]``, targets ``e_y``; example ``i``'s input and target are scaled by
    ``sqrt(n w_i)``, so that the plain average over examples of Eqs. 1, 5 and 6 is the task's expectation
    (each term is quadratic in ``(x, y)`` for fixed gates). ``path_statistics`` of it equals
    :func:`view_statistics` (tested)."""
    _check_graph(task, graph)
    scale = (task.n * task.weight).sqrt().to(task.x.dtype)[:, None]
    coords = task.coordinates()
    x = {f"v{m}": coords[m] * scale for m in range(task.M)}
    gates = {v: task.shown[:, int(v[1:].split("_")[0])].to(task.x.dtype) for v in graph.hidden}
    return GatedData(x, {"y": task.y * scale}, gates)


# --------------------------------------------------------------------------- Eq. 10 for the task: Lotka-Volterra
def _check_pQ(p, Q) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if p.ndim != 1 or Q.shape != (p.size, p.size) or not (np.all(np.isfinite(p)) and np.all(np.isfinite(Q))):
        raise ValueError(f"p (shape {p.shape}) and Q (shape {Q.shape}) are invalid; expected finite p (M,) and Q (M, M)")
    return p, Q


def lv_rhs(s, p, Q, K: int, depth: int = 2, tau: float = 1.0) -> np.ndarray:
    """``ds/dt`` of the view strengths by Eq. 10 (decoupled balanced pathways of ``depth`` layers):
    ``tau ds_m/dt = (D/K) s_m^(2 - 2/D) (p_m - sum_j Q_mj s_j)``; ``s (..., M)`` with ``s >= 0``."""
    p, Q = _check_pQ(p, Q)
    s = np.asarray(s, dtype=np.float64)
    if s.shape[-1:] != p.shape:
        raise ValueError(f"s has shape {s.shape}; expected (..., {p.size}): one strength per view")
    depth = _check_int("depth", depth, 2)
    growth = np.power(np.maximum(s, 0.0), 2.0 - 2.0 / depth)
    return depth / (K * tau) * growth * (p - s @ Q.T)


def integrate_lv(s0, p, Q, K: int, t, *, depth: int = 2, tau: float = 1.0, rtol: float = 1e-10,
                 atol: float = 1e-14, solver: str = "DOP853") -> np.ndarray:
    """:func:`lv_rhs` integrated from ``s0 (..., M)`` (all strengths ``>= 0``) and sampled at ``t``:
    ``(T, ..., M)``, by :func:`gdln.core.integrate.ode_samples` with scipy's ``solver``. Near a fixed point the
    equation is stiff on long horizons (explicit steps stay of the order of the relaxation time): there
    ``solver="LSODA"`` (which switches to an implicit method) is much faster."""
    s0 = np.asarray(s0, dtype=np.float64)
    if not np.all(np.isfinite(s0)) or np.any(s0 < 0):
        raise ValueError("s0 is invalid; expected finite strengths >= 0 (s = b^D of balanced pathways)")
    lv_rhs(s0, p, Q, K, depth, tau)                       # validates shapes and depth
    times = check_times(t)
    shape = s0.shape
    fun = lambda _t, y: lv_rhs(y.reshape(shape), p, Q, K, depth, tau).reshape(-1)  # noqa: E731
    ys = ode_samples(fun, s0.reshape(-1), times, solver=solver, rtol=rtol, atol=atol, what="Eq. 10 (view strengths)")
    return ys.reshape(len(times), *shape)


def lv_fixed_point(p, Q) -> np.ndarray:
    """The interior fixed point of :func:`lv_rhs`, ``s* = Q^{-1} p``, where every view survives.

    It is the minimum of Eq. 1 over the strengths, and the state every trajectory from positive strengths
    reaches when ``Q`` is positive definite and ``s* > 0``; ``ValueError`` when ``Q`` is singular (e.g. the
    ``"all"`` scheme, where the minimum is the whole line ``sum s = 1``) or when ``s*`` has a component
    ``<= 0`` (then some views are switched off at the minimum over ``s >= 0``)."""
    p, Q = _check_pQ(p, Q)
    w = np.linalg.eigvalsh((Q + Q.T) / 2)
    if w.min() <= 1e-12 * max(1.0, w.max()):
        raise ValueError(f"Q is singular (smallest eigenvalue {w.min():.3g}); the minimum is not a single point")
    s = np.linalg.solve(Q, p)
    if np.any(s <= 0):
        raise ValueError(f"Q^-1 p = {s.round(6).tolist()} has components <= 0; no interior fixed point")
    return s


# --------------------------------------------------------------------------- the summary's form
def summary_rhs(s, sigma, s_max: float) -> np.ndarray:
    """The reader summary's equation without its unspecified error term:
    ``ds_m/dt = sigma_m s_m (1 - sum_j s_j^2 / s_max^2)``; ``s (..., M)``."""
    s = np.asarray(s, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != s.shape[-1:] or not (math.isfinite(s_max) and s_max > 0):
        raise ValueError(f"sigma (shape {sigma.shape}) or s_max={s_max!r} is invalid; expected one rate per view "
                         f"({s.shape[-1]}) and s_max > 0")
    return sigma * s * (1.0 - (s ** 2).sum(-1, keepdims=True) / s_max ** 2)


def integrate_summary(s0, sigma, s_max: float, t, *, rtol: float = 1e-9, atol: float = 1e-13) -> np.ndarray:
    """:func:`summary_rhs` from ``s0 (M,)``, sampled at ``t``: ``(T, M)``."""
    s0 = np.asarray(s0, dtype=np.float64)
    summary_rhs(s0, sigma, s_max)
    times = check_times(t)
    fun = lambda _t, y: summary_rhs(y, sigma, s_max)  # noqa: E731
    return ode_samples(fun, s0, times, solver="DOP853", rtol=rtol, atol=atol, what="the summary's equation")


@dataclass
class SummaryFit:
    """Least-squares fit of :func:`summary_rhs` to trajectories ``s (T, M)``: the rates ``sigma (M,)``,
    ``s_max``, the fitted trajectories ``fit (T, M)`` and the relative error ``||fit - s|| / ||s||``."""

    sigma: np.ndarray
    s_max: float
    fit: np.ndarray
    rel_error: float


def fit_summary(t, s) -> SummaryFit:
    """Fit the summary's form (``M`` rates and ``s_max``; the initial strengths are those of ``s``) to
    trajectories ``s (T, M)`` sampled at ``t``, by least squares over all samples (scipy's trust-region
    reflective method on the logarithms of the parameters). Only to show where the form departs."""
    times = check_times(t)
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != times.size or np.any(s[0] <= 0):
        raise ValueError(f"s has shape {s.shape}; expected ({times.size}, M) with positive initial strengths")
    M = s.shape[1]
    # start: each view's rate from the time it takes to reach half its final strength, s_max from the end state
    half = np.array([times[np.argmax(s[:, m] >= 0.5 * s[-1, m])] for m in range(M)])
    sigma0 = np.log(0.5 * s[-1] / s[0]) / np.maximum(half, 1e-9)
    x0 = np.concatenate([np.log(np.maximum(sigma0, 1e-6)), [np.log(np.sqrt((s[-1] ** 2).sum()))]])

    def model(x):
        return integrate_summary(s[0], np.exp(x[:M]), float(np.exp(x[M])), times)

    res = least_squares(lambda x: (model(x) - s).reshape(-1), x0, method="trf", x_scale=1.0, max_nfev=200)
    fit = model(res.x)
    return SummaryFit(np.exp(res.x[:M]), float(np.exp(res.x[M])), fit,
                      float(np.linalg.norm(fit - s) / np.linalg.norm(s)))


def initial_advantage(s0, p, K: int) -> np.ndarray:
    """The summary's ``A_{y,m} = sigma_1(Sigma_{y,m}) s_{y,m}(0)`` with ``sigma_1 = p_m |phi_{y,m}| / K`` (unit
    views): ``s0 (..., K, M)`` -> ``(..., K, M)``."""
    s0 = np.asarray(s0, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if s0.shape[-1:] != p.shape:
        raise ValueError(f"s0 has shape {s0.shape}; expected (..., {p.size}): one strength per view")
    return s0 * p / K


# --------------------------------------------------------------------------- measurements on strengths
def coverage(s) -> np.ndarray:
    """How many views carry each class, as a fraction of ``M``: the participation ratio
    ``(sum_m s_m)^2 / (M sum_m s_m^2)`` over the last axis (views). 1 when all views are equally strong,
    ``1/M`` when one view carries the class alone (the summary's winner-take-all)."""
    s = np.abs(np.asarray(s, dtype=np.float64))
    M = s.shape[-1]
    den = M * (s ** 2).sum(-1)
    if np.any(den == 0):
        raise ValueError("coverage of a class whose views all have strength 0 is undefined")
    return s.sum(-1) ** 2 / den


def winners(s) -> np.ndarray:
    """The strongest view of each class: argmax over the last axis."""
    return np.asarray(s).argmax(-1)


def learning_times(t, S, *, level: float | None = None, fraction: float = 0.5) -> np.ndarray:
    """The first sampled time at which each strength reaches ``level`` (absolute), or else ``fraction`` of its own
    value at the end: ``S (T, ...)`` -> ``(...)``; NaN where it never does."""
    times = check_times(t)
    S = np.asarray(S, dtype=np.float64)
    if S.shape[0] != times.size:
        raise ValueError(f"S has {S.shape[0]} samples but t has {times.size}")
    if level is None:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction={fraction!r} is invalid; expected a number in (0, 1)")
        target = fraction * S[-1]
    else:
        if not math.isfinite(level):
            raise ValueError(f"level={level!r} is invalid; expected a finite number")
        target = np.full(S.shape[1:], float(level))
    reached = S >= target
    return np.where(reached.any(0), times[reached.argmax(0)], np.nan)


def post_race_growth(t, S) -> np.ndarray:
    """For every class and view, its strength at the end over its strength when the race was decided,
    the first time the class's strongest view reached half of its final strength: ``S (T, ..., M)`` ->
    ``(..., M)``. Below 1 the view decays, 1 it freezes, above 1 it keeps growing."""
    times = check_times(t)
    S = np.asarray(S, dtype=np.float64)
    if S.shape[0] != times.size:
        raise ValueError(f"S has {S.shape[0]} samples but t has {times.size}")
    lead = S.max(-1)                                        # (T, ...): the leading view's strength
    k = (lead >= 0.5 * lead[-1]).argmax(0)                  # (...): sample at which the race is decided
    at = np.take_along_axis(S, k[None, ..., None].repeat(S.shape[-1], -1), 0)[0]
    return S[-1] / np.maximum(at, np.finfo(np.float64).tiny)


def shrinking_losers(t, S, *, keep: float = 0.99) -> np.ndarray:
    """Per network, the fraction of losing views that shrink after the race is decided: ``S (T, R, K, M)`` -> ``(R,)``.

    A loser is a view that is not its class's strongest at the end; it shrinks when its final strength is below
    ``keep`` times its strength when the race was decided (:func:`post_race_growth`; ``keep = 0.99``: it lost more
    than 1% of it). The exact equation from decoupled weights with all views shown gives 0 (its bracket
    ``1 - sum_j s_j`` never turns negative).
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep={keep!r} is invalid; expected a number in (0, 1]")
    S = np.asarray(S, dtype=np.float64)
    g = post_race_growth(t, S)                                   # (R, K, M)
    losers = np.arange(S.shape[-1]) != winners(S[-1])[..., None]
    return ((g < keep) & losers).sum((-2, -1)) / losers.sum((-2, -1))


def falling_views(S, *, keep: float = 0.99) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which views of a class fall back from their peak: ``S (T, ..., M)`` -> ``(falls (..., M), early (...), winner (...))``.

    ``falls``: the view ends below ``keep`` times its largest strength; ``early``: the early leader, the strongest view
    when the class's total strength first reached half of its final value; ``winner``: the strongest at the end.
    """
    S = np.asarray(S, dtype=np.float64)
    tot = S.sum(-1)
    k = (tot >= 0.5 * tot[-1]).argmax(0)
    at = np.take_along_axis(S, k[None, ..., None].repeat(S.shape[-1], -1), 0)[0]
    return S[-1] < keep * S.max(0), at.argmax(-1), S[-1].argmax(-1)


def random_or_races(M: int, n: int, *, K: int, s0: float, t, rng: np.random.Generator, q_range=(0.05, 0.95),
                    keep: float = 0.99) -> dict[str, np.ndarray]:
    """The exact two-layer equation on ``n`` random *or* view sets (each view shown with probability ``q_m`` drawn
    uniformly from ``q_range``), every view starting at ``s0``: per set, ``(n,)`` arrays ``n_fall`` (views that fall
    back from their peak, :func:`falling_views`), ``leader_falls`` (the early leader is among them) and ``other_falls``
    (views that fall and are neither the early leader nor the winner)."""
    out = {"n_fall": np.zeros(n), "leader_falls": np.zeros(n, bool), "other_falls": np.zeros(n)}
    for k in range(int(n)):
        p, Q = cooccurrence(view_sets(M, "or", rng.uniform(*q_range, size=M)), M)
        S = integrate_lv(np.full(M, float(s0)), p, Q, K, t, solver="LSODA")
        falls, early, win = falling_views(S, keep=keep)
        other = falls & (np.arange(M) != early) & (np.arange(M) != win)
        out["n_fall"][k], out["leader_falls"][k], out["other_falls"][k] = falls.sum(), falls[early], other.sum()
    return out
