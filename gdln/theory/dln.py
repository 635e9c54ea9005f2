"""Deep linear network closed forms for one singular mode (App. A, Eqs. 21-22).

A pathway of two weight layers whose mode has input-output singular value ``s`` and input
variance ``d`` (after the reduction, Sec. 3.1) has the balanced 1D dynamics
``tau db1/dt = b2 (s - d b1 b2)``, ``tau db2/dt = b1 (s - d b1 b2)``; with ``b1 = b2`` the effective
singular value ``a = b1 b2`` obeys ``tau da/dt = 2 a (s - d a)``, solved by (Eq. 21, Saxe et al. 2014)

``a(t) = (s/d) / (1 - (1 - s/(d a0)) exp(-2 s t / tau))``.

Its loss is the deep linear network loss of that pathway, ``l = Sigma^y/2 - s a + d a^2/2``;
summing ``n_paths`` identical pathways gives Eq. 22, ``L = n_paths l`` (XoR: ``n_paths = P = 4``,
``Sigma^y = 1/P``, so ``L = 1/2 - P s a + (P/2) d a^2``).

Chains of any depth (Saxe et al. 2014; the talk's "analytic learning trajectory"). A scalar chain of
``D`` weights ``b_1 ... b_D`` with product ``a`` and loss ``d a^2/2 - s a`` follows
``tau db_k/dt = (prod_{j != k} b_j) (s - d a)``. From balanced weights (all ``b_k = a^{1/D}``, which
the flow keeps) the product obeys

``tau da/dt = D a^(2 - 2/D) (s - d a)``:

exponential for ``D = 1`` (:func:`chain_trajectory`), sigmoidal for ``D = 2`` (Eq. 21), and for
``D >= 3`` without an elementary closed form (:func:`chain_ode`). The talk's Lambert-W formula
(:func:`lambert_trajectory`) is exact for the limiting equation in which ``a^(2 - 2/D)`` is replaced by
its ``D -> infinity`` limit ``a^2``: ``tau_W da/dt = (d/s^2) a^2 (s - d a)`` (:func:`lambert_limit_ode`);
a chain of depth ``D`` is compared with it in the time unit ``tau_W = d tau / (D s^2)``
(:func:`lambert_time_unit`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import wrightomega
from torch import Tensor

from gdln.core.integrate import check_times, ode_samples

__all__ = ["dln_mode_trajectory", "dln_loss", "dln_mode_ode", "chain_rate", "chain_trajectory", "chain_ode",
           "lambert_trajectory", "lambert_limit_ode", "lambert_time_unit"]


def _t(x, dtype=torch.float64) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(x, dtype=dtype)


def dln_mode_trajectory(s, d, a0, tau, t) -> Tensor:
    """Eq. 21: ``a(t)`` for a two-layer pathway from balanced initial conditions ``a(0) = a0 > 0``.

    All arguments broadcast (tensors or numbers); ``s > 0``, ``d > 0``, ``tau > 0``. ``t`` is in the
    same units as ``tau``.
    """
    s, d, a0, tau, t = (_t(v) for v in (s, d, a0, tau, t))
    for name, v in (("s", s), ("d", d), ("a0", a0), ("tau", tau)):
        if not torch.all(v > 0):
            raise ValueError(f"{name} must be positive for Eq. 21, got {v.tolist()!r}")
    return (s / d) / (1 - (1 - s / (d * a0)) * torch.exp(-2 * s * t / tau))


def dln_loss(a, s, d, *, sigma_y, n_paths: int = 1) -> Tensor:
    """Eq. 22: ``L = n_paths (sigma_y/2 - s a + d a^2/2)`` for ``n_paths`` identical pathways of one
    mode each (``sigma_y = <g y^2>`` of one pathway, Eq. 20). For XoR (``n_paths = 4``,
    ``sigma_y = 1/4``, ``s = sqrt(2)/4``, ``d = 1/2``) this is Eq. 23, ``1/2 - sqrt(2) a + a^2``."""
    if not (isinstance(n_paths, int) and n_paths >= 1):
        raise ValueError(f"n_paths must be a positive integer, got {n_paths!r}")
    a, s, d, sigma_y = (_t(v) for v in (a, s, d, sigma_y))
    return n_paths * (sigma_y / 2 - s * a + d * a ** 2 / 2)


def dln_mode_ode(s: float, d: float, b0: tuple[float, float], tau: float, t, *, rtol: float = 1e-10,
                 atol: float = 1e-12) -> Tensor:
    """Numerical reference for Eq. 21: the two-layer chain (:func:`chain_ode` with ``D = 2``) from
    ``b0 = (b1(0), b2(0))``; returns ``a(t) = b1 b2`` at the times ``t`` (starting at or after 0, increasing)."""
    return chain_ode(2, s, d, b0, tau, t, rtol=rtol, atol=atol)


def _positive(**values) -> None:
    """Shared by :mod:`gdln.theory.depth`: every value a positive finite number (numpy scalars included)."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} is invalid; expected a positive finite number")


def _depth(D) -> int:
    """Shared by :mod:`gdln.theory.depth`: a depth (number of weight layers) >= 1, returned as ``int``."""
    if isinstance(D, bool) or not isinstance(D, (int, np.integer)) or D < 1:
        raise ValueError(f"D={D!r} is invalid; expected a depth (number of weight layers) >= 1")
    return int(D)


