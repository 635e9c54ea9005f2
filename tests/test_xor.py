"""Tests for gdln.tasks.xor: XoR path statistics (Eqs. 18-20), the analytic loss (Eqs. 21-23) against
the simulated GDLN, the ReLU initial-strength theory, and the contextual classification task (App. A.2)."""

import math

import pytest
import torch

from gdln.util.device import generator
from gdln.core.dynamics import train
from gdln.core.network import loss, path_weight
from gdln.engines.relu import init_relu, train_relu
from gdln.core.statistics import path_statistics
from gdln.tasks import xor
from gdln.tasks.xor import XOR_D, XOR_S, context_data, context_dln_graph, context_gated_data, context_gdln_graph, expected_relu_a0, max_loss_sensitivity, pathway_strengths, relu_a0_samples, relu_effective_a0, relu_kappa, xor_analytic_a, xor_analytic_loss, xor_data, xor_decoupled_init, xor_gated_data, xor_graph
from helpers import F64, close


def test_xor_path_statistics_exact():
    g, d = xor_graph(3), xor_gated_data()
    d.validate(g)
    st = path_statistics(g, d)
    x, y = xor_data()
    assert len(st.paths) == 4
    for k, p in enumerate(st.paths):
        assert p.edges == (f"in{k + 1}", f"out{k + 1}")
        close(st.yx[p], y[k:k + 1] * x[k:k + 1] / 4, atol=0)   # Eq. 18
        close(st.x[(p, p)], x[k:k + 1].T @ x[k:k + 1] / 4, atol=0)  # Eq. 19
        U, S, Vh = torch.linalg.svd(st.yx[p])
        v = Vh[:1]                                  # the input singular vector
        assert S.item() == pytest.approx(math.sqrt(2) / 4, abs=1e-15) == XOR_S
        assert (v @ st.x[(p, p)] @ v.T).item() == pytest.approx(0.5, abs=1e-15) == XOR_D
        for j in st.paths:
            if j != p:
                assert st.x[(j, p)].abs().max().item() == 0.0   # pathways never co-active


def test_analytic_a_solves_the_reduced_ode():
    # Eq. 21 solves tau da/dt = 2 a (s - d a) (balanced two-layer pathway); check by central differences
    tau, a0 = 2.5, 1e-3
    t = torch.linspace(0, 60, 601, dtype=F64)
    a = xor_analytic_a(t, a0, tau)
    h = 1e-5
    dadt = (xor_analytic_a(t + h, a0, tau) - xor_analytic_a(t - h, a0, tau)) / (2 * h)
    close(tau * dadt, 2 * a * (XOR_S - XOR_D * a), atol=1e-9)
    assert a[0].item() == pytest.approx(a0, rel=1e-14)
    L = xor_analytic_loss(t, a0, tau)
    close(L, 0.5 - math.sqrt(2) * a + a ** 2, atol=1e-15)   # Eq. 22 = Eq. 23
    assert xor_analytic_loss(torch.tensor([1e4]), a0, tau).item() < 1e-15   # a -> s/d = 1/sqrt(2): zero loss


def test_decoupled_gdln_matches_analytic_loss():
    a0, tau = 1e-4, 2.5
    g, d = xor_graph(2), xor_gated_data()
    W0 = xor_decoupled_init(a0, 2)
    for k in range(4):   # W_out W_in = a0 y_k v_k^T
        p = g.paths()[k]
        x, y = xor_data()
        torch.testing.assert_close(path_weight(g, W0, p), a0 * y[k, 0] * x[k:k + 1] / math.sqrt(2))
    t = torch.linspace(0, 80, 81, dtype=F64)
    tr = train(g, W0, d, tau=tau, t_eval=t, method="ode", rtol=1e-11, atol=1e-15)
    # the adaptive solver's tolerance (rtol 1e-11 on O(1e-2..1) weights) bounds the loss error well below 1e-8
    close(tr.loss, xor_analytic_loss(t, a0, tau), atol=1e-8)
    torch.testing.assert_close(loss(g, W0, d), xor_analytic_loss(torch.zeros(()), a0, tau))


