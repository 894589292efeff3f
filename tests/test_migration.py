"""Schema migrations, on a real v1 database made by the v1 code (tests/fixtures/make_v1.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy import api, store
from sgr_scrapy.store import SCHEMA_VERSION, Store, StoreError

V1_DB = Path(__file__).parent / "fixtures" / "v1.sqlite"


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tracks.db"
    shutil.copyfile(V1_DB, copy)
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
    # Every table but tracks is untouched; tracks keeps every row and gains one column.
    assert {k: v for k, v in after.items() if k != "tracks"} == {
        k: v for k, v in before.items() if k != "tracks"
    }
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


def test_a_migrated_database_has_the_schema_of_a_new_one(v1_copy: Path, tmp_path: Path) -> None:
    def schema(db: Path) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
            return [(t, *conn.execute(f'PRAGMA table_info("{t}")').fetchall()) for t in tables]
        finally:
            conn.close()

    Store.open(v1_copy).close()
    Store.open(tmp_path / "new.db").close()
    assert schema(v1_copy) == schema(tmp_path / "new.db")


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
