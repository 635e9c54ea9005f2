"""Tests for gdln.engines.relu: the batched ReLU trainer and the cell-type classifier."""

import math

import pytest
import torch

from gdln.util.device import generator
from gdln.engines.relu import classify_cell_types, init_relu, relu_forward, relu_gradient, relu_loss, train_relu
from helpers import EXACT, F64, close


def _net(replicas=(3, 2), n_h=7, sigma0=0.5, seed=0):
    W1, W2 = init_relu(3, n_h, 2, sigma0, generator=generator(seed), replicas=replicas, dtype=F64)
    g = generator(seed + 100)
    x = torch.randn(5, 3, generator=g, dtype=F64)
    y = torch.randn(5, 2, generator=g, dtype=F64)
    return W1, W2, x, y


def test_init_shapes_and_scale():
    W1, W2 = init_relu(2, 4000, 1, 0.3, generator=generator(1), replicas=(5,), dtype=F64)
    assert W1.shape == (5, 4000, 2) and W2.shape == (5, 1, 4000)
    # sample std of 60000 N(0, 0.09) draws: relative standard error ~ 1/sqrt(2*60000) ~ 0.003
    assert abs(torch.cat([W1.flatten(), W2.flatten()]).std().item() / 0.3 - 1) < 0.015


def test_forward_matches_per_replica_loop():
    W1, W2, x, y = _net()
    out = relu_forward(W1, W2, x)
    for i in range(3):
        for j in range(2):
            ref = torch.relu(x @ W1[i, j].T) @ W2[i, j].T
            close(out[i, j], ref, atol=EXACT)
    L = relu_loss(W1, W2, x, y)
    torch.testing.assert_close(L, 0.5 * ((y - out) ** 2).sum(-1).mean(-1))


def test_gradient_equals_autograd():
    W1, W2, x, y = _net()
    a, b = W1.clone().requires_grad_(True), W2.clone().requires_grad_(True)
    relu_loss(a, b, x, y).sum().backward()
    G1, G2 = relu_gradient(W1, W2, x, y)
    # float64 round-off on sums of 5 terms of O(1) numbers
    close(G1, -a.grad, atol=1e-13)
    close(G2, -b.grad, atol=1e-13)


def test_train_one_step_is_gradient_step_and_records():
    W1, W2, x, y = _net()
    tau, dt = 2.5, 0.1
    tr = train_relu(W1, W2, x, y, tau=tau, dt=dt, t_max=dt)
    G1, G2 = relu_gradient(W1, W2, x, y)
    close(tr.W1, W1 + dt / tau * G1, atol=1e-15)
    close(tr.W2, W2 + dt / tau * G2, atol=1e-15)
    assert tr.t.tolist() == pytest.approx([0.0, dt])
    torch.testing.assert_close(tr.loss[0], relu_loss(W1, W2, x, y))
    torch.testing.assert_close(tr.loss[1], relu_loss(tr.W1, tr.W2, x, y))
    assert tr.outputs.shape == (2, 3, 2, 5, 2)
    tr = train_relu(W1, W2, x, y, tau=tau, dt=dt, t_max=1.0, record_every=3, record_weights=True)
    assert tr.t.tolist() == pytest.approx([0, 0.3, 0.6, 0.9, 1.0])
    assert tr.W1_history.shape == (5, 3, 2, 7, 3)
    torch.testing.assert_close(tr.W1_history[-1], tr.W1)


def test_gradient_flow_limit_on_linear_regime():
    # One unit with w.x > 0 on a single example stays a 2-layer linear net: with w = u = b on
    # x = [1], y = 1, the product a = b^2 obeys tau da/dt = 2 a (1 - a), a logistic (Eq. 21 with s = d = 1).
    W1 = torch.full((1, 1), 0.1, dtype=F64)
    W2 = torch.full((1, 1), 0.1, dtype=F64)
    x = torch.ones(1, 1, dtype=F64)
    y = torch.ones(1, 1, dtype=F64)
    tr = train_relu(W1, W2, x, y, tau=1.0, dt=1e-3, t_max=3.0, record_every=500)
    a0 = 0.01
    a = 1 / (1 - (1 - 1 / a0) * torch.exp(-2 * tr.t))
    # Euler's global relative error is O(dt): ~1e-3 here (and 1e-4 at dt = 1e-4)
    torch.testing.assert_close(tr.outputs[:, 0, 0], a, rtol=2e-3, atol=0)


def test_train_bad_inputs():
    W1, W2, x, y = _net()
    with pytest.raises(ValueError, match="tau"):
        train_relu(W1, W2, x, y, tau=0.0, dt=0.1, t_max=1.0)
    with pytest.raises(ValueError, match="dt=2.0 exceeds tau"):
        train_relu(W1, W2, x, y, tau=1.0, dt=2.0, t_max=4.0)
    with pytest.raises(ValueError, match="x must have shape"):
        train_relu(W1, W2, x[:, :2], y, tau=1.0, dt=0.1, t_max=1.0)
    with pytest.raises(ValueError, match="y must have shape"):
        train_relu(W1, W2, x, y[:, :1], tau=1.0, dt=0.1, t_max=1.0)
    with pytest.raises(ValueError, match="replica axes"):
        relu_forward(W1, W2[0], x)
    with pytest.raises(ValueError, match="dtypes differ"):
        train_relu(W1.float(), W2.float(), x, y, tau=1.0, dt=0.1, t_max=1.0)
    with pytest.raises(ValueError, match="sigma0"):
        init_relu(2, 3, 1, -1.0, generator=generator(0))
    with pytest.raises(ValueError, match="n_h"):
        init_relu(2, 0, 1, 1.0, generator=generator(0))


def test_cell_types_on_constructed_weights():
    dirs = torch.tensor([[1., 1.], [1., -1.], [-1., -1.], [-1., 1.]])
    deg = math.pi / 180

    def unit(angle_deg, r):
        return [r * math.cos(angle_deg * deg), r * math.sin(angle_deg * deg)]

    W1 = torch.tensor([[unit(45 + 9.9, 2.0), unit(-45 - 5, 1.0), unit(225, 0.5), unit(135 - 9, 3.0),
                        unit(45 + 10.5, 2.0), unit(0, 1.0), unit(45, 1e-3)]])
    ct = classify_cell_types(W1, dirs, max_angle_deg=10.0, min_norm_frac=0.01)
    assert ct.label.tolist() == [[0, 1, 2, 3, -1, -1, -2]]
    torch.testing.assert_close(ct.angle[0, :6], torch.tensor([9.9, 5.0, 0.0, 9.0, 10.5, 45.0]), atol=1e-3, rtol=0)
    assert ct.significant.tolist() == [[True] * 6 + [False]]
    assert ct.fraction.tolist() == pytest.approx([4 / 6])
    assert ct.counts.tolist() == [[1, 1, 1, 1]]


def test_cell_types_bad_inputs():
    W1 = torch.randn(4, 2)
    with pytest.raises(ValueError, match="directions must have shape"):
        classify_cell_types(W1, torch.ones(4, 3))
    with pytest.raises(ValueError, match="max_angle_deg"):
        classify_cell_types(W1, torch.ones(4, 2), max_angle_deg=95)
    with pytest.raises(ValueError, match="zero vector"):
        classify_cell_types(W1, torch.zeros(4, 2))
