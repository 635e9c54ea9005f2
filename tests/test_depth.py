"""Learning time against depth and initialisation (gdln.theory.depth) and the ODE crossing finder."""

import math

import numpy as np
import pytest

from gdln.core.integrate import ode_first_crossing
from gdln.theory import depth


def test_first_crossing_of_an_exponential_is_its_logarithm():
    # y' = y from 1 reaches 5 at ln 5; the returned state is the state at that time.
    t, y = ode_first_crossing(lambda _t, y: y, np.array([1.0]), lambda y: y[0] - 5.0, t_max=10.0,
                              solver="DOP853", rtol=1e-11, atol=1e-12)
    assert t == pytest.approx(math.log(5.0), rel=1e-8)
    assert y[0] == pytest.approx(5.0, rel=1e-8)


def test_first_crossing_refuses_a_level_already_reached_and_reports_one_never_reached():
    with pytest.raises(ValueError, match="already reached"):
        ode_first_crossing(lambda _t, y: y, np.array([6.0]), lambda y: y[0] - 5.0, t_max=1.0,
                           solver="RK45", rtol=1e-6, atol=1e-9)
    with pytest.raises(RuntimeError, match="did not reach"):
        ode_first_crossing(lambda _t, y: -y, np.array([1.0]), lambda y: y[0] - 5.0, t_max=1.0,
                           solver="RK45", rtol=1e-6, atol=1e-9, what="a decaying state")
    with pytest.raises(ValueError, match="t_max"):
        ode_first_crossing(lambda _t, y: y, np.array([1.0]), lambda y: y[0] - 5.0, t_max=-1.0,
                           solver="RK45", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("D", [1, 2, 3, 5, 12])
def test_chain_learning_time_is_the_crossing_time_of_the_chain_ode(D):
    s, a0 = 3.0, 0.05
    p = 2.0 - 2.0 / D
    t, _ = ode_first_crossing(lambda _t, a: a ** p * (s - a), np.array([a0]), lambda a: a[0] - s / 2,
                              t_max=1e6, solver="DOP853", rtol=1e-11, atol=1e-14)
    assert depth.chain_learning_time(D, s, a0) == pytest.approx(t, rel=1e-7)


def test_chain_learning_time_closed_forms_for_one_and_two_layers():
    # D = 1: tau da/dt = s - a, from a0 to s/2 takes ln((s - a0)/(s/2)); D = 2: the logistic, (1/s) ln((s - a0) / a0).
    s, a0 = 2.0, 0.01
    assert depth.chain_learning_time(1, s, a0) == pytest.approx(math.log((s - a0) / (s / 2)), rel=1e-9)
    assert depth.chain_learning_time(2, s, a0) == pytest.approx(math.log((s - a0) / a0) / s, rel=1e-9)


def test_small_init_time_is_the_leading_term_of_the_chain_time():
    # a0 = b0^D for a balanced chain of layer scale b0; the ratio tends to 1 as b0 -> 0 (D = 4: error O(b0^2)).
    D, s = 4, 2.0
    ratios = [depth.chain_learning_time(D, s, b0 ** D) / depth.small_init_time(D, s, b0) for b0 in (1e-2, 1e-3)]
    assert abs(ratios[1] - 1) < abs(ratios[0] - 1) < 1e-2
    assert depth.small_init_exponent(D) == 2 and depth.small_init_exponent(2) == 0


def test_orthogonal_time_tends_to_the_infinite_depth_limit():
    s = 4.0
    times = [depth.chain_learning_time(D, s, 1.0) for D in (4, 16, 256)]
    limit = depth.chain_learning_time(math.inf, s, 1.0)
    assert times[0] > times[1] > times[2] > limit
    # The integrand a^(-2 + 2/D) differs from a^-2 by a factor at most (s/2)^(2/D): the gap is O(1/D).
    assert times[2] - limit < limit * ((s / 2) ** (2 / 256) - 1) + 1e-12


def test_aligned_orthogonal_layers_multiply_to_the_identity_and_the_network_follows_the_chain():
    N, s, D = 3, 4.0, 6
    Ws = depth.aligned_orthogonal_layers(D, N, seed=3)
    for W in Ws:
        np.testing.assert_allclose(W @ W.T, np.eye(N), atol=1e-12)
    P = np.eye(N)
    for W in Ws:
        P = W @ P
    np.testing.assert_allclose(P, np.eye(N), atol=1e-12)
    e1 = np.eye(N)[0]
    T = depth.network_learning_time(Ws, np.diag([s, 0.0, 0.0]), e1, e1)
    assert T == pytest.approx(depth.chain_learning_time(D, s, 1.0), rel=1e-6)


def test_network_from_small_gaussian_weights_scales_as_b0_to_the_minus_d_minus_2():
    # The homogeneity argument is exact in the limit b0 -> 0: the time ratio for b0 -> b0/2 approaches 2^(D-2).
    N, s, D = 3, 4.0, 4
    e1 = np.eye(N)[0]
    Syx = np.diag([s, 0.0, 0.0])
    base = depth.gaussian_layers(D, N, 1.0, seed=1)
    times = [depth.network_learning_time([b0 * W for W in base], Syx, e1, e1) for b0 in (0.02, 0.01)]
    assert times[1] / times[0] == pytest.approx(2.0 ** (D - 2), rel=0.05)


def test_pretraining_stages_take_the_same_time_at_every_depth():
    N, s = 3, 4.0
    e1 = np.eye(N)[0]
    Syx = np.diag([s, 0.0, 0.0])
    pre2, ft2 = depth.pretrain_and_finetune(2, N, 0.1, Syx, e1, e1, seed=0)
    pre5, ft5 = depth.pretrain_and_finetune(5, N, 0.1, Syx, e1, e1, seed=0)
    # Four stages against one: each stage is a two-layer autoencoder learning an identity from ~b0^2.
    assert pre5 / pre2 == pytest.approx(4.0, rel=0.25)
    assert ft2 > 0 and ft5 > 0


def test_loglog_slope_recovers_a_power():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert depth.loglog_slope(x, 3 * x ** 1.5) == pytest.approx(1.5)


@pytest.mark.parametrize("call, match", [
    (lambda: depth.chain_learning_time(0, 1.0, 0.1), "D=0"),
    (lambda: depth.chain_learning_time(2.5, 1.0, 0.1), "D=2.5"),
    (lambda: depth.chain_learning_time(3, 1.0, 0.8), "a0=0.8"),
    (lambda: depth.chain_learning_time(3, -1.0, 0.1), "s=-1.0"),
    (lambda: depth.small_init_time(2, 1.0, 0.1), "D >= 3"),
    (lambda: depth.gaussian_layers(3, 2, float("nan")), "b0=nan"),
    (lambda: depth.pretrain_and_finetune(1, 2, 0.1, np.eye(2), np.eye(2)[0], np.eye(2)[0]), "D >= 2"),
    (lambda: depth.loglog_slope([1.0, 2.0], [1.0, -2.0]), "positive"),
])
def test_bad_input_is_refused_with_the_value_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
