"""raw_json keeps what no column holds (schema 3); tracks_full and users_full give it all back."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from sgr_scrapy import api
from sgr_scrapy.items import Page
from sgr_scrapy.store import Store
from tests.helpers import api_get, run_harvest

SMALL = ["--seed", "5", "--users", "300", "--tracks", "1500", "--likers", "30"]
SMALL += ["--reposters", "10", "--likes-mean", "15", "--artist-share", "0.5"]


def one(store: Store, sql: str) -> object:
    return store.conn.execute(sql).fetchone()[0]


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "tracks.db") as opened:
        yield opened


def api_track(track_id: int = 1, **changes: object) -> dict:
    obj = {
        "kind": "track",
        "id": track_id,
        "urn": f"soundcloud:tracks:{track_id}",
        "title": "Title",
        "genre": None,
        "duration": 1000,
        "favoritings_count": 4,
        "tag_list": 'a "b c"',
        "bpm": 120.5,
        "label_name": None,
        "created_at": "2020/01/02 03:04:05 +0000",
        "user": {"kind": "user", "id": 7, "username": "artist", "avatar_url": "https://a/7.jpg"},
    }
    obj.update(changes)
    return obj


def test_raw_json_leaves_out_column_keys_and_the_nested_artist(store: Store) -> None:
    obj = api_track()
    track, artist = api.track_rows(obj, 1)
    assert artist is not None
    store.write([Page(rows=[track, artist])])
    assert json.loads(one(store, 'SELECT "raw_json" FROM "tracks"')) == {
        "kind": "track",
        "tag_list": 'a "b c"',
        "bpm": 120.5,
        "label_name": None,
        "created_at": "2020/01/02 03:04:05 +0000",
    }
    assert json.loads(one(store, 'SELECT "raw_json" FROM "users"')) == {
        "kind": "user",
        "avatar_url": "https://a/7.jpg",
    }
    # The view gives every key back, the artist from `users`.
    full = json.loads(one(store, 'SELECT "raw_json" FROM "tracks_full"'))
    user = full.pop("user")
    # (Column keys the object lacked come back as null: the view cannot tell them apart.)
    assert {k: v for k, v in full.items() if k in obj or v is not None} == {
        k: v for k, v in obj.items() if k != "user"
    }
    assert {k: user[k] for k in obj["user"]} == obj["user"]
    # Every field stays queryable from a plain SQLite client.
    assert one(store, "SELECT json_extract(raw_json, '$.user.avatar_url') FROM tracks_full") == (
        "https://a/7.jpg"
    )


def test_a_value_no_column_can_hold_stays_in_raw_json(store: Store) -> None:
    obj = api_track(title=12, duration="long", user={"username": "no id"})
    track, _ = api.track_rows(obj, 1)
    store.write([Page(rows=[track])])
    raw = json.loads(one(store, 'SELECT "raw_json" FROM "tracks"'))
    assert raw["title"] == 12 and raw["duration"] == "long"
    assert raw["user"] == {"username": "no id"}


def test_a_row_stored_whole_before_schema_3_is_trimmed_when_merged(store: Store) -> None:
    old = api_track(extra="kept")
    store.conn.execute(  # as schema 2 stored it: the whole object
        'INSERT INTO "tracks" ("track_id", "title", "raw_json") VALUES (1, ?, ?)',
        ("Old title", json.dumps(old)),
    )
    new = api_track(title="New title")
    del new["bpm"]
    store.write([Page(rows=[api.track_rows(new, 1)[0]])])
    raw = json.loads(one(store, 'SELECT "raw_json" FROM "tracks"'))
    assert "title" not in raw and "user" not in raw
    assert raw["extra"] == "kept" and raw["bpm"] == 120.5  # never erased
    assert one(store, 'SELECT "title" FROM "tracks"') == "New title"


def test_store_raw_json_off_stores_none_and_keeps_what_was_stored(store: Store) -> None:
    track, _ = api.track_rows(api_track(), 1)
    store.write([Page(rows=[track])])
    store.store_raw_json = False
    store.write([Page(rows=[track, api.track_rows(api_track(2), 2)[0]])])
    raws = store.conn.execute('SELECT "raw_json" FROM "tracks" ORDER BY "track_id"').fetchall()
    assert raws[0][0] is not None and raws[1][0] is None
    assert json.loads(one(store, 'SELECT "raw_json" FROM "tracks_full" WHERE "track_id" = 2'))[
        "title"
    ] == ("Title")


def test_views_give_back_the_api_objects_after_a_harvest(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    conn = sqlite3.connect(db)
    try:
        tracks = conn.execute('SELECT "track_id", "raw_json" FROM "tracks_full"').fetchall()
        assert all(
            "user" not in json.loads(r[0]) for r in conn.execute("SELECT raw_json FROM tracks")
        )
        for track_id, raw in random.Random(3).sample(tracks, 25):
            full, obj = json.loads(raw), api_get(sim, f"/tracks/{track_id}")
            user, nested = full.pop("user"), obj.pop("user")
            assert full == obj
            assert {k: user[k] for k in nested} == nested
    finally:
        conn.close()


def test_store_raw_json_setting_off(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings={"SGR_STORE_RAW_JSON": "0"})
    assert result.returncode == 0, result.output
    conn = sqlite3.connect(db)
    try:
        for table in ("tracks", "users"):
            assert conn.execute(
                f"SELECT count(*) FROM {table} WHERE raw_json IS NOT NULL"
            ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tracks WHERE title IS NULL").fetchone() == (0,)
    finally:
        conn.close()