def test_relu_effective_a0_predicts_early_growth():
    # tiny weights: the errors stay ~y while units rotate and pin; then a_k grows as a0_k exp(2 s t / tau).
    # Gradient descent multiplies the growing mode by (1 + s dt/tau) per step; divide that out exactly.
    x, y = xor_data()
    W1, W2 = init_relu(2, 24, 1, 1e-8, generator=generator(3), replicas=(4,), dtype=F64)
    tau, dt, T = 1.0, 1e-3, 7.0
    n_steps = int(round(T / XOR_S / dt))
    tr = train_relu(W1, W2, x, y, tau=tau, dt=dt, t_max=n_steps * dt, record_every=n_steps)
    growth = (1 + XOR_S * dt / tau) ** (2 * n_steps)
    ratio = pathway_strengths(tr.outputs[-1]) / growth / relu_effective_a0(W1, W2)
    # residuals: decaying modes ~exp(-2T) ~ 1e-6; an O(dt) bias of gradient descent (pinned units
    # chatter across the ReLU kink: 0.13% at dt = 1e-3, 0.07% at 5e-4); one of these 16 pathways
    # keeps a 1% residual as dt -> 0 (a unit still unpinned at T, we think). Bounds: 2% worst, 0.5% mean.
    assert (ratio - 1).abs().max().item() < 2e-2
    assert abs(ratio.mean().item() - 1) < 5e-3


def test_relu_kappa_and_expected_a0():
    kappa = relu_kappa()
    # independent plain Monte Carlo over full 2D input weights (all four sectors), 4 standard errors
    s = relu_a0_samples(64, 4000, generator=generator(11))      # (4000, 4) a0_k / sigma0^2
    est = s.sum(-1) / 64                                          # per-unit E[m^2] estimates
    se = est.std().item() / math.sqrt(len(est))
    assert abs(est.mean().item() - kappa) < 4 * se
    assert 0.6 < kappa < 0.7          # larger than the 1/2 of a pathway of random linear units
    assert expected_relu_a0(128, 2e-4) == pytest.approx(128 * kappa * 4e-8 / 4, rel=1e-12)


def test_max_loss_sensitivity():
    tau, t = 2.5, torch.linspace(0, 200, 20001, dtype=F64)
    a0, eps = 1e-8, 1e-4
    dL = (xor_analytic_loss(t, a0 * math.exp(eps), tau) - xor_analytic_loss(t, a0 * math.exp(-eps), tau)) / (2 * eps)
    assert dL.abs().max().item() == pytest.approx(max_loss_sensitivity(), rel=1e-4)


