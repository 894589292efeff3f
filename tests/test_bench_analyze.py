"""The analyze benchmark's synthetic databases and summary parsing (bench/analyze.py); no timing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("numpy")

from bench.analyze import Spec, build, database, parse_steps
from sgr_scrapy.store.schema import SCHEMA_VERSION

SMALL = Spec("test", 20_000, 600, 2_000, 200, seed=3)


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_database_is_in_the_project_schema_and_a_function_of_its_spec(tmp_path: Path) -> None:
    a = build(SMALL, tmp_path / "a.db")
    b = build(SMALL, tmp_path / "b.db")
    assert rows(a.path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert rows(a.path, "PRAGMA journal_mode") == [("wal",)]
    indexes = 'SELECT "name" FROM "sqlite_master" WHERE "tbl_name" = \'user_engagements\''
    assert ("idx_user_engagements_track",) in rows(a.path, indexes)
    likes = 'SELECT * FROM "user_engagements" ORDER BY 1, 2'
    assert rows(a.path, likes) == rows(b.path, likes)
    other = build(Spec("test", 20_000, 600, 2_000, 200, seed=4), tmp_path / "c.db")
    assert rows(other.path, likes) != rows(a.path, likes)


def test_a_database_holds_the_likes_users_tracks_and_artists_asked(tmp_path: Path) -> None:
    built = build(SMALL, tmp_path / "a.db")
    assert abs(built.likes - SMALL.likes) <= 0.01 * SMALL.likes
    assert rows(built.path, 'SELECT COUNT(*) FROM "users"') == [(SMALL.users,)]
    assert rows(built.path, 'SELECT COUNT(*) FROM "tracks"') == [(SMALL.tracks,)]
    artists = 'SELECT COUNT(DISTINCT "artist_id") FROM "tracks"'
    assert rows(built.path, artists) == [(SMALL.artists,)]
    # Artists are users, every like is a binary 'like' from the likes list (sources bit 2).
    orphans = 'SELECT COUNT(*) FROM "tracks" WHERE "artist_id" NOT IN '
    orphans += '(SELECT "user_id" FROM "users")'
    assert rows(built.path, orphans) == [(0,)]
    kinds = 'SELECT DISTINCT "engagement_type", "sources" FROM "user_engagements"'
    assert rows(built.path, kinds) == [("like", 2)]
    assert built.max_user_likes >= 10 * SMALL.likes / SMALL.users  # a heavy tail


def test_a_kept_database_is_reused(tmp_path: Path) -> None:
    first = database(SMALL, tmp_path)
    again = database(SMALL, tmp_path)
    assert not first.reused and again.reused
    assert (again.likes, again.users, again.max_track_likes) == (
        first.likes,
        first.users,
        first.max_track_likes,
    )


def test_implicit_gets_the_three_matrices_analyze_computes(tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    from bench.analyze import matrices

    built = build(SMALL, tmp_path / "a.db")
    m = matrices(built.path)
    assert m["tracks"].shape == (built.users, built.tracks)
    assert m["users"].shape == (built.tracks, built.users)
    assert m["tracks"].nnz == m["users"].nnz == built.likes
    audiences = rows(
        built.path,
        'SELECT COUNT(DISTINCT "e"."user_id" || \'-\' || "t"."artist_id") FROM "user_engagements" '
        'AS "e" JOIN "tracks" AS "t" USING ("track_id")',
    )
    assert m["artists"].nnz == audiences[0][0] and set(m["artists"].data) == {1.0}


def test_the_summary_is_parsed_for_step_seconds_leniently() -> None:
    text = (
        "ROWS WRITTEN\n  related_tracks   2,554,045  (source='co_like')\n"
        "SECONDS (2 threads; writing runs beside computing, in a thread)\n"
        "  read                  1.39 s\n  compute tracks        4.56 s\n"
        "  write related_tracks  7.43 s\n  compute total     1,013.01 s\n"
        "  total (wall)         14.37 s\nPeak memory:     595 MB\n"
    )
    assert parse_steps(text) == {
        "read": 1.39,
        "compute tracks": 4.56,
        "write related_tracks": 7.43,
        "compute total": 1013.01,
        "total (wall)": 14.37,
    }
    assert parse_steps("compute: 3.5s, write = 2 seconds\n") == {"compute": 3.5, "write": 2.0}
    assert parse_steps("nothing timed here\n") == {}
