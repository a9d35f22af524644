"""Unit-disk random graphs, user graphs with positions, connectivity reports, and array views for routing."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path
from scipy.spatial import cKDTree

from simulators.core.textfile import read_utf8

__all__ = [
    "MAX_NODES",
    "MAX_EDGES",
    "unit_disk_graph",
    "load_graph",
    "connectivity",
    "Connectivity",
    "GraphArrays",
    "arrays",
    "gabriel_neighbors",
]


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: Largest graph the routers accept: they hold dense n x n distance and shortest-path matrices (about 200 MB
#: each at 5,000 nodes). Building and loading graphs, and `connectivity`, work at any size.
MAX_NODES = 5_000
#: Most unit-disk edges built from positions (a radius that links nearly every pair of a big file is refused).
MAX_EDGES = 5_000_000


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")


def side_length(n: int, rho: float, radius: float = 1.0) -> float:
    """Side of the square that holds `n` nodes at density `rho` nodes per radius^2: sqrt(n R^2 / rho)."""
    return math.sqrt(n * radius * radius / rho)


def unit_disk_graph(n: int, rho: float, seed: int, radius: float = 1.0) -> nx.Graph:
    """`n` nodes uniform in a square of side sqrt(n R^2 / rho), an edge between nodes within distance R.

    Nodes are 0..n-1 with attribute `pos` (x, y); edges carry `length` (Euclidean). Same seed, same graph.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: must be an integer >= 2, got {n!r}")
    _check_positive("rho", rho)
    _check_positive("radius", radius)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    side = side_length(int(n), float(rho), float(radius))
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.0, side, size=(int(n), 2))
    return _from_positions(
        pos, float(radius), graph_attrs={"n": int(n), "rho": float(rho), "seed": seed, "side": side}
    )


