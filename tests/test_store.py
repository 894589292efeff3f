"""Tests of sgr_scrapy.store: schema and migrations, locking, merging upserts, resume state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from sgr_scrapy import store as store_module
from sgr_scrapy.items import (
    CAPPED,
    DONE,
    FAILED,
    FROM_TRACK_LIST,
    FROM_USER_LIST,
    PENDING,
    Engagement,
    FailedPage,
    ListProgress,
    Page,
    Seed,
    Track,
    User,
)
from sgr_scrapy.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError, merge_json

FAVORITERS, REPOSTERS, LIKES = "favoriters", "reposters", "likes"  # list families (families.py)

ROOT = Path(__file__).resolve().parent.parent
BIG = 2**40  # SoundCloud ids exceed 2**31

ALL_TABLES = {
    "tracks",
    "users",
    "user_engagements",
    "playlists",
    "playlist_tracks",
    "related_tracks",
    "user_similarity",
    "artist_relationships",
    "user_follows",
    "harvest_lists",
    "harvest_failed_pages",
    "harvest_seeds",
    "harvest_runs",
    "harvest_list_items",
    "harvest_expansions",
    "analysis_runs",
    "track_factors",
    "user_factors",
}


def track(track_id: int | None = 1, **changes: object) -> Track:
    fields: dict[str, object] = {
        "track_id": track_id,
        "urn": f"soundcloud:tracks:{track_id}",
        "title": "Title",
        "artist_id": 7,
        "artist_name": "Artist",
        "genre": "House",
        "tags": '["deep", "house"]',
        "machine_tags": '{"geo:lat": "52.52"}',
        "duration_ms": 180000,
        "playback_count": 100,
        "like_count": 10,
        "reposts_count": 2,
        "comment_count": 3,
        "permalink_url": "https://soundcloud.com/artist/title",
        "created_at": "2020-01-02T03:04:05Z",
        "raw_json": json.dumps({"id": track_id, "title": "Title"}),
    }
    fields.update(changes)
    return Track(**fields)  # type: ignore[arg-type]


def user(user_id: int | None = 1, **changes: object) -> User:
    fields: dict[str, object] = {
        "user_id": user_id,
        "urn": f"soundcloud:users:{user_id}",
        "username": "someone",
        "permalink_url": "https://soundcloud.com/someone",
        "followers_count": 5,
        "followings_count": 6,
        "track_count": 7,
        "public_favorites_count": 8,
        "city": "Berlin",
        "country": "DE",
        "created_at": "2019-01-01T00:00:00Z",
        "raw_json": json.dumps({"id": user_id, "username": "someone", "city": "Berlin"}),
    }
    fields.update(changes)
    return User(**fields)  # type: ignore[arg-type]


def mini_user(user_id: int) -> User:
    """A nested user as it appears inside a track: few keys, counts unknown."""
    return User(
        user_id,
        None,
        "someone",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        json.dumps({"id": user_id, "username": "someone", "city": None}),
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cache" / "tracks.db"


@pytest.fixture
def store(db_path: Path):
    with Store.open(db_path) as opened:
        yield opened


def rows(store: Store, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    return store.conn.execute(sql, params).fetchall()


# -- schema and migrations -------------------------------------------------------------------


def test_open_creates_parent_dirs_all_tables_and_user_version(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert set(store.tables()) == ALL_TABLES
        assert rows(store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert rows(store, "PRAGMA journal_mode") == [("wal",)]
        assert rows(store, "PRAGMA busy_timeout") == [(5000,)]
        assert rows(store, "PRAGMA foreign_keys") == [(0,)]
    assert db_path.exists()


def test_schema_has_the_seed_projects_column_names(store: Store) -> None:
    def columns(table: str) -> list[str]:
        return [r[1] for r in rows(store, f'PRAGMA table_info("{table}")')]

    assert columns("tracks")[:3] == ["track_id", "urn", "title"]
    # machine_tags came with schema 2 (ALTER TABLE appends it): see test_migration.py.
    assert columns("tracks")[-4:] == ["raw_json", "first_seen", "last_seen", "machine_tags"]
    assert columns("user_engagements") == [
        "user_id",
        "track_id",
        "engagement_type",
        "sources",
        "first_seen",
        "last_seen",
    ]
    # Schema 5 appends `support` and `rank` (see test_analyze_schema.py).
    assert columns("artist_relationships")[:4] == [
        "artist_id_1",
        "artist_id_2",
        "relationship_type",
        "weight",
    ]
    assert columns("harvest_lists")[0] == "list_key"


def test_reopen_is_idempotent_and_keeps_data(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.write([Page(rows=[track(1)])])
    with Store.open(db_path) as store:
        assert store.table_counts()["tracks"] == 1
        assert rows(store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_migrates_an_empty_version_0_database(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    sqlite3.connect(db_path).close()
    with Store.open(db_path) as store:
        assert set(store.tables()) == ALL_TABLES
        assert rows(store, "PRAGMA user_version") == [(MIGRATIONS[-1][0],)]


def test_refuses_a_database_from_a_newer_version(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 6}")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store.open(db_path)
    message = str(info.value)
    assert f"schema {SCHEMA_VERSION + 6} > {SCHEMA_VERSION}" in message
    assert "upgrade sgr-scrapy" in message
    assert "\n" not in message
    # The lock was released on the way out: the same error again, not a lock error.
    with pytest.raises(StoreError, match="newer"):
        Store.open(db_path)


def test_corrupt_file_is_refused_and_left_unchanged(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    content = b"this is not a database at all\n" * 200
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store.open(db_path)
    message = str(info.value)
    assert "is not a SQLite database" in message
    assert "move it away" in message
    assert "\n" not in message
    assert db_path.read_bytes() == content
    assert not Path(f"{db_path}-wal").exists()


def test_uncreatable_directory_is_a_one_line_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"^cannot create .*; choose") as info:
        Store.open(blocker / "sub" / "x.db")
    assert "\n" not in str(info.value)


def test_unwritable_directory_says_choose_a_writable_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    # Tests may run as root, where chmod cannot make a directory unwritable.
    monkeypatch.setattr(Path, "mkdir", refuse)
    target = tmp_path / "data" / "cache"
    with pytest.raises(StoreError) as info:
        Store.open(target / "tracks.db")
    assert str(info.value) == (
        f"cannot create {target}: permission denied; choose a writable SGR_DB_PATH"
    )


def test_in_memory_database_needs_no_lock() -> None:
    with Store.open(":memory:") as store:
        store.write([Page(rows=[track(1)])])
        store.write([])
        assert store.snapshot()["track_ids"] == {1}


# -- locking ---------------------------------------------------------------------------------


def test_second_open_fails_at_once_naming_the_lock_holder(db_path: Path) -> None:
    with Store.open(db_path):
        with pytest.raises(StoreError) as info:
            Store.open(db_path)
        message = str(info.value)
        assert "locked by another harvest" in message
        assert f"pid {os.getpid()}" in message
        assert "SGR_DB_PATH" in message
        assert "\n" not in message


def test_open_without_lock_ignores_the_lock(db_path: Path) -> None:
    with Store.open(db_path), Store.open(db_path, lock=False) as reader:
        assert reader.table_counts()["tracks"] == 0


def test_lock_is_released_after_close(db_path: Path) -> None:
    Store.open(db_path).close()
    Store.open(db_path).close()


def test_lock_is_released_when_the_holder_is_killed(db_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from sgr_scrapy.store import Store\n"
        "store = Store.open(sys.argv[1])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match=f"pid {holder.pid}"):
            Store.open(db_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    Store.open(db_path).close()


# -- merging upserts -------------------------------------------------------------------------


def test_upsert_keeps_known_fields_when_new_value_is_null(store: Store) -> None:
    store.write([Page(rows=[track(1), user(2)])])
    store.write(
        [Page(rows=[track(1, urn=None, genre=None, like_count=None, tags="[]"), mini_user(2)])]
    )
    assert rows(store, 'SELECT "urn", "genre", "like_count", "tags" FROM "tracks"') == [
        ("soundcloud:tracks:1", "House", 10, '["deep", "house"]')
    ]
    assert rows(store, 'SELECT "followers_count", "city", "username" FROM "users"') == [
        (5, "Berlin", "someone")
    ]
    # raw_json keeps what no column holds (here nothing); users_full gives the whole object.
    assert json.loads(rows(store, 'SELECT "raw_json" FROM "users"')[0][0]) == {}
    full = json.loads(rows(store, 'SELECT "raw_json" FROM "users_full"')[0][0])
    assert {k: full[k] for k in ("id", "username", "city")} == {
        "id": 2,
        "username": "someone",
        "city": "Berlin",
    }


def test_richer_object_fills_in_and_newer_values_replace(store: Store) -> None:
    store.write([Page(rows=[mini_user(2)])])
    store.write([Page(rows=[user(2, followers_count=99)])])
    assert rows(store, 'SELECT "followers_count", "city", "country" FROM "users"') == [
        (99, "Berlin", "DE")
    ]


def test_raw_json_keeps_old_keys_and_merges_nested_objects(store: Store) -> None:
    # (`id` is held by a column and a nested `user` by `users`: raw_json keeps neither.)
    first = {"id": 1, "a": 1, "label": {"id": 7, "city": "Berlin", "badges": {"pro": True}}}
    second = {"id": 1, "b": 2, "label": {"id": 7, "city": None, "badges": {"verified": True}}}
    store.write([Page(rows=[track(1, raw_json=json.dumps(first))])])
    store.write([Page(rows=[track(1, raw_json=json.dumps(second))])])
    merged = json.loads(rows(store, 'SELECT "raw_json" FROM "tracks"')[0][0])
    assert merged == {
        "a": 1,
        "b": 2,
        "label": {"id": 7, "city": "Berlin", "badges": {"pro": True, "verified": True}},
    }


def test_merge_json_semantics() -> None:
    assert merge_json('{"a": 1}', '{"a": 1}') == '{"a": 1}'
    assert merge_json(None, '{"a": 1}') == '{"a": 1}'
    assert merge_json('{"a": 1}', None) == '{"a": 1}'
    assert json.loads(merge_json('{"a": null}', '{"b": null}') or "") == {"a": None, "b": None}
    assert json.loads(merge_json('{"a": [1, 2]}', '{"a": [3]}') or "") == {"a": [3]}
    assert json.loads(merge_json('{"a": {"x": 1}}', '{"a": 5}') or "") == {"a": 5}
    assert merge_json('{"a": 1}', "not json") == '{"a": 1}'
    assert merge_json("not json", '{"a": 1}') == '{"a": 1}'
    assert merge_json('{"a": 1}', "null") == '{"a": 1}'


def test_first_seen_is_kept_and_last_seen_updated(store: Store) -> None:
    store.write([Page(rows=[track(1), Engagement(2, 1, "like", 1)])])
    store.conn.execute('UPDATE "tracks" SET "first_seen" = \'2000\', "last_seen" = \'2000\'')
    store.conn.execute(
        'UPDATE "user_engagements" SET "first_seen" = \'2000\', "last_seen" = \'2000\''
    )
    store.write([Page(rows=[track(1), Engagement(2, 1, "like", 1)])])
    for table in ("tracks", "user_engagements"):
        ((first_seen, last_seen),) = rows(store, f'SELECT "first_seen", "last_seen" FROM "{table}"')
        assert first_seen == "2000"
        assert last_seen > "2020" and last_seen.endswith("Z")


def test_engagement_sources_are_or_ed(store: Store) -> None:
    store.write([Page(rows=[Engagement(BIG + 1, BIG + 2, "like", FROM_TRACK_LIST)])])
    store.write([Page(rows=[Engagement(BIG + 1, BIG + 2, "like", FROM_USER_LIST)])])
    store.write([Page(rows=[Engagement(BIG + 1, BIG + 2, "repost", FROM_TRACK_LIST)])])
    assert set(
        rows(
            store,
            'SELECT "user_id", "track_id", "engagement_type", "sources" FROM "user_engagements"',
        )
    ) == {
        (BIG + 1, BIG + 2, "like", FROM_TRACK_LIST | FROM_USER_LIST),
        (BIG + 1, BIG + 2, "repost", FROM_TRACK_LIST),
    }


def test_rows_without_a_key_are_refused_and_counted(store: Store) -> None:
    store.write(
        [
            Page(
                rows=[
                    track(None),
                    track(1),
                    user(None),
                    Engagement(None, 1, "like", 1),  # type: ignore[arg-type]
                    Engagement(1, None, "like", 1),  # type: ignore[arg-type]
                    Engagement(1, 1, None, 1),  # type: ignore[arg-type]
                ],
            )
        ]
    )
    assert store.dropped == 5
    counts = store.table_counts()
    assert (counts["tracks"], counts["users"], counts["user_engagements"]) == (1, 0, 0)


def test_write_is_atomic_a_bad_row_rolls_back_the_whole_batch(store: Store) -> None:
    good = Page(
        rows=[track(1), user(2), Engagement(2, 1, "like", 1)],
        progress=ListProgress("favoriters:1", FAVORITERS, 1, pages=1, items=1),
        seed=Seed("https://soundcloud.com/a/b", 1),
    )
    bad = Page(rows=[Engagement(2, 1, "comment", 1)])
    with pytest.raises(sqlite3.IntegrityError):
        store.write([good, bad])
    assert not store.conn.in_transaction
    assert all(count == 0 for count in store.table_counts().values())
    assert store.dropped == 0
    store.write([good])
    assert store.table_counts()["user_engagements"] == 1


# -- resume state ----------------------------------------------------------------------------


def test_progress_replaces_all_fields_and_new_lists_keep_known_state(store: Store) -> None:
    key = "favoriters:1"
    store.write([Page(progress=ListProgress(key, FAVORITERS, 1, PENDING, "u2", 1, 50, 0))])
    store.write([Page(progress=ListProgress(key, FAVORITERS, 1, CAPPED, None, 2, 100, 100))])
    store.write(
        [Page(new_lists=[ListProgress(key, FAVORITERS, 1), ListProgress("likes:2", LIKES, 2)])]
    )
    assert store.list_progress(key) == ListProgress(key, FAVORITERS, 1, CAPPED, None, 2, 100, 100)
    assert store.list_progress("likes:2") == ListProgress("likes:2", LIKES, 2)
    assert store.list_progress("nope") is None
    assert [p.list_key for p in store.lists()] == [key, "likes:2"]
    assert [p.list_key for p in store.lists([PENDING])] == ["likes:2"]
    assert store.lists([]) == []
    assert store.list_summary() == {CAPPED: 1, PENDING: 1}
    ((updated_at,),) = rows(store, 'SELECT "updated_at" FROM "harvest_lists" LIMIT 1')
    assert updated_at.endswith("Z")


def test_failed_pages_count_attempts_and_clear_when_the_list_advances(store: Store) -> None:
    key = "reposters:5"

    def failure(reason: str) -> Page:
        return Page(
            progress=ListProgress(key, REPOSTERS, 5, FAILED, "u3", 2, 40, error=reason),
            failed=FailedPage(key, "u3", reason),
        )

    store.write([failure("HTTP 500")])
    store.write([failure("timeout")])
    store.write([Page(failed=FailedPage("likes:9", "u9", "HTTP 502"))])
    assert store.failed_pages() == [
        FailedPage(key, "u3", "timeout"),
        FailedPage("likes:9", "u9", "HTTP 502"),
    ]
    assert rows(
        store, 'SELECT "attempts" FROM "harvest_failed_pages" WHERE "list_key" = ?', (key,)
    ) == [(2,)]
    store.write([Page(progress=ListProgress(key, REPOSTERS, 5, DONE, None, 3, 60))])
    assert store.failed_pages() == [FailedPage("likes:9", "u9", "HTTP 502")]
    assert store.list_progress(key) == ListProgress(key, REPOSTERS, 5, DONE, None, 3, 60)


def test_seeds_are_recorded_and_replaced(store: Store) -> None:
    store.write([Page(seed=Seed("https://soundcloud.com/a/b", BIG))])
    store.write([Page(seed=Seed("https://soundcloud.com/c/d", 3))])
    store.write([Page(seed=Seed("https://soundcloud.com/c/d", 4))])
    assert store.seeds() == {"https://soundcloud.com/a/b": BIG, "https://soundcloud.com/c/d": 4}


def test_taken_ids_per_list_kind_use_the_source_bits(store: Store) -> None:
    t, u = BIG + 10, BIG + 20
    store.write(
        [
            Page(
                rows=[
                    Engagement(1, t, "like", FROM_TRACK_LIST),
                    Engagement(2, t, "like", FROM_TRACK_LIST | FROM_USER_LIST),
                    Engagement(3, t, "like", FROM_USER_LIST),  # read from likes:3, not this list
                    Engagement(4, t, "repost", FROM_TRACK_LIST),
                    Engagement(u, 100, "like", FROM_USER_LIST),
                    Engagement(u, 101, "like", FROM_TRACK_LIST),  # read from favoriters:101
                    Engagement(u, 102, "repost", FROM_TRACK_LIST),
                ]
            )
        ]
    )
    assert store.taken_ids(ListProgress(f"favoriters:{t}", FAVORITERS, t)) == {1, 2}
    assert store.taken_ids(ListProgress(f"reposters:{t}", REPOSTERS, t)) == {4}
    assert store.taken_ids(ListProgress(f"likes:{u}", LIKES, u)) == {100}
    with pytest.raises(ValueError, match="unknown list kind"):
        store.taken_ids(ListProgress("x:1", "nonsense", 1))


# -- statistics ------------------------------------------------------------------------------


def test_table_counts_engagement_counts_and_snapshot(store: Store) -> None:
    assert store.table_counts() == dict.fromkeys(ALL_TABLES, 0)
    assert store.engagement_counts() == {"like": 0, "repost": 0}
    store.write(
        [
            Page(rows=[track(1), user(2), Engagement(2, 1, "like", 1)]),
            Page(rows=[track(BIG), Engagement(2, BIG, "repost", 1)]),
        ]
    )
    counts = store.table_counts()
    assert set(counts) == ALL_TABLES
    assert (counts["tracks"], counts["users"], counts["user_engagements"]) == (2, 1, 2)
    assert store.engagement_counts() == {"like": 1, "repost": 1}
    assert store.snapshot() == {
        "track_ids": {1, BIG},
        "user_ids": {2},
        "engagements": {(2, 1, "like"), (2, BIG, "repost")},
        "follows": set(),
        "playlists": set(),
        "playlist_tracks": set(),
        "related": set(),
        "expansions": set(),
    }


def test_runs_record_start_end_and_stats(store: Store) -> None:
    run_id = store.begin_run()
    store.end_run(run_id, "finished", {"sgr/pages": 3, "start_time": object()})
    ((started, finished, reason, stats_json),) = rows(
        store,
        'SELECT "started_at", "finished_at", "finish_reason", "stats_json" FROM "harvest_runs"',
    )
    assert started <= finished
    assert reason == "finished"
    assert orjson.loads(stats_json)["sgr/pages"] == 3
    assert store.begin_run() == run_id + 1


def test_unicode_round_trips(store: Store) -> None:
    title = "Emoji 🎧🔥 RTL مرحبا עברית\r\nback\\slash \"quotes\" 'single' \x00nul"
    tags = json.dumps([title], ensure_ascii=False)
    first = json.dumps({"id": 1, "title": title, "tag_list": "\\n"}, ensure_ascii=False)
    second = json.dumps({"id": 1, "x": title})  # escaped form of the same text
    store.write([Page(rows=[track(1, title=title, raw_json=first, tags=tags)])])
    store.write([Page(rows=[track(1, title=title, raw_json=second, tags=tags)])])
    ((stored_title, stored_raw, stored_tags),) = rows(
        store, 'SELECT "title", "raw_json", "tags" FROM "tracks"'
    )
    assert stored_title == title
    assert stored_tags == tags
    # The title is the column's (raw_json leaves out what a column holds); tracks_full has it.
    assert json.loads(stored_raw) == {"tag_list": "\\n", "x": title}
    ((full,),) = rows(store, 'SELECT "raw_json" FROM "tracks_full"')
    assert json.loads(full)["title"] == title


def test_end_run_records_only_the_first_end(store: Store) -> None:
    first, second = store.begin_run(), store.begin_run()
    assert store.unfinished_runs() == [first, second]
    assert store.end_run(first, "finished", {"sgr/pages": 1}) is True
    assert store.end_run(first, "shutdown", {"sgr/pages": 2}) is False
    ((reason, stats_json),) = rows(
        store,
        'SELECT "finish_reason", "stats_json" FROM "harvest_runs" WHERE "run_id" = ?',
        (first,),
    )
    assert (reason, orjson.loads(stats_json)) == ("finished", {"sgr/pages": 1})
    assert store.unfinished_runs() == [second]


# -- storage errors: one line, at open when they can be seen there ---------------------------


def assert_one_line(message: str) -> None:
    assert "\n" not in message and len(message) <= 300, (len(message), message)
    assert "Traceback" not in message and "INSERT" not in message, message


def file_state(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p.is_file()}


def make_database(db_path: Path, tracks: int = 3000) -> None:
    """A database of a few MB whose tracks fill most of the file, checkpointed and closed."""
    padding = "x" * 600
    with Store.open(db_path) as opened:
        opened.write(
            [
                Page(rows=[track(i, raw_json=json.dumps({"id": i, "d": padding}))])
                for i in range(1, tracks + 1)
            ]
        )
    assert not Path(f"{db_path}-wal").exists()


def corrupt_middle(db_path: Path) -> None:
    """Overwrite the middle fifth of the file's pages with garbage, as a bad disk would."""
    data = bytearray(db_path.read_bytes())
    page = 4096
    pages = len(data) // page
    for number in range(pages * 2 // 5, pages * 3 // 5):
        data[number * page : (number + 1) * page] = os.urandom(page)
    db_path.write_bytes(bytes(data))


def test_corrupt_pages_in_the_middle_are_refused_at_open(db_path: Path) -> None:
    make_database(db_path)
    corrupt_middle(db_path)
    before = file_state(db_path)
    with pytest.raises(StoreError) as info:
        Store.open(db_path)
    message = str(info.value)
    assert_one_line(message)
    assert str(db_path) in message and "damaged" in message and "SGR_DB_PATH" in message
    assert file_state(db_path) == before


def test_corrupt_page_met_while_writing_is_one_line_and_the_batch_rolled_back(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_database(db_path)
    corrupt_middle(db_path)
    # As for a file too big to check at open.
    monkeypatch.setattr(store_module, "QUICK_CHECK_MAX_BYTES", 0)
    with Store.open(db_path) as opened:
        progress = ListProgress("favoriters:1", FAVORITERS, 1, pages=1, items=3000)
        batch = Page(rows=[track(i, title="new") for i in range(1, 3001)], progress=progress)
        with pytest.raises(StoreError) as info:
            opened.write([batch])
        assert not opened.conn.in_transaction
        assert opened.list_progress("favoriters:1") is None  # resumable: the cursor stayed put
        with pytest.raises(StoreError) as read_info:  # reads too: one line, not a DatabaseError
            opened.table_counts()
    for message in (str(info.value), str(read_info.value)):
        assert_one_line(message)
        assert "damaged" in message and str(db_path) in message


def immutable(path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root and chattr")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")


def test_immutable_database_file_is_refused_at_open(db_path: Path) -> None:
    make_database(db_path, tracks=10)
    immutable(db_path)
    try:
        with pytest.raises(StoreError) as info:
            Store.open(db_path)
    finally:
        subprocess.run(["chattr", "-i", str(db_path)], check=True)
    message = str(info.value)
    assert_one_line(message)
    assert str(db_path) in message and "read-only" in message and "SGR_DB_PATH" in message


def test_folder_where_sqlite_cannot_create_its_wal_is_refused_at_open(db_path: Path) -> None:
    make_database(db_path, tracks=10)  # its lock file is left behind, and can be reopened
    immutable(db_path.parent)
    try:
        with pytest.raises(StoreError) as info:
            Store.open(db_path)
    finally:
        subprocess.run(["chattr", "-i", str(db_path.parent)], check=True)
    message = str(info.value)
    assert_one_line(message)
    assert "tracks.db-wal" in message and "make its folder writable" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a file of mode 0444")
def test_read_only_database_file_is_refused_at_open(db_path: Path) -> None:
    make_database(db_path, tracks=10)
    db_path.chmod(0o444)
    with pytest.raises(StoreError) as info:
        Store.open(db_path)
    assert_one_line(str(info.value))
    assert "read-only" in str(info.value)


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A folder that becomes a read-only file system when the test calls `freeze`."""
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True, check=False)


def freeze(folder: Path) -> None:
    steps = [["mount", "--bind", str(folder), str(folder)]]
    steps.append(["mount", "-o", "remount,ro,bind", str(folder)])
    for step in steps:
        if os.geteuid() != 0 or subprocess.run(step, capture_output=True).returncode != 0:
            pytest.skip("cannot mount a read-only folder here")


@pytest.mark.parametrize("lock_file_exists", [True, False])
def test_database_on_a_read_only_file_system_is_refused_at_open(
    read_only_mount: Path, lock_file_exists: bool
) -> None:
    db = read_only_mount / "tracks.db"
    make_database(db, tracks=10)
    if not lock_file_exists:
        Path(f"{db}.lock").unlink()
    freeze(read_only_mount)
    with pytest.raises(StoreError) as info:
        Store.open(db)
    message = str(info.value)
    assert_one_line(message)
    assert "read-only file system" in message and "SGR_DB_PATH" in message


# -- storage errors off the page-write path --------------------------------------------------


def with_max_pages(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    """Every connection Store opens may grow its file to `pages` pages only: a full disk."""
    connect = Store._connect

    def small(path: Path) -> sqlite3.Connection:
        conn = connect(path)
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(Store, "_connect", staticmethod(small))


def test_disk_full_while_creating_the_schema_is_one_line(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_max_pages(monkeypatch, 6)
    with pytest.raises(StoreError) as info:
        Store.open(db_path)
    message = str(info.value)
    assert_one_line(message)
    assert "full" in message and "cannot rollback" not in message
    assert not isinstance(info.value.__context__, sqlite3.OperationalError) or (
        "cannot rollback" not in str(info.value.__context__)
    )
    monkeypatch.undo()
    with Store.open(db_path) as opened:  # nothing half-made is left behind
        assert set(opened.tables()) == ALL_TABLES


def test_disk_full_while_writing_says_to_keep_the_wal_and_the_batch_is_resumable(
    store: Store,
) -> None:
    store.write([Page(rows=[track(1)])])
    (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
    store.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    progress = ListProgress("likes:1", LIKES, 1, pages=1, items=300)
    padding = "y" * 2000
    batch = Page(
        rows=[track(i, raw_json=json.dumps({"id": i, "d": padding})) for i in range(2, 302)],
        progress=progress,
    )
    with pytest.raises(StoreError) as info:
        store.write([batch])
    message = str(info.value)
    assert_one_line(message)
    assert "full" in message and "tracks.db-wal" in message
    assert store.list_progress("likes:1") is None and store.table_counts()["tracks"] == 1
    store.conn.execute("PRAGMA max_page_count = 1000000")
    store.write([batch])
    assert store.list_progress("likes:1") == progress


def hold_write_lock(db_path: Path, seconds: float) -> threading.Thread:
    """Another process's writer: holds the write lock `seconds`, then commits."""
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(10)
    return thread


def test_end_run_waits_longer_for_another_writer_than_a_page_write_does(store: Store) -> None:
    run_id = store.begin_run()
    store.conn.execute("PRAGMA busy_timeout = 200")
    holder = hold_write_lock(store.path, 1.0)
    assert store.end_run(run_id, "finished", {}) is True
    holder.join()
    assert store.unfinished_runs() == []
    assert rows(store, "PRAGMA busy_timeout") == [(200,)]  # back to the usual timeout


def test_end_run_behind_a_writer_that_never_lets_go_is_one_line(store: Store) -> None:
    run_id = store.begin_run()
    holder = hold_write_lock(store.path, 1.5)
    with pytest.raises(StoreError) as info:
        store.end_run(run_id, "finished", {}, wait=0.3)
    assert_one_line(str(info.value))
    assert "locked" in str(info.value)
    holder.join()
    assert store.unfinished_runs() == [run_id]


def test_a_symlink_to_a_database_in_use_is_refused(db_path: Path, tmp_path: Path) -> None:
    with Store.open(db_path):
        alias = tmp_path / "alias.db"
        alias.symlink_to(db_path)
        folder_alias = tmp_path / "folder-alias"
        folder_alias.symlink_to(db_path.parent, target_is_directory=True)
        for path in (alias, folder_alias / db_path.name):
            with pytest.raises(StoreError, match="locked by another harvest"):
                Store.open(path)
    Store.open(alias).close()
