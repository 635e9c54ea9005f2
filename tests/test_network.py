"""Tests for gdln.core.network: gated forward pass (Sec. 2), Eq. 1 loss, replicas, validation."""

import pytest
import torch

from gdln.core.graph import Graph
from gdln.core.network import GatedData, forward, init_weights, loss, path_weight, random_gated_data
from helpers import EXACT, F64, close, gen, random_network


def small():
    g = Graph({"x": 2, "h": 3, "y": 2}, {"A": ("x", "h"), "B": ("h", "y"), "S": ("x", "y")})
    rng = gen(0)
    W = init_weights(g, 1.0, generator=rng, dtype=F64)
    data = random_gated_data(g, 7, generator=rng)
    return g, W, data


def test_forward_matches_hand_computation():
    g, W, d = small()
    h = forward(g, W, d)
    gA, gB, gS = d.edge_gates["A"], d.edge_gates["B"], d.edge_gates["S"]
    hh = d.node_gates["h"][:, None] * (gA[:, None] * d.x["x"] @ W["A"].T)
    hy = d.node_gates["y"][:, None] * (gB[:, None] * hh @ W["B"].T + gS[:, None] * d.x["x"] @ W["S"].T)
    close(h["y"], hy, atol=EXACT)
    L = 0.5 * ((d.y["y"] - hy) ** 2).sum(1).mean()
    close(loss(g, W, d), L, atol=EXACT)


def test_output_is_sum_over_paths():
    """h_t = sum_{p in T(t)} g_p W_p x_{s(p)} for every output node (Eq. 32 of App. B)."""
    g, W, d = random_network(1, n=11)
    h = forward(g, W, d)
    for v in g.outputs:
        acc = torch.zeros_like(h[v])
        for p in g.paths_to(v):
            gp = torch.ones(d.n, dtype=F64)
            for u in g.path_nodes(p):
                if u in d.node_gates:
                    gp = gp * d.node_gates[u]
            for e in p.edges:
                gp = gp * d.edge_gates[e]
            acc = acc + gp[:, None] * d.x[p.source] @ path_weight(g, W, p).T
        close(h[v], acc)


def test_replicas_broadcast():
    g, _, d = small()
    W = init_weights(g, 0.5, generator=gen(2), dtype=F64, replicas=(3, 2))
    assert W["A"].shape == (3, 2, 3, 2)
    L = loss(g, W, d)
    assert L.shape == (3, 2)
    single = loss(g, {e: w[1, 0] for e, w in W.items()}, d)
    close(L[1, 0], single, atol=EXACT)


def test_init_scale():
    g = Graph({"x": 200, "y": 300}, {"W": ("x", "y")})
    W = init_weights(g, 0.3, generator=gen(0), dtype=F64)
    assert abs(W["W"].var().item() - 0.09 / 200) < 0.05 * 0.09 / 200


def test_bad_data_and_weights():
    g, W, d = small()
    n = d.n
    with pytest.raises(ValueError, match=r"data.x\['x'\] has shape \(7, 3\); expected \(n, 2\)"):
        forward(g, W, GatedData({"x": torch.zeros(n, 3, dtype=F64)}, d.y))
    with pytest.raises(ValueError, match="data.x is missing node 'x'"):
        forward(g, W, GatedData({}, d.y))
    with pytest.raises(ValueError, match="data.y has an entry for node 'h'"):
        forward(g, W, GatedData(d.x, {**d.y, "h": torch.zeros(n, 3, dtype=F64)}))
    with pytest.raises(ValueError, match=r"data.edge_gates\['A'\] has shape \(7, 1\); expected \(7,\)"):
        forward(g, W, GatedData(d.x, d.y, {}, {"A": torch.ones(n, 1, dtype=F64)}))
    with pytest.raises(ValueError, match="gate for unknown edge 'Q'"):
        forward(g, W, GatedData(d.x, d.y, {}, {"Q": torch.ones(n, dtype=F64)}))
    with pytest.raises(ValueError, match="has 5 examples; other entries have 7"):
        forward(g, W, GatedData(d.x, {"y": torch.zeros(5, 2, dtype=F64)}))
    with pytest.raises(ValueError, match="has dtype torch.int64; expected a floating dtype"):
        forward(g, W, GatedData({"x": torch.zeros(n, 2, dtype=torch.long)}, d.y))
    with pytest.raises(ValueError, match=r"weight 'A' has shape \(2, 3\); expected \(\.\.\., 3, 2\)"):
        forward(g, {**W, "A": W["A"].T}, d)
    with pytest.raises(ValueError, match="weights missing for edge 'S'"):
        forward(g, {k: v for k, v in W.items() if k != "S"}, d)
    with pytest.raises(ValueError, match="replica axes of the weights do not broadcast"):
        forward(g, {**W, "A": torch.zeros(4, 3, 2, dtype=F64),
                    "B": torch.zeros(5, 2, 3, dtype=F64)}, d)
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        init_weights(g, 1.0, generator=0)
