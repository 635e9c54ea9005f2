"""Tests for gdln.theory.dln: Eq. 21 closed form vs numerical integration, Eqs. 22-23."""

import math

import pytest
import torch

from gdln.theory.dln import dln_loss, dln_mode_ode, dln_mode_trajectory
from gdln.core.graph import chain
from gdln.core.network import GatedData
from gdln.core.reduction import diagonalize, integrate_reduced
from gdln.core.statistics import path_statistics
from helpers import F64, close


@pytest.mark.parametrize("s, d, a0, tau", [(math.sqrt(2) / 4, 0.5, 1e-3, 2.5), (2.0, 1.0, 0.05, 1.0),
                                            (0.5, 2.0, 1.0, 0.3)])
def test_closed_form_matches_ode(s, d, a0, tau):
    rtol = 1e-10
    t = torch.linspace(0, 15 * tau / s, 50, dtype=F64)
    a = dln_mode_trajectory(s, d, a0, tau, t)
    num = dln_mode_ode(s, d, (math.sqrt(a0), math.sqrt(a0)), tau, t, rtol=rtol, atol=1e-14)
    # the solver controls the relative error per step; over the run it stays within ~1e3 rtol
    assert ((a - num).abs() / a).max().item() < 1e3 * rtol
    assert abs(a[0].item() - a0) < 1e-15 and abs(a[-1].item() - s / d) < 1e-6 * s / d


def test_closed_form_matches_general_reduction_on_a_chain():
    """Eq. 10 on a two-layer chain with balanced B0 reproduces Eq. 21 (n = 1: x = sqrt(d), y = s/sqrt(d))."""
    s, d, a0, tau = 0.8, 0.5, 1e-2, 1.5
    g = chain([1, 1, 1])
    data = GatedData({"x": torch.tensor([[math.sqrt(d)]], dtype=F64)},
                     {"y": torch.tensor([[s / math.sqrt(d)]], dtype=F64)})
    dg = diagonalize(g, path_statistics(g, data))
    t = torch.linspace(0, 20, 41, dtype=F64)
    red = integrate_reduced(g, dg, {"W1": math.sqrt(a0), "W2": math.sqrt(a0)}, tau=tau, t_eval=t,
                            rtol=1e-11, atol=1e-14)
    a = (red.B["W1"] * red.B["W2"])[:, 0]
    sign = torch.sign(dg.S[g.paths()[0]])  # the SVD may put the sign on S
    torch.testing.assert_close(sign * a, dln_mode_trajectory(s, d, a0, tau, t), rtol=1e-8, atol=0)
    # and the loss (Eq. 22 with one path, Sigma^y = y^2) agrees with the reduced loss
    close(red.loss, dln_loss(sign * a, s, d, sigma_y=s ** 2 / d))


def test_xor_loss_eqs_22_23():
    P = 4
    s, d = math.sqrt(2) / P, 2 / P
    a = torch.linspace(0, 1 / math.sqrt(2), 7, dtype=F64)
    L22 = dln_loss(a, s, d, sigma_y=1 / P, n_paths=P)
    close(L22, 0.5 - math.sqrt(2) * a + a ** 2, atol=1e-15)
    assert abs(L22[-1].item()) < 1e-15  # a -> s/d = 1/sqrt(2) solves XoR exactly


def test_bad_dln_inputs():
    with pytest.raises(ValueError, match="s must be positive"):
        dln_mode_trajectory(-1.0, 1.0, 0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="a0 must be positive"):
        dln_mode_trajectory(1.0, 1.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="n_paths must be a positive integer"):
        dln_loss(0.1, 1.0, 1.0, sigma_y=1.0, n_paths=0)


# ---------------------------------------------------------------- chains of any depth (the talk's trajectories)

from gdln.theory.dln import chain_ode, chain_rate, chain_trajectory, lambert_limit_ode, lambert_time_unit, lambert_trajectory  # noqa: E402


@pytest.mark.parametrize("D", [1, 2])
def test_chain_closed_forms_match_the_flow(D):
    s, lam, a0, tau = 1.3, 0.8, 2e-3, 0.7
    t = torch.linspace(0, 12, 121, dtype=F64)
    a = chain_trajectory(D, s, lam, a0, tau, t)
    num = chain_ode(D, s, lam, a0 ** (1 / D), tau, t)
    assert ((a - num).abs() / num).max().item() < 1e-9
    assert abs(a[-1].item() - s / lam) < 1e-3 * s / lam


def test_deeper_chains_have_no_closed_form_and_balanced_flow_obeys_the_rate():
    with pytest.raises(ValueError, match="D=3 has no elementary closed form"):
        chain_trajectory(3, 1.0, 1.0, 0.1, 1.0, 0.0)
    with pytest.raises(ValueError, match="D=0 is invalid"):
        chain_ode(0, 1.0, 1.0, 0.1, 1.0, [0.0, 1.0])
    # d a / dt of the integrated balanced chain equals D a^(2-2/D) (s - lambda a) / tau (finite difference)
    s, lam, tau, D = 1.0, 1.0, 1.0, 4
    t = torch.tensor([2.0, 2.0 + 1e-6], dtype=F64)
    a = chain_ode(D, s, lam, 0.5, tau, t)
    fd = (a[1] - a[0]).item() / 1e-6
    assert abs(fd - chain_rate(a[0].item(), s, lam, D, tau)) < 1e-5 * abs(fd)


def test_lambert_formula_is_exact_for_its_limit_equation_and_approached_by_deep_chains():
    s, lam, a0 = 2.0, 0.5, 4e-3
    t = torch.linspace(0, 2000, 201, dtype=F64)
    f, num = lambert_trajectory(s, lam, a0, 1.0, t), lambert_limit_ode(s, lam, a0, 1.0, t)
    assert ((f - num).abs() / num).max().item() < 1e-9
    assert abs(f[0].item() - a0) < 1e-12 * a0
    with pytest.raises(ValueError, match="expected 0 < a0 < s/d"):
        lambert_trajectory(s, lam, s / lam, 1.0, t)
    # the ratio of half-way times (formula / chain) falls towards 1 as the chain deepens
    ratios = []
    for D in (3, 10, 100):
        tw = lambert_time_unit(D, s, lam, 1.0)
        tt = torch.linspace(0, 4 * tw * s / (lam * a0), 4001, dtype=F64)
        half = lambda a: tt[int(torch.nonzero(a >= s / (2 * lam))[0])].item()  # noqa: E731
        ratios.append(half(lambert_trajectory(s, lam, a0, tw, tt)) / half(chain_ode(D, s, lam, a0 ** (1 / D), 1.0, tt)))
    assert ratios[0] > ratios[1] > ratios[2] > 1.0 and ratios[2] < 1.3
