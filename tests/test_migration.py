"""Schema migrations, on real databases made by older code: v1 (tests/fixtures/make_v1.py) and
v3 (tests/fixtures/make_v3.py, with old-shape rows in the tables schema 4 reshapes)."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy import api, store
from sgr_scrapy.items import ListProgress, Page
from sgr_scrapy.store import SCHEMA_VERSION, Store, StoreError
from tests.test_export import scrapy

V1_DB = Path(__file__).parent / "fixtures" / "v1.sqlite"
V3_DB = Path(__file__).parent / "fixtures" / "v3.sqlite"
# The tables schema 4 reshapes; every other table keeps its rows byte for byte.
RESHAPED_IN_V4 = {"user_follows", "playlists", "playlist_tracks", "related_tracks"}
# Schema 5 adds columns to these (tests/test_analyze_schema.py); both are empty in the fixtures.
RESHAPED_IN_V5 = {"user_similarity", "artist_relationships"}


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tracks.db"
    shutil.copyfile(V1_DB, copy)
    return copy


@pytest.fixture
def v3_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "v3.db"
    shutil.copyfile(V3_DB, copy)
    return copy


def contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, with column names first."""
    conn = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        tables = {}
        for name in names:
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            header = tuple(d[0] for d in cursor.description)
            tables[name] = [header, *sorted(cursor.fetchall(), key=repr)]
        return tables
    finally:
        conn.close()


def test_the_fixture_is_a_real_v1_database_with_machine_tags_in_tags(v1_copy: Path) -> None:
    # A copy: even a read-only open of a WAL database leaves -wal and -shm files beside it.
    conn = sqlite3.connect(v1_copy)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        columns = [r[1] for r in conn.execute('PRAGMA table_info("tracks")')]
        assert "machine_tags" not in columns
        (mixed,) = conn.execute('SELECT count(*) FROM "tracks" WHERE "tags" LIKE \'%:%=%\'')
        assert mixed[0] >= 20
    finally:
        conn.close()


def test_v1_to_v2_keeps_every_row_and_splits_the_tags(v1_copy: Path) -> None:
    before = contents(v1_copy)
    with Store.open(v1_copy) as opened:
        assert opened.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    after = contents(v1_copy)
    assert SCHEMA_VERSION >= 2  # schema 3 adds two views and leaves every row as it is
    # Every table but tracks and those schema 4 reshapes (empty in v1) is untouched; tracks
    # keeps every row and gains one column.
    kept = set(before) - RESHAPED_IN_V4 - RESHAPED_IN_V5 - {"tracks"}
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert all(
        len(before[k]) == len(after[k]) == 1 for k in RESHAPED_IN_V4 | RESHAPED_IN_V5
    )  # header only
    old_header, *old_rows = before["tracks"]
    new_header, *new_rows = after["tracks"]
    assert new_header == (*old_header, "machine_tags")
    assert len(new_rows) == len(old_rows) == 129
    tags_at = old_header.index("tags")
    raw_at = old_header.index("raw_json")
    split = 0
    for old, new in zip(old_rows, new_rows, strict=True):
        # Every other column is byte for byte what it was.
        assert old[:tags_at] + old[tags_at + 1 :] == new[:tags_at] + new[tags_at + 1 : -1]
        tag_list = json.loads(old[raw_at]).get("tag_list")
        user_tags, machine_tags = api.split_machine_tags(api.parse_tags(tag_list))
        assert json.loads(new[tags_at]) == user_tags, old
        assert json.loads(new[-1]) == machine_tags, old
        # Nothing lost: each old tag is a user tag or one of the machine tags' keys.
        for tag in json.loads(old[tags_at]):
            assert tag in user_tags or tag.split("=", 1)[0] in machine_tags, (tag, old)
        split += bool(machine_tags)
    assert split >= 20
    by_id = {row[0]: row for row in new_rows}
    odd = {track_id: by_id[track_id] for track_id in range(9_000_000_000, 9_000_000_005)}
    assert [(json.loads(r[tags_at]), json.loads(r[-1])) for r in odd.values()] == [
        (["deep house"], {"geo:lat": "48.85"}),
        (["dj:mix", "house"], {"soundcloud:source": "web-record"}),
        ([":x=1", "ns:=v", "a:b="], {"geo:place": "New York", "upload:a": "1=2"}),
        (["http://example.com/a=b", "Jazz"], {"ns:key": "value"}),
        ([], {}),
    ]


def schema(db: Path) -> dict[str, tuple[Any, ...]]:
    """Every table, index and view: its sqlite_master row (SQL text included) and columns."""
    conn = sqlite3.connect(db)
    try:
        return {
            name: (kind, table, sql, *conn.execute(f'PRAGMA table_info("{name}")').fetchall())
            for kind, name, table, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
            )
        }
    finally:
        conn.close()


