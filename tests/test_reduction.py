"""Tests for gdln.core.reduction: Eqs. 7-10 and App. B, exact against the full network in float64."""

import pytest
import torch

from gdln.core.dynamics import path_gradient, train
from gdln.core.graph import Graph, random_graph
from gdln.core.network import GatedData, loss, random_gated_data
from gdln.core.reduction import decoupled_init, diagonalizable_data, diagonalize, edge_modes, integrate_reduced, modes_of, node_bases, reduced_loss, reduced_rhs
from gdln.core.statistics import path_statistics
from helpers import EXACT, F64, close, gen


def setup(seed, graph=None, n=40, replicas=()):
    g = graph if graph is not None else random_graph(seed, sizes=(2, 4))
    rng = gen(seed)
    d, _, _ = diagonalizable_data(g, n, generator=rng)
    st = path_statistics(g, d)
    dg = diagonalize(g, st)
    R = node_bases(g, dg, generator=rng)
    B0 = {e: 0.3 + 0.3 * torch.rand(*replicas, edge_modes(g, e), generator=rng, dtype=F64) for e in g.edges}
    return g, d, st, dg, R, B0


def _rect(v, shape):
    M = torch.zeros(*shape, dtype=v.dtype)
    M[range(len(v)), range(len(v))] = v
    return M


@pytest.mark.parametrize("seed", range(4))
def test_diagonalize_reproduces_statistics(seed):
    g, d, st, dg, R, B0 = setup(seed)
    for p in st.paths:
        rebuilt = dg.U[p.target] @ _rect(dg.S[p], st.yx[p].shape) @ dg.V[p.source].T
        close(rebuilt, st.yx[p])
    for (j, p), m in st.x.items():
        rebuilt = dg.V[j.source] @ _rect(dg.D[(j, p)], m.shape) @ dg.V[p.source].T
        close(rebuilt, m)


@pytest.mark.parametrize("seed", range(4))
def test_reduced_rhs_is_projected_full_gradient(seed):
    """App. B (Eqs. 35-38): R_t^T (-dL/dW_e) R_s is diagonal and equals Eq. 10, so B stays diagonal."""
    g, d, st, dg, R, B0 = setup(seed, replicas=(2,))
    W = decoupled_init(g, R, B0)
    G = path_gradient(g, W, st)
    rhs = reduced_rhs(g, dg, B0)
    Bg, off = modes_of(g, R, G)
    assert off.max().item() < 1e-12
    for e in g.edges:
        close(Bg[e], rhs[e])
    # the loss in reduced variables is Eq. 1 exactly, including the constant 1/2<||y||^2>
    close(reduced_loss(g, dg, B0), loss(g, W, d))


def test_full_simulation_from_decoupled_init_matches_reduced_dynamics():
    g, d, st, dg, R, B0 = setup(1)
    te = torch.linspace(0, 4, 9)
    kw = dict(tau=1.0, t_eval=te, rtol=1e-11, atol=1e-13)
    full = train(g, decoupled_init(g, R, B0), d, method="ode", record_weights=True, **kw)
    red = integrate_reduced(g, dg, B0, **kw)
    assert (full.loss - red.loss).abs().max().item() < 1e-8
    assert full.loss[-1] < 0.9 * full.loss[0]  # it actually learned something
    Bf, off = modes_of(g, R, full.weights)
    assert off.max().item() < 1e-10  # B_e stay diagonal
    for e in g.edges:
        close(Bf[e], red.B[e], atol=1e-8)


def test_reduced_gd_equals_full_gd_with_replicas_and_padding():
    """Hidden node larger than the modes (padded) and a 1-neuron bottleneck next to a skip edge."""
    g = Graph({"x": 3, "a": 6, "b": 1, "y": 3},
              {"xa": ("x", "a"), "ay": ("a", "y"), "xb": ("x", "b"), "by": ("b", "y"), "xy": ("x", "y")})
    g, d, st, dg, R, B0 = setup(3, graph=g, replicas=(2,))
    assert dg.r == 6 and edge_modes(g, "xb") == 1
    te = [0.5, 1.0]
    full = train(g, decoupled_init(g, R, B0), st, tau=0.7, t_eval=te, method="gd", dt=0.01)
    red = integrate_reduced(g, dg, B0, tau=0.7, t_eval=te, method="gd", dt=0.01)
    assert full.loss.shape == red.loss.shape == (2, 2)
    close(full.loss, red.loss)


