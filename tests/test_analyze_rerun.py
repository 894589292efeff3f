"""Reruns replace analyze's rows in one transaction, and never touch anyone else's.

- a rerun leaves exactly its own rows (none of the previous run's);
- the API's related tracks, legacy rows and other relationship types are kept byte for byte;
- while a run writes, another connection still reads the previous run's rows;
- a run that fails half-way (after one table was rewritten) leaves every table as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sgr_scrapy.store import Store, StoreError
from tests.test_analyze_world import (
    TABLES,
    assert_matches,
    random_world,
    reference,
    run_analyze,
    stored,
)

OTHERS = {
    "related_tracks": "SELECT * FROM related_tracks WHERE source != 'co_like' ORDER BY 1, 2, 3",
    "artist_relationships": "SELECT * FROM artist_relationships "
    "WHERE relationship_type != 'co_liked' ORDER BY 1, 2, 3",
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A random world, with rows of other origins in the tables analyze writes."""
    path = random_world(7).write(tmp_path / "world.db")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO related_tracks (track_id, related_track_id, source, rank, first_seen, "
            "last_seen) VALUES (?, ?, 'api', ?, '2025-01-01T00:00:00.000Z', "
            "'2025-01-02T00:00:00.000Z')",
            [(1000, 1001, 1), (1000, 1002, 2), (1003, 1000, 1)],
        )
        conn.execute(
            "INSERT INTO related_tracks (track_id, related_track_id, source, score) "
            "VALUES (1001, 1000, 'legacy', 0.5)"
        )
        conn.execute(
            "INSERT INTO artist_relationships (artist_id_1, artist_id_2, relationship_type, "
            "weight) VALUES (5000, 5001, 'follows', 1.0)"
        )
    conn.close()
    return path


def others(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {table: conn.execute(sql).fetchall() for table, sql in OTHERS.items()}
    finally:
        conn.close()


def test_a_rerun_replaces_every_row_and_keeps_the_others(db: Path) -> None:
    kept = others(db)
    assert all(kept.values())
    run_analyze(db, top_k=5, min_support=1)
    run_analyze(db, top_k=2, min_support=2)
    world = random_world(7)
    for kind in TABLES:
        assert_matches(stored(db, kind), reference(world, kind, 2, 2))
    assert others(db) == kept
    with Store.open(db, lock=False) as store:
        runs = store.analysis_runs()
    assert [r["parameters"]["top_k"] for r in runs] == [5, 2]
    assert runs[1]["rows"]["related_tracks"] == len(reference(world, "tracks", 2, 2))


def test_readers_see_the_previous_run_until_the_commit(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_analyze(db, top_k=5, min_support=1)
    before = {kind: stored(db, kind) for kind in TABLES}
    seen: list[dict[str, object]] = []
    finish = Store.finish_relation

    def finish_and_look(self: Store, kind: str) -> None:
        finish(self, kind)  # this kind's new rows are written, not committed
        seen.append({k: stored(db, k) for k in TABLES})  # another connection reads

    monkeypatch.setattr(Store, "finish_relation", finish_and_look)
    run_analyze(db, top_k=1, min_support=1)
    assert seen == [before] * 3
    assert stored(db, "tracks") != before["tracks"]


def test_a_run_failing_half_way_leaves_every_table_as_it_was(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_analyze(db, top_k=5, min_support=1)
    before = {kind: stored(db, kind) for kind in TABLES}
    kept = others(db)
    write = Store.write_relation

    def fail_on_users(self: Store, kind: str, *args: object) -> int:
        if kind == "users":  # related_tracks has been deleted and rewritten by now
            raise StoreError("cannot write to world.db: database or disk is full; free space")
        return write(self, kind, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "write_relation", fail_on_users)
    with pytest.raises(StoreError, match="disk is full"):
        run_analyze(db, top_k=1, min_support=1)
    assert {kind: stored(db, kind) for kind in TABLES} == before
    assert others(db) == kept
    with Store.open(db, lock=False) as store:
        assert len(store.analysis_runs()) == 1
        # The index set aside for the bulk write is back.
        (index,) = store.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'idx_related_tracks_related'"
        ).fetchone()
    assert index == 1


def test_an_interrupted_run_leaves_every_table_as_it_was(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sgr_scrapy.analysis import knn

    run_analyze(db, top_k=5, min_support=1)
    before = {kind: stored(db, kind) for kind in TABLES}
    top_k = knn.top_k
    calls = []

    def interrupted(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # users: tracks are written
            raise KeyboardInterrupt
        return top_k(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(knn, "top_k", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_analyze(db, top_k=1, min_support=1)
    assert {kind: stored(db, kind) for kind in TABLES} == before
