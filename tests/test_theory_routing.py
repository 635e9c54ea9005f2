"""Tests for gdln.theory.routing: Eqs. 13-15 and 44-46, and that they follow from the general Eq. 10."""

import numpy as np
import pytest
import torch

from gdln.theory.routing import conserved_quantity, eq13_14_rhs, eq15_rhs, eq44_46_rhs, integrate_eq13_14, integrate_eq15, integrate_eq44_46, reduced_routing_loss, sv_ratio_steady
from gdln.engines.routing import decoupled_routing_weights, integrate_routing_flow
from gdln.tasks.routing import routing_gated_data, routing_graph, routing_task, task_modes
from helpers import F64, close, gen

S = np.array([3.4, 1.6, 0.75, 0.75])
D = np.full(4, 0.25)


def test_balanced_eq44_46_reduce_to_eq13_14_and_eq15():
    B1, B2 = np.array([0.3, 0.5, 1.0, 2.0]), np.array([0.2, 0.9, 1.5, 3.0])
    r1, r2, r3 = eq44_46_rhs(B1, B2, B1, S, D, 7)
    q1, q2 = eq13_14_rhs(B1, B2, S, D, 7)
    np.testing.assert_allclose([r1, r2], [q1, q2], rtol=1e-15, atol=0)
    np.testing.assert_allclose(r3, r1, rtol=1e-15, atol=0)
    C = 7 * B1 ** 2 - B2 ** 2
    np.testing.assert_allclose(eq15_rhs(B2, C, S, D, 7), q2, rtol=1e-13, atol=1e-15)


def test_conserved_quantity_and_trajectories_agree():
    t = np.linspace(0, 30, 61)
    a = integrate_eq44_46(0.27, 0.2, 0.27, S, D, 7, t, y_power=61.0)
    b = integrate_eq13_14(0.27, 0.2, S, D, 7, t, y_power=61.0)
    c = integrate_eq15(0.27, 0.2, S, D, 7, t, y_power=61.0)
    C0 = conserved_quantity(0.27, 0.2, 7)
    assert np.abs(a.conserved - C0).max() < 1e-9          # M B1^2 - B2^2 conserved (rtol 1e-12 solver)
    np.testing.assert_allclose(b.loss, a.loss, rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.loss, a.loss, rtol=0, atol=1e-9)
    assert a.loss[0] == pytest.approx(30.5 - (S * 0.27 ** 2 * 0.2).sum() + 0.5 * (D * (0.27 ** 2 * 0.2) ** 2).sum())
    assert a.loss[-1] - 0.5 * (61.0 - (S ** 2 / D).sum()) < 1e-6   # every mode learnt: L -> 1/2(y_power - sum s^2/d)
    np.testing.assert_allclose(a.B1[-1] ** 2 * a.B2[-1], S / D, rtol=1e-5)  # t = 30: leaf modes within 2e-6


def test_singular_value_ratio_tends_to_sqrt_M():
    """Eq. 51: B2/B1 -> sqrt(M) when C = M B1^2 - B2^2 is small compared with the learnt values."""
    t = np.linspace(0, 400, 5)
    r = integrate_eq15(0.05, 0.1, S, D, 9, t, y_power=61.0)
    C = conserved_quantity(0.05, 0.1, 9)
    ratio = r.B2[-1] / r.B1[-1]
    np.testing.assert_allclose(ratio, np.sqrt(9 - C / r.B1[-1] ** 2), rtol=1e-8)   # exact, from C conserved
    np.testing.assert_allclose(ratio, sv_ratio_steady(9), rtol=2e-3)               # C / (M B1^2) < 4e-3 here
    with pytest.raises(ValueError, match="M=0"):
        sv_ratio_steady(0)


def test_full_network_from_decoupled_init_follows_eq15_exactly():
    """Fig. 4e green vs blue: gradient flow of the whole network (float64 ODE) = Eq. 15."""
    task = routing_task(3, 2, seed=0)
    m = task_modes(task)
    W = decoupled_routing_weights(task, 0.3, 0.25, R=1, n_h=6, generator=gen(0))
    t = np.linspace(0, 12, 25)
    _, L = integrate_routing_flow(W, task, t, rtol=1e-9, atol=1e-11)
    th = integrate_eq15(0.3, 0.25, m.s.numpy(), m.d.numpy(), 3, t, y_power=m.y_power)
    assert np.abs(L[:, 0] - th.loss).max() < 1e-6
    assert th.loss[-1] < 0.2 * th.loss[0]                  # the comparison covers the learning transitions


def test_general_reduction_eq10_gives_eq44_46_on_the_routing_graph():
    """Sec. 4 / App. C: the core Eq. 10 on the routing GDLN, with decoupled B equal across domains,
    is exactly Eqs. 44-46 (the 1/(KM) of Eqs. 11-12 cancels against the K or KM trained paths)."""
    from gdln.core.reduction import diagonalize, reduced_loss, reduced_rhs
    from gdln.core.statistics import path_statistics

    M, K, nh = 4, 3, 5
    task = routing_task(M, K, seed=1, domain_inputs="independent")
    g = routing_graph(M, 4, nh, 7)
    st = path_statistics(g, routing_gated_data(task))
    dg = diagonalize(g, st)
    p = next(q for q in g.paths() if int(q.source[1:]) == 0 and bool(task.trained[0, int(q.target[1:])]))
    s_core = dg.S[p][:4] * K * M                         # Eq. 11: Sigma^yx(p) = USV^T / (KM)
    d_core = dg.D[(p, p)][:4] * K * M
    m = task_modes(task)
    np.testing.assert_allclose(np.sort(np.abs(s_core.numpy())), np.sort(m.s.numpy()), rtol=1e-12)
    rng = gen(0)
    b1 = 0.2 + torch.rand(4, generator=rng, dtype=F64)
    b2 = 0.2 + torch.rand(4, generator=rng, dtype=F64)
    b3 = 0.2 + torch.rand(4, generator=rng, dtype=F64)
    pad = lambda b, r: torch.cat([b, torch.zeros(r - 4, dtype=b.dtype)])  # noqa: E731
    B = {f"W1_{i}": b1 for i in range(M)}
    B["W2"] = pad(b2, nh)
    B.update({f"W3_{j}": pad(b3, 5) for j in range(M)})
    rhs = reduced_rhs(g, dg, B)
    e1, e2, e3 = eq44_46_rhs(b1, b2, b3, s_core, d_core, M)
    for i in range(M):
        close(rhs[f"W1_{i}"], e1, atol=1e-13)
        close(rhs[f"W3_{i}"][:4], e3, atol=1e-13)
    close(rhs["W2"][:4], e2, atol=1e-13)
    L = reduced_routing_loss((b1 * b2 * b3).numpy(), s_core.numpy(), d_core.numpy(), m.y_power)
    assert float(reduced_loss(g, dg, B)) == pytest.approx(float(L), abs=1e-12)


def test_bad_M_raises():
    with pytest.raises(ValueError, match="M=0.5"):
        eq15_rhs(1.0, 0.0, 1.0, 1.0, 0.5)
