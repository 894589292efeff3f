"""Tests of Store.write for every row kind (store/kinds.py): merge rules, counts, expansions."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.items import (
    FROM_FOLLOWERS,
    FROM_FOLLOWINGS,
    Engagement,
    Expansion,
    Follow,
    ListItem,
    Page,
    Playlist,
    PlaylistTrack,
    RelatedTrack,
)
from sgr_scrapy.simulator.truth import Truth
from sgr_scrapy.simulator.world import World
from sgr_scrapy.store import ROW_KINDS, Store
from tests.test_store import track, user

BIG = 2**40  # SoundCloud ids exceed 2**31


def playlist(playlist_id: int | None = 1, **changes: object) -> Playlist:
    fields: dict[str, object] = {
        "playlist_id": playlist_id,
        "urn": f"soundcloud:playlists:{playlist_id}",
        "title": "Mix",
        "user_id": 7,
        "track_count": 12,
        "duration_ms": 3_600_000,
        "permalink_url": "https://soundcloud.com/someone/sets/mix",
        "created_at": "2021-01-01T00:00:00Z",
        "raw_json": json.dumps({"kind": "playlist", "genre": "House"}),
    }
    fields.update(changes)
    return Playlist(**fields)  # type: ignore[arg-type]


# One row of every kind: a new row kind fails test_every_row_kind_has_a_sample until it has one.
SAMPLES: dict[type, Any] = {
    type(row): row
    for row in (
        # raw_json as api.track_rows / api.user_row leave it: without what columns hold.
        track(BIG + 1, raw_json='{"waveform_url": "w"}'),
        user(BIG + 2, raw_json='{"avatar_url": "a"}'),
        Engagement(BIG + 2, BIG + 1, "like", 1),
        Follow(BIG + 2, BIG + 3, FROM_FOLLOWINGS),
        playlist(BIG + 4),
        PlaylistTrack(BIG + 4, 0, BIG + 1),
        RelatedTrack(BIG + 1, BIG + 5, "api", 1, None, None),
        ListItem(f"tracks:{BIG + 2}", BIG + 1),
    )
}
KINDS = list(ROW_KINDS.values())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "tracks.db") as opened:
        yield opened


def rows(store: Store, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    return store.conn.execute(sql, params).fetchall()


def age(store: Store, table: str) -> None:
    """Date every row's first and last sighting back to 2000."""
    store.conn.execute(f'UPDATE "{table}" SET "first_seen" = \'2000\', "last_seen" = \'2000\'')


def seen(store: Store, table: str) -> list[tuple[str, str]]:
    return rows(store, f'SELECT "first_seen", "last_seen" FROM "{table}"')


# -- every kind, once per registry entry -----------------------------------------------------


