"""Tests for gdln.engines.routenet: the batched route network equals a per-domain loop; masking; replicas."""

import math

import pytest
import torch
import torch.nn.functional as F

from gdln.engines import routenet as RN
from gdln.tasks.images import label_permutations, pixel_permutations
from gdln.tasks.routing import trained_routes
from helpers import F64, gen


def _net(R=2, M=4, d=12, n_h=6, C=5, gains=None, nl="linear", dtype=F64, seed=0):
    g = gen(seed)
    return RN.init_routenet(M, d, n_h, C, gains if gains is not None else [1.0] * R, generator=g,
                            nonlinearity=nl, dtype=dtype)


@pytest.mark.parametrize("nl", ["linear", "leaky_relu"])
def test_batched_outputs_equal_loop_reference(nl):
    net = _net(nl=nl)
    xb = torch.randn(4, 7, 12, dtype=F64, generator=gen(1))
    a, b = RN.route_outputs(net, xb), RN.route_outputs_loop(net, xb)
    assert a.shape == (2, 4, 4, 7, 5)
    assert torch.allclose(a, b, atol=1e-12)


def test_losses_match_definitions():
    g = gen(2)
    out = torch.randn(2, 3, 3, 4, 5, dtype=F64, generator=g)
    tg = torch.randint(0, 5, (3, 4), generator=g)
    ce = RN.route_losses(out, tg, "ce")
    ref = torch.stack([torch.stack([torch.stack([F.cross_entropy(out[r, i, j], tg[j]) for j in range(3)])
                                    for i in range(3)]) for r in range(2)])
    assert torch.allclose(ce, ref, atol=1e-12)
    mse = RN.route_losses(out, tg, "mse")
    y = F.one_hot(tg, 5).double()
    assert torch.allclose(mse[1, 2, 0], 0.5 * ((out[1, 2, 0] - y[0]) ** 2).sum(-1).mean(), atol=1e-12)
    with pytest.raises(ValueError, match="loss"):
        RN.route_losses(out, tg, "hinge")


def test_untrained_routes_get_no_gradient():
    net = _net(R=1)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 1] = True  # only route input 0 -> output 1 is trained
    for p in net.parameters():
        p.requires_grad_(True)
    xb = torch.randn(4, 3, 12, dtype=F64)
    L = RN.masked_loss(RN.route_losses(RN.route_outputs(net, xb), torch.randint(0, 5, (4, 3)), "ce"), mask)
    L.sum().backward()
    assert net.enc.grad[0, 1:].abs().max() == 0 and net.enc.grad[0, 0].abs().max() > 0
    assert net.dec.grad[0, [0, 2, 3]].abs().max() == 0 and net.dec.grad[0, 1].abs().max() > 0


def _autograd_sgd_step(net, xb, tg, mask, bufs, lr, loss, momentum):
    """The straightforward step: autograd through all routes' masked loss, then SGD + momentum."""
    ps = [p.detach().requires_grad_(True) for p in net.parameters()]
    L = RN.masked_loss(RN.route_losses(RN.route_outputs(RN.RouteNet(*ps, nonlinearity=net.nonlinearity), xb),
                                       tg, loss), mask)
    grads = torch.autograd.grad(L.sum(), ps)
    with torch.no_grad():
        for p, b, g in zip(net.parameters(), bufs, grads):
            b.mul_(momentum).add_(g)
            p.sub_(lr.view(-1, *([1] * (p.ndim - 1))) * b)
    return L.detach()