def chain_rate(a, s: float, d: float, D: int, tau: float = 1.0):
    """``da/dt = D a^(2 - 2/D) (s - d a) / tau``: the product of a balanced depth-``D`` chain (``a > 0``)."""
    _depth(D)
    return D * a ** (2 - 2 / D) * (s - d * a) / tau


def chain_trajectory(D: int, s: float, d: float, a0: float, tau: float, t) -> Tensor:
    """Closed-form ``a(t)`` of a balanced chain of depth ``D`` in {1, 2} from ``a(0) = a0``.

    ``D = 1``: ``a = s/d + (a0 - s/d) exp(-d t/tau)`` (the talk writes ``exp(-t/tau)``: its ``d = 1``);
    ``D = 2``: Eq. 21 (:func:`dln_mode_trajectory`). Deeper chains have no elementary closed form:
    :func:`chain_ode`, or the ``D -> infinity`` limit :func:`lambert_trajectory`.
    """
    D = _depth(D)
    _positive(s=s, d=d, a0=a0, tau=tau)
    if D == 1:
        tt = _t(t)
        return s / d + (a0 - s / d) * torch.exp(-d * tt / tau)
    if D == 2:
        return dln_mode_trajectory(s, d, a0, tau, t)
    raise ValueError(f"D={D} has no elementary closed form; use chain_ode (exact) or lambert_trajectory (D -> infinity)")


def chain_ode(D: int, s: float, d: float, b0, tau: float, t, *, rtol: float = 1e-12, atol: float = 1e-14) -> Tensor:
    """Gradient flow of a scalar chain of ``D`` weights, integrated numerically; ``a(t) = prod b_k`` at ``t``.

    ``tau db_k/dt = (prod_{j != k} b_j) (s - d a)``, from ``b0`` (``D`` initial weights, or one number:
    the balanced start ``b_k = b0``), with :func:`gdln.core.integrate.ode_samples` (DOP853).
    """
    D = _depth(D)
    _positive(s=s, d=d, tau=tau)
    b0 = np.full(D, float(b0)) if np.ndim(b0) == 0 else np.asarray(b0, dtype=float)
    if b0.shape != (D,) or not np.all(np.isfinite(b0)):
        raise ValueError(f"b0={b0.tolist()!r} is invalid; expected one number or {D} finite initial weights")
    times = check_times(t)

    def f(_t, b):
        others = np.array([np.prod(np.delete(b, k)) for k in range(D)])
        return others * (s - d * np.prod(b)) / tau

    Y = ode_samples(f, b0, times, solver="DOP853", rtol=rtol, atol=atol, what=f"the depth-{D} chain")
    return torch.as_tensor(np.prod(Y, axis=1))


def lambert_trajectory(s: float, d: float, a0: float, tau_w: float, t) -> Tensor:
    """The talk's formula for very deep chains, ``a = (s/d) / (1 + W[(s/(d a0) - 1) e^(s/(d a0) - 1 - t/tau_w)])``.

    ``W`` is the principal branch of Lambert's W. Exact for :func:`lambert_limit_ode` (``0 < a0 < s/d``);
    ``tau_w`` is its time unit (:func:`lambert_time_unit` for a chain of depth ``D``).
    """
    _positive(s=s, d=d, a0=a0, tau_w=tau_w)
    if a0 >= s / d:
        raise ValueError(f"a0={a0!r} is invalid; expected 0 < a0 < s/d = {s / d!r}")
    c = s / (d * a0) - 1
    tt = np.asarray(_t(t).numpy(), dtype=float)
    # W(c e^(c - t/tau_w)) = omega(log c + c - t/tau_w), Wright's omega (W(e^x)): no overflow of e^c at small a0
    u = np.real(wrightomega(np.log(c) + c - tt / tau_w))
    return torch.as_tensor((s / d) / (1 + u))


def lambert_limit_ode(s: float, d: float, a0: float, tau_w: float, t, *, rtol: float = 1e-12,
                      atol: float = 1e-14) -> Tensor:
    """Numerical solution of ``tau_w da/dt = (d/s^2) a^2 (s - d a)``, the equation the Lambert-W formula solves.

    Derivation: with ``u = s/(d a) - 1`` the formula reads ``u e^u = c e^c e^(-t/tau_w)``, so
    ``(1 + u) du/dt = -u / tau_w``; substituting ``a = (s/d)/(1 + u)`` gives the equation above.
    """
    _positive(s=s, d=d, a0=a0, tau_w=tau_w)
    times = check_times(t)
    Y = ode_samples(lambda _t, a: d / s ** 2 * a ** 2 * (s - d * a) / tau_w, np.array([float(a0)]), times,
                    solver="DOP853", rtol=rtol, atol=atol, what="the Lambert-W limit equation")
    return torch.as_tensor(Y[:, 0])


def lambert_time_unit(D: int, s: float, d: float, tau: float) -> float:
    """``tau_w = d tau / (D s^2)``: the Lambert formula's time unit for a chain of depth ``D``.

    The chain's ``tau da/dt = D a^(2-2/D) (s - d a)`` becomes the limit equation
    ``tau_w da/dt = (d/s^2) a^2 (s - d a)`` when ``a^(2-2/D) -> a^2`` and ``tau_w = d tau/(D s^2)``.
    """
    D = _depth(D)
    _positive(s=s, d=d, tau=tau)
    return d * tau / (D * s ** 2)
