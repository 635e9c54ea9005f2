"""Tests for gdln.core.statistics and gdln.core.dynamics: Eqs. 3-6 against autograd, integration, statistics-only."""

import numpy as np
import pytest
import torch

from gdln.core.graph import Graph, random_graph
from gdln.core.network import init_weights, loss, random_gated_data
from gdln.core.statistics import loss_from_statistics, path_statistics, same_statistics_data
from gdln.core.dynamics import autograd_gradient, path_gradient, train
from helpers import EXACT, F64, close, close_dicts, gen, random_network


def setup(seed, replicas=(), n=17, **kw):
    return random_network(seed, n=n, replicas=replicas, data_seed=100 + seed, **kw)


@pytest.mark.parametrize("seed", range(6))
def test_path_gradient_equals_autograd(seed):
    """Eqs. 3-4 are the exact gradient of Eq. 1: equal to autograd up to float64 rounding."""
    g, W, d = setup(seed, replicas=(2,), n_hidden=2 + seed % 3)
    assert len(g.inputs) > 1 and len(g.outputs) > 1
    st = path_statistics(g, d)
    a, b = path_gradient(g, W, st), autograd_gradient(g, W, d)
    for e in g.edges:
        assert a[e].shape == W[e].shape
        close(a[e], b[e], atol=1e-10)
    close(loss_from_statistics(g, W, st), loss(g, W, d))


def test_statistics_definitions():
    g, W, d = setup(1)
    st = path_statistics(g, d)
    p = st.paths[0]
    gp = torch.ones(d.n, dtype=F64)
    for v in g.path_nodes(p):
        gp = gp * d.node_gates.get(v, torch.ones(d.n, dtype=F64))
    for e in p.edges:
        gp = gp * d.edge_gates[e]
    manual = sum(gp[i] * torch.outer(d.y[p.target][i], d.x[p.source][i]) for i in range(d.n)) / d.n
    close(st.yx[p], manual, atol=EXACT)
    for (j, q), s in st.x.items():  # Sigma^x(j,p) = Sigma^x(p,j)^T, only same-target pairs
        assert j.target == q.target
        close(s, st.x[(q, j)].T, atol=0)


def test_same_statistics_data_is_different_but_equal_in_statistics():
    g = random_graph(2)
    d = random_gated_data(g, 40, generator=gen(0), n_patterns=3)
    d2 = same_statistics_data(d, generator=gen(1))
    assert (d.x["x0"] - d2.x["x0"]).abs().max() > 0.1
    s1, s2 = path_statistics(g, d), path_statistics(g, d2)
    close_dicts(s1.yx, s2.yx)
    close_dicts(s1.x, s2.x)


def test_statistics_only_trajectories():
    """Gating enters only via Eqs. 5-6: different data, same statistics -> same trajectory, even
    when the gradient is taken by autograd on the examples (no statistics formed)."""
    g = random_graph(4)
    rng = gen(5)
    d = random_gated_data(g, 30, generator=rng, n_patterns=2)
    d2 = same_statistics_data(d, generator=rng)
    W0 = init_weights(g, 0.5, generator=rng, dtype=F64)
    kw = dict(tau=1.0, t_eval=[0.5, 1.0], method="gd", dt=0.05, gradient="autograd")
    a, b = train(g, W0, d, **kw), train(g, W0, d2, **kw)
    assert max((a.final[e] - W0[e]).abs().max().item() for e in g.edges) > 1e-2  # it did learn
    for e in g.edges:
        close(a.final[e], b.final[e], atol=1e-10)
    c = train(g, W0, path_statistics(g, d2), tau=1.0, t_eval=[0.5, 1.0], method="gd", dt=0.05)
    close(a.loss, c.loss, atol=1e-10)


