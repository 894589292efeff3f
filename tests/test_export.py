"""`scrapy export`: a real harvest (every list family, two hops) exported in every format.

Parquet keeps types (int64 ids, UTC timestamps, `tags` a list) and every row; CSV every row;
each graph, read back with NetworkX, has the database's nodes and edges; each mistake a user
can make is one line and exit status 2. The harvest runs once per session
(`harvested_database`); its file is only read.
"""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sgr_scrapy.export import FORMATS, GRAPHS, NODE_KINDS, ExportJob
from sgr_scrapy.export import tables as export_tables
from sgr_scrapy.export.formats import GRAPH, TABLES
from sgr_scrapy.export.progress import ExportProgress
from sgr_scrapy.families import FAMILIES
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.store import Store
from sgr_scrapy.store.export_reads import ExportReads
from sgr_scrapy.store.report_reads import ReportReads
from tests.helpers import ROOT, run_harvest

# Small, with every family's lists several pages long somewhere, and two hops.
WORLD = ["--users", "400", "--tracks", "2500", "--likers", "60", "--reposters", "25"]
WORLD += ["--likes-mean", "15", "--likes-max", "420", "--reposts-mean", "6"]
WORLD += ["--followings-mean", "30", "--playlists-mean", "3", "--playlist-tracks-mean", "20"]
HARVEST = ("-a", "lists=" + ",".join(FAMILIES), "-a", "depth=2", "-a", "expand=5")
TIMESTAMP = pa.timestamp("ms", tz="UTC")
ERROR_LINE = re.compile(r"^error: [^\n]+\n$")


def harvested_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's harvest (made on first use): read it, never write it."""
    root = tmp_path_factory.getbasetemp() / "export-harvest"
    db = root / "tracks.db"
    if not (root / "done").exists():
        root.mkdir(exist_ok=True)
        # The `simulator` fixture is per test; this harvest is shared by two modules.
        with SimulatorProcess(*WORLD) as sim:
            harvest = run_harvest(sim, db, *HARVEST)
        assert harvest.returncode == 0, harvest.output[-3000:]
        (root / "done").touch()
    return db


def analyzed_copy(db: Path, directory: Path) -> Path:
    """A copy of `db` with rows shaped as `scrapy analyze` writes them: each seed's co-liked
    tracks (related_tracks, source 'co_like', score and support) and the seed artist's
    co-liked artists (artist_relationships, 'co_liked'), counted from the likes."""
    copy = directory / "analyzed.db"
    with Store.open(db, lock=False) as store:  # a consistent copy, -wal included
        store.conn.execute("VACUUM INTO ?", (str(copy),))
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute(
            """INSERT INTO related_tracks (track_id, related_track_id, source, rank, score, support)
            SELECT a.track_id, b.track_id, 'co_like', NULL, count(*) / 100.0, count(*)
            FROM user_engagements a JOIN user_engagements b
              ON a.user_id = b.user_id AND a.track_id != b.track_id
            WHERE a.engagement_type = 'like' AND b.engagement_type = 'like'
            GROUP BY a.track_id, b.track_id HAVING count(*) >= 3"""
        )
        conn.execute(
            """INSERT INTO artist_relationships (artist_id_1, artist_id_2, relationship_type,
                weight, support)
            SELECT ta.artist_id, tb.artist_id, 'co_liked', max(r.score), sum(r.support)
            FROM related_tracks r JOIN tracks ta ON ta.track_id = r.track_id
            JOIN tracks tb ON tb.track_id = r.related_track_id
            WHERE r.source = 'co_like' AND ta.artist_id != tb.artist_id
            GROUP BY ta.artist_id, tb.artist_id"""
        )
    conn.close()
    return copy


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harvested_database(tmp_path_factory)


