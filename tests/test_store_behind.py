"""Committing behind (Store.commit_behind, kinds.py's staged kinds): what the harvest relies on.

The pipeline hands each batch to `Store.write(pages, behind=True)`: rows of the kinds merged in
Python are upserted at once, the others staged in temporary tables and upserted with the COMMIT
on a worker thread. Whatever the thread, the database must hold exactly what a plain write
gives, a batch must stay all or nothing, and anything that reads the store must see it whole.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from sgr_scrapy.items import FROM_TRACK_LIST, FROM_USER_LIST, Engagement, ListProgress, Page
from sgr_scrapy.store import ROW_KINDS, Store, StoreError, merge_track_json
from tests.test_store import rows, track, user
from tests.test_store_rows import SAMPLES


def other_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def page(*rows_: object, key: str = "likes:1", pages: int = 1) -> Page:
    progress = ListProgress(key, "likes", 1, pages=pages, items=len(rows_))
    return Page(rows=list(rows_), progress=progress)


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "behind.db", tmp_path / "plain.db"


def test_every_row_kind_ends_the_same_written_behind_or_not(paths: tuple[Path, Path]) -> None:
    behind_db, plain_db = paths
    batches = [
        [page(*SAMPLES.values())],
        # Again, richer and poorer: every merge rule runs, on the commit thread for staged kinds.
        [page(track(next(iter(SAMPLES.values())).track_id, title=None, genre="Jazz"), pages=2)],
    ]
    with Store.open(behind_db) as behind, Store.open(plain_db) as plain:
        for pages in batches:
            assert behind.write(pages, behind=True) == plain.write(pages)
        behind.sync()
        for kind in ROW_KINDS.values():
            # Every column but first_seen and last_seen (they differ by the clock).
            columns = ", ".join(f'"{c}"' for c in kind.columns)
            order = ", ".join(f'"{c}"' for c in kind.key)
            sql = f'SELECT {columns} FROM "{kind.table}" ORDER BY {order}'
            got = rows(behind, sql)
            assert got == rows(plain, sql), kind.table
            assert got, kind.table
        lists = 'SELECT "list_key", "status", "next_url", "pages", "items" FROM "harvest_lists"'
        assert rows(behind, lists) == rows(plain, lists) == [("likes:1", "pending", None, 2, 1)]


def test_a_batch_is_invisible_until_its_commit_holds_and_whole_after(tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"
    with Store.open(db) as store:
        store.write([page(track(1, raw_json='{"a": 1}'))])
        release = threading.Event()

        def slow_merge(old: str, new: str) -> str:
            release.wait(10)  # the commit thread stops here, the transaction open
            return merge_track_json(old, new)

        store.conn.create_function("sgr_merge_track", 2, slow_merge)
        engagements = [Engagement(1, t, "like", FROM_USER_LIST) for t in range(1, 1001)]
        batch = page(user(9), track(1, raw_json='{"b": 2}'), *engagements, pages=2)
        store.write([batch], behind=True)
        reader = other_connection(db)
        try:
            # Nothing of the batch yet, not even the rows written before the staged ones.
            assert reader.execute('SELECT count(*) FROM "users"').fetchone() == (0,)
            assert reader.execute('SELECT "pages" FROM "harvest_lists"').fetchone() == (1,)
        finally:
            release.set()
        assert rows(store, 'SELECT count(*) FROM "user_engagements"') == [(1000,)]
        assert reader.execute('SELECT count(*) FROM "users"').fetchone() == (1,)
        assert reader.execute('SELECT "pages" FROM "harvest_lists"').fetchone() == (2,)
        reader.close()


def test_later_rows_of_one_batch_merge_over_earlier_ones_in_order(tmp_path: Path) -> None:
    with Store.open(tmp_path / "tracks.db") as store:
        store.write(
            [
                page(Engagement(1, 2, "like", FROM_USER_LIST)),
                page(Engagement(1, 2, "like", FROM_TRACK_LIST), key="favoriters:2"),
                page(
                    track(5, raw_json='{"a": 1}', genre="House"),
                    track(5, raw_json='{"b": 2}', genre=None, title="Later"),
                    key="likes:5",
                ),
            ],
            behind=True,
        )
        assert rows(store, 'SELECT "sources" FROM "user_engagements"') == [
            (FROM_USER_LIST | FROM_TRACK_LIST,)
        ]
        ((genre, title, raw),) = rows(store, 'SELECT "genre", "title", "raw_json" FROM "tracks"')
        assert (genre, title) == ("House", "Later")
        assert raw == '{"a":1,"b":2}'


def test_a_commit_that_fails_behind_is_one_line_at_the_next_use_and_rolled_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tracks.db"
    with Store.open(db) as store:
        store.write([page(Engagement(1, 1, "like", FROM_USER_LIST))])
        (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        engagements = [Engagement(1, t, "like", FROM_USER_LIST) for t in range(2, 20_000)]
        store.write([page(*engagements, pages=2)], behind=True)  # staged: fails behind
        with pytest.raises(StoreError) as caught:
            store.lists()  # whatever uses the store next meets it
        message = str(caught.value)
        assert "\n" not in message and len(message) <= 300 and "disk space" in message
        assert rows(store, 'SELECT count(*) FROM "user_engagements"') == [(1,)]
        assert rows(store, 'SELECT "pages" FROM "harvest_lists"') == [(1,)]
        # Space again, but the lost batch's pages are not in the database: a later page of the
        # same list must not be written (its position would pass them). Reads go on.
        store.conn.execute("PRAGMA max_page_count = 1000000")
        for attempt in (store.sync, lambda: store.write([page(track(3), pages=3)], behind=True)):
            with pytest.raises(StoreError, match="disk space"):
                attempt()
        assert rows(store, 'SELECT count(*) FROM "tracks"') == [(0,)]
        assert rows(store, 'SELECT "pages" FROM "harvest_lists"') == [(1,)]


def test_identical_objects_are_not_merged_in_python(tmp_path: Path) -> None:
    """merged_in_python: what merge_json returns at once is done in SQL (no GIL to wait for)."""
    with Store.open(tmp_path / "tracks.db") as store:
        first = [page(track(1, raw_json='{"a": 1}'), user(9, raw_json='{"b": 2}'))]
        store.write(first)
        calls: list[str] = []
        for name in ("sgr_merge_track", "sgr_merge_user"):
            store.conn.create_function(name, 2, lambda old, new, n=name: calls.append(n) or old)
        store.write(first, behind=True)
        store.write([page(track(1, raw_json=None), user(9, raw_json=None))], behind=True)
        store.sync()
        assert calls == []
        store.write([page(track(1, raw_json='{"c": 3}'))], behind=True)
        store.sync()
        assert calls == ["sgr_merge_track"]


def test_close_waits_for_the_commit_running_behind(tmp_path: Path) -> None:
    db = tmp_path / "tracks.db"
    store = Store.open(db)
    store.write(
        [page(*(Engagement(1, t, "like", FROM_USER_LIST) for t in range(5000)))], behind=True
    )
    store.close()
    reader = other_connection(db)
    assert reader.execute('SELECT count(*) FROM "user_engagements"').fetchone() == (5000,)
    reader.close()


def test_close_says_a_failure_behind_that_nobody_met_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def lost_batch(store: Store) -> None:
        store.write([page(Engagement(1, 1, "like", FROM_USER_LIST))])
        (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
        engagements = [Engagement(1, t, "like", FROM_USER_LIST) for t in range(2, 20_000)]
        store.write([page(*engagements, pages=2)], behind=True)

    store = Store.open(tmp_path / "unseen.db")
    lost_batch(store)
    with caplog.at_level(logging.ERROR, logger="sgr_scrapy.store"):
        store.close()  # nobody asked: closing says it, in one line
    (line,) = [r.getMessage() for r in caplog.records]
    assert "disk space" in line and "\n" not in line
    caplog.clear()
    store = Store.open(tmp_path / "seen.db")
    lost_batch(store)
    with pytest.raises(StoreError):
        store.sync()
    with caplog.at_level(logging.ERROR, logger="sgr_scrapy.store"):
        store.close()  # said already, by whoever met it
    assert not caplog.records
