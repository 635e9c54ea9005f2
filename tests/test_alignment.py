"""Tests for gdln.engines.alignment: Eq. 15 / Eqs. 16-17 from a predicted initial condition."""

import numpy as np
import pytest

from gdln.engines import alignment as al
from gdln.engines.race import sharing_experiment
from gdln.engines.routing import decoupled_routing_weights, init_routing_weights, integrate_routing_flow
from gdln.tasks.routing import block_task, routing_task, task_modes
from gdln.theory.sharing import half_time, integrate_sharing
from helpers import F64, gen


def test_predicted_loss_is_the_flow_of_decoupled_weights():
    # from decoupled weights the predicted start is exact, so the prediction is the network's own gradient flow
    task = routing_task(4, 2, seed=0, dtype=F64)
    W = decoupled_routing_weights(task, 0.1, 0.15, R=1, n_h=8, generator=gen(3))
    t = np.linspace(0.0, 20.0, 41)
    _, L_flow, _ = integrate_routing_flow(W, task, t, rtol=1e-10, atol=1e-12, return_weights=True)
    pred = al.predicted_loss(W, task, t)
    assert pred.shape == (t.size, 1)
    assert np.abs(pred[:, 0] - L_flow[:, 0]).max() < 1e-6      # solver tolerance scale, as in routing.eq15_vs_decoupled


def test_predicted_sharing_half_time_exact_from_decoupled_start():
    # Eqs. 16-17 from sigma_0 are exact for decoupled P-sharing networks: the prediction must return their half-time
    M, P, sigma0 = 3, 9, 0.2
    run = sharing_experiment(M, [P], R=1, sigma0=sigma0, n_h=8, seed=0, init="decoupled", horizon=3.0)[P]
    modes = task_modes(block_task(P, seed=0))
    S, D = float(modes.s[0]), float(modes.d[0])
    t = np.linspace(0.0, 60.0 * M ** 2 / (P * S * sigma0), 20001)
    ref = float(half_time(t, integrate_sharing([S], [D], M, P, sigma0, t=t).B2[:, 0, 0]))
    got = al.predicted_sharing_half_time(run, seed=0)
    assert abs(got / ref - 1) < 1e-3                           # float32 weights, time grid of 20001 points


def test_compare_and_sweep_reject_bad_input():
    task = routing_task(4, 2, seed=0)
    W = init_routing_weights(2, 4, task.n_x, 8, task.n_y, sigma0=0.2, generator=gen(0))
    with pytest.raises(ValueError, match="expected \\(len\\(t\\), R\\)"):
        al.compare(np.arange(5.0), np.ones((5, 3)), W, task, sigma0=0.2, scheme="xavier")
    with pytest.raises(ValueError, match="reps=1"):
        al.prediction_sweep([4], [0.2], reps=1)
    with pytest.raises(ValueError, match="sigma0s"):
        al.prediction_sweep([4], [0.0], reps=2)
    with pytest.raises(ValueError, match="Ms"):
        al.prediction_sweep([1], [0.2], reps=2)


def test_prediction_is_late_by_a_few_percent_from_orthogonal_weights():
    # the derivation's stated approximation (neglected slower mask components) makes Eq. 15 late, not early,
    # and by less than the 10% that separates it from the RMS start's factor-3 error
    rows = al.prediction_sweep([4], [0.4], reps=2, n_h=32, horizon=30.0)
    ortho = [r for r in rows if r.scheme == "orthogonal"][0]
    assert 1.0 < ortho.t_ratio < 1.1
    assert abs(ortho.B2_ratio - 1) < 1e-6
