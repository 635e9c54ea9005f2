"""P-sharing gating schemes and their reduced dynamics (Sec. 4.2, Fig. 5; App. C, Eqs. 16-17, 52-56).

The routing task (Sec. 4) has ``M`` input domains and ``M`` output domains, and ``M**2`` routes
``(i, j)``. A *gating scheme* says which hidden pathway (a pair of hidden layers with its own hidden
weight matrix) carries each route. Sec. 4.2 compares schemes by ``P``, the number of routes that flow
through one hidden weight matrix:

- ``P = 1``: every route has its own dedicated pathway (no sharing, Fig. 5a left);
- ``P = s**2``: input domains are cut into blocks of ``s`` consecutive domains and output domains
  likewise; routes from input block ``a`` to output block ``b`` share pathway ``(a, b)`` (Fig. 5a
  middle shows ``s = 2``, ``P = 4``);
- ``P = M**2``: one shared pathway for all routes (Fig. 5a right; the network of Fig. 4a).

In pathway ``(a, b)`` each of its ``s`` input domains has its own input weight matrix (active in the
``s`` routes to the block's outputs), each of its ``s`` output domains its own output matrix, and one
hidden matrix is active in all ``P = s**2`` routes. With all routes trained (``K = M``) each route is
active with probability ``1/M**2``, and pathway counting (Eq. 10) gives Eqs. 16-17 (= 52-53) for the
balanced singular values ``B1 = B3`` (input/output) and ``B2`` (hidden)::

    tau dB1/dt = sqrt(P)/M**2 * B2 B1 [S - B2 B1**2 D]
    tau dB2/dt =       P/M**2 * B1**2 [S - B2 B1**2 D]

Conservation: ``d/dt (sqrt(P) B1**2 - B2**2) = 0``, so from small (or balanced) initial weights
``B2 / B1 -> P**(1/4)`` (Eq. 56), from 1 (no sharing) to ``sqrt(M)`` (full sharing, Eq. 51).

Generalisation used by the explorer and the race chapter: when each input domain is trained with
only ``K`` output domains (route probability ``1/(K M)``), a pathway carrying ``n`` trained routes from
``a`` input and ``b`` output domains has rates ``n/(a K M)`` (input), ``n/(K M)`` (hidden) and
``n/(b K M)`` (output). :func:`pathway_rates` returns them; for ``K = M`` and the square blocks above it
is Eqs. 16-17, and for full sharing (``n = K M``, ``a = b = M``) it is Eqs. 13-14 / 44-46.

Everything here is float64 numpy/torch on the CPU: these are exactness-level computations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.integrate import solve_ivp

__all__ = [
    "block_size", "allowed_P", "n_pathways", "sharing_assignment", "sharing_rates", "pathway_rates",
    "sharing_rhs", "SharingTrajectory", "integrate_sharing", "sv_ratio_theory", "conserved",
    "balanced_b2", "half_time", "speedup_theory", "PathwayTrajectory", "integrate_pathways",
    "race_rates", "CombinedRace", "combined_gates", "combined_race", "lazy_safe_lr", "SigmaSweep", "sigma_sweep", "crossing", "sharing_experiment", "stable_lr", "KSweep", "k_sweep", "threshold_fraction", "sharing_gates", "block_task", "mode_strengths", "SharingRun", "train_sharing",
]


# ----------------------------------------------------------------------------------------------
# gating schemes
# ----------------------------------------------------------------------------------------------

def _check_M(M: int) -> int:
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a positive integer number of domains")
    return int(M)


def block_size(M: int, P: int) -> int:
    """``s = sqrt(P)``, the number of input (and output) domains per sharing block.

    Raises ``ValueError`` unless ``P`` is a perfect square ``s**2`` with ``s`` dividing ``M``
    (the block schemes of Fig. 5a: ``P`` in ``{1, 4, ..., M**2}``).
    """
    M = _check_M(M)
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ValueError(f"P={P!r} is invalid; expected a positive integer number of routes per pathway")
    s = math.isqrt(int(P))
    if s * s != P or M % s != 0:
        raise ValueError(f"P={P!r} is invalid for M={M}; expected s**2 with s dividing M, "
                         f"one of {allowed_P(M)}")
    return s


def allowed_P(M: int) -> tuple[int, ...]:
    """The sharing levels of the block schemes for ``M`` domains: ``s**2`` for every divisor ``s`` of M."""
    M = _check_M(M)
    return tuple(s * s for s in range(1, M + 1) if M % s == 0)


def n_pathways(M: int, P: int) -> int:
    """Number of hidden pathways in the ``P``-sharing scheme: ``M**2 / P``."""
    block_size(M, P)
    return (M * M) // P


def sharing_assignment(M: int, P: int) -> torch.Tensor:
    """``pathway[i, j]``: the hidden pathway that carries route ``(i, j)`` in the P-sharing scheme.

    Input domain ``i`` is in block ``i // s``, output ``j`` in block ``j // s``, ``s = sqrt(P)``, and
    the pathway index is ``(i // s) * (M // s) + j // s``. Returns an ``(M, M)`` int64 tensor whose
    values are ``0 .. M**2/P - 1``, each used by exactly ``P`` routes.
    """
    s = block_size(M, P)
    idx = torch.arange(M) // s
    return idx[:, None] * (M // s) + idx[None, :]


def sharing_rates(M: int, P: int) -> tuple[float, float]:
    """The coefficients ``(sqrt(P)/M**2, P/M**2)`` of Eqs. 16-17 (input/output layer, hidden layer)."""
    block_size(M, P)
    return math.sqrt(P) / M**2, P / M**2


def pathway_rates(M: int, K: int, n_routes: int, n_in: int, n_out: int) -> tuple[float, float, float]:
    """Pathway-counting rates ``(c1, c2, c3)`` of a pathway carrying ``n_routes`` trained routes.

    Each of the ``K M`` trained routes is active with probability ``1/(K M)`` (Eq. 41); the hidden
    matrix is in all ``n_routes`` paths, each of the ``n_in`` input matrices in ``n_routes/n_in``
    and each of the ``n_out`` output matrices in ``n_routes/n_out`` (uniform blocks). Then
    ``tau dB1/dt = c1 B3 B2 [S - B3 B2 B1 D]`` etc. (Eq. 10). ``K = M`` with square blocks gives Eqs. 16-17;
    ``n_routes = K M``, ``n_in = n_out = M`` gives Eqs. 44-46 (``c = (1/M, 1, 1/M)``).
    """
    M = _check_M(M)
    for name, v in (("K", K), ("n_routes", n_routes), ("n_in", n_in), ("n_out", n_out)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; expected a positive integer")
    if K > M:
        raise ValueError(f"K={K!r} is invalid; expected 1 <= K <= M={M}")
    if n_in > M or n_out > M or n_routes > n_in * n_out or n_routes > K * n_in:
        raise ValueError(f"a pathway with n_routes={n_routes}, n_in={n_in}, n_out={n_out} is impossible "
                         f"for M={M}, K={K}; expected n_in, n_out <= M and n_routes <= min(n_in*n_out, K*n_in)")
    p = 1.0 / (K * M)
    return n_routes / n_in * p, n_routes * p, n_routes / n_out * p


# ----------------------------------------------------------------------------------------------
# reduced dynamics, Eqs. 16-17
# ----------------------------------------------------------------------------------------------

def sharing_rhs(B1, B2, S, D, M: int, P: int, tau: float = 1.0):
    """Right-hand side of Eqs. 16-17: ``(dB1/dt, dB2/dt)`` for diagonal modes (arrays broadcast)."""
    c1, c2 = sharing_rates(M, P)
    err = S - B2 * B1**2 * D
    return c1 * B2 * B1 * err / tau, c2 * B1**2 * err / tau


@dataclass
class SharingTrajectory:
    """Solution of Eqs. 16-17: ``B1[k, q, a]`` and ``B2[k, q, a]`` at time ``t[k]`` for sharing level
    ``P[q]`` and singular-value mode ``a``; ``loss[k, q]`` is the reduced training loss (per route)."""

    t: np.ndarray
    P: tuple[int, ...]
    B1: np.ndarray
    B2: np.ndarray
    loss: np.ndarray


def integrate_sharing(S: Sequence[float], D: Sequence[float], M: int, P: int | Sequence[int],
                      b1_0: float | Sequence[float], b2_0: float | Sequence[float] | None = None, *,
                      t: Sequence[float], tau: float = 1.0, rtol: float = 1e-9,
                      atol: float = 1e-12, y_power: float | None = None,
                      method: str = "LSODA") -> SharingTrajectory:
    """Integrate Eqs. 16-17 for each ``P`` in ``P`` and each mode ``(S[a], D[a])`` at once.

    ``b1_0``/``b2_0`` are the initial singular values (scalars or one per mode; ``b2_0`` defaults to
    ``b1_0``). ``loss`` is the loss of one route (Eq. 1 per route), ``1/2 (y_power - 2 sum_a S_a u_a +
    sum_a D_a u_a**2)`` with ``u = B2 B1**2`` and ``y_power = <|y|**2>`` (default ``sum S**2/D``, the
    part the modes can capture; :func:`gdln.routing.task_modes` gives the true value).
    """
    Ps = (P,) if isinstance(P, (int, np.integer)) and not isinstance(P, bool) else tuple(P)
    if len(Ps) == 0:
        raise ValueError("P is empty; expected at least one sharing level")
    rates = np.array([sharing_rates(M, p) for p in Ps])  # (nP, 2)
    S = np.atleast_1d(np.asarray(S, dtype=np.float64))
    D = np.broadcast_to(np.atleast_1d(np.asarray(D, dtype=np.float64)), S.shape)
    if S.ndim != 1 or np.any(D <= 0):
        raise ValueError(f"S must be a vector and D positive; got S shape {S.shape}, D={D}")
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or np.any(np.diff(t) < 0) or t[0] < 0:
        raise ValueError("t must be a non-decreasing 1D array of times >= 0")
    if not (tau > 0):
        raise ValueError(f"tau={tau!r} is invalid; expected a positive time constant")
    nP, nA = len(Ps), S.size
    b1 = np.broadcast_to(np.asarray(b1_0, dtype=np.float64), (nA,))
    b2 = b1 if b2_0 is None else np.broadcast_to(np.asarray(b2_0, dtype=np.float64), (nA,))
    y0 = np.concatenate([np.tile(b1, nP), np.tile(b2, nP)])
    c1 = np.repeat(rates[:, 0], nA) / tau
    c2 = np.repeat(rates[:, 1], nA) / tau
    SS, DD = np.tile(S, nP), np.tile(D, nP)
    n = nP * nA

    def rhs(_, y):
        x1, x2 = y[:n], y[n:]
        err = SS - x2 * x1**2 * DD
        return np.concatenate([c1 * x2 * x1 * err, c2 * x1**2 * err])

    if t[-1] > t[0]:
        sol = solve_ivp(rhs, (t[0], t[-1]), y0, t_eval=t, method=method, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"integration of Eqs. 16-17 failed: {sol.message}")
        Y = sol.y.T
    else:
        Y = np.tile(y0, (t.size, 1))
    B1 = Y[:, :n].reshape(t.size, nP, nA)
    B2 = Y[:, n:].reshape(t.size, nP, nA)
    u = B2 * B1**2
    yp = float(np.sum(S**2 / D)) if y_power is None else float(y_power)
    loss = 0.5 * (yp + np.sum(-2 * S * u + D * u**2, axis=-1))
    return SharingTrajectory(t=t, P=Ps, B1=B1, B2=B2, loss=loss)


@dataclass
class PathwayTrajectory:
    """Solution of the three-layer reduced dynamics (Eq. 10) for several pathways at once:
    ``B[k, q, l, a]``: layer ``l`` (0 input, 1 hidden, 2 output) of pathway ``q``, mode ``a``, time ``t[k]``."""

    t: np.ndarray
    rates: np.ndarray  # (n_pathways, 3)
    B: np.ndarray


def integrate_pathways(S: Sequence[float], D: Sequence[float], rates: Sequence[Sequence[float]],
                       b0: float | Sequence[float], *, t: Sequence[float], tau: float = 1.0,
                       rtol: float = 1e-9, atol: float = 1e-12, method: str = "LSODA") -> PathwayTrajectory:
    """Integrate ``tau dB_l/dt = c_l (prod_{m != l} B_m) [S - B3 B2 B1 D]`` for each rate triple.

    ``rates[q] = (c1, c2, c3)``, e.g. from :func:`pathway_rates`; all layers start at ``b0`` (the
    singular value of the random initial matrices, Sec. 4.3). With ``c1 = c3`` this is Eqs. 16-17.
    """
    R = np.asarray(rates, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] != 3 or np.any(R <= 0):
        raise ValueError(f"rates must be an (n, 3) array of positive numbers, got {R.tolist()!r}")
    S = np.atleast_1d(np.asarray(S, dtype=np.float64))
    D = np.broadcast_to(np.atleast_1d(np.asarray(D, dtype=np.float64)), S.shape)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be an increasing 1D array with at least two times")
    nQ, nA = R.shape[0], S.size
    c = np.repeat(R[:, :, None], nA, axis=2) / tau  # (nQ, 3, nA)
    y0 = np.broadcast_to(np.asarray(b0, dtype=np.float64), (nA,))
    y0 = np.broadcast_to(y0, (nQ, 3, nA)).ravel().copy()

    def rhs(_, y):
        B = y.reshape(nQ, 3, nA)
        prod = B[:, 0] * B[:, 1] * B[:, 2]
        err = S - prod * D
        others = np.stack([B[:, 1] * B[:, 2], B[:, 0] * B[:, 2], B[:, 0] * B[:, 1]], axis=1)
        return (c * others * err[:, None, :]).ravel()

    sol = solve_ivp(rhs, (t[0], t[-1]), y0, t_eval=t, method=method, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"integration of the reduced pathway dynamics failed: {sol.message}")
    return PathwayTrajectory(t=t, rates=R, B=sol.y.T.reshape(t.size, nQ, 3, nA))


def race_rates(M: int, K: int, P: int) -> dict[str, tuple[float, float, float]]:
    """Rates of three competitors in a network where each input domain trains ``K`` outputs.

    ``"dedicated"``: one trained route on its own pathway (``1/(K M)`` in every layer);
    ``"block"``: a ``P = s**2`` block all of whose routes are trained (needs ``s <= K``);
    ``"shared"``: one pathway carrying all ``K M`` trained routes (Eqs. 13-14: ``1/M, 1, 1/M``).
    With ``K = M`` the first two are Eqs. 16-17 at ``P = 1`` and ``P``, the last at ``P = M**2``.
    """
    s = block_size(M, P)
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or not 1 <= K <= M:
        raise ValueError(f"K={K!r} is invalid; expected an integer 1 <= K <= M={M}")
    if s > K:
        raise ValueError(f"P={P} needs each input trained with at least sqrt(P)={s} outputs, but K={K}")
    return {"dedicated": pathway_rates(M, K, 1, 1, 1),
            "block": pathway_rates(M, K, P, s, s),
            "shared": pathway_rates(M, K, K * M, M, M)}


def sv_ratio_theory(P: int | Sequence[int] | np.ndarray):
    """Eq. 56: the hidden/input singular value ratio ``B2/B1 = P**(1/4)`` after long training."""
    P = np.asarray(P, dtype=np.float64)
    if np.any(~np.isfinite(P)) or np.any(P < 1):
        raise ValueError(f"P={P!r} is invalid; expected numbers of routes per pathway >= 1")
    return P ** 0.25


def conserved(B1, B2, P):
    """``sqrt(P) B1**2 - B2**2``, constant along Eqs. 16-17 (gives Eq. 56 from small weights)."""
    return np.sqrt(np.asarray(P, dtype=np.float64)) * np.asarray(B1) ** 2 - np.asarray(B2) ** 2


def balanced_b2(b1: float, P: int) -> float:
    """The hidden singular value that makes the start balanced (conserved quantity 0): ``P**(1/4) b1``."""
    return float(sv_ratio_theory(P)) * b1


def half_time(t, x, axis: int = 0):
    """First time at which ``x`` reaches half-way from its initial to its final value (linear interp).

    ``x`` has time along ``axis``; returns an array of the remaining shape (``nan`` where never).
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    if x.shape[0] != t.size:
        raise ValueError(f"x has {x.shape[0]} time points along axis {axis}, t has {t.size}")
    level = 0.5 * (x[0] + x[-1])
    rising = x[-1] >= x[0]
    above = np.where(rising, x >= level, x <= level)
    out = np.full(x.shape[1:], np.nan)
    flat_above = above.reshape(t.size, -1)
    flat_x = x.reshape(t.size, -1)
    flat_level = np.broadcast_to(level, x.shape[1:]).reshape(-1)
    res = out.reshape(-1)
    for c in range(flat_above.shape[1]):  # columns are few (modes x P); numpy has no first-true-interp
        k = np.argmax(flat_above[:, c])
        if not flat_above[k, c]:
            continue
        if k == 0:
            res[c] = t[0]
            continue
        x0, x1 = flat_x[k - 1, c], flat_x[k, c]
        f = 0.0 if x1 == x0 else (flat_level[c] - x0) / (x1 - x0)
        res[c] = t[k - 1] + f * (t[k] - t[k - 1])
    return res.reshape(x.shape[1:])


def speedup_theory(S: float, D: float, M: int, b1_0: float, b2_0: float | None = None, *,
                   P_fast: int | None = None, P_slow: int = 1, t_max: float | None = None,
                   n_t: int = 20001, tau: float = 1.0) -> float:
    """Ratio of the times for ``B2`` to rise half-way (Eqs. 16-17), slow scheme over fast scheme.

    Defaults compare no sharing (``P = 1``) with full sharing (``P = M**2``) on one mode ``(S, D)``.
    """
    P_fast = M * M if P_fast is None else P_fast
    if t_max is None:  # generous: the slow scheme's learning time scales as M**2/(P S b0)
        t_max = 60.0 * M**2 / (P_slow * S * max(b1_0, 1e-3)) * tau
    t = np.linspace(0.0, t_max, n_t)
    tr = integrate_sharing([S], [D], M, (P_slow, P_fast), b1_0, b2_0, t=t, tau=tau)
    th = half_time(t, tr.B2[:, :, 0])
    return float(th[0] / th[1])


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
    """One-hot gates ``(M, M, M**2/P)`` of the P-sharing scheme for :mod:`gdln.routing` (Fig. 5a)."""
    from .routing import pathway_gates
    return pathway_gates(sharing_assignment(M, P), n_pathways(M, P), dtype=dtype)


def block_task(P: int, *, seed: int = 0, dtype=torch.float32):
    """The stand-alone block network's task: ``s = sqrt(P)`` domains, all ``s**2`` routes trained."""
    from .routing import routing_task
    s = math.isqrt(int(P))
    if s * s != P:
        raise ValueError(f"P={P!r} is invalid; expected a perfect square")
    return routing_task(s, s, seed=seed, dtype=dtype)


def mode_strengths(W, task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Singular values along the data modes read off one-pathway routing weights (any init).

    ``B1[r, i, a] = |W1[r, i] V_i[:, a]|``, ``B2[r, i, a] = |W2[r] W1[r, i] V_i[:, a]| / B1[r, i, a]``,
    ``B3[r, j, a] = |U[:, a]^T W3[r, j]|``. For decoupled weights (Eq. 9) these are exactly the
    diagonal ``B`` of Eq. 10; for random weights they are the gains along the modes.
    """
    from .routing import task_modes
    if W.H != 1 or W.W1.dim() != 4:
        raise ValueError("mode_strengths expects one-pathway weights (H = 1, shared input/output blocks)")
    modes = task_modes(task)
    V = modes.V.to(W.W1)                                       # (M, N_x, r)
    U = modes.U.to(W.W1)                                       # (N_y, r)
    a1 = torch.einsum("riab,ibk->riak", W.W1, V)               # (R, M, N_h, r)
    B1 = a1.norm(dim=-2)
    B2 = torch.einsum("rab,ribk->riak", W.W2[:, 0], a1).norm(dim=-2) / B1.clamp_min(1e-30)
    B3 = torch.einsum("ak,rjab->rjkb", U, W.W3).norm(dim=-1)
    return B1, B2, B3


@dataclass
class SharingRun:
    """Trained P-sharing networks. ``t``: (T,) time of the full network (units of tau);
    ``loss``: (T, R) Eq. 1 of each full network (mean over its M**2 routes);
    ``B1``, ``B2``, ``B3``: (T, R, M**2/P, s, r) mode strengths of every pathway's domain blocks."""

    M: int
    P: int
    t: np.ndarray
    loss: np.ndarray
    B1: np.ndarray
    B2: np.ndarray
    B3: np.ndarray


def train_sharing(M: int, P: int, *, R: int, sigma0: float, lr: float, steps: int, chunks: int = 40,
                  n_h: int = 64, generator: torch.Generator, scheme: str = "xavier", seed: int = 0,
                  dtype=torch.float32, W0=None) -> SharingRun:
    """Train ``R`` P-sharing networks (``M`` domains, all routes trained) by gradient descent with step ``lr``.

    Runs the ``M**2/P`` pathways of each network as ``R * M**2/P`` replicas of the block network with
    step ``lr * P / M**2`` (exact, see the comment above). ``W0`` (block weights for ``R * M**2 / P``
    replicas) overrides the random init (e.g. decoupled weights). Records every ``steps // chunks`` steps.
    """
    from .routing import init_routing_weights, train_routing
    s = block_size(M, P)
    if not isinstance(steps, int) or steps < 1 or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"steps={steps!r} and chunks={chunks!r} must be positive integers")
    if not (lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; expected a positive step size")
    H = n_pathways(M, P)
    task = block_task(P, seed=seed, dtype=dtype)
    if W0 is None:
        W = init_routing_weights(R * H, s, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=generator,
                                 scheme=scheme, dtype=dtype)
    else:
        W = W0.to(dtype=dtype)
        if W.R != R * H:
            raise ValueError(f"W0 has {W.R} replicas, expected R * M**2/P = {R * H}")
    lr_b = lr * P / M**2
    per = max(1, steps // chunks)
    ts, losses, bs = [], [], []
    done = 0

    def rec(loss_b):
        B = mode_strengths(W, task)
        bs.append([b.reshape(R, H, *b.shape[1:]).double().cpu().numpy() for b in B])
        losses.append(loss_b.reshape(R, H).mean(1).double().cpu().numpy())
        ts.append(done * lr)

    from .routing import routing_loss
    rec(routing_loss(W, task))
    while done < steps:
        n = min(per, steps - done)
        run = train_routing(W, task, lr=lr_b, steps=n, record_every=n, record_sv=False)
        W = run.W
        done += n
        rec(run.loss_trained[-1])
    return SharingRun(M=M, P=P, t=np.array(ts), loss=np.stack(losses),
                      B1=np.stack([b[0] for b in bs]), B2=np.stack([b[1] for b in bs]),
                      B3=np.stack([b[2] for b in bs]))


def stable_lr(M: int, P: int, S: float, D: float, *, safety: float = 0.25) -> float:
    """A gradient-descent step (full-network time units) that is stable near the solution.

    Near convergence the largest curvature of a P-sharing pathway's loss is about
    ``(P/M**2) D B1**2 (2 B2**2/s + B1**2)`` at the Eq. 56 fixed point (``B2 = P**(1/4) B1``,
    ``B2 B1**2 = S/D``), so gradient descent needs ``lr < 2 / curvature``; we return ``safety`` times that.
    """
    s = block_size(M, P)
    b1 = (S / D / P**0.25) ** (1 / 3)
    b2 = P**0.25 * b1
    curv = (P / M**2) * D * b1**2 * (2 * b2**2 / s + b1**2)
    return safety * 2.0 / curv


@dataclass
class KSweep:
    """Fig. 5c: normalised errors of shared networks (Fig. 4a gating) for each step size, K and seed.
    ``t``: (T, nL) time (units of tau) per step size; ``trained``/``untrained``: (T, nL, nK, nS)."""

    M: int
    Ks: tuple[int, ...]
    lrs: tuple[float, ...]
    n_seeds: int
    t: np.ndarray
    trained: np.ndarray
    untrained: np.ndarray


def k_sweep(M: int, Ks: Sequence[int], n_seeds: int, *, sigma0: float, lrs: Sequence[float], steps: int,
            n_h: int = 64, seed: int = 0, record_every: int = 25, scheme: str = "xavier",
            device: str | torch.device = "cpu", dtype=torch.float32) -> KSweep:
    """Train every (step size, K, seed) shared routing network in ONE batched engine run (Fig. 5c).

    Replica ``(l, k, s)`` trains the routes of ``trained_routes(M, Ks[k], seed + s)`` from random init
    ``(k, s)`` (one generator for all) with step ``lrs[l]``: every step size trains the same networks.
    """
    from .backend import generator as make_gen
    from .routing import init_routing_weights, routing_task, train_routing, trained_route_masks
    Ks, lrs = tuple(int(k) for k in Ks), tuple(float(x) for x in lrs)
    if not Ks or any(not 1 <= k <= M for k in Ks):
        raise ValueError(f"Ks={Ks!r} is invalid; expected integers in 1..M={M}")
    if not lrs or any(not x > 0 for x in lrs):
        raise ValueError(f"lrs={lrs!r} is invalid; expected positive step sizes")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds!r} is invalid; expected a positive integer")
    nL, nK, nS = len(lrs), len(Ks), n_seeds
    KK = [k for _ in lrs for k in Ks for _ in range(nS)]
    SS = [seed + s for _ in lrs for _ in Ks for s in range(nS)]
    LR = torch.tensor([x for x in lrs for _ in Ks for _ in range(nS)], dtype=dtype)
    task = routing_task(M, 1, seed=seed, dtype=dtype, device=device)
    task = task.with_trained(trained_route_masks(M, KK, SS))
    g = make_gen(seed, device)
    W1 = init_routing_weights(nK * nS, M, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=g,
                              scheme=scheme, dtype=dtype)
    rep = lambda w: w.repeat(nL, *([1] * (w.dim() - 1)))   # the same networks for every step size
    W0 = type(W1)(rep(W1.W1), rep(W1.W2), rep(W1.W3))
    run = train_routing(W0, task, lr=LR.to(W0.W2.device), steps=steps, record_every=record_every,
                        record_sv=False)
    shp = (-1, nL, nK, nS)
    return KSweep(M=M, Ks=Ks, lrs=lrs, n_seeds=nS,
                  t=run.t.reshape(-1, nL, nK * nS)[:, :, 0].double().cpu().numpy(),
                  trained=run.norm_loss_trained.reshape(shp).double().cpu().numpy(),
                  untrained=run.norm_loss_untrained.reshape(shp).double().cpu().numpy())


def threshold_fraction(Ks: Sequence[int], M: int, err: Sequence[float], level: float = 0.05) -> float:
    """Smallest ``K/M`` whose error is below ``level`` (``nan`` if none): the Fig. 5c threshold."""
    err = np.asarray(err, dtype=np.float64)
    below = [k for k, e in zip(Ks, err) if np.isfinite(e) and e < level]
    return min(below) / M if below else float("nan")


def sharing_experiment(M: int, Ps: Sequence[int], *, R: int, sigma0: float, n_h: int = 64, seed: int = 0,
                       init: str = "random", horizon: float = 12.0, steps_per_run: int | None = None,
                       chunks: int = 60, dtype=torch.float32) -> dict[int, SharingRun]:
    """Train ``R`` networks for each P-sharing scheme in ``Ps`` (Fig. 5b, networks), all routes trained.

    ``init="random"``: Xavier-normal weights scaled by ``sigma0`` (Sec. 4); ``"decoupled"``: Eq. 9 weights
    with every mode's ``B1 = B2 = B3 = sigma0`` (the start assumed by Eqs. 16-17). Each scheme runs to
    ``horizon`` times its Eq. 16-17 half-time with the stable step :func:`stable_lr` (one architecture
    per call: the schemes have different numbers of pathways; seeds and pathways are batched).
    """
    from .backend import generator as make_gen
    from .routing import decoupled_routing_weights, task_modes
    if init not in ("random", "decoupled"):
        raise ValueError(f"init={init!r} is invalid; expected 'random' or 'decoupled'")
    out = {}
    for P in Ps:
        bt = block_task(P, seed=seed, dtype=dtype)
        m = task_modes(bt)
        S, D = float(m.s[0]), float(m.d[0])
        lr = stable_lr(M, P, S, D)
        t_half = float(half_time(*(lambda tr: (tr.t, tr.B2[:, 0, 0]))(integrate_sharing(
            [S], [D], M, P, sigma0, t=np.linspace(0, 80.0 * M**2 / (P * S * sigma0), 4001)))))
        steps = steps_per_run or int(math.ceil(horizon * t_half / lr))
        g = make_gen(seed + 1000 * P)
        W0 = None
        if init == "decoupled":
            W0 = decoupled_routing_weights(bt, sigma0, sigma0, R=R * n_pathways(M, P), n_h=n_h, generator=g,
                                           dtype=dtype)
        out[P] = train_sharing(M, P, R=R, sigma0=sigma0, lr=lr, steps=steps, chunks=chunks, n_h=n_h,
                               generator=g, seed=seed, dtype=dtype, W0=W0)
    return out


# ----------------------------------------------------------------------------------------------
# initialisation scale (Sec. 4.3, Fig. 6): one batched run over schemes x sigma_0 x seeds
# ----------------------------------------------------------------------------------------------

def lazy_safe_lr(sigma0, base: float = 0.15):
    """Step size for initial scale ``sigma0``: ``base / max(1, sigma0**4)``.

    A three-layer route map ``W3 W2 W1`` has gradients that scale as ``sigma0**2`` per factor pair, so
    the curvature (the neural tangent kernel) at large ``sigma0`` grows like ``sigma0**4``; keeping
    ``lr * sigma0**4`` fixed keeps gradient descent stable and near gradient flow. For ``sigma0 <= 1``
    the curvature at the learned solution (``~3 d B1**4``, about 6 here) sets ``base``.
    """
    s = np.asarray(sigma0, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigma0={sigma0!r} is invalid; expected positive initial scales")
    return base / np.maximum(1.0, s**4)


@dataclass
class SigmaSweep:
    """Fig. 6: ``t`` (T, nC, nG) time per replica; ``trained``/``untrained``/``loss``: (T, nC, nG, nS)
    normalised errors and Eq. 1 loss; ``outputs``: final (nC, nG, nS, M, M, N_y, n); ``h1``: final
    (nC, nG, nS, M, N_h, n); ``trained_mask``: (nS, M, M); ``Y``: (M, N_y, n)."""

    M: int
    K: int
    schemes: tuple[str, ...]
    sigmas: tuple[float, ...]
    n_seeds: int
    lr: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    trained: np.ndarray
    untrained: np.ndarray
    outputs: torch.Tensor
    h1: torch.Tensor
    trained_mask: torch.Tensor
    Y: torch.Tensor


def sigma_sweep(M: int, K: int, sigmas: Sequence[float], n_seeds: int, *, steps: int,
                schemes: Sequence[str] = ("orthogonal",), n_h: int = 64, seed: int = 0, record_every: int = 20,
                base_lr: float = 0.15, device: str | torch.device = "cpu", dtype=torch.float32) -> SigmaSweep:
    """Train shared routing networks for every (init scheme, sigma_0, seed) in ONE batched engine run.

    Seed ``s`` fixes the trained routes ``trained_routes(M, K, seed + s)``; step size
    :func:`lazy_safe_lr` of each replica's ``sigma_0``.
    """
    from .backend import generator as make_gen
    from .routing import RoutingWeights, init_routing_weights, routing_task, train_routing, trained_route_masks
    sigmas, schemes = tuple(float(x) for x in sigmas), tuple(schemes)
    if not sigmas or any(not x > 0 for x in sigmas):
        raise ValueError(f"sigmas={sigmas!r} is invalid; expected positive initial scales")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds!r} is invalid; expected a positive integer")
    nC, nG, nS = len(schemes), len(sigmas), n_seeds
    sig = torch.tensor([g for _ in schemes for g in sigmas for _ in range(nS)], dtype=dtype)
    masks = trained_route_masks(M, [K] * nS, [seed + s for s in range(nS)])
    task = routing_task(M, K, seed=seed, dtype=dtype, device=device)
    task = task.with_trained(masks.repeat(nC * nG, 1, 1))
    g = make_gen(seed, device)
    parts = [init_routing_weights(nG * nS, M, task.n_x, n_h, task.n_y, sigma0=sig[c * nG * nS:(c + 1) * nG * nS],
                                  generator=g, scheme=sc, dtype=dtype) for c, sc in enumerate(schemes)]
    W0 = RoutingWeights(*(torch.cat([getattr(p, k) for p in parts]) for k in ("W1", "W2", "W3")))
    lr = torch.as_tensor(lazy_safe_lr(sig.double().numpy(), base_lr), dtype=dtype)
    run = train_routing(W0, task, lr=lr.to(W0.W2.device), steps=steps, record_every=record_every, record_sv=False)
    shp = (-1, nC, nG, nS)
    f = lambda x: x.reshape(shp).double().cpu().numpy()
    return SigmaSweep(M=M, K=K, schemes=schemes, sigmas=sigmas, n_seeds=nS, lr=lr.double().numpy().reshape(nC, nG, nS),
                      t=run.t.reshape(shp)[..., 0].double().cpu().numpy(), loss=f(run.loss_trained),
                      trained=f(run.norm_loss_trained), untrained=f(run.norm_loss_untrained),
                      outputs=run.outputs.reshape(nC, nG, nS, *run.outputs.shape[1:]).cpu(),
                      h1=run.h1[:, 0].reshape(nC, nG, nS, *run.h1.shape[2:]).cpu(),
                      trained_mask=masks, Y=task.Y.cpu())


def crossing(x: Sequence[float], y: Sequence[float], level: float, *, log_x: bool = True) -> float:
    """First ``x`` where ``y`` rises through ``level`` (interpolated, in ``log x`` if ``log_x``); nan if never."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    u = np.log(x) if log_x else x
    for k in range(1, len(x)):
        if y[k - 1] < level <= y[k]:
            f = (level - y[k - 1]) / (y[k] - y[k - 1])
            v = u[k - 1] + f * (u[k] - u[k - 1])
            return float(np.exp(v) if log_x else v)
    return float("nan")


# ----------------------------------------------------------------------------------------------
# a race inside one network: shared and private pathways on at the same time (Sec. 4.2)
# ----------------------------------------------------------------------------------------------

@dataclass
class CombinedRace:
    """``t``: (T,) time; ``shared``/``private``: (T, R) size of each pathway's output on a route, as a
    fraction of the target's size (mean over routes; private = the route's own pathway);
    ``loss``: (T, R) normalised training error."""

    t: np.ndarray
    shared: np.ndarray
    private: np.ndarray
    loss: np.ndarray


def combined_gates(M: int, *, dtype=torch.float32) -> torch.Tensor:
    """Gates ``(M, M, 1 + M**2)``: every route uses the shared pathway 0 AND its private pathway
    ``1 + i M + j`` at once (the "combined network" of Sec. 4.2: P = M**2 and P = 1 side by side)."""
    G = torch.zeros(M, M, 1 + M * M, dtype=dtype)
    G[:, :, 0] = 1
    idx = torch.arange(M * M).view(M, M)
    G.view(M * M, -1)[torch.arange(M * M), 1 + idx.flatten()] = 1
    return G


def combined_race(M: int, *, R: int, sigma0: float, lr: float, steps: int, chunks: int = 30, n_h: int = 32,
                  seed: int = 0, dtype=torch.float32) -> CombinedRace:
    """Train ``R`` combined networks (all routes trained) and track each pathway's share of the output."""
    from .backend import generator as make_gen
    from .routing import init_routing_weights, routing_task, train_routing
    task = routing_task(M, M, seed=seed, dtype=dtype)
    G = combined_gates(M, dtype=dtype)
    W = init_routing_weights(R, M, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=make_gen(seed),
                             H=1 + M * M, per_pathway_io=True, dtype=dtype)
    ynorm = float(task.Y[0].norm())
    ii, jj = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")

    def shares(W):
        W1, W2, W3 = W.expanded()
        h2 = torch.einsum("rhab,rhibn->rhian", W2, torch.einsum("rhiab,ibn->rhian", W1, task.X))
        out = torch.einsum("rhjab,rhibn->rhijan", W3, h2).norm(dim=(-1, -2)) / ynorm   # (R, H, M, M)
        return out[:, 0].mean((1, 2)), out[:, 1 + ii * M + jj, ii, jj].mean((1, 2))

    ts, sh, pr, ls = [], [], [], []
    per, done = max(1, steps // chunks), 0
    s0 = shares(W)
    ts.append(0.0); sh.append(s0[0]); pr.append(s0[1]); ls.append(torch.ones(R, dtype=dtype))
    while done < steps:
        n = min(per, steps - done)
        run = train_routing(W, task, lr=lr, steps=n, gates=G, record_every=n, record_sv=False)
        W, done = run.W, done + n
        s = shares(W)
        ts.append(done * lr); sh.append(s[0]); pr.append(s[1]); ls.append(run.norm_loss_trained[-1])
    f = lambda x: torch.stack(x).double().numpy()
    return CombinedRace(t=np.array(ts), shared=f(sh), private=f(pr), loss=f(ls))
