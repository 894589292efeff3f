"""Tests of sgr_scrapy.store: schema and migrations, locking, merging upserts, resume state."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from sgr_scrapy.items import (
    CAPPED,
    DONE,
    FAILED,
    FAVORITERS,
    FROM_TRACK_LIST,
    FROM_USER_LIST,
    LIKES,
    PENDING,
    REPOSTERS,
    Engagement,
    FailedPage,
    ListProgress,
    Page,
    Seed,
    Track,
    User,
)
from sgr_scrapy.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError, merge_json

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
    assert columns("tracks")[-3:] == ["raw_json", "first_seen", "last_seen"]
    assert columns("user_engagements") == [
        "user_id",
        "track_id",
        "engagement_type",
        "sources",
        "first_seen",
        "last_seen",
    ]
    assert columns("artist_relationships") == [
        "artist_id_1",
        "artist_id_2",
        "relationship_type",
        "weight",
    ]
    assert columns("harvest_lists")[0] == "list_key"


def test_reopen_is_idempotent_and_keeps_data(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.write([Page(tracks=[track(1)])])
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
        store.write([Page(tracks=[track(1)])])
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
    store.write([Page(tracks=[track(1)], users=[user(2)])])
    store.write(
        [
            Page(
                tracks=[track(1, urn=None, genre=None, like_count=None, tags="[]")],
                users=[mini_user(2)],
            )
        ]
    )
    assert rows(store, 'SELECT "urn", "genre", "like_count", "tags" FROM "tracks"') == [
        ("soundcloud:tracks:1", "House", 10, '["deep", "house"]')
    ]
    assert rows(store, 'SELECT "followers_count", "city", "username" FROM "users"') == [
        (5, "Berlin", "someone")
    ]
    assert json.loads(rows(store, 'SELECT "raw_json" FROM "users"')[0][0]) == {
        "id": 2,
        "username": "someone",
        "city": "Berlin",
    }


def test_richer_object_fills_in_and_newer_values_replace(store: Store) -> None:
    store.write([Page(users=[mini_user(2)])])
    store.write([Page(users=[user(2, followers_count=99)])])
    assert rows(store, 'SELECT "followers_count", "city", "country" FROM "users"') == [
        (99, "Berlin", "DE")
    ]


def test_raw_json_keeps_old_keys_and_merges_nested_objects(store: Store) -> None:
    first = {"id": 1, "a": 1, "user": {"id": 7, "city": "Berlin", "badges": {"pro": True}}}
    second = {"id": 1, "b": 2, "user": {"id": 7, "city": None, "badges": {"verified": True}}}
    store.write([Page(tracks=[track(1, raw_json=json.dumps(first))])])
    store.write([Page(tracks=[track(1, raw_json=json.dumps(second))])])
    merged = json.loads(rows(store, 'SELECT "raw_json" FROM "tracks"')[0][0])
    assert merged == {
        "id": 1,
        "a": 1,
        "b": 2,
        "user": {"id": 7, "city": "Berlin", "badges": {"pro": True, "verified": True}},
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
    store.write([Page(tracks=[track(1)], engagements=[Engagement(2, 1, "like", 1)])])
    store.conn.execute('UPDATE "tracks" SET "first_seen" = \'2000\', "last_seen" = \'2000\'')
    store.conn.execute(
        'UPDATE "user_engagements" SET "first_seen" = \'2000\', "last_seen" = \'2000\''
    )
    store.write([Page(tracks=[track(1)], engagements=[Engagement(2, 1, "like", 1)])])
    for table in ("tracks", "user_engagements"):
        ((first_seen, last_seen),) = rows(store, f'SELECT "first_seen", "last_seen" FROM "{table}"')
        assert first_seen == "2000"
        assert last_seen > "2020" and last_seen.endswith("Z")


def test_engagement_sources_are_or_ed(store: Store) -> None:
    store.write([Page(engagements=[Engagement(BIG + 1, BIG + 2, "like", FROM_TRACK_LIST)])])
    store.write([Page(engagements=[Engagement(BIG + 1, BIG + 2, "like", FROM_USER_LIST)])])
    store.write([Page(engagements=[Engagement(BIG + 1, BIG + 2, "repost", FROM_TRACK_LIST)])])
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
                tracks=[track(None), track(1)],
                users=[user(None)],
                engagements=[
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
        tracks=[track(1)],
        users=[user(2)],
        engagements=[Engagement(2, 1, "like", 1)],
        progress=ListProgress("favoriters:1", FAVORITERS, 1, pages=1, items=1),
        seed=Seed("https://soundcloud.com/a/b", 1),
    )
    bad = Page(engagements=[Engagement(2, 1, "comment", 1)])
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
                engagements=[
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
        store.taken_ids(ListProgress("x:1", "followers", 1))


# -- statistics ------------------------------------------------------------------------------


def test_table_counts_engagement_counts_and_snapshot(store: Store) -> None:
    assert store.table_counts() == dict.fromkeys(ALL_TABLES, 0)
    assert store.engagement_counts() == {"like": 0, "repost": 0}
    store.write(
        [
            Page(tracks=[track(1)], users=[user(2)], engagements=[Engagement(2, 1, "like", 1)]),
            Page(tracks=[track(BIG)], engagements=[Engagement(2, BIG, "repost", 1)]),
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
    store.write([Page(tracks=[track(1, title=title, raw_json=first, tags=tags)])])
    store.write([Page(tracks=[track(1, title=title, raw_json=second, tags=tags)])])
    ((stored_title, stored_raw, stored_tags),) = rows(
        store, 'SELECT "title", "raw_json", "tags" FROM "tracks"'
    )
    assert stored_title == title
    assert stored_tags == tags
    assert json.loads(stored_raw) == {"id": 1, "title": title, "tag_list": "\\n", "x": title}
