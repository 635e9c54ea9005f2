"""Time stepping for every gradient flow in gdln: one ODE sampler and one gradient-descent schedule.

Training time is measured in units of the time constant ``tau`` of ``tau dW/dt = -dL/dW`` (Eq. 2).
:func:`ode_samples` integrates any ``dy/dt = f(t, y)`` with scipy's adaptive solvers and samples it
at given times: the full gated network (Eqs. 2-4), the reduced mode dynamics (Eq. 10), Eq. 21 of
the deep linear network, the routing equations (Eqs. 13-15, 44-46), the P-sharing equations
(Eqs. 16-17) and the routing engine's float64 flow all go through it, so ``solve_ivp`` is called in
this one place (and :func:`ode_first_crossing`, the time at which a quantity first reaches a level).
:func:`gd_schedule` gives the Euler (gradient descent) steps that land exactly on the
sample times, and :func:`check_times` validates sample times.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from torch import Tensor

__all__ = ["check_times", "gd_schedule", "ode_samples", "ode_first_crossing"]


def check_times(t_eval) -> np.ndarray:
    """``t_eval`` as a float64 array; ``ValueError`` unless 1-D, finite, >= 0, strictly increasing."""
    t = np.asarray(t_eval.detach().cpu() if isinstance(t_eval, Tensor) else t_eval, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"t_eval must be a non-empty 1-D sequence of times, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or t[0] < 0:
        raise ValueError(f"t_eval must be finite and >= 0, got first/min value {t.min()!r}")
    if np.any(np.diff(t) <= 0):
        i = int(np.argmax(np.diff(t) <= 0))
        raise ValueError(f"t_eval must be strictly increasing; t_eval[{i}]={t[i]!r} >= t_eval[{i + 1}]={t[i + 1]!r}")
    return t


def gd_schedule(times: np.ndarray, dt) -> list[list[float]]:
    """Gradient-descent step sizes that land exactly on each time in ``times`` (from t = 0).

    Entry ``k`` lists the steps taken between ``times[k-1]`` and ``times[k]``: all equal to ``dt``
    except the last, shortened so that the run lands on ``times[k]``.
    """
    if dt is None or isinstance(dt, bool) or not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"method='gd' needs a positive step dt (in units of tau), got {dt!r}")
    schedule, t_now = [], 0.0
    for target in times:
        n = int(np.ceil((target - t_now) / dt - 1e-9))
        schedule.append([dt] * (n - 1) + [(target - t_now) - (n - 1) * dt] if n > 0 else [])
        t_now = float(target)
    return schedule


def ode_samples(fun, y0: np.ndarray, times, *, solver: str, rtol: float, atol: float,
                t0: float = 0.0, what: str = "the ODE") -> np.ndarray:
    """States of ``dy/dt = fun(t, y)`` from ``y(t0) = y0`` at ``times``, by scipy's adaptive ``solver``.

    The one place in gdln that calls ``scipy.integrate.solve_ivp``: on the span ``(t0, times[-1])``
    with ``t_eval=times`` (``t0 <= times[0]``, ``times`` increasing). Returns an array
    ``(len(times), len(y0))``, row ``k`` the state at ``times[k]``; when ``times[-1] == t0`` there is
    nothing to integrate and every row is ``y0``. Raises ``RuntimeError`` naming ``what`` when the
    solver fails.
    """

    times = np.asarray(times, dtype=np.float64)
    if times[-1] == t0:
        return np.repeat(np.asarray(y0)[None], times.size, 0)
    sol = solve_ivp(fun, (t0, times[-1]), y0, method=solver, t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"integration of {what} failed ({solver}): {sol.message}")
    return sol.y.T


def ode_first_crossing(fun, y0: np.ndarray, level, *, t_max: float, solver: str, rtol: float, atol: float,
                       what: str = "the ODE") -> tuple[float, np.ndarray]:
    """The first time at which ``level(y)`` rises through zero along ``dy/dt = fun(t, y)``, ``y(0) = y0``,
    and the state then: ``(t, y(t))``.

    A learning time: ``level(y) = a(y) - a_target`` for a mode strength ``a``. Located by the solver's
    event finder (root of the dense output, to the solver's tolerance). ``ValueError`` if ``level(y0) >= 0``
    (nothing to cross) or ``t_max`` is not positive; ``RuntimeError`` naming ``what`` if the solver fails or
    the level is not reached by ``t_max``.
    """
    if not (np.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max={t_max!r} is invalid; expected a positive finite time")
    y0 = np.asarray(y0, dtype=np.float64)
    if level(y0) >= 0:
        raise ValueError(f"the level is already reached at t = 0 ({level(y0)!r} >= 0) for {what}; nothing to cross")

    def event(_t, y):
        return level(y)
    event.terminal, event.direction = True, 1.0
    sol = solve_ivp(fun, (0.0, float(t_max)), y0, method=solver, events=event, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"integration of {what} failed ({solver}): {sol.message}")
    if not sol.t_events[0].size:
        raise RuntimeError(f"{what} did not reach the level by t_max = {t_max:g}")
    return float(sol.t_events[0][0]), np.asarray(sol.y_events[0][0])