def test_context_statistics_and_limits():
    x, y, c = context_data(300, generator=generator(5))
    assert x.shape == (600, 2) and y.shape == (600, 1) and c.tolist() == [0] * 300 + [1] * 300
    g1, d1 = context_dln_graph(3), context_gated_data(x, y, c, gated=False)
    st = path_statistics(g1, d1)
    (p,) = st.paths
    # each input is shown in both contexts: the least-squares total weight is exactly [1/2 1/2]
    ls = st.yx[p] @ torch.linalg.inv(st.x[(p, p)])
    close(ls, torch.tensor([[0.5, 0.5]], dtype=F64))
    # Eqs. 24-25 in expectation: <x x^T> = I/3 and <y x^T> = [1/6 1/6] up to sampling error (~0.02)
    close(st.x[(p, p)], torch.eye(2, dtype=F64) / 3, atol=0.06)
    g2, d2 = context_gdln_graph(3), context_gated_data(x, y, c, gated=True)
    st2 = path_statistics(g2, d2)
    pa, pb = st2.paths
    for p, target in ((pa, [[1.0, 0.0]]), (pb, [[0.0, 1.0]])):
        ls = st2.yx[p] @ torch.linalg.inv(st2.x[(p, p)])
        close(ls, torch.tensor(target, dtype=F64))
    assert st2.x[(pa, pb)].abs().max().item() == 0.0          # Eq. 29


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_h must be a positive integer"):
        xor_graph(0)
    with pytest.raises(ValueError, match="a0 must be a finite positive number"):
        xor_decoupled_init(0.0)
    with pytest.raises(ValueError, match="outputs must have shape"):
        pathway_strengths(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="a0 and tau must be positive"):
        xor_analytic_loss(torch.zeros(2), 1e-3, -1.0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        context_data(0, generator=generator(0))
    x, y, c = context_data(4, generator=generator(0))
    with pytest.raises(ValueError, match="contexts in"):
        context_gated_data(x, y, c + 1, gated=True)
    with pytest.raises(ValueError, match="sigma0 must be positive"):
        expected_relu_a0(128, 0.0)
    with pytest.raises(ValueError, match="expected W1"):
        relu_effective_a0(torch.zeros(3, 3), torch.zeros(1, 3))


# ---------------------------------------------------------------- XoR with a margin (the talk)

def test_margin_data_is_separable_with_margin_delta_and_no_more():
    delta = 0.7
    x, y = xor.margin_xor_data(delta)
    assert torch.equal(x[:, :2], xor.xor_data()[0]) and torch.equal(y, xor.xor_data()[1])
    assert torch.allclose(y[:, 0] * x[:, 2], torch.full((4,), delta, dtype=torch.float64))   # w = e_3: margin delta
    w = torch.randn(20000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = w / w.norm(dim=1, keepdim=True)
    margins = (y[:, 0] * (w @ x.T)).min(dim=1).values
    assert float(margins.max()) <= delta + 1e-12   # no direction separates with a larger margin
    assert torch.equal(xor.margin_xor_data(0.0)[0][:, 2], torch.zeros(4, dtype=torch.float64))


def test_margin_pathway_singular_values_are_those_of_the_gated_data_sets():
    delta = 1.3
    x, y = xor.margin_xor_data(delta)
    s_example, s_class = xor.margin_pathway_singular_values(delta)
    one = y[0:1].T @ x[0:1] / 4                               # gate on example 0 only
    cls = y[[0, 2]].T @ x[[0, 2]] / 4                         # gate on both examples of class +1
    assert torch.linalg.svdvals(one)[0].item() == pytest.approx(s_example, rel=1e-12)
    assert torch.linalg.svdvals(cls)[0].item() == pytest.approx(s_class, rel=1e-12)
    assert torch.allclose(cls[0, :2], torch.zeros(2, dtype=torch.float64))   # the class pathway reads x_3 only


def test_race_threshold_is_where_the_two_pathways_are_equally_fast():
    d = xor.margin_race_threshold()
    s_e, s_c = xor.margin_pathway_singular_values(d)
    assert s_e == pytest.approx(s_c, rel=1e-12)
    assert xor.margin_pathway_singular_values(0.9 * d)[0] > xor.margin_pathway_singular_values(0.9 * d)[1]
    assert xor.margin_pathway_singular_values(1.1 * d)[0] < xor.margin_pathway_singular_values(1.1 * d)[1]


def test_nonlinear_share_is_one_for_per_example_units_and_zero_for_a_margin_readout():
    delta = 0.9
    x, y = xor.margin_xor_data(delta)
    x0 = torch.cat([x[:, :2], torch.zeros(4, 1, dtype=torch.float64)], dim=1)

    def forward(W1, W2, inp):
        return torch.relu(inp @ W1.T) @ W2.T

    # one unit per example along x_k (active on it alone: neighbours are orthogonal in x_12, x_3 = -+delta^2),
    # output weights that fit y exactly
    W1 = x / x.norm(dim=1, keepdim=True)
    h = torch.relu(x @ W1.T)
    W2 = torch.linalg.solve(h, y).T
    assert torch.allclose(forward(W1, W2, x), y)
    share = xor.nonlinear_share(forward(W1, W2, x), forward(W1, W2, x0), y, delta)
    assert share.item() == pytest.approx(1.0, rel=1e-12)
    # two units, +-e_3, read the margin coordinate only
    W1 = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    W2 = torch.tensor([[1 / delta, -1 / delta]], dtype=torch.float64)
    assert torch.allclose(forward(W1, W2, x), y)
    assert xor.nonlinear_share(forward(W1, W2, x), forward(W1, W2, x0), y, delta).item() == 0.0


def test_transition_margin_interpolates_and_refuses_a_grid_that_does_not_bracket():
    d = [0.0, 1.0, 2.0]
    share = torch.tensor([[1.0, 0.9], [0.6, 0.4], [0.0, 0.1]])
    assert torch.allclose(xor.transition_margin(d, share), torch.tensor([1.0 + 0.1 / 0.6, 0.8], dtype=torch.float64))
    with pytest.raises(ValueError, match="bracket"):
        xor.transition_margin(d, torch.tensor([1.0, 0.9, 0.7]))
    with pytest.raises(ValueError, match="increasing"):
        xor.transition_margin([0.0, 0.0, 1.0], torch.tensor([1.0, 0.4, 0.1]))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), True, "1"])
def test_margin_refuses_a_bad_delta(bad):
    with pytest.raises(ValueError, match="delta="):
        xor.margin_xor_data(bad)