@pytest.mark.parametrize("dtype,rtol", [(F64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("nl", ["linear", "leaky_relu"])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_hand_written_step_equals_autograd(loss, nl, dtype, rtol):
    """sgd_step (hand-written gradient, fused momentum) gives autograd's weights to round-off."""
    M, g = 5, gen(4)
    fast = _net(R=3, M=M, gains=[1.0, 0.5, 0.8], nl=nl, dtype=dtype)
    ref = RN.RouteNet(*(p.clone() for p in fast.parameters()), nonlinearity=nl)
    mask = torch.stack([trained_routes(M, k, seed=k) for k in (1, 2, M)])  # K = M: no untrained route
    lr = torch.tensor([0.05, 0.02, 0.01], dtype=dtype)
    b_fast, b_ref = ([torch.zeros_like(p) for p in fast.parameters()] for _ in range(2))
    for _ in range(4):
        xb = torch.randn(M, 7, 12, dtype=dtype, generator=g)
        tg = torch.randint(0, 5, (M, 7), generator=g)
        L = RN.sgd_step(fast, xb, tg, mask, b_fast, lr, loss=loss, momentum=0.9)
        L_ref = _autograd_sgd_step(ref, xb, tg, mask, b_ref, lr, loss, 0.9)
        assert torch.allclose(L, L_ref, rtol=rtol, atol=0)
    for a, b in zip(fast.parameters() + b_fast, ref.parameters() + b_ref):
        assert (a - b).abs().max() <= rtol * b.abs().max()


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_hand_written_gradient_is_zero_on_untrained_routes(loss):
    net = _net(R=1, nl="leaky_relu")
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 1] = True
    xb = torch.randn(4, 3, 12, dtype=F64)
    _, (g_enc, g_hid, g_dec) = RN.masked_step_gradients(net, xb, torch.randint(0, 5, (4, 3)), mask, loss)
    assert g_enc[0, 1:].abs().max() == 0 and g_enc[0, 0].abs().max() > 0
    assert g_dec[0, [0, 2, 3]].abs().max() == 0 and g_dec[0, 1].abs().max() > 0
    assert g_hid.abs().max() > 0


def test_xavier_uniform_gain_per_replica():
    net = _net(R=3, M=2, d=400, n_h=200, C=10, gains=[1.0, 0.1, 0.01], dtype=F64)
    bound = math.sqrt(6 / 600)
    for r, gain in enumerate([1.0, 0.1, 0.01]):
        w = net.enc[r]
        assert w.abs().max() <= gain * bound
        assert abs(w.std().item() / (gain * bound / math.sqrt(3)) - 1) < 0.02  # U(-b,b) has std b/sqrt(3)
    with pytest.raises(ValueError, match="gains"):
        _net(gains=[1.0, 0.0])
    with pytest.raises(ValueError, match="nonlinearity"):
        _net(nl="tanh")


def _task(n=40, d=12, M=4, C=5, seed=0):
    g = gen(seed)
    x = torch.randn(n, d, dtype=F64, generator=g)
    y = torch.randint(0, C, (n,), generator=g)
    return RN.Domains(x, pixel_permutations(M, d, seed)), y, label_permutations(M, C, seed=seed)


def test_replicas_train_independently():
    dom, y, lp = _task()
    masks = torch.stack([trained_routes(4, 2, seed=0), trained_routes(4, 3, seed=1)])
    both = _net(R=2, gains=[0.5, 0.5])
    one = RN.RouteNet(both.enc[1:].clone(), both.hid[1:].clone(), both.dec[1:].clone())
    kw = dict(steps=5, lr=0.05, loss="ce", momentum=0.9, batch_size=8, seed=3, progress=False)
    RN.train(both, dom, y, lp, masks, **kw)
    RN.train(one, dom, y, lp, masks[1:], **kw)
    assert torch.allclose(both.enc[1], one.enc[0], atol=1e-12)
    assert torch.allclose(both.dec[1], one.dec[0], atol=1e-12)


def test_full_batch_gd_is_one_gradient_step():
    dom, y, lp = _task()
    mask = trained_routes(4, 2, seed=0)
    net = _net(R=1)
    W0 = [p.clone().requires_grad_(True) for p in net.parameters()]
    ref = RN.RouteNet(*W0)
    L = RN.masked_loss(RN.route_losses(RN.route_outputs(ref, dom.batch(torch.arange(40))),
                                       RN.route_targets(y, lp), "mse"), mask[None])
    grads = torch.autograd.grad(L.sum(), W0)
    RN.train(net, dom, y, lp, mask, steps=1, lr=0.1, loss="mse", momentum=0.0, batch_size=None, progress=False)
    for p, w, gr in zip(net.parameters(), W0, grads):
        assert torch.allclose(p, w - 0.1 * gr, atol=1e-12)


def test_accuracy_split_and_threshold():
    acc = torch.tensor([[[1.0, 0.5], [0.0, 1.0]]])
    mask = torch.eye(2, dtype=torch.bool)[None]
    tr, un = RN.split_accuracy(acc, mask)
    assert tr.item() == 1.0 and un.item() == 0.25
    assert math.isnan(RN.split_accuracy(acc, torch.ones(1, 2, 2, dtype=torch.bool))[1].item())
    assert RN.transfer_threshold([0.1, 0.2, 0.4], [0.9, 0.9, 0.9], [0.1, 0.86, 0.9]) == 0.2
    assert math.isnan(RN.transfer_threshold([0.1], [0.9], [0.5]))


def test_train_rejects_bad_input():
    dom, y, lp = _task()
    net = _net(R=1)
    with pytest.raises(ValueError, match="K >= 1"):
        RN.train(net, dom, y, lp, torch.zeros(4, 4, dtype=torch.bool), steps=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        RN.train(net, dom, y, lp, trained_routes(4, 1, 0), steps=1, lr=0.1, batch_size=1000, progress=False)
    with pytest.raises(ValueError, match="base must be"):
        RN.Domains(torch.zeros(3, 4))


def test_shared_structure_transfers_on_a_small_task():
    """With most routes trained, a small-init linear route net transfers to untrained routes."""
    g = gen(0)
    C, d, n, M = 4, 16, 200, 4
    centers = 3 * torch.randn(C, d, dtype=F64, generator=g)
    y = torch.randint(0, C, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, dtype=F64, generator=g)
    dom = RN.Domains(x, pixel_permutations(M, d, 1))
    lp = label_permutations(M, C, seed=2)
    res = RN.run_sweep(dom, y, dom, y, lp, Ks=[3], gains=[0.1], seeds=[0], n_h=16, steps=150, lr=0.05,
                       batch_size=50, loss="ce", progress=False)
    assert res.trained.min() > 0.95
    assert res.untrained.min() > 0.9


def test_sweep_replica_depends_only_on_its_seed_and_point():
    dom, y, lp = _task()
    kw = dict(n_h=6, steps=3, lr=0.05, batch_size=8, progress=False)
    big = RN.run_sweep(dom, y, dom, y, lp, Ks=[1, 2], gains=[0.5], seeds=[0, 1], **kw)
    one = RN.run_sweep(dom, y, dom, y, lp, Ks=[2], gains=[0.5], seeds=[1], **kw)
    assert big.trained.shape == (2, 2) and big.acc.shape == (2, 2, 4, 4)
    assert torch.allclose(big.net.enc[3], one.net.enc[0], atol=1e-12)  # replica (K=2, seed 1)
    assert torch.equal(big.masks[1, 1], one.masks[0, 0])


@pytest.mark.parametrize("permuted", [True, False])
@pytest.mark.parametrize("nl,loss", [("linear", "ce"), ("leaky_relu", "ce"), ("leaky_relu", "mse")])
def test_trained_route_engine_equals_the_all_routes_engine(permuted, nl, loss):
    """engine="trained" (only the gated routes, shared pixel basis) trains exactly as engine="all"
    (every route computed, loss masked): equal to float64 round-off, for K-regular masks of several K
    in one batch, for a mask with uneven rows (padding of weight 0) and for a group of replicas that
    are not contiguous."""
    M, d, n, C = 5, 12, 60, 4
    g = gen(7)
    dom = (RN.Domains(torch.randn(n, d, dtype=F64, generator=g), pixel_permutations(M, d, 0)) if permuted
           else RN.Domains(torch.randn(M, n, d, dtype=F64, generator=g)))
    y, lp = torch.randint(0, C, (n,), generator=g), label_permutations(M, C, seed=1)
    masks = torch.stack([trained_routes(M, k, seed=s) for k in (1, 3, 5) for s in (0, 1)])
    masks[1, 0] = False
    masks[1, 0, 2:4] = True  # input 0 of replica 1 has two trained outputs, the others one
    masks = masks[[2, 0, 3, 1, 4, 5]]  # K = 3 replicas at rows 0 and 2: a group that is not a slice
    lr = torch.tensor([0.05, 0.1, 0.05, 0.1, 0.2, 0.05], dtype=F64)
    kw = dict(steps=20, lr=lr, loss=loss, momentum=0.9, batch_size=8, seed=3, progress=False, record_every=1)
    a = _net(R=6, M=M, d=d, n_h=7, C=C, gains=[0.5] * 6, nl=nl)
    b = RN.RouteNet(*(p.clone() for p in a.parameters()), nonlinearity=nl)
    enc0 = a.enc.clone()
    ha, hb = RN.train(a, dom, y, lp, masks, engine="all", **kw), RN.train(b, dom, y, lp, masks, engine="trained", **kw)
    assert (ha.losses() - hb.losses()).abs().max() < 1e-13
    for p, q in zip(a.parameters(), b.parameters()):
        assert (p - q).abs().max() < 1e-13
    assert (b.enc - enc0).abs().amax((1, 2, 3)).min() > 1e-3  # every replica's encoders moved


def test_route_plan_groups_replicas_by_routes_per_input():
    masks = torch.stack([trained_routes(4, k, seed=0) for k in (2, 1, 2)])
    plan = RN.route_plan(masks, F64)
    assert [J.shape for _, J, _ in plan.groups] == [(1, 4, 1), (2, 4, 2)]
    sel, J, w = plan.groups[1]
    assert torch.equal(sel, torch.tensor([0, 2]))  # not contiguous: an index
    assert torch.allclose(w, torch.full((2, 4, 2), 1 / 8, dtype=F64))
    assert all(masks[0, i, J[0, i]].all() for i in range(4))
    with pytest.raises(ValueError, match="K >= 1"):
        RN.route_plan(torch.zeros(1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="engine"):
        dom, y, lp = _task()
        RN.train(_net(R=1), dom, y, lp, trained_routes(4, 1, 0), steps=1, lr=0.1, engine="fast", progress=False)
