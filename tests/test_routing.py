"""Tests for gdln.tasks.routing (the task, Fig. 4c-d; Eqs. 11-12) and gdln.engines.routing (the batched engine, Eqs. 1-2)."""

import math

import pytest
import torch

from gdln.engines.routing import RoutingWeights, decoupled_routing_weights, from_graph_weights, init_routing_weights, route_outputs, routing_loss, routing_rhs, to_graph_weights, train_routing
from gdln.core.graph import Path
from gdln.core.statistics import path_statistics
from gdln.tasks.routing import hierarchical_dataset, path_route, pathway_gates, predicted_path_statistics, routing_gated_data, routing_graph, routing_task, shared_branch_task, task_modes, trained_route_masks, trained_routes
from helpers import EXACT, F64, close, gen, needs_gpu


@pytest.mark.parametrize("M,K", [(7, 4), (10, 3), (5, 5), (4, 1)])
def test_trained_routes_have_K_partners_everywhere(M, K):
    T = trained_routes(M, K, seed=3)
    assert T.shape == (M, M) and T.dtype == torch.bool
    assert (T.sum(1) == K).all() and (T.sum(0) == K).all()
    assert torch.equal(T, trained_routes(M, K, seed=3))  # seeded
    masks = trained_route_masks(M, [K, 1], [3, 4])
    assert torch.equal(masks[0], T) and masks.shape == (2, M, M)


def test_trained_routes_rejects_bad_K():
    with pytest.raises(ValueError, match="K=8"):
        trained_routes(7, 8)
    with pytest.raises(ValueError, match="M=0"):
        trained_routes(0, 1)


def test_hierarchical_dataset_structure():
    X, Y = hierarchical_dataset(5, n_x=6)
    close(X.T @ X, torch.eye(4, dtype=F64))
    assert Y.shape == (7, 4)
    assert torch.equal(Y[0], torch.full((4,), 6.0, dtype=F64))                     # root
    assert torch.equal(Y[1], torch.tensor([4.0, 4, 0, 0], dtype=F64))               # branches
    assert torch.equal(Y[3:], 3 * torch.eye(4, dtype=F64))                         # leaves
    with pytest.raises(ValueError, match="n_x=3"):
        hierarchical_dataset(0, n_x=3)


def test_task_modes_diagonalise_every_domain():
    task = routing_task(4, 2, seed=1, domain_inputs="independent")
    m = task_modes(task)
    for i in range(4):
        yx = task.Y[i] @ task.X[i].T / task.n
        close(m.U.T @ yx @ m.V[i], torch.diag(m.s))
        xx = task.X[i] @ task.X[i].T / task.n
        close(m.V[i].T @ xx @ m.V[i], torch.diag(m.d))
    assert m.y_power == pytest.approx((36 + 16 + 9), abs=1e-12)   # <||y||^2> = 6^2 + 4^2 + 3^2


@pytest.mark.parametrize("H,per_io,gated", [(1, False, False), (1, False, True), (1, True, True), (3, False, True),
                                             (3, True, True)])
def test_handwritten_backprop_equals_autograd(H, per_io, gated):
    task = routing_task(5, 3, seed=2, domain_inputs="independent")
    W = init_routing_weights(3, 5, 4, 8, 7, sigma0=torch.tensor([0.3, 1.0, 2.0]), generator=gen(1), H=H,
                             per_pathway_io=per_io, dtype=F64)
    gates = None
    if gated and H > 1:
        gates = pathway_gates(torch.randint(0, H, (3, 5, 5), generator=gen(2)), H, dtype=F64)
    elif gated:   # H = 1 with arbitrary gate values (0 switches a route off, 0.5 halves it)
        gates = torch.tensor([0.0, 0.5, 1.0], dtype=F64)[torch.randint(0, 3, (3, 5, 5, 1), generator=gen(2))]
    L, rhs = routing_rhs(W, task, gates)
    Wa = RoutingWeights(*(w.clone().requires_grad_() for w in (W.W1, W.W2, W.W3)))
    La = routing_loss(Wa, task, gates)
    La.sum().backward()
    torch.testing.assert_close(L, La.detach(), rtol=1e-13, atol=0)
    for a, b in ((Wa.W1, rhs.W1), (Wa.W2, rhs.W2), (Wa.W3, rhs.W3)):
        close(-a.grad, b, atol=1e-13)


