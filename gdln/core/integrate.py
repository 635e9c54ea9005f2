"""TODO docstring"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from torch import Tensor

__all__ = ["check_times", "gd_schedule", "ode_samples"]


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


def ode_samples(fun, y0: np.ndarray, times: np.ndarray, *, solver: str, rtol: float,
                atol: float) -> list[np.ndarray]:
    """States of ``dy/dt = fun(t, y)`` from ``y(0) = y0`` at ``times``, by scipy's adaptive ``solver``."""

    if times[-1] == 0:
        return [y0]
    sol = solve_ivp(fun, (0.0, float(times[-1])), y0, method=solver, t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return list(sol.y.T)
