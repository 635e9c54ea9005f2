"""Reduced dynamics of the routing network (Sec. 4, Eqs. 13-15; App. C, Eqs. 44-51).

From decoupled initial conditions that are equal across domains, the routing network of Fig. 4 is
described by one scalar per data mode and layer: ``B1`` (every input block), ``B2`` (the hidden
pathway) and ``B3`` (every output block). With ``s``, ``d`` the singular values and input variances of
one route's data (``<y x^T> = U diag(s) V^T``, ``V^T <x x^T> V = diag(d)``; Eq. 11 without the
1/(KM) factor, which cancels against the path count):

- Eqs. 44-46: ``tau B1' = (1/M) B3 B2 e``, ``tau B2' = B3 B1 e``, ``tau B3' = (1/M) B2 B1 e``, ``e = s - B3 B2 B1 d``
- Eqs. 13-14 (balanced, ``B1 = B3``): ``tau B1' = (1/M) B2 B1 e``, ``tau B2' = B1^2 e``, ``e = s - B2 B1^2 d``
- conserved: ``C = M B1^2 - B2^2``; Eq. 15: ``tau B2' = (1/M)(B2^2 + C)[s - (1/M) B2 (B2^2 + C) d]``
- Eq. 51: the steady ratio ``B2 / B1 -> sqrt(M)``.

All functions are elementwise over modes (any array shape); integration uses scipy in float64.
The loss of every trained route (and of every route, from decoupled init) is
``L = y_power/2 - sum_a s_a A_a + 1/2 sum_a d_a A_a^2`` with ``A = B3 B2 B1`` (:func:`reduced_routing_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from gdln.core.integrate import ode_samples

__all__ = ["eq44_46_rhs", "eq13_14_rhs", "eq15_rhs", "conserved_quantity", "reduced_routing_loss",
    "sv_ratio_steady", "ReducedRouting", "integrate_eq44_46", "integrate_eq13_14", "integrate_eq15",
    "fit_initial_scale"]


def _check_M(M) -> float:
    if isinstance(M, bool) or not isinstance(M, (int, float)) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a number of domains >= 1")
    return float(M)


def eq44_46_rhs(B1, B2, B3, s, d, M, tau: float = 1.0):
    """Right-hand sides of Eqs. 44-46 (three layers, input and output blocks may differ)."""
    M = _check_M(M)
    e = s - B3 * B2 * B1 * d
    return B3 * B2 * e / (M * tau), B3 * B1 * e / tau, B2 * B1 * e / (M * tau)


def eq13_14_rhs(B1, B2, s, d, M, tau: float = 1.0):
    """Right-hand sides of Eqs. 13-14 (= Eqs. 47-48, balanced ``B1 = B3``)."""
    M = _check_M(M)
    e = s - B2 * B1 ** 2 * d
    return B2 * B1 * e / (M * tau), B1 ** 2 * e / tau


def eq15_rhs(B2, C, s, d, M, tau: float = 1.0):
    """Right-hand side of Eq. 15 (the hidden singular value alone, given ``C = M B1^2 - B2^2``)."""
    M = _check_M(M)
    q = (B2 ** 2 + C) / M
    return q * (s - B2 * q * d) / tau


def conserved_quantity(B1, B2, M):
    """``M B1^2 - B2^2``, conserved by Eqs. 13-14 (Sec. 4)."""
    return _check_M(M) * B1 ** 2 - B2 ** 2


def reduced_routing_loss(A, s, d, y_power: float):
    """Eq. 1 for a route whose mode strengths are ``A = B3 B2 B1`` (last axis = modes)."""
    A = np.asarray(A)
    return 0.5 * y_power - (s * A).sum(-1) + 0.5 * (d * A ** 2).sum(-1)


def sv_ratio_steady(M) -> float:
    """Eq. 51: the long-time ratio of hidden to input/output singular values, ``sqrt(M)``."""
    return float(np.sqrt(_check_M(M)))


@dataclass
class ReducedRouting:
    """A reduced trajectory: ``t`` (T,), ``B1``, ``B2``, ``B3`` (T, *mode_shape), ``loss`` (T, *batch)."""

    t: np.ndarray
    B1: np.ndarray
    B2: np.ndarray
    B3: np.ndarray
    loss: np.ndarray

    @property
    def conserved(self) -> np.ndarray:
        """``M B1^2 - B2^2`` along the trajectory (constant for Eqs. 13-15)."""
        return self._M * self.B1 ** 2 - self.B2 ** 2

    _M: float = 1.0


def _integrate(rhs, y0: np.ndarray, t_eval, rtol: float, atol: float, solver: str, what: str):
    """The states at ``t_eval`` of ``dy/dt = rhs(y)`` from ``y(t_eval[0]) = y0``."""
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size < 1 or np.any(np.diff(t_eval) < 0):
        raise ValueError("t_eval must be a non-empty, non-decreasing 1-D array of times")
    return ode_samples(lambda _t, y: rhs(y), y0, t_eval, solver=solver, rtol=rtol, atol=atol, t0=t_eval[0],
                       what=what)


def _bcast(*arrs):
    arrs = [np.asarray(a, dtype=float) for a in arrs]
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    return [np.broadcast_to(a, shape).copy() for a in arrs], shape


def integrate_eq44_46(B1_0, B2_0, B3_0, s, d, M, t_eval, *, y_power: float = 0.0, tau: float = 1.0,
                      rtol: float = 1e-12, atol: float = 1e-14, solver: str = "DOP853") -> ReducedRouting:
    """Integrate Eqs. 44-46 from ``(B1_0, B2_0, B3_0)`` (broadcast against ``s``, ``d``; last axis = modes)."""
    (b1, b2, b3, s_, d_), shape = _bcast(B1_0, B2_0, B3_0, s, d)
    k = int(np.prod(shape))

    def rhs(y):
        r1, r2, r3 = eq44_46_rhs(y[:k], y[k:2 * k], y[2 * k:], s_.ravel(), d_.ravel(), M, tau)
        return np.concatenate([r1, r2, r3])

    Y = _integrate(rhs, np.concatenate([b1.ravel(), b2.ravel(), b3.ravel()]), t_eval, rtol, atol, solver,
                   "Eqs. 44-46")
    B1, B2, B3 = (Y[:, i * k:(i + 1) * k].reshape(-1, *shape) for i in range(3))
    out = ReducedRouting(np.asarray(t_eval, float), B1, B2, B3,
                         reduced_routing_loss(B1 * B2 * B3, s_, d_, y_power))
    out._M = _check_M(M)
    return out


def integrate_eq13_14(B1_0, B2_0, s, d, M, t_eval, *, y_power: float = 0.0, tau: float = 1.0,
                      rtol: float = 1e-12, atol: float = 1e-14, solver: str = "DOP853") -> ReducedRouting:
    """Integrate the balanced Eqs. 13-14 (``B3 = B1``)."""
    (b1, b2, s_, d_), shape = _bcast(B1_0, B2_0, s, d)
    k = int(np.prod(shape))

    def rhs(y):
        r1, r2 = eq13_14_rhs(y[:k], y[k:], s_.ravel(), d_.ravel(), M, tau)
        return np.concatenate([r1, r2])

    Y = _integrate(rhs, np.concatenate([b1.ravel(), b2.ravel()]), t_eval, rtol, atol, solver, "Eqs. 13-14")
    B1, B2 = Y[:, :k].reshape(-1, *shape), Y[:, k:].reshape(-1, *shape)
    out = ReducedRouting(np.asarray(t_eval, float), B1, B2, B1,
                         reduced_routing_loss(B2 * B1 ** 2, s_, d_, y_power))
    out._M = _check_M(M)
    return out


def integrate_eq15(B1_0, B2_0, s, d, M, t_eval, *, y_power: float = 0.0, tau: float = 1.0,
                   rtol: float = 1e-12, atol: float = 1e-14, solver: str = "DOP853") -> ReducedRouting:
    """Integrate Eq. 15 for ``B2`` with ``C = M B1_0^2 - B2_0^2``; ``B1 = sqrt((B2^2 + C)/M)``."""
    Mf = _check_M(M)
    (b1, b2, s_, d_), shape = _bcast(B1_0, B2_0, s, d)
    if np.any(b1 < 0):
        raise ValueError("B1_0 must be non-negative (a singular value)")
    C = (Mf * b1 ** 2 - b2 ** 2).ravel()
    Y = _integrate(lambda y: eq15_rhs(y, C, s_.ravel(), d_.ravel(), Mf, tau), b2.ravel(), t_eval, rtol, atol,
                   solver, "Eq. 15")
    B2 = Y.reshape(-1, *shape)
    B1 = np.sqrt(np.maximum((B2 ** 2 + C.reshape(shape)) / Mf, 0.0))
    out = ReducedRouting(np.asarray(t_eval, float), B1, B2, B1,
                         reduced_routing_loss(B2 * B1 ** 2, s_, d_, y_power))
    out._M = Mf
    return out


def fit_initial_scale(t, loss, B1_0: float, B2_0: float, s, d, M, *, y_power: float,
                      log_bounds: tuple[float, float] = (-6.0, 1.0)) -> tuple[float, float]:
    """One-parameter fit of Eq. 15 to a loss curve: the initial condition ``(c B1_0, c B2_0)``.

    Random weights are not decoupled, so Eq. 15 has no exact initial condition for them; it fixes the
    *shape* of the curve, and the single scale ``c`` (which also fixes ``C``) sets when the drops
    happen. Returns ``(c, max_t |loss - Eq. 15| / (y_power / 2))`` minimising that maximum deviation
    (bounded scalar search over ``log c`` in ``log_bounds``).
    """

    t = np.asarray(t, float)
    loss = np.asarray(loss, float)
    L0 = 0.5 * y_power

    def dev(lc):
        c = float(np.exp(lc))
        return float(np.abs(loss - integrate_eq15(c * B1_0, c * B2_0, s, d, M, t, y_power=y_power,
                                                  rtol=1e-8, atol=1e-10).loss).max() / L0)

    r = minimize_scalar(dev, bounds=log_bounds, method="bounded", options={"xatol": 1e-3})
    return float(np.exp(r.x)), float(r.fun)
