"""gdln.theory.modes: a full deep linear network as several chains (decoupled: exactly; random: silent alignment)."""

import numpy as np
import pytest
import torch

from gdln.theory.dln import chain_trajectory
from gdln.theory.modes import decoupled_init, mode_strengths, network_flow, silent_alignment_a0


def _task(seed=0, n_out=5, n_in=7, S=(2.0, 1.0, 0.5)):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n_out, n_out)))[0][:, :len(S)]
    V = np.linalg.qr(rng.standard_normal((n_in, n_in)))[0][:, :len(S)]
    return U, V, U @ np.diag(S) @ V.T, np.array(S)


def test_decoupled_init_sets_the_strengths_and_no_cross_terms():
    U, V, _, _ = _task()
    a0 = np.array([1e-2, 2e-2, 3e-2])
    for hidden in ([6], [6, 4], [3, 5, 3]):
        Ws = decoupled_init(U, V, a0, hidden, seed=1)
        W = Ws[-1]
        for Wk in reversed(Ws[:-1]):
            W = W @ Wk
        M = U.T @ W @ V
        assert np.allclose(np.diag(M), a0, atol=1e-15) and np.allclose(M - np.diag(np.diag(M)), 0, atol=1e-15)
        assert np.allclose(mode_strengths(Ws, U, V), a0, atol=1e-15)
    with pytest.raises(ValueError, match="hidden layers of at least r = 3 units"):
        decoupled_init(U, V, a0, [2])


def test_decoupled_network_follows_its_chains():
    U, V, Syx, S = _task()
    a0 = np.full(3, 1e-3)
    t = np.linspace(0, 15, 61)
    A = np.array([mode_strengths(W, U, V) for W in network_flow(decoupled_init(U, V, a0, [6]), Syx, 1.0, t)])
    ref = np.stack([chain_trajectory(2, s, 1.0, 1e-3, 1.0, torch.tensor(t)).numpy() for s in S], 1)
    assert (np.abs(A - ref) / S).max() < 1e-8


def test_silent_alignment_predicts_the_early_growth_of_random_weights():
    U, V, Syx, S = _task(seed=3)
    rng = np.random.default_rng(4)
    W1, W2 = rng.standard_normal((20, 7)) * 1e-4, rng.standard_normal((5, 20)) * 1e-4
    a0 = silent_alignment_a0(W1, W2, U, V)
    assert np.allclose(a0, [np.sum(((W1 @ V[:, i] + W2.T @ U[:, i]) / 2) ** 2) for i in range(3)])
    # in the linear phase (a << s) the strengths grow as a0 e^(2 s t) once the decaying part has died out
    t = np.sort(2.5 / S)  # mode i at 2.5 / s_i: the decaying part is down by e^-10 relative, a_i still << s_i
    traj = network_flow([W1, W2], Syx, 1.0, t)
    for i, s in enumerate(S):
        k = int(np.flatnonzero(t == 2.5 / s)[0])
        A = mode_strengths(traj[k], U, V)[i]
        assert abs(A / (a0[i] * np.exp(5.0)) - 1) < 0.02


def test_network_flow_refuses_shapes_that_do_not_chain():
    with pytest.raises(ValueError, match="do not chain"):
        network_flow([np.zeros((3, 4)), np.zeros((2, 5))], np.zeros((2, 4)), 1.0, [0.0, 1.0])
    with pytest.raises(ValueError, match="Sigma\\^yx has shape"):
        network_flow([np.zeros((3, 4)), np.zeros((2, 3))], np.zeros((3, 4)), 1.0, [0.0, 1.0])
