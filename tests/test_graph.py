"""Tests for gdln.core.graph: structure, validation, paths, P(e), T(v) and path splits (Sec. 2, Fig. 2b)."""

import pytest

from gdln.core.graph import Graph, Path, chain, random_graph


def fig2_like() -> Graph:
    """Two inputs, a shared hidden node, a skip connection, two outputs (like Fig. 2a)."""
    return Graph({"a": 3, "b": 2, "h": 4, "k": 2, "y": 2, "z": 1},
                 {"ah": ("a", "h"), "bh": ("b", "h"), "hk": ("h", "k"), "ky": ("k", "y"),
                  "hz": ("h", "z"), "ay": ("a", "y")})


def test_roles_and_order():
    g = fig2_like()
    assert g.inputs == ("a", "b")
    assert g.outputs == ("y", "z")
    assert g.hidden == ("h", "k")
    pos = {v: i for i, v in enumerate(g.order)}
    for s, t in g.edges.values():
        assert pos[s] < pos[t]
    assert g.source("hk") == "h" and g.target("hk") == "k"
    assert g.shape("ah") == (4, 3)


def test_paths_P_T_and_split():
    g = fig2_like()
    names = {p.name for p in g.paths()}
    assert names == {"ah>hk>ky", "bh>hk>ky", "ay", "ah>hz", "bh>hz"}
    assert {p.name for p in g.paths_through("hk")} == {"ah>hk>ky", "bh>hk>ky"}
    assert {p.name for p in g.paths_to("y")} == {"ah>hk>ky", "bh>hk>ky", "ay"}
    assert {p.name for p in g.paths_to("h")} == {"ah", "bh"}
    assert g.paths_to("a") == (Path((), "a", "a"),)
    p = g.path(["ah", "hk", "ky"])
    s, t = g.split(p, "hk")
    assert s == Path(("ah",), "a", "h") and t == Path(("ky",), "k", "y")
    s, t = g.split(p, "ah")  # edge at the start: empty source part
    assert s == Path((), "a", "a") and t.edges == ("hk", "ky")
    s, t = g.split(g.path(["ay"]), "ay")
    assert s.edges == () and t.edges == () and s.source == "a" and t.target == "y"
    assert g.path_nodes(p) == ("a", "h", "k", "y")


def test_every_path_is_in_P_of_each_of_its_edges():
    g = random_graph(3)
    for p in g.paths():
        assert p.source in g.inputs and p.target in g.outputs
        for e in p.edges:
            assert p in g.paths_through(e)
            s, t = g.split(p, e)
            assert s.edges + (e,) + t.edges == p.edges
    # T(v) for an output node is exactly the paths ending there
    for v in g.outputs:
        assert set(g.paths_to(v)) == {p for p in g.paths() if p.target == v}


def test_parallel_edges_give_distinct_paths():
    g = Graph({"x": 1, "y": 1}, {"e1": ("x", "y"), "e2": ("x", "y")})
    assert len(g.paths()) == 2


def test_chain():
    g = chain([3, 2, 1])
    assert g.inputs == ("x",) and g.outputs == ("y",) and g.hidden == ("h1",)
    assert [p.name for p in g.paths()] == ["W1>W2"]


@pytest.mark.parametrize("nodes, edges, match", [
    ({}, {"e": ("a", "b")}, "no nodes"),
    ({"a": 1, "b": 1}, {}, "no edges"),
    ({"a": 0, "b": 1}, {"e": ("a", "b")}, "node 'a' has size 0"),
    ({"a": 2.5, "b": 1}, {"e": ("a", "b")}, "node 'a' has size 2.5"),
    ({"a": True, "b": 1}, {"e": ("a", "b")}, "node 'a' has size True"),
    ({"a": 1, "b": 1}, {"e": ("a", "c")}, "unknown target node 'c'"),
    ({"a": 1, "b": 1}, {"e": ("q", "b")}, "unknown source node 'q'"),
    ({"a": 1, "b": 1}, {"e": ("a", "a"), "f": ("a", "b")}, "self-loop on node 'a'"),
    ({"a": 1, "b": 1, "c": 1}, {"e": ("a", "b")}, "node 'c' has no edges"),
    ({"a": 1, "b": 1, "c": 1, "d": 1},
     {"e": ("a", "b"), "f": ("b", "c"), "g": ("c", "b"), "h": ("c", "d")}, "directed cycle"),
    ({"a": 1, "b": 1}, [("e", ("a", "b")), ("e", ("a", "b"))], "duplicate edge name 'e'"),
    ({"a": 1, "b": 1}, {"e": ("a",)}, "edge 'e' must map to a"),
])
def test_bad_graphs(nodes, edges, match):
    with pytest.raises(ValueError, match=match):
        Graph(nodes, edges)


def test_declared_roles_checked():
    nodes, edges = {"a": 1, "b": 1, "c": 1}, {"e": ("a", "b"), "f": ("b", "c")}
    Graph(nodes, edges, inputs=["a"], outputs=["c"])
    with pytest.raises(ValueError, match="node 'b' is declared as an input node but receives edge 'e'"):
        Graph(nodes, edges, inputs=["a", "b"])
    with pytest.raises(ValueError, match="node 'b' is declared as an output node but sends edge 'f'"):
        Graph(nodes, edges, outputs=["b", "c"])
    with pytest.raises(ValueError, match="node 'a' is an input node"):
        Graph(nodes, edges, inputs=[])


def test_bad_queries():
    g = fig2_like()
    with pytest.raises(ValueError, match="unknown edge 'nope'"):
        g.paths_through("nope")
    with pytest.raises(ValueError, match="unknown node 'nope'"):
        g.paths_to("nope")
    with pytest.raises(ValueError, match="edge 'hz' is not on path 'ay'"):
        g.split(g.path(["ay"]), "hz")
    with pytest.raises(ValueError, match="do not join"):
        g.path(["ah", "ky"])
    with pytest.raises(ValueError, match="empty path must start and end"):
        Path((), "a", "b")


def test_splits_cached_and_consistent():
    g = fig2_like()
    for e in g.edges:
        assert [t[0] for t in g.splits(e)] == list(g.paths_through(e))
        for p, s, t in g.splits(e):
            assert (s, t) == g.split(p, e)


def test_draw_graph_smoke():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gdln.figures.graph import draw_graph, graph_layout

    g = fig2_like()
    pos = graph_layout(g)
    assert set(pos) == set(g.nodes) and pos["y"][0] == pos["z"][0]  # outputs share the last column
    ax = draw_graph(g, highlight="hk", paths=g.paths_through("hk"), split=g.path(["ah", "hk", "ky"]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "s̄(p,e) = ah" in labels and "t̄(p,e) = ky" in labels
    with pytest.raises(ValueError, match="split needs highlight"):
        draw_graph(g, split=g.path(["ah", "hk", "ky"]))
    plt.close("all")