def test_engine_equals_core_generic_machinery():
    """Same network through gdln.core.network / gdln.core.dynamics on the routing Graph + GatedData (float64)."""
    from gdln.core.dynamics import autograd_gradient, path_gradient
    from gdln.core.network import loss
    from gdln.core.statistics import path_statistics

    task = routing_task(4, 2, seed=0, domain_inputs="independent")
    g = routing_graph(4, 4, 6, 7)
    data = routing_gated_data(task)
    assert len(g.paths()) == 16                                    # M^2 paths (Fig. 4b)
    assert len(g.paths_through("W2")) == 16 and len(g.paths_through("W1_0")) == 4
    W = init_routing_weights(2, 4, 4, 6, 7, sigma0=0.7, generator=gen(3), dtype=F64)
    Wg = to_graph_weights(W)
    torch.testing.assert_close(loss(g, Wg, data), routing_loss(W, task), rtol=1e-13, atol=0)
    _, rhs = routing_rhs(W, task)
    for grad in (autograd_gradient(g, Wg, data), path_gradient(g, Wg, path_statistics(g, data))):
        back = from_graph_weights(grad, 4)
        for a, b in ((back.W1, rhs.W1), (back.W2, rhs.W2), (back.W3, rhs.W3)):
            close(a, b, atol=1e-13)


def test_init_readings_of_sigma0():
    R, M, nh = 20, 3, 64
    Wx = init_routing_weights(R, M, 4, nh, 7, sigma0=0.2, generator=gen(4), dtype=F64)
    # Xavier scaled by sigma0: entries N(0, sigma0^2 2/(fan_in+fan_out)); 20*64*64 samples per W2 -> rel. s.e. ~ 0.3%
    assert Wx.W2.std().item() == pytest.approx(0.2 * math.sqrt(2 / (2 * nh)), rel=0.02)
    assert Wx.W1.std().item() == pytest.approx(0.2 * math.sqrt(2 / (nh + 4)), rel=0.03)
    # square hidden block: RMS singular value = sigma0 (both readings agree there)
    sv = torch.linalg.svdvals(Wx.W2)
    assert sv.pow(2).mean().sqrt().item() == pytest.approx(0.2, rel=0.02)
    Wo = init_routing_weights(R, M, 4, nh, 7, sigma0=0.2, generator=gen(4), scheme="orthogonal", dtype=F64)
    for w in (Wo.W1, Wo.W2, Wo.W3):
        torch.testing.assert_close(torch.linalg.svdvals(w), torch.full_like(torch.linalg.svdvals(w), 0.2),
                                   rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="scheme"):
        init_routing_weights(1, 2, 4, 4, 7, sigma0=0.2, generator=gen(), scheme="he")
    with pytest.raises(ValueError, match="sigma0"):
        init_routing_weights(2, 2, 4, 4, 7, sigma0=torch.ones(3), generator=gen())


def test_decoupled_weights_have_the_prescribed_modes():
    task = routing_task(4, 2, seed=0)
    m = task_modes(task)
    b1, b2, b3 = torch.tensor([0.3, 0.2, 0.1, 0.05], dtype=F64), 0.4, 0.25
    W = decoupled_routing_weights(task, b1, b2, b3, R=2, n_h=10, generator=gen(5))
    prod = torch.einsum("rjab,rbc,ricd->rijad", W.W3, W.W2[:, 0], W.W1)
    A = torch.einsum("ak,rijad,idk->rijk", m.U, prod, m.V)
    close(A, (b1 * b2 * b3).to(F64).expand_as(A), atol=EXACT)


def test_batched_training_equals_separate_runs():
    """One batched program over replicas with different lr and trained patterns = separate runs."""
    task = routing_task(4, 2, seed=0)
    masks = trained_route_masks(4, [1, 2, 3], [0, 1, 2])
    lr = torch.tensor([0.05, 0.02, 0.01], dtype=F64)
    W = init_routing_weights(3, 4, 4, 8, 7, sigma0=0.3, generator=gen(6), dtype=F64)
    run = train_routing(W, task, lr=lr, steps=30, record_every=10, trained=masks)
    for r in range(3):
        Wr = RoutingWeights(W.W1[r:r + 1], W.W2[r:r + 1], W.W3[r:r + 1])
        one = train_routing(Wr, task.with_trained(masks[r]), lr=float(lr[r]), steps=30, record_every=10)
        torch.testing.assert_close(run.loss_trained[:, r], one.loss_trained[:, 0], rtol=1e-12, atol=0)
        close(run.W.W2[r], one.W.W2[0], atol=1e-13)
    torch.testing.assert_close(run.t[-1], 30 * lr)                   # t = step * lr (tau = 1)
    assert torch.isnan(train_routing(W, task.with_trained(torch.ones(4, 4, dtype=torch.bool)), lr=0.01,
                                     steps=1).loss_untrained).all()    # no untrained routes