def test_degenerate_identity_statistics():
    """Syx = Sx = I: every basis works; diagonalize must still return one that verifies."""
    g = Graph({"x": 3, "h": 3, "y": 3}, {"A": ("x", "h"), "B": ("h", "y")})
    eye = torch.eye(3, dtype=F64)
    dg = diagonalize(g, path_statistics(g, GatedData({"x": eye}, {"y": eye})))
    close(dg.S[g.paths()[0]], torch.full((3,), 1 / 3, dtype=F64), atol=EXACT)


def test_not_diagonalisable_raises():
    g = random_graph(0)
    d = random_gated_data(g, 30, generator=gen(0))
    with pytest.raises(ValueError, match="not mutually diagonalisable"):
        diagonalize(g, path_statistics(g, d))


def test_bad_reduction_inputs():
    g, d, st, dg, R, B0 = setup(0)
    e = next(iter(g.edges))
    with pytest.raises(ValueError, match=rf"B0\['{e}'\] has shape"):
        decoupled_init(g, R, {**B0, e: torch.zeros(edge_modes(g, e) + 1, dtype=F64)})
    with pytest.raises(ValueError, match="B0 is missing edge"):
        decoupled_init(g, R, {k: v for k, v in B0.items() if k != e})
    v = g.hidden[0]
    with pytest.raises(ValueError, match=rf"R\['{v}'\] does not have orthonormal columns"):
        decoupled_init(g, {**R, v: 2 * R[v]}, B0)
    with pytest.raises(ValueError, match=f"R is missing node '{v}'"):
        decoupled_init(g, {k: r for k, r in R.items() if k != v}, B0)
    with pytest.raises(ValueError, match="needs a positive step dt"):
        integrate_reduced(g, dg, B0, t_eval=[1.0], method="gd")
    with pytest.raises(ValueError, match="n_modes must be an integer"):
        diagonalizable_data(g, 10, generator=torch.Generator(), n_modes=99)
    # scalar B0: the same value on every mode
    W = decoupled_init(g, R, {k: 0.1 for k in g.edges})
    Bk, off = modes_of(g, R, W)
    assert off.item() < 1e-14 and all(torch.allclose(b, torch.full_like(b, 0.1)) for b in Bk.values())


def routing_data(M=3, K=2):
    """The routing task of Sec. 4 (Fig. 4c items, one input and one output domain gated on)."""
    nodes = {**{f"x{i}": 4 for i in range(M)}, "h1": 5, "h2": 5, **{f"y{j}": 7 for j in range(M)}}
    edges = {**{f"in{i}": (f"x{i}", "h1") for i in range(M)}, "hid": ("h1", "h2"),
             **{f"out{j}": ("h2", f"y{j}") for j in range(M)}}
    g = Graph(nodes, edges)
    Y = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                      [0, 0, 0, 1]], dtype=F64).T
    X = torch.eye(4, dtype=F64)
    xs, ys, eg = ({f"x{i}": [] for i in range(M)}, {f"y{j}": [] for j in range(M)}, {e: [] for e in edges})
    for i in range(M):
        for k in range(K):
            j = (i + k) % M
            for it in range(4):
                for a in range(M):
                    xs[f"x{a}"].append(X[it] if a == i else torch.zeros(4, dtype=F64))
                for b in range(M):
                    ys[f"y{b}"].append(Y[it] if b == j else torch.zeros(7, dtype=F64))
                for e in edges:
                    eg[e].append(float(e in ("hid", f"in{i}", f"out{j}")))
    data = GatedData({k: torch.stack(v) for k, v in xs.items()}, {k: torch.stack(v) for k, v in ys.items()},
                     {}, {e: torch.tensor(v, dtype=F64) for e, v in eg.items()})
    return g, data


def test_routing_statistics_reduce_with_pathway_counting():
    """Degenerate singular values (the Fig. 4c items) and never co-active inputs (zero cross Sigma^x):
    diagonalize still works, Eq. 10 is the projected gradient, and with balanced B the hidden edge
    learns M times faster than an input edge (Eqs. 44-45: KM paths vs K paths)."""
    M = 3
    g, data = routing_data(M=M)
    st = path_statistics(g, data)
    dg = diagonalize(g, st)
    R = node_bases(g, dg, generator=gen(0))
    B0 = {e: 0.3 for e in g.edges}
    rhs = reduced_rhs(g, dg, B0)
    Bg, off = modes_of(g, R, path_gradient(g, decoupled_init(g, R, B0), st))
    assert off.item() < 1e-12
    for e in g.edges:
        close(Bg[e], rhs[e])
    torch.testing.assert_close(rhs["hid"][:4], M * rhs["in0"], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rhs["out1"][:4], rhs["in0"], rtol=1e-12, atol=1e-14)
