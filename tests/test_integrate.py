"""gdln.core.integrate: the one ODE sampler (every solve in gdln goes through it) and the GD schedule."""

from pathlib import Path

import numpy as np
import pytest

from gdln.core.integrate import check_times, gd_schedule, ode_samples

PKG = Path(__file__).resolve().parents[1] / "gdln"


def test_ode_samples_from_zero_and_from_t0():
    f = lambda t, y: -0.5 * y  # noqa: E731
    t = np.array([0.0, 1.0, 3.0])
    Y = ode_samples(f, np.array([2.0, -1.0]), t, solver="DOP853", rtol=1e-12, atol=1e-14)
    assert Y.shape == (3, 2)
    np.testing.assert_allclose(Y, np.outer(np.exp(-0.5 * t), [2.0, -1.0]), rtol=1e-10, atol=0)
    # starting at t0 = 1: y(t) = y0 exp(-(t - 1)/2)
    t1 = np.array([1.5, 2.0, 4.0])
    Y1 = ode_samples(f, np.array([1.0]), t1, solver="RK45", rtol=1e-10, atol=1e-12, t0=1.0)
    np.testing.assert_allclose(Y1[:, 0], np.exp(-0.5 * (t1 - 1.0)), rtol=1e-8, atol=0)


def test_nothing_to_integrate_returns_the_initial_state():
    y0 = np.array([1.0, 2.0])
    Y = ode_samples(None, y0, np.array([0.0]), solver="DOP853", rtol=1e-9, atol=1e-9)
    assert Y.shape == (1, 2) and np.array_equal(Y[0], y0)
    Y = ode_samples(None, y0, np.array([2.0]), solver="LSODA", rtol=1e-9, atol=1e-9, t0=2.0)
    assert np.array_equal(Y, y0[None])


def test_solver_failure_names_the_equation():
    blow_up = lambda t, y: y ** 2  # noqa: E731  (y(t) = 1/(1 - t): singular at t = 1)
    with pytest.raises(RuntimeError, match="integration of Eq. 99 failed"):
        ode_samples(blow_up, np.array([1.0]), np.array([0.5, 2.0]), solver="RK45", rtol=1e-8, atol=1e-10,
                    what="Eq. 99")


def test_check_times_and_gd_schedule():
    assert np.array_equal(check_times([0, 0.5, 2]), [0.0, 0.5, 2.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        check_times([0.0, 1.0, 1.0])
    sched = gd_schedule(np.array([0.25, 1.0]), 0.1)
    assert np.isclose(sum(sched[0]), 0.25) and np.isclose(sum(sched[0]) + sum(sched[1]), 1.0)
    assert all(0 < s <= 0.1 + 1e-12 for part in sched for s in part)


def test_only_the_integrator_calls_solve_ivp():
    callers = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "solve_ivp(" in p.read_text())
    assert callers == ["core/integrate.py"]