def disk_pairs(pos: np.ndarray, radius: float, where: str = "graph") -> np.ndarray:
    """Index pairs (i < j, sorted) of points within `radius` of each other, found with a KD-tree.

    Memory grows with the number of pairs, not n^2; more than MAX_EDGES pairs raise a ValueError.
    """
    if len(pos) < 2:
        return np.zeros((0, 2), np.int64)
    tree = cKDTree(pos)
    count = (int(tree.count_neighbors(tree, radius)) - len(pos)) // 2
    if count > MAX_EDGES:
        raise ValueError(
            f"{where}: radius {radius:g} links {count:,} pairs of nodes, more than the limit of {MAX_EDGES:,} edges; "
            "use a smaller radius"
        )
    pairs = tree.query_pairs(radius, output_type="ndarray").astype(np.int64)
    pairs.sort(axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _from_positions(pos: np.ndarray, radius: float, graph_attrs: dict | None = None) -> nx.Graph:
    graph = nx.Graph(radius=radius, **(graph_attrs or {}))
    for i, (x, y) in enumerate(pos):
        graph.add_node(i, pos=(float(x), float(y)))
    pairs = disk_pairs(pos, radius)
    lengths = np.sqrt(((pos[pairs[:, 0]] - pos[pairs[:, 1]]) ** 2).sum(-1))
    graph.add_edges_from((int(i), int(j), {"length": float(x)}) for (i, j), x in zip(pairs, lengths))
    return graph


def load_graph(source: str | Path | nx.Graph, radius: float | None = None) -> nx.Graph:
    """A user's graph with positions: a networkx graph with node attribute `pos`, or a text file.

    File format: lines `node x y` (positions) and `edge a b` (links); `#` starts a comment. Without any
    `edge` line, edges are every pair within `radius` (required then). Errors name the file, line and field.
    """
    if radius is not None:
        _check_positive("radius", radius)
    if isinstance(source, nx.Graph):
        graph = source.copy()
        _validate_positions(graph, where="graph")
        where = "graph"
    elif isinstance(source, (str, Path)):
        graph = _read_text(Path(source), radius)
        where = str(source)
    else:
        raise ValueError(f"source: expected a file path or a networkx graph, got {type(source).__name__}")
    for a, b in graph.edges:
        pa, pb = np.asarray(graph.nodes[a]["pos"], float), np.asarray(graph.nodes[b]["pos"], float)
        graph.edges[a, b]["length"] = float(np.hypot(*(pa - pb)))
    if radius is not None:
        graph.graph["radius"] = float(radius)
    elif "radius" not in graph.graph:
        lengths = [d["length"] for _, _, d in graph.edges(data=True)]
        graph.graph["radius"] = max(lengths) if lengths else 1.0
    if graph.number_of_nodes() < 2:
        raise ValueError(f"{where}: needs at least 2 nodes, found {graph.number_of_nodes()}")
    return graph


def _validate_positions(graph: nx.Graph, where: str) -> None:
    for node, data in graph.nodes(data=True):
        if "pos" not in data:
            raise ValueError(f"{where}: node {node!r} has no 'pos' attribute (need (x, y))")
        pos = data["pos"]
        try:
            x, y = (float(v) for v in pos)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: node {node!r} has pos={pos!r}; need two numbers (x, y)") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"{where}: node {node!r} has a non-finite position {pos!r}")
        data["pos"] = (x, y)
    seen: dict[tuple[float, float], object] = {}
    for node, data in graph.nodes(data=True):
        if data["pos"] in seen:
            raise ValueError(
                f"{where}: nodes {seen[data['pos']]!r} and {node!r} share position {data['pos']}"
            )
        seen[data["pos"]] = node


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file; a missing file or a byte that is not UTF-8 raises a ValueError naming
    the file (and the line)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return read_utf8(path).splitlines()


def _read_text(path: Path, radius: float | None) -> nx.Graph:
    graph = nx.Graph()
    edges: list[tuple[int, str, str]] = []
    for lineno, raw in enumerate(read_lines(path), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}:{lineno}"
        if parts[0] == "node":
            if len(parts) != 4:
                raise ValueError(f"{where}: expected 'node NAME X Y', got {raw.strip()!r}")
            try:
                x, y = float(parts[2]), float(parts[3])
            except ValueError:
                raise ValueError(f"{where}: X and Y must be numbers, got {parts[2]!r} {parts[3]!r}") from None
            if parts[1] in graph:
                raise ValueError(f"{where}: node {parts[1]!r} defined twice")
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"{where}: X and Y must be finite numbers, got {parts[2]!r} {parts[3]!r}")
            graph.add_node(parts[1], pos=(x, y))
        elif parts[0] == "edge":
            if len(parts) != 3:
                raise ValueError(f"{where}: expected 'edge A B', got {raw.strip()!r}")
            edges.append((lineno, parts[1], parts[2]))
        else:
            raise ValueError(f"{where}: unknown record {parts[0]!r}; allowed: 'node', 'edge'")
    if graph.number_of_nodes() == 0:
        raise ValueError(f"{path}: no 'node NAME X Y' lines (the file holds only comments or blank lines)")
    _validate_positions(graph, where=str(path))
    for lineno, a, b in edges:
        for end in (a, b):
            if end not in graph:
                raise ValueError(f"{path}:{lineno}: edge names unknown node {end!r}")
        if a == b:
            raise ValueError(f"{path}:{lineno}: self-loop on {a!r} is not allowed")
        graph.add_edge(a, b)
    if not edges:
        if radius is None:
            raise ValueError(f"{path}: no 'edge' lines, so radius is required to build unit-disk edges")
        names = list(graph.nodes)
        pos = np.array([graph.nodes[v]["pos"] for v in names], dtype=float)
        graph.add_edges_from((names[a], names[b]) for a, b in disk_pairs(pos, float(radius), where=str(path)))
    return graph


@dataclass(frozen=True)
class Connectivity:
    """Connectivity of a graph: components, largest one, share of ordered pairs that can reach each other."""

    n_nodes: int
    n_edges: int
    n_components: int
    largest_component: int
    connected: bool
    reachable_pair_fraction: float
    mean_degree: float

    def as_dict(self) -> dict:
        """Plain dict (JSON-able)."""
        return dict(self.__dict__)


def connectivity(graph: nx.Graph) -> Connectivity:
    """Report how connected `graph` is (components, largest, reachable ordered pairs, mean degree)."""
    n = graph.number_of_nodes()
    sizes = sorted((len(c) for c in nx.connected_components(graph)), reverse=True)
    reachable = sum(s * (s - 1) for s in sizes) / max(n * (n - 1), 1)
    return Connectivity(
        n,
        graph.number_of_edges(),
        len(sizes),
        sizes[0] if sizes else 0,
        len(sizes) == 1,
        float(reachable),
        2.0 * graph.number_of_edges() / max(n, 1),
    )