def test_every_row_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(ROW_KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_row_of_each_kind_is_written_once_and_counted(store: Store, kind: Any) -> None:
    row = SAMPLES[kind.row]
    assert store.write([Page(rows=[row])]) == {kind.name: 1}
    assert store.write([Page(rows=[row]), Page(rows=[row])]) == {kind.name: 2}
    assert store.table_counts()[kind.table] == 1
    columns = ", ".join(f'"{c}"' for c in kind.columns)
    assert rows(store, f'SELECT {columns} FROM "{kind.table}"') == [dataclasses.astuple(row)]


@pytest.mark.parametrize("kind", [k for k in KINDS if k.seen], ids=lambda k: k.name)
def test_first_seen_is_kept_and_last_seen_updated_for_each_kind(store: Store, kind: Any) -> None:
    store.write([Page(rows=[SAMPLES[kind.row]])])
    age(store, kind.table)
    store.write([Page(rows=[SAMPLES[kind.row]])])
    ((first_seen, last_seen),) = seen(store, kind.table)
    assert first_seen == "2000"
    assert last_seen > "2020" and last_seen.endswith("Z")


@pytest.mark.parametrize(
    ("kind", "column"),
    [(k, c) for k in KINDS for c in k.key],
    ids=[f"{k.name}.{c}" for k in KINDS for c in k.key],
)
def test_a_row_with_a_none_in_its_key_is_refused_and_counted(
    store: Store, kind: Any, column: str
) -> None:
    bad = dataclasses.replace(SAMPLES[kind.row], **{column: None})
    assert store.write([Page(rows=[bad, SAMPLES[kind.row]])]) == {kind.name: 1}
    assert store.dropped == 1
    assert store.table_counts()[kind.table] == 1


def test_write_returns_the_rows_written_per_kind_across_pages(store: Store) -> None:
    pages = [
        Page(rows=[track(1), user(2), Engagement(2, 1, "like", 1), track(None)]),
        Page(rows=[Follow(2, 3, FROM_FOLLOWERS), track(4), user(None)]),
        Page(expansions=[Expansion(1, 2, 5)]),
        Page(),
    ]
    assert store.write(pages) == {"tracks": 2, "users": 1, "engagements": 1, "follows": 1}
    assert store.write([Page(rows=[user(None)])]) == {}
    assert store.write([]) == {}
    assert store.dropped == 3


def test_a_row_of_no_known_kind_is_a_type_error_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(TypeError, match="dict: not a row kind"):
        store.write([Page(rows=[track(1), {"track_id": 2}])])
    assert not store.conn.in_transaction
    assert store.table_counts()["tracks"] == 0


# -- merge rules of the kinds schema 4 added -------------------------------------------------


def test_follow_sources_are_or_ed(store: Store) -> None:
    store.write([Page(rows=[Follow(BIG + 1, BIG + 2, FROM_FOLLOWINGS)])])
    store.write([Page(rows=[Follow(BIG + 1, BIG + 2, FROM_FOLLOWERS)])])
    store.write([Page(rows=[Follow(BIG + 2, BIG + 1, FROM_FOLLOWERS)])])
    assert set(
        rows(store, 'SELECT "follower_id", "followee_id", "sources" FROM "user_follows"')
    ) == {
        (BIG + 1, BIG + 2, FROM_FOLLOWINGS | FROM_FOLLOWERS),
        (BIG + 2, BIG + 1, FROM_FOLLOWERS),
    }


def test_playlist_keeps_known_fields_and_merges_raw_json(store: Store) -> None:
    store.write([Page(rows=[playlist(1)])])
    poorer = playlist(
        1,
        urn=None,
        title="Renamed",
        track_count=None,
        duration_ms=None,
        permalink_url=None,
        created_at=None,
        raw_json=json.dumps({"genre": None, "likes_count": 3}),
    )
    store.write([Page(rows=[poorer])])
    ((urn, title, count, duration, raw),) = rows(
        store,
        'SELECT "urn", "title", "track_count", "duration_ms", "raw_json" FROM "playlists"',
    )
    assert (urn, title, count, duration) == ("soundcloud:playlists:1", "Renamed", 12, 3_600_000)
    assert json.loads(raw) == {"kind": "playlist", "genre": "House", "likes_count": 3}


def test_playlist_raw_json_is_left_out_without_store_raw_json(store: Store) -> None:
    store.store_raw_json = False
    store.write([Page(rows=[playlist(1)])])
    assert rows(store, 'SELECT "raw_json", "title" FROM "playlists"') == [(None, "Mix")]


def test_playlist_track_at_a_position_is_replaced_and_a_track_may_repeat(store: Store) -> None:
    store.write([Page(rows=[PlaylistTrack(1, 0, 10), PlaylistTrack(1, 1, 11)])])
    age(store, "playlist_tracks")
    # One batch: the later row for a position wins; the same track may sit at two positions.
    store.write([Page(rows=[PlaylistTrack(1, 1, 12)]), Page(rows=[PlaylistTrack(1, 1, 10)])])
    assert rows(
        store,
        'SELECT "playlist_id", "position", "track_id", "first_seen", "last_seen" = \'2000\' '
        'FROM "playlist_tracks" ORDER BY "position"',
    ) == [(1, 0, 10, "2000", 1), (1, 1, 10, "2000", 0)]


def test_related_tracks_keep_known_values_per_source(store: Store) -> None:
    store.write([Page(rows=[RelatedTrack(1, 2, "api", 3, None, None)])])
    store.write([Page(rows=[RelatedTrack(1, 2, "api", None, 0.5, None)])])
    store.write([Page(rows=[RelatedTrack(1, 2, "co_likes", None, 0.25, 40)])])
    store.write([Page(rows=[RelatedTrack(1, 2, "api", 2, None, 7)])])
    assert rows(
        store,
        'SELECT "source", "rank", "score", "support" FROM "related_tracks" ORDER BY "source"',
    ) == [("api", 2, 0.5, 7), ("co_likes", None, 0.25, 40)]


def test_list_items_are_recorded_once(store: Store) -> None:
    items = [ListItem("tracks:1", 10), ListItem("tracks:1", 11), ListItem("tracks:2", 10)]
    assert store.write([Page(rows=items), Page(rows=items[:1])]) == {"list_items": 4}
    assert rows(store, 'SELECT * FROM "harvest_list_items" ORDER BY 1, 2') == [
        ("tracks:1", 10),
        ("tracks:1", 11),
        ("tracks:2", 10),
    ]


# -- expansions ------------------------------------------------------------------------------


def test_expansions_are_recorded_with_the_run_and_read_back_in_order(store: Store) -> None:
    store.write([Page(expansions=[Expansion(BIG + 1, 2, 3)])])  # before any run: no run id
    assert rows(store, 'SELECT "run_id" FROM "harvest_expansions"') == [(None,)]
    run_id = store.begin_run()
    assert store.run_id == run_id
    store.write(
        [
            Page(expansions=[Expansion(5, 2, 9), Expansion(4, 2, 9), Expansion(BIG + 1, 2, 8)]),
            Page(expansions=[Expansion(3, 3, 20)]),
        ]
    )
    assert store.expansions() == [
        Expansion(4, 2, 9),
        Expansion(5, 2, 9),
        Expansion(BIG + 1, 2, 8),
        Expansion(3, 3, 20),
    ]
    assert {r[0] for r in rows(store, 'SELECT "run_id" FROM "harvest_expansions"')} == {run_id}
    ((expanded_at,),) = rows(store, 'SELECT max("expanded_at") FROM "harvest_expansions"')
    assert expanded_at > "2020" and expanded_at.endswith("Z")
    assert store.snapshot()["expansions"] == {(4, 2, 9), (5, 2, 9), (BIG + 1, 2, 8), (3, 3, 20)}


# -- snapshot: the simulator's truth, read back ----------------------------------------------


def truth_rows(truth: Truth) -> list[Any]:
    """Rows a correct harvest writes for `truth` (values other than the truth's are dummies)."""
    return [
        *(track(t) for t in truth.track_ids),
        *(user(u) for u in truth.user_ids),
        *(Engagement(u, t, kind, 1) for u, t, kind in truth.engagements),
        *(Follow(a, b, FROM_FOLLOWINGS) for a, b in truth.follows),
        *(playlist(p, user_id=u) for p, u in truth.playlists),
        *(PlaylistTrack(p, position, t) for p, position, t in truth.playlist_tracks),
        *(RelatedTrack(s, t, "api", rank, None, None) for s, t, rank in truth.related),
        RelatedTrack(1, 2, "legacy", None, 0.5, None),  # not the API's: not in the truth
    ]


def test_snapshot_has_the_shapes_of_the_simulators_truth(store: Store) -> None:
    world = World(seed=4, users=300, tracks=900, likers=12, reposters=4, likes_mean=6)
    families = "favoriters,reposters,related,likes,reposts,followings,followers,playlists,tracks"
    truth = world.truth(lists=families, depth=2, expand=3, max_likes=5, max_followings=5)
    for name in ("engagements", "follows", "playlists", "playlist_tracks", "related"):
        assert getattr(truth, name), name  # the world exercises every set
    assert truth.expansions
    store.write(
        [Page(rows=truth_rows(truth), expansions=[Expansion(*e) for e in truth.expansions])]
    )
    assert store.snapshot() == dataclasses.asdict(truth)
