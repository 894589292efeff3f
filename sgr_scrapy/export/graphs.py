"""Graphs, declared once: what `--graph` takes, which rows are its edges, what its nodes carry.

A graph is one entry of `GRAPHS`: the table its edges come from, the columns of their two ends
and the kind of node each end is, the edge attributes, the rows it keeps (`match`), and the
one-line error when it has no edge (what to run first). Node kinds are declared once in
`NODE_KINDS`. The store turns a spec into a query (store/export_reads.py); nothing here is SQL.

Node ids are `u<user_id>` and `t<track_id>` (a user and a track may share a number). Every node
has `kind` and `label` (Gephi's display name); users add `username`, tracks `title`, `genre`
and `artist_id`. An attribute the database does not know is left out, not written empty. Ids
are 64-bit (GraphML and GEXF `long`).

The graph is built in memory with NetworkX, then written by its writer: about 350 bytes per
edge (README: Export and report). Node names are made once per node and shared by its edges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.export.progress import ExportProgress

if TYPE_CHECKING:
    import networkx as nx

    from sgr_scrapy.store import Store

EDGE_BATCH = 50_000  # rows of edges or nodes read at a time


@dataclass(frozen=True, slots=True)
class NodeKind:
    table: str
    key: str
    prefix: str  # of the node id: a user and a track may share a number
    label: str  # the column shown as the node's label
    attrs: tuple[str, ...]


NODE_KINDS: dict[str, NodeKind] = {
    "user": NodeKind("users", "user_id", "u", "username", ("username",)),
    "track": NodeKind("tracks", "track_id", "t", "title", ("title", "genre", "artist_id")),
}


@dataclass(frozen=True, slots=True)
class Graph:
    name: str
    description: str
    table: str
    source: tuple[str, str]  # (column, node kind)
    target: tuple[str, str]
    directed: bool
    empty: str  # the error when the graph has no edge: what to run first
    attrs: tuple[str, ...] = ()  # edge attributes, columns of `table`
    match: tuple[tuple[str, Any], ...] = ()
    merge: str | None = None  # rows of the same two ends are one edge listing this column


GRAPHS: dict[str, Graph] = {
    "engagements": Graph(
        "engagements",
        "users and the tracks they liked or reposted (bipartite); engagement_type on each edge "
        "(like, repost or like,repost)",
        "user_engagements",
        ("user_id", "user"),
        ("track_id", "track"),
        directed=False,
        empty="no engagements in the database yet: harvest first (scrapy crawl harvest)",
        merge="engagement_type",
    ),
    "follows": Graph(
        "follows",
        "who follows whom among the users (directed, follower -> followee)",
        "user_follows",
        ("follower_id", "user"),
        ("followee_id", "user"),
        directed=True,
        empty="no follows in the database: harvest with -a lists=...,followings,followers",
    ),
    "co_like": Graph(
        "co_like",
        "tracks and their co-liked tracks from scrapy analyze (directed, track -> neighbour), "
        "with score and support",
        "related_tracks",
        ("track_id", "track"),
        ("related_track_id", "track"),
        directed=True,
        empty="no co-liked tracks in the database: run `scrapy analyze` first",
        attrs=("score", "support"),
        match=(("source", "co_like"),),
    ),
}


def _merged(value: str, seen: dict[str, str]) -> str:
    """`repost,like` as `like,repost`; one string object per distinct value."""
    out = seen.get(value)
    if out is None:
        out = seen[value] = ",".join(sorted(set(value.split(","))))
    return out


def count_edges(store: Store, graph: Graph) -> int:
    ends = (graph.source[0], graph.target[0])
    return store.count_edges(graph.table, ends, graph.match, graph.merge)


def check(store: Store, graph: Graph) -> None:
    """ExportError (one line: what to run first) if the graph would have no edge."""
    if not store.has_rows(graph.table, graph.match):
        raise ExportError(graph.empty)


def build(store: Store, graph: Graph, progress: ExportProgress) -> nx.Graph:
    """The graph from the database, inside one read snapshot; ExportError if it has no edge."""
    import networkx as nx

    out: nx.Graph = nx.DiGraph() if graph.directed else nx.Graph()
    kinds = {graph.source[1], graph.target[1]}
    names: dict[str, dict[int, str]] = {kind: {} for kind in kinds}

    def node(kind: str, key: int) -> str:
        known = names[kind]
        name = known.get(key)
        if name is None:
            name = known[key] = f"{NODE_KINDS[kind].prefix}{key}"
        return name

    (s_col, s_kind), (t_col, t_kind) = graph.source, graph.target
    seen: dict[str, str] = {}
    with store.read_snapshot():
        total = count_edges(store, graph)
        if not total:
            raise ExportError(graph.empty)
        step = progress.step(f"{graph.name}: edges", total)
        rows = store.edge_batches(
            graph.table, (s_col, t_col), graph.attrs, lambda: EDGE_BATCH, graph.match, graph.merge
        )
        for batch in rows:
            if graph.merge is not None:
                out.add_edges_from(
                    (node(s_kind, s), node(t_kind, t), {graph.merge: _merged(v, seen)})
                    for s, t, v in batch
                )
            else:
                out.add_edges_from(
                    (node(s_kind, s), node(t_kind, t), _present(graph.attrs, values))
                    for s, t, *values in batch
                )
            step.advance(len(batch))
        step.done()
        for kind in sorted(kinds):
            _add_node_attributes(store, out, kind, names[kind], progress)
    return out


def _present(keys: Iterable[str], values: Iterable[Any]) -> dict[str, Any]:
    return {k: v for k, v in zip(keys, values, strict=True) if v is not None}


def _add_node_attributes(
    store: Store, out: nx.Graph, kind: str, names: dict[int, str], progress: ExportProgress
) -> None:
    spec = NODE_KINDS[kind]
    nodes = out.nodes
    for name in names.values():
        nodes[name].update(kind=kind, label=name)
    step = progress.step(f"{kind} nodes", store.count_rows(spec.table))
    for batch in store.table_batches(spec.table, (spec.key, *spec.attrs), lambda: EDGE_BATCH):
        for key, *values in batch:
            name = names.get(key)
            if name is not None:
                attrs = nodes[name]
                attrs.update(_present(spec.attrs, values))
                label = attrs.get(spec.label)
                if label:
                    attrs["label"] = label
        step.advance(len(batch))
    step.done()