@pytest.fixture(scope="module")
def analyzed(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_copy(db, tmp_path_factory.mktemp("analyzed"))


def scrapy(db: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`scrapy <args>` in the project, with SGR_DB_PATH=db, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings", PYTHONPATH=str(ROOT))
    env["SGR_DB_PATH"] = str(db)
    return subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def db_counts(db: Path) -> dict[str, int]:
    with Store.open(db, lock=False) as store:
        return store.table_counts()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- tables -----------------------------------------------------------------------------------


def test_parquet_keeps_every_row_and_the_types(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    proc = scrapy(db, tmp_path, "export", "--format", "parquet", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no bar, and nothing to warn about
    counts = db_counts(db)
    assert {p.name for p in out.iterdir()} == {f"{t}.parquet" for t in counts}
    for table, n in counts.items():
        assert pq.ParquetFile(out / f"{table}.parquet").metadata.num_rows == n, table
    assert counts["user_engagements"] and counts["user_follows"] and counts["playlist_tracks"]
    assert f"exported {len(counts)} tables ({sum(counts.values()):,} rows)" in proc.stdout

    tracks = pq.read_table(out / "tracks.parquet")
    types = {f.name: f.type for f in tracks.schema}
    assert types["track_id"] == types["artist_id"] == types["like_count"] == pa.int64()
    assert types["created_at"] == types["first_seen"] == types["last_seen"] == TIMESTAMP
    assert types["tags"] == pa.list_(pa.string())
    assert types["raw_json"] == types["machine_tags"] == types["title"] == pa.string()
    engagements = pq.read_table(out / "user_engagements.parquet").schema
    assert engagements.field("user_id").type == pa.int64()
    assert engagements.field("first_seen").type == TIMESTAMP
    assert pq.read_table(out / "harvest_runs.parquet").schema.field("started_at").type == TIMESTAMP

    # The values themselves: ids past 2**31, tags, timestamps, JSON text, as stored.
    stored = {
        row[0]: row[1:]
        for row in query(db, "SELECT track_id, tags, created_at, first_seen, raw_json FROM tracks")
    }
    assert max(stored) > 2**31
    with_tags = 0
    for row in tracks.select(
        ["track_id", "tags", "created_at", "first_seen", "raw_json"]
    ).to_pylist():
        tags, created, first_seen, raw = stored[row["track_id"]]
        assert row["tags"] == json.loads(tags)
        with_tags += bool(row["tags"])
        for got, text in ((row["created_at"], created), (row["first_seen"], first_seen)):
            assert (got is None) == (text is None)
            if text is not None:
                assert (
                    got.isoformat(timespec="milliseconds").replace("+00:00", "Z")[:19] == text[:19]
                )
        assert row["raw_json"] == raw
    assert with_tags


def test_csv_has_a_header_and_every_row(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    proc = scrapy(db, tmp_path, "export", "--format", "csv", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    counts = db_counts(db)
    for table, n in counts.items():
        with open(out / f"{table}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        columns = [c[1] for c in query(db, f'PRAGMA table_info("{table}")')]
        assert rows[0] == columns, table
        assert len(rows) - 1 == n, table
    with open(out / "tracks.csv", newline="", encoding="utf-8") as f:
        tags = {int(r["track_id"]): r["tags"] for r in csv.DictReader(f)}
    stored = dict(query(db, "SELECT track_id, tags FROM tracks"))
    assert {k: json.loads(v) for k, v in tags.items()} == {
        k: json.loads(v) for k, v in stored.items()
    }


def test_tables_chooses_the_tables_in_either_spelling(db: Path, tmp_path: Path) -> None:
    for args, name in ((["tracks", "users"], "a"), (["tracks,users"], "b")):
        out = tmp_path / name
        proc = scrapy(
            db, tmp_path, "export", "--format", "parquet", "-o", str(out), "--tables", *args
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in out.iterdir()) == ["tracks.parquet", "users.parquet"]


def test_tables_are_streamed_in_batches_bounded_in_bytes(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_tables, "BATCH_ROWS_FIRST", 100)
    monkeypatch.setattr(export_tables, "BATCH_ROWS_MIN", 10)
    # ~50 bytes a row of user_engagements in Arrow: 20 kB make batches of ~400 rows.
    monkeypatch.setattr(export_tables, "BATCH_BYTES", 20_000)
    job = ExportJob.parse("parquet", str(tmp_path / "out"), ["user_engagements"], None)
    job.run(db, ExportProgress())
    meta = pq.ParquetFile(tmp_path / "out" / "user_engagements.parquet").metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(groups) == db_counts(db)["user_engagements"]
    assert len(groups) > 10 and max(groups) < 1000  # one row group per batch


def test_batch_size_follows_the_width_of_the_rows() -> None:
    size = export_tables._BatchSize()
    size.measured(1000, 1000 * 40)  # ids and a short text
    assert size() == export_tables.BATCH_ROWS_MAX
    size.measured(1000, 1000 * 200_000)  # 200 kB of raw_json a row
    assert size() == export_tables.BATCH_ROWS_MIN


def test_values_of_the_wrong_type_are_left_empty_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "odd.db"
    Store.open(db).close()
    conn = sqlite3.connect(db)
    with conn:  # SQLite stores what it is given: a word in an INTEGER column, say
        conn.execute(
            "INSERT INTO tracks (track_id, title, duration_ms, created_at, tags) VALUES "
            "(1, 'ok', 1000, '2024-05-01T12:00:00Z', '[\"a\"]'), "
            "(2, 42, 'long', 'yesterday', 'not json'), "
            "(3, 'naive', 3000, '2024-05-01 12:00:00', '[1, \"b\"]')"
        )
    conn.close()
    proc = scrapy(db, tmp_path, "export", "--format", "parquet", "-o", "out", "--tables", "tracks")
    assert proc.returncode == 0, proc.stderr
    for column in ("duration_ms", "created_at", "tags"):
        assert f"warning: 1 value(s) of tracks.{column} could not be read" in proc.stderr
    rows = {
        r["track_id"]: r for r in pq.read_table(tmp_path / "out" / "tracks.parquet").to_pylist()
    }
    assert rows[2]["title"] == "42" and rows[2]["duration_ms"] is None
    assert rows[2]["created_at"] is None and rows[2]["tags"] is None
    assert rows[3]["created_at"].isoformat() == "2024-05-01T12:00:00+00:00"  # naive: UTC
    assert rows[3]["tags"] == ["1", "b"]


# -- graphs -----------------------------------------------------------------------------------


def graph_counts(db: Path, name: str) -> tuple[int, int]:
    """(nodes, edges) of a graph, counted in the database."""
    spec = GRAPHS[name]
    (s, s_kind), (t, t_kind) = spec.source, spec.target
    where = " AND ".join(f"{c} = '{v}'" for c, v in spec.match) or "1"
    rows = f"SELECT {s}, {t} FROM {spec.table} WHERE {where}"
    edges = query(db, f"SELECT count(*) FROM (SELECT DISTINCT * FROM ({rows}))")[0][0]
    if s_kind == t_kind:
        nodes = query(
            db, f"SELECT count(*) FROM (SELECT {s} FROM ({rows}) UNION SELECT {t} FROM ({rows}))"
        )
    else:
        nodes = query(
            db,
            f"SELECT (SELECT count(DISTINCT {s}) FROM ({rows})) "
            f"+ (SELECT count(DISTINCT {t}) FROM ({rows}))",
        )
    return nodes[0][0], edges


def read_graph(path: Path, fmt: str) -> nx.Graph:
    return nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if FORMATS[f].writes == GRAPH])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_read_back_has_the_databases_nodes_and_edges(
    db: Path, analyzed: Path, tmp_path: Path, name: str, fmt: str
) -> None:
    source = analyzed if name == "co_like" else db
    out = tmp_path / f"{name}.{fmt}"
    args = ["export", "--format", fmt, "-o", str(out)] + (
        [] if name == "engagements" else ["--graph", name]
    )
    proc = scrapy(source, tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    graph = read_graph(out, fmt)
    nodes, edges = graph_counts(source, name)
    assert edges > 0
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (nodes, edges)
    assert graph.is_directed() == GRAPHS[name].directed
    assert f"({nodes:,} nodes, {edges:,} edges" in proc.stdout
    kinds = {kind: spec.prefix for kind, spec in NODE_KINDS.items()}
    for node, attrs in graph.nodes(data=True):
        assert node.startswith(kinds[attrs["kind"]]), (node, attrs)
        assert attrs["label"]
    if name == "engagements":
        users = [a for _, a in graph.nodes(data=True) if a["kind"] == "user"]
        tracks = [a for _, a in graph.nodes(data=True) if a["kind"] == "track"]
        assert users and tracks and all("username" in a for a in users)
        assert all("title" in a and "artist_id" in a for a in tracks)
        assert any(a.get("genre") for a in tracks)
        assert max(int(a["artist_id"]) for a in tracks) > 2**31
        types = {a["engagement_type"] for _, _, a in graph.edges(data=True)}
        assert types <= {"like", "repost", "like,repost"} and {"like", "repost"} <= types
        both = query(
            db,
            "SELECT count(*) FROM (SELECT 1 FROM user_engagements GROUP BY user_id, track_id "
            "HAVING count(*) = 2)",
        )[0][0]
        assert sum(t == "like,repost" for _, _, t in graph.edges(data="engagement_type")) == both
    if name == "co_like":
        seed_row = query(
            analyzed,
            "SELECT track_id, related_track_id, score, support FROM related_tracks "
            "WHERE source = 'co_like' ORDER BY score DESC LIMIT 1",
        )[0]
        attrs = graph.edges[f"t{seed_row[0]}", f"t{seed_row[1]}"]
        assert float(attrs["score"]) == pytest.approx(seed_row[2])
        assert int(attrs["support"]) == seed_row[3]


def test_graphml_declares_64_bit_ids(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.graphml"
    assert scrapy(db, tmp_path, "export", "--format", "graphml", "-o", str(out)).returncode == 0
    text = out.read_text(encoding="utf-8")
    assert re.search(r'<key [^>]*attr\.name="artist_id"[^>]*attr\.type="long"', text) or re.search(
        r'<key [^>]*attr\.type="long"[^>]*attr\.name="artist_id"', text
    )


# -- one-line errors -----------------------------------------------------------------------------


ERRORS = {
    "unknown format": (["--format", "xlsx", "-o", "x"], "unknown format 'xlsx'; choose parquet"),
    "no format": (["-o", "x"], "choose a format: --format parquet, csv, graphml or gexf"),
    "no -o": (["--format", "parquet"], "say where to write: -o PATH"),
    "graph with a table format": (
        ["--format", "csv", "-o", "x", "--graph", "follows"],
        "--graph is for graphml or gexf; csv writes tables",
    ),
    "tables with a graph format": (
        ["--format", "gexf", "-o", "x.gexf", "--tables", "tracks"],
        "--tables is for parquet or csv; gexf writes one graph",
    ),
    "unknown graph": (
        ["--format", "graphml", "-o", "x", "--graph", "likes"],
        "unknown graph 'likes'",
    ),
    "unknown table": (
        ["--format", "parquet", "-o", "x", "--tables", "trakcs"],
        "no table 'trakcs'",
    ),
    "a file where a directory goes": (["--format", "parquet", "-o", "afile"], "afile is a file"),
    "unwritable directory": (["--format", "csv", "-o", "afile/sub"], "cannot write to afile/sub"),
    "unwritable file": (
        ["--format", "graphml", "-o", "afile/g.graphml"],
        "cannot write afile/g.graphml",
    ),
    "a directory where a file goes": (["--format", "gexf", "-o", "adir"], "adir is a folder"),
    "co_like before analyze": (
        ["--format", "graphml", "-o", "c.graphml", "--graph", "co_like"],
        "no co-liked tracks in the database: run `scrapy analyze` first",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_a_users_mistake_is_one_line_and_writes_nothing(
    db: Path, tmp_path: Path, case: str
) -> None:
    args, message = ERRORS[case]
    (tmp_path / "afile").write_text("not a directory")
    (tmp_path / "adir").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = scrapy(db, tmp_path, "export", *args)
    assert proc.returncode == 2, proc.stderr
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_missing_database_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "tracks.db"
    proc = scrapy(missing, tmp_path, "export", "--format", "parquet", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert f"no database at {missing}: harvest first" in proc.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_a_database_locked_by_a_writer_is_one_line(db: Path, tmp_path: Path) -> None:
    """WAL lets a reader read beside the harvest (next test); a file in rollback-journal mode
    held by a writer cannot be read: one line, after SQLite's busy timeout."""
    locked = tmp_path / "locked.db"
    with Store.open(db, lock=False) as store:  # a whole copy: the -wal may hold rows
        store.conn.execute("VACUUM INTO ?", (str(locked),))
    writer = sqlite3.connect(locked, isolation_level=None)
    writer.execute("PRAGMA journal_mode=DELETE")
    writer.execute("BEGIN EXCLUSIVE")
    try:
        proc = scrapy(locked, tmp_path, "export", "--format", "csv", "-o", str(tmp_path / "out"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert proc.returncode == 2
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert "database is locked; another process is writing to it" in proc.stderr


def test_export_reads_the_last_commit_beside_a_harvest_that_holds_the_database(
    db: Path, tmp_path: Path
) -> None:
    busy = tmp_path / "busy.db"
    with Store.open(db, lock=False) as store:
        store.conn.execute("VACUUM INTO ?", (str(busy),))
    before = db_counts(busy)["tracks"]
    harvest = Store.open(busy)  # the harvest's lock, and a run begun and not ended
    try:
        harvest.begin_run()
        harvest.conn.execute("BEGIN IMMEDIATE")
        harvest.conn.execute("INSERT INTO tracks (track_id, title) VALUES (1, 'uncommitted')")
        proc = scrapy(
            busy, tmp_path, "export", "--format", "parquet", "-o", "out", "--tables", "tracks"
        )
    finally:
        harvest.conn.execute("ROLLBACK")
        harvest.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("warning: 1 harvest run(s) of ")
    assert "exporting what was committed when the export began" in proc.stderr
    assert pq.ParquetFile(tmp_path / "out" / "tracks.parquet").metadata.num_rows == before


# -- the bar, the help, the declarations --------------------------------------------------------


def test_the_bar_shows_on_a_terminal(db: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings", PYTHONPATH=str(ROOT), TERM="xterm")
    env.update(SGR_DB_PATH=str(db), COLUMNS="120")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scrapy.cmdline", "export", "--format", "csv", "-o", "out"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    total = sum(db_counts(db).values())
    text = seen.decode("utf-8", "replace")
    assert "csv" in text and f"{total}/{total}" in text


@pytest.mark.parametrize("command", ["export", "report"])
def test_help_lists_every_format_and_graph_under_its_own_heading(
    tmp_path: Path, command: str
) -> None:
    proc = scrapy(tmp_path / "none.db", tmp_path, command, "--help")
    assert proc.returncode == 0
    # Scrapy's formatter makes a heading of any line that ends in a colon: none in our help.
    headings = re.findall(r"^(\S.*)\n[=-]+$", proc.stdout, re.MULTILINE)
    assert headings == ["Usage", "Options", "Global Options", command.capitalize()]
    if command == "export":
        flat = " ".join(proc.stdout.split())
        for name in [*FORMATS, *GRAPHS]:
            assert f"{name} = " in flat


def test_readme_documents_every_format_graph_and_the_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Export and report", 1)[1].split("\n## ", 1)[0]
    for name in [*FORMATS, *GRAPHS]:
        assert f"`{name}`" in section, name
    for command in ("scrapy export --format parquet", "scrapy report -o report.html"):
        assert command in section


def test_every_table_format_writes_its_suffix_and_every_graph_format_one_file() -> None:
    assert {f.writes for f in FORMATS.values()} == {TABLES, GRAPH}
    for fmt in FORMATS.values():
        assert fmt.suffix == f".{fmt.name}"
        assert (fmt.open_table is not None) == (fmt.writes == TABLES)
        assert (fmt.write_graph is not None) == (fmt.writes == GRAPH)


@pytest.mark.parametrize("mixin", [ExportReads, ReportReads])
def test_no_other_store_mixin_hides_an_export_read(mixin: type) -> None:
    names = [n for n in vars(mixin) if not n.startswith("__")]
    assert names
    hidden = [n for n in names if getattr(Store, n) is not getattr(mixin, n)]
    assert not hidden