@dataclass
class GraphArrays:
    """Array view of a positioned graph, indexed 0..n-1 in `nodes` order, used by every router.

    `nbr` (n, K) holds neighbour indices padded with -1, `nbr_list` the same as Python lists, `dist` (n, n)
    Euclidean distances, `sp` / `hops` shortest-path length and min-hop matrices (inf when unreachable).
    """

    nodes: list
    index: dict
    pos: np.ndarray
    radius: float
    nbr: np.ndarray
    nbr_list: list
    dist: np.ndarray
    component: np.ndarray
    _sp: np.ndarray | None = field(default=None, repr=False)
    _hops: np.ndarray | None = field(default=None, repr=False)
    _gabriel: list | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    def adjacency(self, weight: str = "length") -> csr_matrix:
        """Sparse adjacency with Euclidean lengths (`length`) or ones (`hop`)."""
        rows = np.repeat(np.arange(self.n), [len(x) for x in self.nbr_list])
        cols = np.concatenate([np.asarray(x, int) for x in self.nbr_list]) if rows.size else rows
        data = self.dist[rows, cols] if weight == "length" else np.ones(rows.size)
        return csr_matrix((data, (rows, cols)), shape=(self.n, self.n))

    @property
    def sp(self) -> np.ndarray:
        """All-pairs Euclidean shortest-path lengths (Dijkstra), inf when unreachable."""
        if self._sp is None:
            self._sp = shortest_path(self.adjacency("length"), method="D", directed=False)
        return self._sp

    @property
    def hops(self) -> np.ndarray:
        """All-pairs minimum hop counts (BFS), inf when unreachable."""
        if self._hops is None:
            self._hops = shortest_path(self.adjacency("hop"), method="D", directed=False, unweighted=True)
        return self._hops

    @property
    def gabriel(self) -> list:
        """Neighbour lists of the Gabriel subgraph, each node computed from its own neighbourhood only."""
        if self._gabriel is None:
            self._gabriel = [gabriel_neighbors(self.pos, self.nbr_list, v) for v in range(self.n)]
        return self._gabriel


def gabriel_neighbors(pos: np.ndarray, nbr_list: list, v: int) -> list[int]:
    """Neighbours u of v kept in the Gabriel graph: no other neighbour of v inside the circle of diameter vu.

    On a unit-disk graph any witness inside that circle is itself a neighbour of v, so the test is local.
    """
    nb = np.asarray(nbr_list[v], int)
    if nb.size == 0:
        return []
    mid = 0.5 * (pos[v] + pos[nb])  # (k, 2)
    r2 = 0.25 * ((pos[nb] - pos[v]) ** 2).sum(-1)  # (k,)
    d2 = ((pos[nb][None, :, :] - mid[:, None, :]) ** 2).sum(-1)  # (k candidates, k witnesses)
    inside = d2 < r2[:, None] * (1 - 1e-12)
    np.fill_diagonal(inside, False)
    return [int(u) for u, bad in zip(nb, inside.any(1)) if not bad]


def arrays(graph: nx.Graph) -> GraphArrays:
    """Array view of `graph` (cached on the graph object; rebuild after editing the graph)."""
    if not isinstance(graph, nx.Graph):
        raise ValueError(f"graph: expected a networkx graph with node positions, got {type(graph).__name__}")
    if graph.number_of_nodes() > MAX_NODES:
        raise ValueError(
            f"graph: {graph.number_of_nodes():,} nodes, more than the routers' limit of {MAX_NODES:,} (they hold "
            "n x n distance and shortest-path matrices); route on a subgraph or a smaller graph"
        )
    fingerprint = (graph.number_of_nodes(), graph.number_of_edges())
    cached = _CACHE.get(graph)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    for v in nodes:
        if "pos" not in graph.nodes[v]:
            raise ValueError(f"graph: node {v!r} has no 'pos' attribute (use load_graph to check a graph)")
    pos = np.array([graph.nodes[v]["pos"] for v in nodes], dtype=float)
    nbr_list = [sorted(index[u] for u in graph.neighbors(v)) for v in nodes]
    k = max([len(x) for x in nbr_list] + [1])
    nbr = np.full((len(nodes), k), -1, dtype=np.int64)
    for i, x in enumerate(nbr_list):
        nbr[i, : len(x)] = x
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    radius = float(graph.graph.get("radius", 1.0))
    view = GraphArrays(nodes, index, pos, radius, nbr, nbr_list, dist, np.zeros(len(nodes), int))
    _, view.component = connected_components(view.adjacency("hop"), directed=False)
    _CACHE[graph] = (fingerprint, view)
    return view