def test_gd_converges_to_ode_at_first_order():
    g, W, d = setup(3)
    st = path_statistics(g, d)
    ref = train(g, W, st, tau=2.0, t_eval=[1.0], method="ode", rtol=1e-11, atol=1e-13).final
    err = []
    for dt in (0.02, 0.01):
        W1 = train(g, W, st, tau=2.0, t_eval=[1.0], method="gd", dt=dt).final
        err.append(max((W1[e] - ref[e]).abs().max().item() for e in g.edges))
    assert 1.7 < err[0] / err[1] < 2.3  # Euler: error proportional to dt


def test_gd_lands_on_sample_times_and_matches_manual_steps():
    g, W, d = setup(0)
    st = path_statistics(g, d)
    tr = train(g, W, st, tau=1.5, t_eval=[0.0, 1.0], method="gd", dt=0.3, record_weights=True)
    Wm = dict(W)
    for h in (0.3, 0.3, 0.3, 0.1):
        gr = path_gradient(g, Wm, st)
        Wm = {e: Wm[e] + h / 1.5 * gr[e] for e in g.edges}
    for e in g.edges:
        close(tr.weights[e][1], Wm[e], atol=1e-13)
        close(tr.weights[e][0], W[e], atol=0)
    assert tr.loss.shape == (2,)


def test_replicas_train_like_separate_runs():
    g, W, d = setup(2, replicas=(3,))
    tr = train(g, W, d, tau=1.0, t_eval=[0.2, 0.4], method="gd", dt=0.05)
    assert tr.loss.shape == (2, 3)
    one = train(g, {e: w[1] for e, w in W.items()}, d, tau=1.0, t_eval=[0.2, 0.4], method="gd", dt=0.05)
    close(tr.loss[:, 1], one.loss)
    ode = train(g, W, d, tau=1.0, t_eval=[0.2, 0.4], method="ode", rtol=1e-10, atol=1e-12)
    assert ode.loss.shape == (2, 3)
    assert torch.all(ode.loss[1] < ode.loss[0])  # gradient flow decreases the loss


def test_bad_training_inputs():
    g, W, d = setup(0)
    st = path_statistics(g, d)
    with pytest.raises(ValueError, match="tau must be a positive number, got 0"):
        train(g, W, d, tau=0, t_eval=[1.0], dt=0.1)
    with pytest.raises(ValueError, match="method must be 'gd' or 'ode', got 'rk4'"):
        train(g, W, d, t_eval=[1.0], method="rk4")
    with pytest.raises(ValueError, match="needs a positive step dt"):
        train(g, W, d, t_eval=[1.0], method="gd")
    with pytest.raises(ValueError, match="strictly increasing"):
        train(g, W, d, t_eval=[1.0, 0.5], dt=0.1)
    with pytest.raises(ValueError, match="finite and >= 0"):
        train(g, W, d, t_eval=[-1.0], dt=0.1)
    with pytest.raises(ValueError, match="needs a GatedData"):
        train(g, W, st, t_eval=[1.0], dt=0.1, gradient="autograd")
    with pytest.raises(ValueError, match="data_or_stats must be GatedData or PathStatistics"):
        train(g, W, {"x": 1}, t_eval=[1.0], dt=0.1)
    other = Graph({"a": 1, "b": 1}, {"e": ("a", "b")})
    with pytest.raises(ValueError, match="do not match the graph's"):
        path_gradient(other, {"e": torch.zeros(1, 1, dtype=F64)}, st)


def test_gd_schedule_lands_exactly_on_each_time():
    from gdln.core.dynamics import gd_schedule
    times = np.array([0.0, 0.25, 1.0, 1.3])
    sched = gd_schedule(times, 0.1)
    assert sched[0] == []
    ends = np.cumsum([sum(s) for s in sched])
    np.testing.assert_allclose(ends, times, atol=1e-12)
    assert all(0 < h <= 0.1 + 1e-12 for s in sched for h in s)
    with pytest.raises(ValueError, match="positive step dt"):
        gd_schedule(times, 0.0)
