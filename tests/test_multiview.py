"""Tests for the multi-view task (gdln.tasks.multiview), its drivers (gdln.engines.multiview) and the SGD /
momentum / cross-entropy trainer of gdln.engines.relu (train_relu_sgd): the closed-form statistics against
Eqs. 5-6 on the examples, the Lotka-Volterra form against the gdln reduction (Eq. 10) and the full GDLN
gradient flow, the summary's form against its closed form, the measurements, and bad inputs."""

import math

import numpy as np
import pytest
import torch

from gdln.core.dynamics import train
from gdln.core.network import forward, loss
from gdln.core.reduction import diagonalize, edge_modes, integrate_reduced, reduced_rhs
from gdln.core.statistics import path_statistics
from gdln.engines import multiview as emv
from gdln.engines.relu import init_relu, output_loss, relu_forward, train_relu, train_relu_sgd
from gdln.tasks import multiview as mv
from helpers import F64, ROUNDOFF, close, gen

K, M = 3, 3
P_ONE, P_OR = [0.5, 0.3, 0.2], [0.8, 0.5, 0.3]


def tasks(**kw):
    return {"one": mv.multiview_task(K, M, mv.view_sets(M, "one", P_ONE), **kw),
            "or": mv.multiview_task(K, M, mv.view_sets(M, "or", P_OR), **kw),
            "all": mv.multiview_task(K, M, mv.view_sets(M, "all"), **kw)}


# ------------------------------------------------------------------ the task
def test_view_sets_and_cooccurrence():
    assert mv.view_sets(3, "one", P_ONE) == (((0,), 0.5), ((1,), 0.3), ((2,), 0.2))
    assert mv.view_sets(2, "one") == (((0,), 0.5), ((1,), 0.5))
    assert mv.view_sets(3, "all") == (((0, 1, 2), 1.0),)
    sets = mv.view_sets(3, "or", P_OR)
    assert len(sets) == 7 and sum(w for _, w in sets) == pytest.approx(1, abs=1e-15)
    p, Q = mv.cooccurrence(sets, 3)
    z = 1 - np.prod(1 - np.array(P_OR))               # conditioned on at least one view
    q = np.array(P_OR)
    close(torch.tensor(Q), torch.tensor((np.outer(q, q) * (1 - np.eye(3)) + np.diag(q)) / z), atol=1e-15)
    close(torch.tensor(p), torch.tensor(np.diag(Q)), atol=0)
    p, Q = mv.cooccurrence(mv.view_sets(3, "one", P_ONE), 3)
    close(torch.tensor(Q), torch.tensor(np.diag(P_ONE)), atol=0)
    p, Q = mv.cooccurrence(mv.view_sets(3, "all"), 3)
    assert np.all(Q == 1)


@pytest.mark.parametrize("args, match", [
    ((3, "one", [0.5, 0.5]), "3 finite frequencies"),
    ((3, "one", [0.5, 0.6, -0.1]), "summing to 1"),
    ((3, "one", [0.5, 0.4, 0.2]), "summing to 1"),
    ((3, "or", [0.5, 0.0, 0.2]), r"probabilities in \(0, 1\]"),
    ((3, "or", [0.5, 1.2, 0.2]), r"probabilities in \(0, 1\]"),
    ((3, "all", [1, 1, 1]), "omit it"),
    ((3, "some", None), "expected one of"),
    ((0, "one", None), "M=0 is invalid"),
])
def test_view_sets_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        mv.view_sets(*args)


@pytest.mark.parametrize("sets, match", [
    ([], "empty"),
    ([((0,), 0.5), ((0,), 0.5)], "listed twice"),
    ([((0, 3), 1.0)], r"view indices in \[0, 3\)"),
    ([((), 1.0)], "distinct view indices"),
    ([((0,), 0.0), ((1,), 1.0)], "expected a number > 0"),
    ([((0,), 0.5), ((1,), 0.4)], "sum to"),
    ([(0, 1.0)], "tuple of view indices"),
])
def test_check_view_sets_bad_inputs(sets, match):
    with pytest.raises(ValueError, match=match):
        mv.check_view_sets(sets, 3)


