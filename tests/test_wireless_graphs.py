"""Unit-disk graphs, user graphs with positions, connectivity, and their error messages."""

import math

import networkx as nx
import numpy as np
import pytest

from simulators.wireless import connectivity, get_policy, load_graph, route, unit_disk_graph
from simulators.wireless.graphs import arrays, gabriel_neighbors, side_length


def test_unit_disk_graph_is_deterministic_and_geometric():
    g1, g2 = unit_disk_graph(64, 3.0, seed=5), unit_disk_graph(64, 3.0, seed=5)
    assert sorted(g1.edges) == sorted(g2.edges)
    assert sorted(g1.edges) != sorted(unit_disk_graph(64, 3.0, seed=6).edges)
    pos = np.array([g1.nodes[v]["pos"] for v in range(64)])
    side = side_length(64, 3.0)
    assert math.isclose(side, math.sqrt(64 / 3.0))
    assert pos.min() >= 0 and pos.max() <= side
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    expected = {(i, j) for i in range(64) for j in range(i + 1, 64) if dist[i, j] <= 1.0}
    assert {tuple(sorted(e)) for e in g1.edges} == expected


def test_mean_degree_tracks_density():
    degrees = [connectivity(unit_disk_graph(216, rho, seed=1)).mean_degree for rho in (2.0, 5.0)]
    # mean degree is about pi * rho, a little less from the border
    assert 0.7 * math.pi * 2 < degrees[0] < math.pi * 2 * 1.05
    assert 0.7 * math.pi * 5 < degrees[1] < math.pi * 5 * 1.05


def test_connectivity_report():
    g = nx.Graph()
    for i, p in enumerate([(0, 0), (0.5, 0), (5, 5), (5.5, 5), (6, 5)]):
        g.add_node(i, pos=p)
    g.add_edges_from([(0, 1), (2, 3), (3, 4)])
    rep = connectivity(load_graph(g))
    assert rep.n_components == 2 and rep.largest_component == 3 and not rep.connected
    assert math.isclose(rep.reachable_pair_fraction, (2 + 6) / 20)


def test_load_graph_text_with_and_without_edges(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# nodes\nnode a 0 0\nnode b 0.8 0\nnode c 1.6 0\nedge a b\n")
    g = load_graph(f)
    assert set(g.edges) == {("a", "b")}
    assert math.isclose(g.edges["a", "b"]["length"], 0.8)
    f2 = tmp_path / "h.txt"
    f2.write_text("node a 0 0\nnode b 0.8 0\nnode c 1.6 0\n")
    h = load_graph(f2, radius=1.0)
    assert {tuple(sorted(e)) for e in h.edges} == {("a", "b"), ("b", "c")}
    r = route(h, "greedy", "a", "c")
    assert r.delivered and r.path == ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("node a 0 0\nnode b x 0\n", r"g.txt:2: X and Y must be numbers"),
        ("node a 0 0\nlink a b\n", r"g.txt:2: unknown record 'link'"),
        ("node a 0 0\nnode b 1 1\nedge a z\n", r"g.txt:3: edge names unknown node 'z'"),
        ("node a 0 0\nnode b 0 0\nedge a b\n", r"share position"),
        ("node a 0 0\nnode b 1 0\n", r"radius is required"),
    ],
)
def test_load_graph_errors_name_the_problem(tmp_path, text, match):
    f = tmp_path / "g.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_graph(f)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="n: must be an integer >= 2"):
        unit_disk_graph(1, 3.0, seed=0)
    with pytest.raises(ValueError, match="rho: must be a finite number > 0"):
        unit_disk_graph(10, 0.0, seed=0)
    with pytest.raises(ValueError, match="radius"):
        unit_disk_graph(10, 2.0, seed=0, radius=-1)
    g = nx.Graph()
    g.add_node(0, pos=(0, 0))
    g.add_node(1)
    with pytest.raises(ValueError, match="node 1 has no 'pos'"):
        load_graph(g)
    ok = unit_disk_graph(10, 3.0, seed=0)
    with pytest.raises(ValueError, match="policy: unknown policy 'fastest'"):
        get_policy("fastest")
    with pytest.raises(ValueError, match="target: node 99"):
        route(ok, "greedy", 0, 99)
    with pytest.raises(ValueError, match="ttl"):
        route(ok, "greedy", 0, 1, ttl=0)


