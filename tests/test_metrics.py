"""Tests for gdln.engines.metrics (Fig. 4e-h summaries)."""

import pytest
import torch

from gdln.engines.metrics import aligned_initial_B, domain_item_similarity, effective_initial_B, masked_mean, representational_similarity, route_errors, zero_output_loss
from gdln.engines.routing import decoupled_routing_weights, init_routing_weights
from gdln.tasks.routing import routing_task, task_modes
from helpers import F64, close, gen


def test_masked_mean_over_routes():
    x = torch.arange(8, dtype=F64).view(2, 2, 2)
    m = torch.tensor([[True, False], [False, True]])
    close(masked_mean(x, m), torch.tensor([1.5, 5.5], dtype=F64), atol=0)
    close(masked_mean(x, m.to(F64)), masked_mean(x, m), atol=0)   # 0/1 or bool
    assert torch.isnan(masked_mean(x, torch.zeros(2, 2, dtype=torch.bool))).all()              # no route: NaN


def test_route_errors_zero_and_perfect_outputs():
    task = routing_task(5, 2, seed=0)
    perfect = task.Y.unsqueeze(0).expand(5, 5, 7, 4).unsqueeze(0)        # (1, M, M, N_y, n)
    tr, un = route_errors(perfect, task.Y, task.trained)
    assert tr.item() == 0 and un.item() == 0
    tr, un = route_errors(torch.zeros_like(perfect), task.Y, task.trained)
    assert tr.item() == pytest.approx(1.0) and un.item() == pytest.approx(1.0)
    z_tr, z_un = zero_output_loss(task.Y, task.trained)
    assert z_tr.item() == pytest.approx(0.5 * 61.0)                       # 1/2 <||y||^2>
    tr, un = route_errors(perfect, task.Y, torch.ones(5, 5, dtype=torch.bool))
    assert torch.isnan(un).all()
    with pytest.raises(ValueError, match="do not match"):
        route_errors(perfect[..., :3], task.Y, task.trained)


def test_similarity_of_a_shared_representation():
    rng = gen(0)
    base = torch.randn(16, 4, generator=rng, dtype=F64)
    h1 = base.expand(3, 16, 4)                                           # same code on every domain
    S = representational_similarity(h1)
    assert S.shape == (12, 12)
    torch.testing.assert_close(torch.diagonal(S), torch.ones(12, dtype=F64))
    sims = domain_item_similarity(h1)
    assert sims["same_item_cross_domain"].item() == pytest.approx(1.0, abs=1e-12)
    # independent random codes per domain: cross-domain similarity ~ 0 (|cos| ~ 1/sqrt(N_h))
    h1r = torch.randn(3, 400, 4, generator=rng, dtype=F64)
    assert abs(domain_item_similarity(h1r)["same_item_cross_domain"].item()) < 0.1


def test_effective_initial_B_reads_sigma0():
    W = init_routing_weights(3, 4, 4, 32, 7, sigma0=0.2, generator=gen(0),
                             scheme="orthogonal", dtype=F64)
    b13, b2 = effective_initial_B(W)
    torch.testing.assert_close(b13, torch.full((3,), 0.2, dtype=F64))
    torch.testing.assert_close(b2, torch.full((3,), 0.2, dtype=F64))


def test_aligned_initial_B_is_exact_on_decoupled_weights():
    # Eq. 9 weights are already aligned: the prediction must return their B1, B2 mode by mode
    task = routing_task(7, 4, seed=0, dtype=F64)
    modes = task_modes(task)
    b1 = torch.tensor([0.03, 0.01, 0.02, 0.04], dtype=F64)
    W = decoupled_routing_weights(task, b1, 0.05, R=2, n_h=16, generator=gen(1))
    B1, B2 = aligned_initial_B(W, modes.U, modes.V, task.trained)
    torch.testing.assert_close(B1, b1.expand(2, 4))
    torch.testing.assert_close(B2, torch.full((2, 4), 0.05, dtype=F64))


def _random_start(M, sigma0, scheme, *, seed):
    """aligned_initial_B of 400 random networks (M domains, K = 4, N_h = 64) of one reading of sigma_0."""
    task = routing_task(M, 4, seed=0, dtype=F64)
    modes = task_modes(task)
    W = init_routing_weights(400, M, task.n_x, 64, task.n_y, sigma0=sigma0, generator=gen(seed),
                             scheme=scheme, dtype=F64)
    return aligned_initial_B(W, modes.U, modes.V, task.trained)


def test_aligned_initial_B_orthogonal_statistics():
    # orthogonal reading: W2 has the single gain sigma_0, and |x~ + O^T z~| / 2 of two independent random
    # vectors of norm sigma_0 has mean square sigma_0^2 / 2, so E[B1^2] = sigma_0^2 / (2M)
    M, sigma0 = 7, 0.2
    B1, B2 = _random_start(M, sigma0, "orthogonal", seed=2)
    torch.testing.assert_close(B2, torch.full_like(B2, sigma0))
    ms = (B1 ** 2).mean().item()
    # standard error of the mean of 1600 values of a scaled chi-square with 64 degrees of freedom: ~0.5%
    assert abs(ms / (sigma0 ** 2 / (2 * M)) - 1) < 0.03


def test_aligned_initial_B_rejects_bad_input():
    task = routing_task(4, 2, seed=0, dtype=F64)
    modes = task_modes(task)
    W = init_routing_weights(2, 4, task.n_x, 8, task.n_y, sigma0=0.2, generator=gen(0), dtype=F64)
    bad = task.trained.clone()
    bad[0] = 1
    with pytest.raises(ValueError, match="not K-regular"):
        aligned_initial_B(W, modes.U, modes.V, bad)
    with pytest.raises(ValueError, match=r"\(4, 4\) mask"):
        aligned_initial_B(W, modes.U, modes.V, torch.ones(3, 3))


def test_aligned_initial_B_gaussian_hidden_gain():
    # Xavier reading: W2^T z~ leans towards W2's larger singular directions, so W2's gain on the aligned p is
    # E[B2^2] ~ (E s^2 + E s^4 / sigma_0^2) / 2 = 3/2 sigma_0^2 for a square Gaussian W2 (E s^4 = 2 sigma_0^4 + O(1/N_h))
    M, sigma0 = 7, 0.2
    _, B2 = _random_start(M, sigma0, "xavier", seed=4)
    # 1600 ratios of quadratic forms over 64 directions: standard error of the mean about 1%
    assert abs((B2 ** 2).mean().item() / (1.5 * sigma0 ** 2) - 1) < 0.04
