"""gdln.theory.balanced: the exact QQ^T solution from lambda-balanced weights, and the sigmoidality index."""

import numpy as np
import pytest

from gdln.theory.balanced import imbalance, lambda_balanced_init, qqt_exact, qqt_of, sigmoidality
from gdln.theory.modes import network_flow


@pytest.mark.parametrize("n_in, n_h, n_out, lam", [(5, 3, 4, 0.0), (3, 3, 3, 1.0), (6, 3, 4, -0.3), (4, 2, 6, 0.7)])
def test_exact_qqt_matches_the_flow_of_the_weights(n_in, n_h, n_out, lam):
    rng = np.random.default_rng(n_in + n_out)
    U = np.linalg.qr(rng.standard_normal((n_out, n_out)))[0]
    V = np.linalg.qr(rng.standard_normal((n_in, n_in)))[0]
    S = np.zeros((n_out, n_in))
    k = min(n_in, n_out)
    S[range(k), range(k)] = np.linspace(1.5, 0.4, k)
    W1, W2 = lambda_balanced_init(n_in, n_h, n_out, lam, 0.05, seed=2)
    assert np.allclose(imbalance(W1, W2), lam * np.eye(n_h), atol=1e-12)
    t = np.linspace(0, 12, 13)
    traj = network_flow([W1, W2], U @ S @ V.T, 1.0, t)
    sim = np.array([qqt_of(*W) for W in traj])
    ex = qqt_exact(W1, W2, U @ S @ V.T, lam, 1.0, t)
    assert (np.linalg.norm(sim - ex, axis=(1, 2)) / np.linalg.norm(sim, axis=(1, 2))).max() < 1e-8
    assert np.allclose(imbalance(*traj[-1]), lam * np.eye(n_h), atol=1e-9)  # the flow conserves the balance


def test_unbalanced_weights_and_impossible_shapes_are_refused():
    W1, W2 = lambda_balanced_init(4, 2, 3, 0.5, 0.1)
    with pytest.raises(ValueError, match="not lambda-balanced for lam=0.2"):
        qqt_exact(W1, W2, np.zeros((3, 4)), 0.2, 1.0, [0.0])
    with pytest.raises(ValueError, match="need n_out >= n_h for lam >= 0"):
        lambda_balanced_init(4, 5, 3, 0.5, 0.1)


def test_sigmoidality_of_an_exponential_is_zero_and_of_a_sharp_sigmoid_near_one():
    t = np.concatenate([[0.0], np.geomspace(1e-6, 20, 4000)])
    assert abs(sigmoidality(t, np.exp(-1.3 * t))) < 1e-3
    a0 = 1e-6  # Eq. 21 with s = 1: a rises from a0 to 1; loss (1 - a)^2 / 2
    a = 1 / (1 - (1 - 1 / a0) * np.exp(-2 * t))
    assert 1 - sigmoidality(t, 0.5 * (1 - a) ** 2) < 1e-4
