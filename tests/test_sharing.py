"""Tests for gdln.theory.sharing (P-sharing schemes, Eqs. 16-17 / 52-56) and gdln.figures.explorer."""

import math

import numpy as np
import pytest
import torch

from gdln.util.device import generator
from gdln.engines.routing import decoupled_routing_weights, init_routing_weights, integrate_routing_flow, routing_rhs
from gdln.tasks.routing import routing_task, task_modes
from gdln.theory.sharing import allowed_P, block_size, conserved, half_time, integrate_pathways, integrate_sharing, n_pathways, pathway_rates, race_rates, sharing_assignment, sharing_rates, speedup_theory, sv_ratio_theory
from gdln.tasks.routing import block_task, sharing_gates
from gdln.engines.race import mode_strengths, train_sharing
from helpers import F64

S4 = np.array([3.4, 1.6, 0.75, 0.75])
D4 = np.full(4, 0.25)


# ---------------------------------------------------------------- gating schemes

@pytest.mark.parametrize("M,P", [(10, 1), (10, 4), (10, 25), (10, 100), (6, 9), (4, 16)])
def test_assignment_puts_P_routes_on_each_pathway(M, P):
    a = sharing_assignment(M, P)
    counts = torch.bincount(a.flatten(), minlength=n_pathways(M, P))
    assert a.shape == (M, M) and counts.numel() == M * M // P and torch.all(counts == P)
    s = block_size(M, P)
    # each pathway sees exactly s input domains and s output domains (so input blocks are in s paths)
    for h in range(n_pathways(M, P)):
        ii, jj = torch.nonzero(a == h, as_tuple=True)
        assert len(set(ii.tolist())) == s and len(set(jj.tolist())) == s


def test_allowed_P_and_extremes():
    assert allowed_P(10) == (1, 4, 25, 100)
    assert torch.equal(sharing_assignment(3, 9), torch.zeros(3, 3, dtype=torch.long))
    assert torch.equal(sharing_assignment(3, 1).flatten(), torch.arange(9))


@pytest.mark.parametrize("M,P", [(10, 9), (10, 3), (10, 0), (10, 400), (4, 2.0), (0, 1), (3, True)])
def test_bad_P_or_M_raises(M, P):
    with pytest.raises(ValueError, match="invalid"):
        sharing_assignment(M, P)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="K=11"):
        race_rates(10, 11, 4)
    with pytest.raises(ValueError, match="sqrt"):
        race_rates(10, 1, 4)  # a 2x2 block needs two trained outputs per input
    with pytest.raises(ValueError, match="impossible"):
        pathway_rates(10, 2, 5, 1, 5)  # one input with K=2 cannot carry 5 trained routes
    with pytest.raises(ValueError, match="tau"):
        integrate_sharing(S4, D4, 10, 4, 0.1, t=[0, 1], tau=0.0)
    with pytest.raises(ValueError, match="P"):
        sv_ratio_theory(0.5)
    with pytest.raises(ValueError, match="rates"):
        integrate_pathways(S4, D4, [(1.0, -1.0, 1.0)], 0.1, t=[0, 1])


# ---------------------------------------------------------------- Eqs. 16-17 and Eq. 56

def test_rates_are_eqs_16_17_and_reduce_to_eqs_13_14():
    M = 10
    for P in allowed_P(M):
        c1, c2 = sharing_rates(M, P)
        assert c1 == pytest.approx(math.sqrt(P) / M**2) and c2 == pytest.approx(P / M**2)
        # pathway counting with all routes trained (K = M) gives the same rates
        r = race_rates(M, M, P)["block"]
        assert r == pytest.approx((c1, c2, c1), rel=1e-15)
    # full sharing = Eqs. 13-14 (1/M for input/output, 1 for hidden), for every K
    for K in range(1, M + 1):
        assert race_rates(M, K, 1)["shared"] == pytest.approx((1 / M, 1.0, 1 / M))
    assert sharing_rates(M, M * M) == pytest.approx((1 / M, 1.0))