def test_multiview_task_examples():
    for name, task in tasks().items():
        assert task.x.shape == (task.n, K * M) and task.y.shape == (task.n, K)
        assert task.weight.sum().item() == pytest.approx(1, abs=1e-15)
        close(task.x, task.shown.to(F64).repeat_interleave(K, 1) * task.y.repeat(1, M), atol=0)
        close(task.coordinates(), task.shown.T[:, :, None].to(F64) * task.y[None], atol=0)
        assert task.probes().shape == (M * K, K * M)
    t = mv.multiview_task(K, M, mv.view_sets(M, "or", P_OR), d=20, generator=gen(1))
    V = t.probes()
    close(V @ V.T, torch.eye(M * K, dtype=F64), atol=1e-14)
    close(t.x, (t.shown.to(F64)[:, :, None] * t.views[:, t.labels].transpose(0, 1)).sum(1), atol=1e-15)


@pytest.mark.parametrize("kw, match", [
    (dict(K=1), "K=1 is invalid"),
    (dict(d=5), "need d >= 9"),
    (dict(d=12), "needs a generator"),
])
def test_multiview_task_bad_inputs(kw, match):
    args = dict(K=K, M=M, sets=mv.view_sets(M, "all"))
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        mv.multiview_task(**args)


# ------------------------------------------------------------------ the GDLN: statistics and Eq. 10
@pytest.mark.parametrize("depth", [2, 3])
def test_closed_form_statistics_are_eqs_5_6_of_the_examples(depth):
    for task in tasks(d=12, generator=gen(2)).values():
        g = mv.view_graph(K, M, 4, depth)
        data = mv.gated_data(task, g)
        st, ref = mv.view_statistics(task, g), path_statistics(g, data)
        for p in st.paths:
            close(st.yx[p], ref.yx[p], atol=1e-15)
        for key in st.x:
            close(st.x[key], ref.x[key], atol=1e-15)
        # the loss on the scaled examples is the task's expected loss (Eq. 1)
        W = {e: 0.7 * torch.randn(*g.shape(e), generator=gen(3), dtype=F64) for e in g.edges}
        X = task.coordinates()
        out = sum(task.shown[:, m:m + 1].to(F64) * (X[m] @ _path_map(g, W, m).T) for m in range(M))
        expected = (0.5 * ((task.y - out) ** 2).sum(1) * task.weight).sum()
        close(loss(g, W, data), expected, atol=ROUNDOFF)
        close(forward(g, W, data)["y"], out * (task.n * task.weight).sqrt()[:, None], atol=ROUNDOFF)


def _path_map(g, W, m):
    out = None
    for e in mv.view_path(g, m).edges:
        out = W[e] if out is None else W[e] @ out
    return out


def test_view_statistics_needs_orthonormal_views_and_a_view_graph():
    task = tasks()["one"]
    bad = mv.MultiViewTask(task.K, task.M, task.sets, task.p, task.Q, task.views * 1.1, task.x, task.y, task.labels,
                           task.shown, task.weight)
    with pytest.raises(ValueError, match="not orthonormal"):
        mv.view_statistics(bad, mv.view_graph(K, M, 3))
    with pytest.raises(ValueError, match="not a view_graph"):
        mv.view_statistics(task, mv.view_graph(K, M + 1, 3))
    with pytest.raises(ValueError, match="depth=1 is invalid"):
        mv.view_graph(K, M, 3, depth=1)


def _pad(b, g, e):
    """Mode strengths of one pathway's edge: the K class modes, then zeros for a hidden edge's extra modes."""
    return torch.nn.functional.pad(torch.as_tensor(b, dtype=F64), (0, edge_modes(g, e) - K))


@pytest.mark.parametrize("depth", [2, 3])
def test_lv_rhs_is_eq_10_of_the_gdln_reduction(depth):
    """d s/dt of balanced pathways from gdln's Eq. 10: s = b^D, so ds/dt = D b^(D-1) db/dt (any edge)."""
    rng = np.random.default_rng(0)
    for task in tasks().values():
        g = mv.view_graph(K, M, 4, depth)
        diag = diagonalize(g, mv.view_statistics(task, g))
        assert torch.equal(diag.U["y"], torch.eye(K, dtype=F64))
        b = rng.uniform(0.1, 0.9, size=(K, M))
        B = {e: _pad(b[:, m], g, e) for m in range(M) for e in mv.view_path(g, m).edges}
        dB = reduced_rhs(g, diag, B)
        for m in range(M):
            for e in mv.view_path(g, m).edges:
                ds = depth * b[:, m] ** (depth - 1) * dB[e][:K].numpy()
                close(torch.tensor(ds), torch.tensor(mv.lv_rhs(b ** depth, task.p, task.Q, K, depth)[:, m]), atol=1e-15)


