"""Deep linear network closed forms for one singular mode (App. A, Eqs. 21-22).

A pathway of two weight layers whose mode has input-output singular value ``s`` and input
variance ``d`` (after the reduction, Sec. 3.1) has the balanced 1D dynamics
``tau db1/dt = b2 (s - d b1 b2)``, ``tau db2/dt = b1 (s - d b1 b2)``; with ``b1 = b2`` the effective
singular value ``a = b1 b2`` obeys ``tau da/dt = 2 a (s - d a)``, solved by (Eq. 21, Saxe et al. 2014)

``a(t) = (s/d) / (1 - (1 - s/(d a0)) exp(-2 s t / tau))``.

Its loss is the deep linear network loss of that pathway, ``l = Sigma^y/2 - s a + d a^2/2``;
summing ``n_paths`` identical pathways gives Eq. 22, ``L = n_paths l`` (XoR: ``n_paths = P = 4``,
``Sigma^y = 1/P``, so ``L = 1/2 - P s a + (P/2) d a^2``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gdln.core.integrate import check_times, ode_samples

__all__ = ["dln_mode_trajectory", "dln_loss", "dln_mode_ode"]


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
    """Numerical reference for Eq. 21: integrate ``tau db1/dt = b2 (s - d b1 b2)``,
    ``tau db2/dt = b1 (s - d b1 b2)`` from ``b0 = (b1(0), b2(0))`` with :func:`gdln.core.integrate.ode_samples` (DOP853) and
    return ``a(t) = b1 b2`` at the times ``t`` (which must start at or after 0 and increase)."""
    times = check_times(t)

    def f(_t, b):
        err = s - d * b[0] * b[1]
        return [b[1] * err / tau, b[0] * err / tau]

    Y = ode_samples(f, np.asarray(b0, dtype=float), times, solver="DOP853", rtol=rtol, atol=atol,
                    what="the two-layer mode ODE (Eq. 21)")
    return torch.as_tensor(Y[:, 0] * Y[:, 1])