def test_training_learns_and_records():
    task = routing_task(4, 3, seed=0)
    W = init_routing_weights(2, 4, 4, 16, 7, sigma0=0.2, generator=gen(7))
    run = train_routing(W, task, lr=0.05, steps=800, record_every=20, sv_every=100)
    assert run.norm_loss_trained[0].min() > 0.99 and run.norm_loss_trained[-1].max() < 0.05
    assert run.sv1.shape == (len(run.extra["sv_step"]), 2, 4, 4) and run.sv2.shape[-1] == 16
    assert run.route_loss.shape == (len(run.step), 2, 4, 4)
    assert run.outputs.shape == (2, 4, 4, 7, 4) and run.h1.shape == (2, 1, 4, 16, 4)
    with pytest.raises(ValueError, match="sv_every"):
        train_routing(W, task, lr=0.05, steps=10, record_every=3, sv_every=4)
    with pytest.raises(ValueError, match="lr"):
        train_routing(W, task, lr=torch.ones(3), steps=10)


def test_pathway_gates_and_validation():
    G = pathway_gates([[0, 1], [1, 2]], 3)
    assert G.shape == (2, 2, 3) and torch.equal(G.sum(-1), torch.ones(2, 2))
    with pytest.raises(ValueError, match="pathway entries"):
        pathway_gates([[0, 3], [1, 2]], 3)
    task = routing_task(2, 1)
    W = init_routing_weights(1, 2, 4, 4, 7, sigma0=0.2, generator=gen(), H=2)
    with pytest.raises(ValueError, match="gates are required"):
        route_outputs(W, task)


@needs_gpu
def test_engine_on_gpu_matches_cpu():
    task = routing_task(5, 3, seed=0)
    W = init_routing_weights(4, 5, 4, 16, 7, sigma0=0.2, generator=gen(8), dtype=F64)
    a = train_routing(W, task, lr=0.02, steps=50, record_every=10)
    b = train_routing(W.to("cuda"), task, lr=0.02, steps=50, record_every=10)
    torch.testing.assert_close(a.loss_trained, b.loss_trained.cpu(), rtol=1e-10, atol=0)


def test_shared_branch_task_path_counts():
    g, d = shared_branch_task(4, shared=True, seed=0)
    assert len(g.paths_through("out")) == 4 and len(g.paths_through("in2")) == 1
    gu, du = shared_branch_task(4, shared=False, seed=0)
    assert all(len(gu.paths_through(e)) == 1 for e in gu.edges)
    d.validate(g)
    du.validate(gu)
    with pytest.raises(ValueError, match="P=0"):
        shared_branch_task(0)


def test_path_route_maps_paths_to_routes():
    g = routing_graph(4, 4, 3, 7)
    routes = [path_route(p) for p in g.paths()]
    assert sorted(routes) == [(i, j) for i in range(4) for j in range(4)]
    for p, (i, j) in zip(g.paths(), routes):
        assert p.edges == (f"W1_{i}", "W2", f"W3_{j}")
    with pytest.raises(ValueError, match="not an input-output path"):
        path_route(Path(("W2",), "h1", "h2"))


@pytest.mark.parametrize("M,K,domain_inputs", [(7, 4, "shared"), (5, 2, "independent"), (3, 3, "shared")])
def test_path_statistics_are_eqs_11_12(M, K, domain_inputs):
    """Eqs. 11-12: the general path statistics of the routing data equal the closed forms."""
    task = routing_task(M, K, seed=2, n_x=5, domain_inputs=domain_inputs)
    st = path_statistics(routing_graph(M, task.n_x, 3, task.n_y), routing_gated_data(task))
    yx, x = predicted_path_statistics(task, st.paths)
    assert set(yx) == set(st.paths) and set(x) == set(st.x)
    for p in st.paths:
        i, j = path_route(p)
        close(st.yx[p], yx[p], atol=EXACT)
        assert (yx[p].abs().max().item() > 0) == bool(task.trained[i, j])   # untrained paths: 0
    for key, m in st.x.items():
        close(m, x[key], atol=EXACT)
        if key[0] != key[1]:
            assert x[key].abs().max().item() == 0.0                          # never active together