@pytest.mark.parametrize("depth", [2, 3])
def test_integrate_lv_matches_integrated_reduction(depth):
    rng = np.random.default_rng(1)
    t = np.linspace(0, 150, 31)
    for task in tasks().values():
        g = mv.view_graph(K, M, 4, depth)
        diag = diagonalize(g, mv.view_statistics(task, g))
        s0 = rng.uniform(0.5e-3, 2e-3, size=(K, M))
        B0 = {e: _pad(s0[:, m] ** (1 / depth), g, e) for m in range(M) for e in mv.view_path(g, m).edges}
        tr = integrate_reduced(g, diag, B0, t_eval=t, rtol=1e-11, atol=1e-14)
        s_red = np.stack([np.prod([tr.B[e][..., :K].numpy() for e in mv.view_path(g, m).edges], 0)
                          for m in range(M)], -1)
        s_lv = mv.integrate_lv(s0, task.p, task.Q, K, t, depth=depth, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(s_lv, s_red, rtol=0, atol=1e-8)       # two adaptive solves at rtol 1e-11


def test_full_gdln_flow_from_decoupled_weights_follows_lv():
    rng = np.random.default_rng(2)
    t = np.linspace(0, 120, 13)
    task = tasks()["or"]
    g = mv.view_graph(K, M, 4)
    s0 = rng.uniform(1e-3, 3e-3, size=(2, K, M))
    W0 = emv.decoupled_view_weights(task, g, s0, generator=gen(4))
    s, own, _ = emv.gdln_view_strengths(g, W0, K, M)
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    np.testing.assert_allclose(own, s0, rtol=1e-12)
    traj = train(g, W0, mv.view_statistics(task, g), t_eval=t, method="ode", rtol=1e-11, atol=1e-14,
                 record_weights=True)
    s, _, _ = emv.gdln_view_strengths(g, traj.weights, K, M)
    np.testing.assert_allclose(s, mv.integrate_lv(s0, task.p, task.Q, K, t), rtol=0, atol=1e-7)


def test_lv_fixed_points():
    task = tasks()["or"]
    s_star = mv.lv_fixed_point(task.p, task.Q)
    close(torch.tensor(task.Q @ s_star), torch.tensor(task.p), atol=1e-15)
    end = mv.integrate_lv(np.full(M, 1e-3), task.p, task.Q, K, [0, 5e4])[-1]
    np.testing.assert_allclose(end, s_star, rtol=1e-8)
    one = tasks()["one"]
    np.testing.assert_allclose(mv.lv_fixed_point(one.p, one.Q), np.ones(M), rtol=1e-15)
    with pytest.raises(ValueError, match="singular"):
        mv.lv_fixed_point(*mv.cooccurrence(mv.view_sets(M, "all"), M))
    # view 1 only ever appears with view 0, which also appears alone: the least-squares minimum switches it off
    p, Q = mv.cooccurrence([((0,), 0.5), ((0, 1), 0.5)], 2)
    with pytest.raises(ValueError, match="components <= 0"):
        mv.lv_fixed_point(p, Q)
    S = mv.integrate_lv(np.array([1e-3, 1e-3]), p, Q, K, np.r_[0, np.geomspace(1, 1e5, 50)])
    # the redundant view grows, then decays towards 0 (algebraically: its per-capita rate is proportional to it)
    assert S[-1, 0] == pytest.approx(1, abs=1e-4) and S[-1, 1] < S[:, 1].max() / 100


def test_all_views_two_layers_conserve_ratios():
    """Every per-capita rate of the all-views scheme is (2/K)(1 - sum s): the ratios s_m/s_j never change."""
    task = tasks()["all"]
    s0 = np.array([1e-3, 2e-3, 3e-3])
    S = mv.integrate_lv(s0, task.p, task.Q, K, np.linspace(0, 200, 41))
    np.testing.assert_allclose(S / S[:, :1], np.broadcast_to(s0 / s0[0], S.shape), rtol=1e-8)
    assert S[-1].sum() == pytest.approx(1, abs=1e-6)
    # gradient descent on decoupled networks keeps them exactly too (a common factor per step)
    run = emv.train_gdln_views(task, R=2, n_h=4, lr=0.5, steps=200, s0=np.broadcast_to(s0, (2, K, M)), record_every=50)
    np.testing.assert_allclose(run.s / run.s[..., :1], np.broadcast_to(s0 / s0[0], run.s.shape), rtol=1e-10)


@pytest.mark.parametrize("call, match", [
    (lambda: mv.lv_rhs(np.ones(2), [0.5, 0.5, 0], np.eye(3), 3), r"expected \(\.\.\., 3\)"),
    (lambda: mv.lv_rhs(np.ones(3), [0.5, 0.5], np.eye(3), 3), "expected finite p"),
    (lambda: mv.integrate_lv(-np.ones(3), [1, 1, 1], np.eye(3), 3, [0, 1]), "strengths >= 0"),
    (lambda: mv.integrate_lv(np.ones(3), [1, 1, 1], np.eye(3), 3, [1, 0]), "strictly increasing"),
    (lambda: mv.summary_rhs(np.ones(3), np.ones(2), 1.0), "one rate per view"),
    (lambda: mv.summary_rhs(np.ones(3), np.ones(3), 0.0), "s_max > 0"),
    (lambda: mv.initial_advantage(np.ones((2, 3)), [1, 1], 3), "one strength per view"),
    (lambda: mv.coverage(np.zeros((2, 3))), "undefined"),
    (lambda: mv.learning_times([0, 1], np.ones((3, 2))), "3 samples"),
    (lambda: mv.learning_times([0, 1], np.ones((2, 2)), fraction=1.5), "fraction=1.5"),
    (lambda: mv.fit_summary([0, 1], np.zeros((2, 2))), "positive initial strengths"),
])
def test_theory_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ the summary's form
def test_summary_form_against_its_closed_form_and_the_fit():
    """One view: ds/dt = sigma s (1 - s^2/s_max^2) is logistic in s^2: s = s_max / sqrt(1 + (s_max^2/s0^2 - 1) e^(-2 sigma t))."""
    t = np.linspace(0, 40, 81)
    sigma, s_max, s0 = 0.3, 1.7, 1e-2
    exact = s_max / np.sqrt(1 + (s_max ** 2 / s0 ** 2 - 1) * np.exp(-2 * sigma * t))
    S = mv.integrate_summary([s0], [sigma], s_max, t, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(S[:, 0], exact, rtol=1e-8)
    # the fit recovers the parameters of a trajectory of the form itself (two views)
    S = mv.integrate_summary([1e-2, 2e-2], [0.3, 0.2], 1.5, t)
    fit = mv.fit_summary(t, S)
    np.testing.assert_allclose(fit.sigma, [0.3, 0.2], rtol=1e-4)
    assert fit.s_max == pytest.approx(1.5, rel=1e-4) and fit.rel_error < 1e-5
    # below the sphere every per-capita rate is positive: no view of the summary's form ever decreases
    S = mv.integrate_summary([1e-3, 1e-2, 5e-2], [0.1, 0.4, 0.2], 1.0, np.linspace(0, 200, 401))
    assert np.all(np.diff(S, axis=0) >= -1e-7)      # up to the solver's tolerance (rtol 1e-9)


# ------------------------------------------------------------------ measurements
def test_measurements():
    s = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
    np.testing.assert_allclose(mv.coverage(s), [1.0, 1 / 3, 16 / 30])
    assert mv.winners(s).tolist() == [0, 0, 0]
    close(torch.tensor(mv.initial_advantage(s, [0.5, 0.25, 0.25], 2)), torch.tensor(s * [0.25, 0.125, 0.125]), atol=0)
    t = np.arange(5.0)
    S = np.array([[0.0, 0.0], [0.2, 0.1], [0.6, 0.1], [0.9, 0.2], [1.0, 0.2]])
    np.testing.assert_array_equal(mv.learning_times(t, S), [2.0, 1.0])            # half of the end value
    np.testing.assert_array_equal(mv.learning_times(t, S, level=0.5), [2.0, np.nan])
    # the race is decided at t = 2 (leader 0.6 >= 0.5): view 1 then grows 0.1 -> 0.2, view 0 0.6 -> 1
    np.testing.assert_allclose(mv.post_race_growth(t, S), [1 / 0.6, 2.0])
    S3 = np.stack([S, S[:, ::-1]], 1)                                              # (T, 2 classes, 2 views)
    np.testing.assert_allclose(mv.post_race_growth(t, S3), [[1 / 0.6, 2.0], [2.0, 1 / 0.6]])


# ------------------------------------------------------------------ the ReLU engine: SGD, momentum, cross-entropy
def _relu(R=3, dtype=F64):
    task = tasks()["or"]
    W1, W2 = init_relu(task.d, 6, K, 0.3, generator=gen(5), replicas=(R,), dtype=dtype)
    return task, W1, W2


def test_full_batch_mse_is_train_relu():
    task, W1, W2 = _relu()
    x, y = task.x, task.y
    a = train_relu_sgd(W1, W2, x, y, lr=0.1, steps=20, record_every=5)
    b = train_relu(W1, W2, x, y, tau=1.0, dt=0.1, t_max=2.0, record_every=5)
    close(a.W1, b.W1, atol=1e-14)
    close(a.W2, b.W2, atol=1e-14)
    close(a.loss, b.loss, atol=1e-15)
    close(a.t, b.t, atol=1e-15)


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_weighted_gradient_step_against_autograd(kind):
    task, W1, W2 = _relu()
    y = task.y if kind == "mse" else torch.softmax(torch.randn(3, task.n, K, generator=gen(6), dtype=F64), -1)
    a, b = W1.clone().requires_grad_(True), W2.clone().requires_grad_(True)
    per, _ = output_loss(relu_forward(a, b, task.x), y, kind)
    (per * task.weight).sum(-1).sum().backward()
    run = train_relu_sgd(W1, W2, task.x, y, lr=0.2, steps=1, loss=kind, weights=task.weight)
    close(run.W1, W1 - 0.2 * a.grad, atol=1e-14)
    close(run.W2, W2 - 0.2 * b.grad, atol=1e-14)
    ref = torch.nn.functional.cross_entropy(relu_forward(W1, W2, task.x)[0], y[0], reduction="none") if kind == "ce" else None
    if ref is not None:
        close(output_loss(relu_forward(W1, W2, task.x), y, "ce")[0][0], ref, atol=1e-14)


def test_momentum_is_torch_sgd_and_minibatches_are_seeded():
    task, W1, W2 = _relu(R=1)
    a, b = W1[0].clone().requires_grad_(True), W2[0].clone().requires_grad_(True)
    opt = torch.optim.SGD([a, b], lr=0.05, momentum=0.9)
    for _ in range(4):
        opt.zero_grad()
        per, _ = output_loss(relu_forward(a, b, task.x), task.y, "ce")
        (per * task.weight).sum().backward()
        opt.step()
    run = train_relu_sgd(W1, W2, task.x, task.y, lr=0.05, steps=4, loss="ce", weights=task.weight, momentum=0.9)
    close(run.W1[0], a.detach(), atol=1e-14)
    close(run.W2[0], b.detach(), atol=1e-14)
    kw = dict(lr=0.1, steps=30, weights=task.weight, batch_size=2)
    r1 = train_relu_sgd(W1, W2, task.x, task.y, generator=gen(7), **kw)
    r2 = train_relu_sgd(W1, W2, task.x, task.y, generator=gen(7), **kw)
    r3 = train_relu_sgd(W1, W2, task.x, task.y, generator=gen(8), **kw)
    assert torch.equal(r1.W1, r2.W1) and not torch.equal(r1.W1, r3.W1)


def test_minibatch_step_is_an_unbiased_estimate():
    """Averaged over many independent replicas, one SGD step equals the full-batch step."""
    task, W1, W2 = _relu(R=1)
    R = 20000
    W1r, W2r = W1.expand(R, *W1.shape[1:]).clone(), W2.expand(R, *W2.shape[1:]).clone()
    sgd = train_relu_sgd(W1r, W2r, task.x, task.y, lr=1.0, steps=1, weights=task.weight, batch_size=3,
                         generator=gen(9))
    full = train_relu_sgd(W1, W2, task.x, task.y, lr=1.0, steps=1, weights=task.weight)
    step_sgd, step_full = (sgd.W2 - W2r).mean(0), (full.W2 - W2)[0]
    sd = (sgd.W2 - W2r).std(0) / math.sqrt(R)
    assert ((step_sgd - step_full).abs() <= 5 * sd + 1e-12).all()


def test_soft_targets_per_replica():
    task, W1, W2 = _relu()
    soft = torch.softmax(torch.randn(3, task.n, K, generator=gen(10), dtype=F64), -1)
    full = train_relu_sgd(W1, W2, task.x, soft, lr=0.1, steps=1, loss="ce", weights=task.weight)
    for r in range(3):                                   # replica r learns from its own targets only
        one = train_relu_sgd(W1[r:r + 1], W2[r:r + 1], task.x, soft[r], lr=0.1, steps=1, loss="ce", weights=task.weight)
        close(full.W1[r], one.W1[0], atol=1e-15)
    mini = train_relu_sgd(W1, W2, task.x, soft, lr=0.1, steps=3, loss="ce", weights=task.weight, batch_size=4,
                          generator=gen(11))
    assert torch.isfinite(mini.W1).all() and mini.loss.shape == (4, 3)


@pytest.mark.parametrize("kw, match", [
    (dict(loss="l1"), "loss='l1' is invalid"),
    (dict(momentum=1.0), "momentum=1.0 is invalid"),
    (dict(batch_size=2), "needs a torch.Generator"),
    (dict(batch_size=0, generator=gen(0)), "batch_size must be a positive integer"),
    (dict(weights=torch.full((27,), 0.5, dtype=F64)), "probabilities"),
    (dict(lr=-1.0), "lr must be a finite positive number"),
    (dict(probe=torch.ones(2, 3, dtype=F64)), "probe must have shape"),
])
def test_train_relu_sgd_bad_inputs(kw, match):
    task, W1, W2 = _relu()
    args = dict(lr=0.1, steps=2)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        train_relu_sgd(W1, W2, task.x, task.y, **args)
    with pytest.raises(ValueError, match="probability vectors"):
        train_relu_sgd(W1, W2, task.x, 2 * task.y, lr=0.1, steps=1, loss="ce")
    with pytest.raises(ValueError, match="one set of targets per replica"):
        train_relu_sgd(W1, W2, task.x, task.y[:-1], lr=0.1, steps=1)


# ------------------------------------------------------------------ the drivers
def test_relu_view_strengths_and_driver():
    task = tasks()["one"]
    run = emv.train_relu_views(task, R=2, n_h=8, sigma0=0.1, lr=0.5, steps=10, record_every=5, dtype=F64)
    assert run.s.shape == (3, 2, K, M) and run.loss.shape == (3, 2) and run.correct.shape == (2, K, M)
    W1, W2 = run.weights
    out = relu_forward(W1, W2, task.probes())                     # (R, M K, K): row m K + y is view (y, m)
    for y in range(K):
        for m in range(M):
            assert run.s[-1, 1, y, m] == pytest.approx(out[1, m * K + y].norm().item(), rel=1e-12)
            assert run.own[-1, 1, y, m] == pytest.approx(out[1, m * K + y, y].item(), rel=1e-12)
    soft = emv.teacher_targets(run, task, 2.0)
    close(soft.sum(-1), torch.ones(2, task.n, dtype=F64), atol=1e-15)
    mom = emv.train_relu_views(task, R=2, n_h=8, sigma0=0.1, lr=0.5, steps=10, record_every=5, momentum=0.9)
    np.testing.assert_allclose(mom.t, run.t)                      # time in units of the effective step
    with pytest.raises(ValueError, match="expected \\(\\.\\.\\., 9, 3\\)"):
        emv.relu_view_strengths(out[:, :5], K, M)


@pytest.mark.parametrize("kw, match", [
    (dict(sigma0=0.1, s0=np.ones((1, K, M))), "exactly one of"),
    (dict(), "exactly one of"),
    (dict(s0=np.ones((2, K, M))), r"expected \(1, 3, 3\)"),
    (dict(s0=np.ones((1, K, M)), n_h=2), "n_h >= K"),
    (dict(sigma0=-0.1), "sigma0=-0.1 is invalid"),
])
def test_train_gdln_views_bad_inputs(kw, match):
    args = dict(R=1, n_h=4, lr=0.1, steps=2)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        emv.train_gdln_views(tasks()["one"], **args)


def test_gdln_from_random_weights_records_silent_alignment():
    task = tasks()["all"]
    run = emv.train_gdln_views(task, R=2, n_h=4, lr=0.5, steps=4, sigma0=0.1, seed=3, record_every=2)
    g = torch.Generator().manual_seed(3)
    graph = mv.view_graph(K, M, 4)
    W0 = {e: 0.1 * torch.randn(2, *graph.shape(e), generator=g, dtype=F64) for e in graph.edges}
    for m in range(M):
        z = (W0[f"W{m}_1"] + W0[f"W{m}_2"].transpose(-1, -2)) / 2     # columns: classes
        np.testing.assert_allclose(run.align0[..., m], (z ** 2).sum(-2).numpy(), rtol=1e-12)
    s, _, _ = emv.gdln_view_strengths(graph, W0, K, M)
    np.testing.assert_allclose(run.s[0], s, rtol=1e-12)