def test_rhs_matches_pathway_odes_eq13_14_at_full_sharing():
    from gdln.theory.routing import eq13_14_rhs
    from gdln.theory.sharing import sharing_rhs
    B1, B2 = np.array([0.3, 0.7]), np.array([0.5, 1.1])
    a = sharing_rhs(B1, B2, S4[:2], D4[:2], 7, 49)
    b = eq13_14_rhs(B1, B2, S4[:2], D4[:2], 7)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13)


def test_ratio_P_quarter_analytic_from_balanced_start():
    """Eq. 56: sqrt(P) B1^2 - B2^2 is conserved, so a balanced start keeps B2/B1 = P^(1/4) exactly."""
    M, t = 10, np.linspace(0, 20000, 401)
    Ps = allowed_P(M)
    assert sv_ratio_theory(Ps) == pytest.approx([1, math.sqrt(2), math.sqrt(5), math.sqrt(10)])
    for P in Ps:
        b1 = 0.05
        tr = integrate_sharing(S4, D4, M, P, b1, sv_ratio_theory(P) * b1, t=t)
        np.testing.assert_allclose(tr.B2 / tr.B1, P**0.25, rtol=1e-7)
        assert tr.loss[-1, 0] < 1e-6 * tr.loss[0, 0]  # converged: u = B2 B1^2 = S/D
    # unbalanced start: the conserved quantity stays put, and the ratio tends to sqrt(P^(1/2) - C/B1^2)
    tr = integrate_sharing(S4, D4, M, (1, 4, 100), 0.3, 0.1, t=t)
    C = conserved(tr.B1, tr.B2, np.array([1, 4, 100])[None, :, None])
    np.testing.assert_allclose(C, C[:1].repeat(len(t), 0), atol=1e-7)
    pred = np.sqrt(np.sqrt([1, 4, 100])[:, None] - C[-1] / tr.B1[-1] ** 2)
    np.testing.assert_allclose(tr.B2[-1] / tr.B1[-1], pred, rtol=1e-7)


def test_more_sharing_learns_faster():
    sp = [speedup_theory(3.4, 0.25, 10, 0.1, P_fast=P) for P in (4, 25, 100)]
    assert 1 < sp[0] < sp[1] < sp[2]
    assert 15 < sp[2] < 40  # full sharing over no sharing, M = 10


def test_half_time_linear_interpolation():
    t = np.linspace(0, 1, 11)
    x = np.stack([t, 2 * t, 1 - t], 1)
    np.testing.assert_allclose(half_time(t, x), [0.5, 0.5, 0.5], atol=1e-12)


# ---------------------------------------------------------------- the engine's P-sharing network

def _gated_decoupled(M, P, b1, b2, n_h=6, seed=0):
    """Decoupled (Eq. 9) weights of the engine's many-pathway gated network, every pathway aligned."""
    task = routing_task(M, M, seed=seed)
    H = n_pathways(M, P)
    W = decoupled_routing_weights(task, b1, b2, R=1, n_h=n_h, generator=generator(seed), H=H)
    W.W1 = W.W1.unsqueeze(1).repeat(1, H, 1, 1, 1).contiguous()   # per-pathway input blocks
    W.W3 = W.W3.unsqueeze(1).repeat(1, H, 1, 1, 1).contiguous()   # per-pathway output blocks
    return task, W


