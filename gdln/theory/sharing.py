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

from gdln.core.integrate import ode_samples

__all__ = ["block_size", "allowed_P", "n_pathways", "sharing_assignment", "sharing_rates", "pathway_rates",
    "sharing_rhs", "SharingTrajectory", "integrate_sharing", "PathwayTrajectory", "integrate_pathways",
    "race_rates", "sv_ratio_theory", "conserved", "balanced_b2", "half_time", "speedup_theory"]

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
                      solver: str = "LSODA") -> SharingTrajectory:
    """Integrate Eqs. 16-17 for each ``P`` in ``P`` and each mode ``(S[a], D[a])`` at once.

    ``b1_0``/``b2_0`` are the initial singular values (scalars or one per mode; ``b2_0`` defaults to
    ``b1_0``). ``loss`` is the loss of one route (Eq. 1 per route), ``1/2 (y_power - 2 sum_a S_a u_a +
    sum_a D_a u_a**2)`` with ``u = B2 B1**2`` and ``y_power = <|y|**2>`` (default ``sum S**2/D``, the
    part the modes can capture; :func:`gdln.tasks.routing.task_modes` gives the true value).
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

    Y = ode_samples(rhs, y0, t, solver=solver, rtol=rtol, atol=atol, t0=t[0], what="Eqs. 16-17")
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
                       rtol: float = 1e-9, atol: float = 1e-12, solver: str = "LSODA") -> PathwayTrajectory:
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

    Y = ode_samples(rhs, y0, t, solver=solver, rtol=rtol, atol=atol, t0=t[0],
                    what="the reduced pathway dynamics")
    return PathwayTrajectory(t=t, rates=R, B=Y.reshape(t.size, nQ, 3, nA))


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
