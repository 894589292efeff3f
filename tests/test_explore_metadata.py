"""`scrapy explore`'s metadata and canned queries, without a server.

Every table, view and column of a new database is described (sgr_scrapy/explore/tables.py), so a
change of schema without a description fails here; every canned query runs on a new database
and, on hand-made rows, gives the answer worked out by hand.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.explore.metadata import metadata, query_metadata, table_metadata
from sgr_scrapy.explore.queries import QUERIES
from sgr_scrapy.explore.tables import TABLES
from sgr_scrapy.store import Store


def new_database(path: Path) -> sqlite3.Connection:
    Store.open(path).close()
    return sqlite3.connect(path)


def schema(conn: sqlite3.Connection) -> dict[str, set[str]]:
    names = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {n: {row[1] for row in conn.execute(f'PRAGMA table_info("{n}")')} for n in names}


def test_metadata_describes_every_table_and_column_of_a_new_database(tmp_path: Path) -> None:
    actual = schema(new_database(tmp_path / "new.db"))
    described = {name: set(table.columns) for name, table in TABLES.items()}
    undescribed = {t: sorted(cols - described.get(t, set())) for t, cols in actual.items()}
    gone = {t: sorted(cols - actual.get(t, set())) for t, cols in described.items()}
    undescribed = {t: cols for t, cols in undescribed.items() if cols}
    gone = {t: cols for t, cols in gone.items() if cols}
    assert not undescribed, f"describe in sgr_scrapy/explore/tables.py: {undescribed}"
    assert not gone, f"described in sgr_scrapy/explore/tables.py, not in the schema: {gone}"


@pytest.mark.parametrize("name", TABLES)
def test_each_table_says_what_it_is_where_it_comes_from_and_what_each_column_holds(
    name: str,
) -> None:
    table = TABLES[name]
    assert table.description.strip() and table.source.strip()
    assert all(text.strip() for text in table.columns.values())
    assert set(table.facets) <= set(table.columns)
    assert set(table.units) <= set(table.columns)
    assert table_metadata(table)["columns"] == table.columns


def test_the_researchers_facets_and_units_are_declared() -> None:
    assert "genre" in TABLES["tracks"].facets
    assert "engagement_type" in TABLES["user_engagements"].facets
    assert "country" in TABLES["users"].facets
    assert TABLES["tracks"].units == {"duration_ms": "ms"}


def test_metadata_holds_every_table_and_canned_query(tmp_path: Path) -> None:
    shown = metadata("harvest", tmp_path / "harvest.db")["databases"]["harvest"]
    assert shown["tables"] == {name: table_metadata(t) for name, t in TABLES.items()}
    assert shown["queries"] == {name: query_metadata(q) for name, q in QUERIES.items()}


def test_readme_lists_every_canned_query_with_its_parameters() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Explore with Datasette") :]
    for name, query in QUERIES.items():
        params = ", ".join(f"`{p}`" for p in query.params) or "none"
        assert re.search(rf"^\| `{name}` \| .* \| {re.escape(params)} \|$", section, re.M), name


def named_parameters(sql: str) -> set[str]:
    return set(re.findall(r"(?<!:):(\w+)", sql))


@pytest.mark.parametrize("name", QUERIES)
@pytest.mark.parametrize("value", ["", "2246000001", "someone", "https://soundcloud.com/a/b"])
def test_each_canned_query_runs_on_a_new_database(tmp_path: Path, name: str, value: str) -> None:
    query = QUERIES[name]
    assert named_parameters(query.sql) == set(query.params)
    conn = new_database(tmp_path / "new.db")
    assert conn.execute(query.sql, dict.fromkeys(query.params, value)).fetchall() == []


# A seed (track 1 by artist 100) liked by alice (10) and bob (11); carol (12) likes only track 3.
ROWS: dict[str, list[tuple[Any, ...]]] = {
    "tracks": [
        (1, "seed", 100, "House"),
        (2, "two", 200, "House"),
        (3, "three", 200, "Techno"),
        (4, "four", 300, " "),
    ],
    "users": [
        (10, "alice", 5),
        (11, "bob", 9),
        (12, "carol", 1),
        (100, "a100", None),
        (200, "a200", None),
        (300, "a300", None),
    ],
    "user_engagements": [
        (10, 1, "like"),
        (10, 2, "like"),
        (10, 3, "like"),
        (11, 1, "like"),
        (11, 1, "repost"),
        (11, 2, "like"),
        (11, 4, "like"),
        (11, 3, "repost"),
        (12, 3, "like"),
    ],
    "harvest_seeds": [("https://soundcloud.com/a100/seed", 1)],
    "related_tracks": [
        (1, 2, "co_like", 1, 1.0, 2),
        (1, 3, "co_like", 2, 0.5, 1),
        (1, 4, "api", 1, None, None),
        (2, 1, "co_like", 1, 1.0, 2),
    ],
    "user_similarity": [(11, 10, 0.75, 2, 1), (11, 12, 0.25, 1, 2), (10, 11, 0.75, 2, 1)],
    "user_follows": [(11, 10)],
    "artist_relationships": [
        (100, 200, "co_liked", 0.9, 2, 1),
        (100, 300, "co_liked", 0.5, 1, 2),
        (100, 999, "other", 1.0, 5, 1),
    ],
    "harvest_lists": [
        ("favoriters:1", "favoriters", 1, "done", 1, 2),
        ("likes:10", "likes", 10, "done", 1, 3),
        ("likes:11", "likes", 11, "failed", 1, 1),
        ("likes:12", "likes", 12, "capped", 1, 1),
    ],
    "harvest_failed_pages": [("likes:11", "http://api/users/11/likes?cursor=x")],
}
COLUMNS = {
    "tracks": ("track_id", "title", "artist_id", "genre"),
    "users": ("user_id", "username", "public_favorites_count"),
    "user_engagements": ("user_id", "track_id", "engagement_type"),
    "harvest_seeds": ("url", "track_id"),
    "related_tracks": ("track_id", "related_track_id", "source", "rank", "score", "support"),
    "user_similarity": ("user_id_1", "user_id_2", "similarity", "shared", "rank"),
    "user_follows": ("follower_id", "followee_id"),
    "artist_relationships": (
        "artist_id_1",
        "artist_id_2",
        "relationship_type",
        "weight",
        "support",
        "rank",
    ),
    "harvest_lists": ("list_key", "kind", "owner_id", "status", "pages", "items"),
    "harvest_failed_pages": ("list_key", "url"),
}


@pytest.fixture
def small(tmp_path: Path) -> sqlite3.Connection:
    conn = new_database(tmp_path / "small.db")
    for table, rows in ROWS.items():
        names = COLUMNS[table]
        marks = ", ".join("?" for _ in names)
        conn.executemany(f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({marks})', rows)
    conn.commit()
    return conn


def run(conn: sqlite3.Connection, name: str, *columns: str, **params: str) -> list[tuple[Any, ...]]:
    query = QUERIES[name]
    cursor = conn.execute(query.sql, {p: params.get(p, "") for p in query.params})
    names = [d[0] for d in cursor.description]
    return [tuple(dict(zip(names, row, strict=True))[c] for c in columns) for row in cursor]


@pytest.mark.parametrize("seed", ["", "1", "https://soundcloud.com/a100/seed"])
def test_top_co_liked_lists_the_seeds_co_like_rows_by_rank(small, seed: str) -> None:
    got = run(small, "top_co_liked", "rank", "track_id", "title", "score", "support", seed=seed)
    assert got == [(1, 2, "two", 1.0, 2), (2, 3, "three", 0.5, 1)]


def test_top_co_liked_of_another_track_leaves_api_rows_out(small) -> None:
    assert run(small, "top_co_liked", "rank", "track_id", seed="2") == [(1, 1)]
    assert run(small, "top_co_liked", "rank", "track_id", seed="4") == []


def test_user_neighbourhood_defaults_to_the_seeds_fan_with_the_most_likes(small) -> None:
    columns = ("neighbour_of", "rank", "user_id", "username", "similarity", "shared_tracks")
    columns += ("follows", "followed_by")
    want = [(11, 1, 10, "alice", 0.75, 2, 1, 0), (11, 2, 12, "carol", 0.25, 1, 0, 0)]
    assert run(small, "user_neighbourhood", *columns) == want
    assert run(small, "user_neighbourhood", *columns, user="11") == want
    by_name = run(small, "user_neighbourhood", *columns, user="alice")
    assert by_name == [(10, 1, 11, "bob", 0.75, 2, 0, 1)]


def test_artist_network_defaults_to_the_seeds_artist_and_keeps_co_liked_rows(small) -> None:
    columns = ("network_of", "rank", "artist_id", "username", "weight", "support")
    columns += ("tracks_harvested",)
    want = [(100, 1, 200, "a200", 0.9, 2, 2), (100, 2, 300, "a300", 0.5, 1, 1)]
    assert run(small, "artist_network", *columns) == want
    assert run(small, "artist_network", *columns, artist="a100") == want
    assert run(small, "artist_network", *columns, artist="200") == []


def test_seed_audience_genres_counts_the_audiences_other_likes_by_genre(small) -> None:
    columns = ("genre", "likes", "users", "percent_of_likes", "percent_of_audience")
    # alice and bob (carol never engaged the seed) liked 2 and 3, 2 and 4; reposts don't count.
    want = [("House", 2, 2, 50.0, 100.0), ("(none)", 1, 1, 25.0, 50.0)]
    want += [("Techno", 1, 1, 25.0, 50.0)]
    assert run(small, "seed_audience_genres", *columns) == want
    # Track 3's audience: alice, bob (a repost) and carol, whose other likes are 1, 2, 1, 2, 4.
    assert run(small, "seed_audience_genres", *columns, seed="3") == [
        ("House", 4, 2, 80.0, 66.7),
        ("(none)", 1, 1, 20.0, 33.3),
    ]


def test_harvest_completeness_counts_lists_by_family_and_status(small) -> None:
    columns = ("family", "lists", "percent_finished", "done", "capped", "pending", "failed")
    columns += ("incomplete", "pages", "items", "failed_pages")
    assert run(small, "harvest_completeness", *columns) == [
        ("favoriters", 1, 100.0, 1, 0, 0, 0, 0, 1, 2, 0),
        ("likes", 3, 66.7, 1, 1, 0, 1, 0, 3, 5, 1),
        ("(all)", 4, 75.0, 2, 1, 0, 1, 0, 4, 7, 1),
    ]