@pytest.mark.parametrize("P", [1, 4])
def test_gated_network_from_decoupled_init_follows_eqs_16_17(P):
    """The engine's gated P-sharing network (M = 2, K = M, gradient flow) = Eqs. 16-17 exactly."""
    M, b1, b2 = 2, 0.2, 0.15
    task, W = _gated_decoupled(M, P, b1, b2)
    t = np.linspace(0, 60, 13)
    _, loss = integrate_routing_flow(W, task, t, gates=sharing_gates(M, P, dtype=F64),
                                     rtol=1e-10, atol=1e-12)
    modes = task_modes(task)
    tr = integrate_sharing(modes.s.numpy(), modes.d.numpy(), M, P, b1, b2, t=t, y_power=modes.y_power)
    assert loss[-1, 0] < 0.5 * loss[0, 0]  # it learned something in this window
    np.testing.assert_allclose(loss[:, 0], tr.loss[:, 0], rtol=1e-6, atol=1e-9)


def test_block_replicas_equal_gated_network_gradient():
    """A P-sharing network's gradient on pathway (a, b) = P/M^2 x the stand-alone block network's gradient."""
    M, P, n_h = 4, 4, 5
    s, H = 2, 4
    task = routing_task(M, M, seed=1)
    W = init_routing_weights(1, M, task.n_x, n_h, task.n_y, sigma0=0.7, generator=generator(3), H=H,
                             per_pathway_io=True, dtype=F64)
    _, g = routing_rhs(W, task, sharing_gates(M, P, dtype=F64))
    bt = block_task(P, seed=1, dtype=F64)
    assert torch.allclose(bt.X, task.X[:s]) and torch.allclose(bt.Y, task.Y[:s])
    from gdln.engines.routing import RoutingWeights
    for h in range(H):
        a, b = divmod(h, M // s)
        ins, outs = slice(a * s, a * s + s), slice(b * s, b * s + s)
        Wb = RoutingWeights(W.W1[:, h, ins].clone(), W.W2[:, h:h + 1].clone(), W.W3[:, h, outs].clone())
        _, gb = routing_rhs(Wb, bt)
        f = P / M**2
        assert torch.allclose(g.W1[:, h, ins], f * gb.W1, atol=1e-12)
        assert torch.allclose(g.W2[:, h:h + 1], f * gb.W2, atol=1e-12)
        assert torch.allclose(g.W3[:, h, outs], f * gb.W3, atol=1e-12)


def test_train_sharing_decoupled_matches_ode_and_modes_read_back():
    M, P, b1, b2, lr = 4, 4, 0.15, 0.15, 0.05
    H = n_pathways(M, P)
    bt = block_task(P, dtype=F64)
    W0 = decoupled_routing_weights(bt, b1, b2, R=2 * H, n_h=8, generator=generator(0))
    B1, B2, B3 = mode_strengths(W0, bt)
    assert torch.allclose(B1, torch.full_like(B1, b1)) and torch.allclose(B2, torch.full_like(B2, b2))
    run = train_sharing(M, P, R=2, sigma0=0.0, lr=lr, steps=1200, chunks=24, generator=generator(0),
                        W0=W0, dtype=F64)
    modes = task_modes(bt)
    tr = integrate_sharing(modes.s.numpy(), modes.d.numpy(), M, P, b1, b2, t=run.t)
    # gradient descent vs gradient flow: the rise is delayed by O(lr) relative time; end points agree
    b2_net = run.B2[:, :, :, :, 0].mean((1, 2, 3))
    assert half_time(run.t, b2_net) == pytest.approx(half_time(run.t, tr.B2[:, 0, 0]), rel=0.02)
    np.testing.assert_allclose(b2_net[-1], tr.B2[-1, 0, 0], rtol=1e-4)
    ratio = run.B2[-1, ..., 0].mean() / run.B1[-1, ..., 0].mean()
    assert ratio == pytest.approx(tr.B2[-1, 0, 0] / tr.B1[-1, 0, 0], rel=1e-4)
    assert ratio == pytest.approx(P**0.25, rel=0.02)  # Eq. 56 up to the conserved C / B1^2 shift


# ---------------------------------------------------------------- explorer

def test_explorer_curves_and_widget():
    from gdln.figures.explorer import race_curves, race_explorer
    c = race_curves(10, 10, 0.2, 4, S=3.4, D=0.25)
    th = c["t_half"]
    assert np.all(np.isfinite(th)) and th[0] > th[1] > th[2]  # dedicated slower than block slower than shared
    assert list(c["P_grid"]) == [1, 4, 25, 100, 100]
    with pytest.raises(ValueError, match="sqrt"):
        race_curves(10, 1, 0.2, 4)
    with pytest.raises(ValueError, match="sigma0"):
        race_curves(10, 5, -1.0, 4)
    pytest.importorskip("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    w = race_explorer(M=6, K=3, sigma0=0.1, P=9)
    assert len(w.children) == 3
    img = w.children[-1]
    first = img.value
    assert type(img).__name__ == "Image" and first[:8] == b"\x89PNG\r\n\x1a\n"   # the initial figure, at once
    w.children[1].children[0].value = 0.02                                   # sigma_0 slider: a new figure
    assert img.value != first and img.value[:8] == first[:8]


# ---------------------------------------------------------------- sweeps used by race.md / initialization.md

def test_lazy_safe_lr_scales_as_sigma_minus_four():
    from gdln.engines.race import lazy_safe_lr
    assert lazy_safe_lr(0.1) == pytest.approx(0.15) and lazy_safe_lr(1.0) == pytest.approx(0.15)
    assert lazy_safe_lr(2.0) == pytest.approx(0.15 / 16)
    with pytest.raises(ValueError, match="sigma0"):
        lazy_safe_lr(0.0)


def test_crossing_and_threshold():
    from gdln.engines.race import crossing, threshold_fraction
    assert crossing([1, 2, 4], [0.0, 0.05, 0.2], 0.1) == pytest.approx(2 * 2 ** (1 / 3))
    assert math.isnan(crossing([1, 2], [0.0, 0.05], 0.1))
    assert threshold_fraction([1, 2, 3, 4], 10, [1.0, 0.5, 0.04, 0.0]) == pytest.approx(0.3)
    assert math.isnan(threshold_fraction([1, 2], 10, [1.0, 0.5]))


def test_k_sweep_and_sigma_sweep_shapes_and_same_networks_per_step():
    from gdln.engines.race import k_sweep, sigma_sweep
    sw = k_sweep(3, (1, 3), 2, sigma0=0.2, lrs=(0.2, 0.1), steps=4, n_h=6, record_every=2)
    assert sw.trained.shape == (3, 2, 2, 2) and sw.t[-1].tolist() == pytest.approx([0.8, 0.4])
    # at step 0 every step size holds the same networks
    np.testing.assert_allclose(sw.trained[0, 0], sw.trained[0, 1])
    assert np.all(np.isnan(sw.untrained[:, :, 1]))  # K = M: no untrained routes
    ss = sigma_sweep(3, 2, (0.1, 2.0), 2, steps=4, schemes=("orthogonal", "xavier"), n_h=6, record_every=2)
    assert ss.untrained.shape == (3, 2, 2, 2) and ss.h1.shape == (2, 2, 2, 3, 6, 4)
    assert ss.lr[0, 1, 0] == pytest.approx(0.15 / 16)
    with pytest.raises(ValueError, match="Ks"):
        k_sweep(3, (0,), 1, sigma0=0.2, lrs=(0.1,), steps=1)
    with pytest.raises(ValueError, match="sigmas"):
        sigma_sweep(3, 2, (-1.0,), 1, steps=1)


def test_combined_network_shared_pathway_wins():
    from gdln.tasks.routing import combined_gates
    from gdln.engines.race import combined_race
    G = combined_gates(3)
    assert G.shape == (3, 3, 10) and torch.all(G.sum(-1) == 2) and torch.all(G[..., 0] == 1)
    c = combined_race(2, R=1, sigma0=0.2, lr=0.1, steps=300, chunks=3, n_h=8)
    assert c.shared[-1, 0] > 0.95 and c.private[-1, 0] < 0.05 and c.loss[-1, 0] < 1e-2
