"""Schema 5 (analyze's tables), migrated from the real old databases tests/fixtures/v1.sqlite
and v3.sqlite: the seed project's rows in user_similarity and artist_relationships are kept,
with the new columns empty, and analyze then runs on the migrated file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from sgr_scrapy.store import SCHEMA_VERSION, Store
from tests.test_analyze_world import run_analyze

FIXTURES = Path(__file__).parent / "fixtures"


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


@pytest.mark.parametrize("fixture", ["v1.sqlite", "v3.sqlite"])
def test_an_old_database_gains_analyzes_tables_and_keeps_the_seeds_rows(
    tmp_path: Path, fixture: str
) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURES / fixture, db)
    conn = sqlite3.connect(db)
    with conn:  # rows the seed project's own scripts could have written
        conn.execute("INSERT INTO user_similarity VALUES (1, 2, 0.25), (2, 1, 0.25)")
        conn.execute("INSERT INTO artist_relationships VALUES (7, 8, 'co_liked', 0.5)")
        conn.execute("INSERT INTO artist_relationships VALUES (7, 9, 'follows', 1.0)")
    conn.close()
    Store.open(db).close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert columns(conn, "user_similarity") == [
            "user_id_1", "user_id_2", "similarity", "shared", "rank",
        ]  # fmt: skip
        assert columns(conn, "artist_relationships") == [
            "artist_id_1", "artist_id_2", "relationship_type", "weight", "support", "rank",
        ]  # fmt: skip
        assert columns(conn, "analysis_runs") == [
            "run_id", "started_at", "finished_at", "parameters", "users", "tracks", "artists",
            "engagements", "rows", "seconds", "peak_memory_mb", "evaluation",
        ]  # fmt: skip
        for table, key in (("track_factors", "track_id"), ("user_factors", "user_id")):
            assert columns(conn, table) == [key, "run_id", "factors"]
        assert conn.execute("SELECT * FROM user_similarity ORDER BY 1").fetchall() == [
            (1, 2, 0.25, None, None),
            (2, 1, 0.25, None, None),
        ]
        assert conn.execute("SELECT * FROM artist_relationships ORDER BY 3").fetchall() == [
            (7, 8, "co_liked", 0.5, None, None),
            (7, 9, "follows", 1.0, None, None),
        ]
        # One B-tree a table: no rowid table beside an index of its key.
        for table in ("user_similarity", "artist_relationships"):
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()
            assert sql.rstrip().endswith("WITHOUT ROWID")
    finally:
        conn.close()


def test_analyze_runs_on_a_migrated_v3_database(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURES / "v3.sqlite", db)
    report = run_analyze(db, min_support=1)
    assert report.inputs["engagements"] > 0
    conn = sqlite3.connect(db)
    try:
        (legacy,) = conn.execute(
            "SELECT count(*) FROM related_tracks WHERE source = 'legacy'"
        ).fetchone()
        assert legacy == 2  # the v3 rows, kept
        (runs,) = conn.execute("SELECT count(*) FROM analysis_runs").fetchone()
        assert runs == 1
    finally:
        conn.close()
