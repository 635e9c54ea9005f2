"""gdln.tasks.readings and gdln.engines.readings: the authors' notebook settings in the book's units (issue 20)."""

import numpy as np
import pytest
import torch

from gdln.engines import readings as er
from gdln.engines.routing import init_routing_weights, route_outputs, routing_loss, train_routing
from gdln.tasks import multiview as mv
from gdln.tasks import readings as rd
from gdln.tasks.routing import routing_task, task_modes, trained_routes
from gdln.theory.routing import eq44_46_rhs
from gdln.util.device import generator


def test_band_routes_is_the_notebooks_pattern_and_a_column_permutation_of_the_books():
    T = rd.band_routes(7, (-1, 0, 1, 2))
    assert T.sum() == 28 and (T.sum(0) == 4).all() and (T.sum(1) == 4).all()
    assert T[0, 6] and T[0, 0] and T[0, 1] and T[0, 2] and not T[0, 3]
    base = trained_routes(7, 4, seed=0)
    # same row and column structure up to a permutation of the output columns: equal mask singular values
    assert torch.allclose(torch.linalg.svdvals(T.double()), torch.linalg.svdvals(base.double()), atol=1e-12)
    with pytest.raises(ValueError):
        rd.band_routes(4, (0, 4))


def test_notebook_loss_is_two_T_over_Ny_times_eq1():
    task = rd.notebook_task()
    assert rd.loss_factor(task) == pytest.approx(2 * 28 / 7)
    W = init_routing_weights(3, 7, 4, 16, 7, sigma0=0.5, generator=generator(0), scheme="orthogonal", dtype=torch.float64)
    yh, _ = route_outputs(W, task)
    err = (task.Y.unsqueeze(0).unsqueeze(0) - yh) ** 2                    # (R, M, M, N_y, n)
    nb = (err.mean((-1, -2)) * task.trained).sum((1, 2))                 # per route: mean over entries; sum over routes
    assert torch.allclose(nb, rd.loss_factor(task) * routing_loss(W, task), rtol=1e-12)
    assert rd.eq1_step(0.02, task) == pytest.approx(0.16) and rd.eq1_time(500, 0.02, task) == pytest.approx(80.0)


def test_notebook_theory_factor_turns_their_equations_into_eq44():
    task = rd.notebook_task()
    m = task_modes(task)
    M, K, n, n_y = 7, 4, task.n, task.n_y
    assert rd.theory_dt_factor(M, n, n_y) == pytest.approx(3.5)
    b1, b2, b3 = 0.3, 0.7, 0.4
    s_nb = n * m.s.numpy()                                               # singular values of Y^T X
    lr = 0.02
    theirs_b2 = K / M * b1 * b3 * (s_nb - b1 * b2 * b3) * rd.theory_dt_factor(M, n, n_y) * lr
    theirs_b1 = K / M ** 2 * b2 * b3 * (s_nb - b1 * b2 * b3) * rd.theory_dt_factor(M, n, n_y) * lr
    d1, d2, _ = eq44_46_rhs(b1, b2, b3, m.s.numpy(), m.d.numpy(), M)
    step = rd.eq1_step(lr, task)
    assert np.allclose(np.asarray(d2) * step, theirs_b2, rtol=1e-12)
    assert np.allclose(np.asarray(d1) * step, theirs_b1, rtol=1e-12)


def test_one_hot_items_have_the_books_modes():
    a, b = task_modes(rd.notebook_task()), task_modes(routing_task(7, 4, seed=3))
    assert torch.allclose(a.s, b.s, atol=1e-12) and torch.allclose(a.d, b.d) and a.y_power == pytest.approx(b.y_power)


def test_fig6_settings():
    s = rd.fig6_scales()
    assert s[0] == pytest.approx(0.2) and s[-1] == pytest.approx(2.5) and len(s) == 6
    assert rd.fig6_lr(1.0) == pytest.approx(0.006) and rd.fig6_lr(8.0) == pytest.approx(0.003)
    with pytest.raises(ValueError):
        rd.fig6_lr(0.0)


def test_readings_tables_name_both_pages_and_their_sources():
    for page in ("routing", "initialization"):
        h = rd.readings_html(page)
        assert rd.FIG4_NOTEBOOK in h and "Xavier" in h and "orthogonal" in h
    with pytest.raises(ValueError):
        rd.readings_html("xor")


def test_readings_table_shows_the_notebooks_units_computed_not_typed():
    u = rd.notebook_units()
    # 28 trained routes of 49, N_y = 7: the notebooks' loss is 2 * 28 / 7 = 8 times Eq. 1
    assert u["fig4_factor"] == pytest.approx(8.0) and u["fig4_step"] == pytest.approx(0.02 * 8)
    assert u["fig4_t"] == pytest.approx(500 * 0.02 * 8) and u["fig6_t"] == pytest.approx(700 * 0.006 * 8)
    h = rd.readings_html("routing")
    assert "{" not in h and f"t = {u['fig4_t']:g}" in h and f"{u['fig4_step']:g} for lr = 0.02" in h