def test_gabriel_neighbours_are_a_planar_connected_subgraph():
    g = unit_disk_graph(80, 4.0, seed=3)
    ga = arrays(g)
    gab = nx.Graph()
    gab.add_nodes_from(range(ga.n))
    gab.add_edges_from((v, u) for v in range(ga.n) for u in ga.gabriel[v])
    # symmetric: u keeps v iff v keeps u
    assert all(v in ga.gabriel[u] for v in range(ga.n) for u in ga.gabriel[v])
    # same components as the unit-disk graph
    assert nx.number_connected_components(gab) == nx.number_connected_components(g)
    assert nx.check_planarity(gab)[0]
    # brute-force Gabriel test on one node
    v = 0
    keep = gabriel_neighbors(ga.pos, ga.nbr_list, v)
    for u in ga.nbr_list[v]:
        mid, r2 = (ga.pos[v] + ga.pos[u]) / 2, ((ga.pos[v] - ga.pos[u]) ** 2).sum() / 4
        inside = any(((ga.pos[w] - mid) ** 2).sum() < r2 for w in range(ga.n) if w not in (u, v))
        assert (u in keep) == (not inside)


def test_big_file_without_edges_uses_bounded_memory_and_names_the_router_limit(tmp_path):
    import tracemalloc

    from simulators.wireless.graphs import MAX_NODES

    rng = np.random.default_rng(0)
    n = 20_000
    pos = rng.uniform(0, np.sqrt(n / 3.0), size=(n, 2))
    f = tmp_path / "big.txt"
    f.write_text("".join(f"node v{i} {x:.6f} {y:.6f}\n" for i, (x, y) in enumerate(pos)))
    assert f.stat().st_size < 1_000_000
    tracemalloc.start()
    g = load_graph(f, radius=1.0)  # an n x n float64 matrix alone would be 3.2 GB
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert g.number_of_nodes() == n and g.number_of_edges() > n
    assert peak < 300e6, peak
    assert connectivity(g).n_nodes == n  # graph-level reports work at any size
    with pytest.raises(ValueError, match=f"limit of {MAX_NODES:,}"):
        arrays(g)
    with pytest.raises(ValueError, match=f"limit of {MAX_NODES:,}"):
        route(g, "greedy", "v0", "v1")


def test_radius_linking_too_many_pairs_is_refused(tmp_path, monkeypatch):
    from simulators.wireless import graphs

    monkeypatch.setattr(graphs, "MAX_EDGES", 10)
    f = tmp_path / "dense.txt"
    f.write_text("".join(f"node {i} {i * 0.01} 0\n" for i in range(20)))
    with pytest.raises(ValueError, match=r"dense.txt: radius 5 links 190 pairs.*limit of 10 edges"):
        load_graph(f, radius=5.0)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"node a 0 0\nnode b 1 0\nnode \xff 2 0\n", r"g.txt:3: not UTF-8 text \(byte 0xff\)"),
        (b"# only\n# comments\n\n", r"g.txt: no 'node NAME X Y' lines"),
        (b"node a 0 0\n", r"g.txt: needs at least 2 nodes, found 1"),
        (b"node a 0 0\nnode b inf 0\nedge a b\n", r"g.txt:2: X and Y must be finite"),
    ],
)
def test_damaged_graph_files_name_file_and_line(tmp_path, data, match):
    f = tmp_path / "g.txt"
    f.write_bytes(data)
    with pytest.raises(ValueError, match=match):
        load_graph(f, radius=1.0)


def test_wrong_source_and_radius_types_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="source: expected a file path or a networkx graph"):
        load_graph(42)
    with pytest.raises(ValueError, match="radius"):
        load_graph(unit_disk_graph(10, 3.0, seed=0), radius="1")
    with pytest.raises(ValueError, match="graph: expected a networkx graph"):
        arrays("abc")