@pytest.mark.parametrize("fixture", ["v1_copy", "v3_copy"])
def test_a_migrated_database_has_the_schema_of_a_new_one(
    fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    old = request.getfixturevalue(fixture)
    Store.open(old).close()
    Store.open(tmp_path / "new.db").close()
    assert schema(old) == schema(tmp_path / "new.db")


def test_a_migration_says_so_before_it_runs_and_a_new_database_says_nothing(
    v1_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sgr_scrapy.store")
    Store.open(tmp_path / "new.db").close()
    Store.open(v1_copy).close()
    Store.open(v1_copy).close()  # already current: nothing to say
    said = [r.getMessage() for r in caplog.records if "schema" in r.getMessage()]
    assert said == [
        f"Bringing {v1_copy} ({V1_DB.stat().st_size // 2**20} MB) from schema 1 to "
        f"{SCHEMA_VERSION}; a large file takes a while (about 15 s per GB)"
    ]


@pytest.mark.parametrize(
    "command", [["export", "--format", "csv", "-o", "out"], ["report", "-o", "report.html"]]
)
def test_a_command_that_runs_no_crawl_shows_the_migration_line(
    command: list[str], v1_copy: Path, tmp_path: Path
) -> None:
    # Scrapy configures no logging for these commands: without a handler the line is dropped.
    done = scrapy(v1_copy, tmp_path, *command)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"from schema 1 to {SCHEMA_VERSION};") == 1, done.stderr


def test_migrate_older_migrates_only_an_older_harvest_and_creates_nothing(
    v1_copy: Path, tmp_path: Path
) -> None:
    missing, foreign, current = tmp_path / "missing.db", tmp_path / "foreign.db", tmp_path / "c.db"
    foreign.write_bytes(b"not SQLite\n" * 100)
    Store.open(current).close()
    before = current.read_bytes()
    assert not store.migrate_older(missing) and not missing.exists()
    assert not store.migrate_older(foreign) and foreign.read_bytes() == b"not SQLite\n" * 100
    assert not store.migrate_older(current) and current.read_bytes() == before
    assert store.migrate_older(v1_copy)
    assert not store.migrate_older(v1_copy)  # current now
    with sqlite3.connect(v1_copy) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_failed_migration_leaves_the_v1_database_as_it_was(
    v1_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(v1_copy)
    broken = [*store.MIGRATIONS, (SCHEMA_VERSION + 1, 'CREATE TABLE "tracks" ("x");')]
    monkeypatch.setattr(store, "MIGRATIONS", broken)
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as info:
        Store.open(v1_copy)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300
    assert contents(v1_copy) == before
    monkeypatch.undo()
    Store.open(v1_copy).close()  # and it migrates once the cause is gone


def test_the_fixture_is_a_real_v3_database_with_old_shape_rows(v3_copy: Path) -> None:
    conn = sqlite3.connect(v3_copy)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
        counts = {
            t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in RESHAPED_IN_V4
        }
        assert counts == {
            "user_follows": 2,
            "playlists": 1,
            "playlist_tracks": 3,
            "related_tracks": 2,
        }
        (nulls,) = conn.execute('SELECT count(*) FROM "playlist_tracks" WHERE "position" IS NULL')
        assert nulls == (1,)
    finally:
        conn.close()


def test_v3_to_v4_keeps_every_old_row_in_its_new_shape(v3_copy: Path) -> None:
    before = contents(v3_copy)
    with Store.open(v3_copy) as opened:
        assert opened.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    after = contents(v3_copy)
    assert SCHEMA_VERSION >= 4
    kept = set(before) - RESHAPED_IN_V4 - RESHAPED_IN_V5
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert after["harvest_list_items"] == [("list_key", "item_id")]
    assert after["harvest_expansions"] == [
        ("track_id", "hop", "engagements", "run_id", "expanded_at")
    ]
    # Follows: no source bit (origin unknown), last_seen = first_seen.
    assert after["user_follows"] == [
        ("follower_id", "followee_id", "first_seen", "sources", "last_seen"),
        (1, 2, "2025-01-01T00:00:00.000Z", 0, "2025-01-01T00:00:00.000Z"),
        (2, 1, None, 0, None),
    ]
    assert after["playlists"] == [
        (
            "playlist_id", "title", "user_id", "track_count", "permalink_url", "raw_json",
            "urn", "duration_ms", "created_at", "first_seen", "last_seen",
        ),
        (
            7, "old list", 1, 3, "https://soundcloud.com/a/sets/x", '{"kind":"playlist","id":7}',
            None, None, None, None, None,
        ),
    ]  # fmt: skip
    # The track without a position goes after its playlist's last one.
    assert after["playlist_tracks"] == [
        ("playlist_id", "position", "track_id", "first_seen", "last_seen"),
        (7, 0, 101, None, None),
        (7, 1, 102, None, None),
        (8, 5, 103, None, None),
    ]
    # Related pairs from before schema 4 are 'legacy' and keep their score.
    assert after["related_tracks"] == [
        (
            "track_id", "related_track_id", "source", "rank", "score", "support",
            "first_seen", "last_seen",
        ),
        (101, 102, "legacy", None, 0.5, None, None, None),
        (101, 103, "legacy", None, None, None, None, None),
    ]  # fmt: skip


def test_v3_playlist_tracks_without_or_sharing_a_position_go_last_in_track_id_order(
    v3_copy: Path,
) -> None:
    conn = sqlite3.connect(v3_copy)
    conn.execute(
        'INSERT INTO "playlist_tracks" VALUES (9, 201, 2), (9, 202, 2), (9, 203, NULL), '
        "(9, 204, 0), (9, 200, NULL), (10, 302, NULL), (10, 301, NULL), (11, 401, 3)"
    )
    conn.commit()
    conn.close()
    Store.open(v3_copy).close()
    got = contents(v3_copy)["playlist_tracks"][1:]
    assert sorted((p, position, t) for p, position, t, *_ in got) == [
        (7, 0, 101),
        (7, 1, 102),
        (8, 5, 103),
        (9, 0, 204),
        (9, 2, 201),  # the smaller track id keeps a shared position
        (9, 3, 200),  # then, after position 2: no position, or a shared one, by track id
        (9, 4, 202),
        (9, 5, 203),
        (10, 0, 301),  # a playlist without any position starts at 0
        (10, 1, 302),
        (11, 3, 401),
    ]


def test_a_migrated_v3_database_resumes_its_lists(v3_copy: Path) -> None:
    with Store.open(v3_copy) as opened:
        lists = opened.lists()
        assert {p.kind for p in lists} == {"favoriters", "reposters", "likes"}
        assert "capped" in {p.status for p in lists}
        # Each list finds again exactly the distinct items it had taken.
        assert all(len(opened.taken_ids(p)) == p.items > 0 for p in lists)
        # Old follows have no source bit: no list is known to have read them.
        for kind in ("followings", "followers"):
            assert opened.taken_ids(ListProgress(f"{kind}:1", kind, 1)) == set()


def test_a_failed_v4_migration_leaves_the_v3_database_as_it_was(
    v3_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(v3_copy)
    # The last statement of schema 4 fails: everything before it is rolled back.
    version, script = store.MIGRATIONS[-1]
    broken = [*store.MIGRATIONS[:-1], (version, script + 'CREATE TABLE "tracks" ("x");')]
    monkeypatch.setattr(store, "MIGRATIONS", broken)
    with pytest.raises(StoreError) as info:
        Store.open(v3_copy)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300
    assert contents(v3_copy) == before
    monkeypatch.undo()
    Store.open(v3_copy).close()


def _v5_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database as the code of schema 5 wrote it: tracks, users and playlists whose ids came
    in no order, and a track met first with its mini artist, then richer."""
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:5])
    monkeypatch.setattr(store, "SCHEMA_VERSION", 5)
    with Store.open(path) as opened:
        for track_id in (30, 10, 20):
            user = {"kind": "user", "id": track_id + 1, "username": f"u{track_id}"}
            track = {"kind": "track", "id": track_id, "title": f"t{track_id}", "user": user}
            opened.write([Page(rows=[r for r in api.track_rows(track, track_id) if r])])
        playlist = {"kind": "playlist", "id": 5, "title": "p", "user": {"id": 11}}
        opened.write([Page(rows=[api.playlist_row(playlist, 5)])])
    monkeypatch.undo()


def test_v5_to_v6_keeps_every_row_and_stores_new_ones_in_arrival_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v5.db"
    _v5_database(db, monkeypatch)
    conn = sqlite3.connect(db)
    full = 'SELECT * FROM "tracks_full" ORDER BY "track_id"'
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)
        views = conn.execute(full).fetchall()
        # Before: each id was the rowid, so the rows lay in id order.
        stored = 'SELECT "track_id" FROM "tracks" ORDER BY "rowid"'
        assert [r[0] for r in conn.execute(stored)] == [10, 20, 30]
    finally:
        conn.close()
    before = contents(db)
    with Store.open(db) as opened:
        assert opened.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        # A new track comes after the old ones whatever its id; a known one is merged in place.
        richer = {"kind": "track", "id": 20, "title": "t20", "genre": "Jazz", "bpm": 90}
        opened.write(
            [Page(rows=[api.track_rows(richer, 20)[0], api.track_rows({"id": 15}, 15)[0]])]
        )
        in_order = [r[0] for r in opened.conn.execute(stored)]
        assert in_order == [10, 20, 30, 15]
        assert opened.conn.execute(
            'SELECT "genre", "artist_id", json_extract("raw_json", \'$.bpm\') FROM "tracks" '
            'WHERE "track_id" = 20'
        ).fetchone() == ("Jazz", 21, 90)
        with pytest.raises(sqlite3.IntegrityError):  # an id is still a key: never twice
            opened.conn.execute('INSERT INTO "tracks" ("track_id") VALUES (10)')
        with pytest.raises(sqlite3.IntegrityError):
            opened.conn.execute('INSERT INTO "users" ("user_id") VALUES (NULL)')
    after = contents(db)
    # Every row and every column as it was, the new and merged rows apart.
    changed = ("tracks",)  # the rows written after the migration
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    assert [r for r in after["tracks"] if r[0] not in (15, 20)] == [
        r for r in before["tracks"] if r[0] != 20
    ]
    conn = sqlite3.connect(db)
    try:
        assert [r for r in conn.execute(full) if r[0] not in (15, 20)] == [
            r for r in views if r[0] != 20
        ]
    finally:
        conn.close()