def test_route_claim_values_and_fig4_at_a_small_size():
    f = er.train_fig4(reps=2, settings=rd.NotebookSettings(rd.FIG4_NOTEBOOK, M=4, offsets=(0, 1), n_h=8,
                                                          scheme="orthogonal", epochs=40, reps=2, sigma0=0.2, lr=0.02))
    assert f.lr_eq1 == pytest.approx(0.02 * 2 * 8 / 7) and f.t[-1] == pytest.approx(40 * f.lr_eq1)
    assert np.allclose(f.loss_nb, f.loss * rd.loss_factor(f.task))
    assert set(f.sv) == {"W1", "W2", "W3"} and all(v.shape == (4,) for v in f.sv.values())
    v = f.values
    assert {"sv_ratio", "shared_representation", "zero_shot", "trained_error"} <= set(v)


def test_paired_lateness_is_one_for_a_network_that_follows_its_prediction():
    task = routing_task(4, 2, seed=0)
    W = init_routing_weights(2, 4, task.n_x, 8, task.n_y, sigma0=0.2, generator=generator(1), scheme="orthogonal",
                             dtype=torch.float64)
    from gdln.engines.alignment import predicted_loss
    t = np.linspace(0, 60, 301)
    P = predicted_loss(W, task, t)
    assert np.allclose(er.paired_lateness(t, P, W, task), 1.0)


def test_fig6_sweep_is_one_batched_call_with_a_step_per_scale():
    f = er.train_fig6(settings=rd.NotebookSettings(rd.FIG6_NOTEBOOK, M=4, offsets=(0, 1), n_h=8, scheme="orthogonal",
                                                   epochs=30, reps=1), seeds=2)
    assert f.trained.shape == (6, 2) and f.untrained.shape == (6, 2)
    assert np.allclose(f.lr_eq1, rd.fig6_lr(f.sigmas) * 2 * 8 / 7) and np.allclose(f.t_end, 30 * f.lr_eq1)
    # their measure ||Y - yhat||^2 / 2 per route; the zero output scores sum(Y^2) / 2 = 122 on every route
    assert np.allclose(f.untrained_nb, 122.0 * f.untrained, rtol=1e-9)


def test_shrinking_losers_and_falling_views():
    t = np.arange(4.0)
    S = np.zeros((4, 1, 1, 3))
    S[:, 0, 0] = [[0.1, 0.1, 0.1], [0.5, 0.3, 0.2], [1.0, 0.3, 0.1], [1.0, 0.35, 0.05]]
    assert mv.shrinking_losers(t, S)[0] == pytest.approx(0.5)           # of the two losers, view 2 shrinks
    falls, early, win = mv.falling_views(S[:, 0, 0])
    assert falls.tolist() == [False, False, True] and early == 0 and win == 0
    r = mv.random_or_races(3, 3, K=2, s0=1e-3, t=np.r_[0, np.geomspace(1e-2, 1e4, 60)], rng=np.random.default_rng(0))
    assert r["n_fall"].shape == (3,)


def test_readings_variants_share_one_batched_call_and_keep_the_first_readings_weights():
    small4 = rd.NotebookSettings(rd.FIG4_NOTEBOOK, M=4, offsets=(0, 1), n_h=8, scheme="orthogonal", epochs=20, reps=2,
                                 sigma0=0.2, lr=0.02)
    one = er.train_fig4(settings=small4)
    both = er.train_fig4_readings(settings=small4, schemes=("orthogonal", "xavier"))
    assert both["orthogonal"].run is both["xavier"].run and both["xavier"].loss.shape[1] == 2
    assert np.allclose(one.loss, both["orthogonal"].loss, rtol=1e-6)
    small6 = rd.NotebookSettings(rd.FIG6_NOTEBOOK, M=4, offsets=(0, 1), n_h=8, scheme="orthogonal", epochs=10, reps=1)
    a = er.train_fig6(settings=small6)
    b = er.train_fig6_readings(settings=small6, schemes=("orthogonal", "xavier"))
    assert np.allclose(a.untrained, b["orthogonal"].untrained, rtol=1e-6) and b["xavier"].scheme == "xavier"


def test_claims_by_reading_table_says_where_a_claim_holds():
    from gdln.book.claims import Claims
    cl = Claims("t", "quick")
    ok = cl.check("t.a", evidence="empirical", ref="r", statement="s", measured=0.5, target=1.0, tolerance=0.6, kind="abs")
    bad = cl.check("t.b", evidence="empirical", ref="r", statement="s", measured=0.0, target=1.0, tolerance=0.1, kind="abs",
                   known_deviation="why")
    h = rd.claims_by_reading_html([("x", {"A": ok, "B": bad, "C": 0.25})], ("A", "B", "C"))
    assert "0.5 (pass)" in h and "(deviates)" in h and "0.25 (not judged)" in h
    assert h.count("<tr>") == 2 and h.endswith("<td>A</td></tr></table>")
