"""Small worlds for the analyze tests, a brute-force reference in plain Python sets, and
`scrapy analyze` run in-process on them.

A `World` is written to a real database of the project's schema; `reference()` computes each
table's rows from the definition (cosine s / sqrt(n_a n_b), support >= min_support, top-k by
score desc then id asc), knowing nothing of matrices or numba.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sgr_scrapy.analysis.options import Options
from sgr_scrapy.analysis.progress import Silent
from sgr_scrapy.analysis.run import Report, analyze
from sgr_scrapy.store import Store

Row = tuple[float, int, int]  # score, support, rank
# (table, first id, second id, score, count, where analyze's rows are)
TABLES = {
    "tracks": (
        "related_tracks",
        "track_id",
        "related_track_id",
        "score",
        "support",
        "\"source\" = 'co_like'",
    ),
    "users": ("user_similarity", "user_id_1", "user_id_2", "similarity", "shared", "1"),
    "artists": (
        "artist_relationships",
        "artist_id_1",
        "artist_id_2",
        "weight",
        "support",
        "\"relationship_type\" = 'co_liked'",
    ),
}


@dataclass
class World:
    """Engagements, and each track's artist (None: no artist; absent: no row in tracks)."""

    likes: set[tuple[int, int]] = field(default_factory=set)  # (user, track)
    reposts: set[tuple[int, int]] = field(default_factory=set)
    artist: dict[int, int | None] = field(default_factory=dict)
    idle_users: set[int] = field(default_factory=set)  # in `users`, with no engagement

    def engaged(self, with_reposts: bool) -> set[tuple[int, int]]:
        return self.likes | self.reposts if with_reposts else set(self.likes)

    def write(self, path: Path) -> Path:
        Store.open(path).close()
        conn = sqlite3.connect(path)
        with conn:
            users = {u for u, _ in self.likes | self.reposts} | self.idle_users
            conn.executemany('INSERT INTO "users" ("user_id") VALUES (?)', [(u,) for u in users])
            conn.executemany(
                'INSERT INTO "tracks" ("track_id", "artist_id") VALUES (?, ?)',
                list(self.artist.items()),
            )
            for kind, pairs in (("like", self.likes), ("repost", self.reposts)):
                conn.executemany(
                    'INSERT INTO "user_engagements" ("user_id", "track_id", "engagement_type") '
                    "VALUES (?, ?, ?)",
                    [(u, t, kind) for u, t in sorted(pairs)],
                )
        conn.close()
        return path


def sets(world: World, kind: str, with_reposts: bool) -> dict[int, set[int]]:
    """What each row of `kind` is, as a set: a track's users, a user's tracks, an artist's
    audience (users who engaged at least one of its tracks)."""
    out: dict[int, set[int]] = defaultdict(set)
    for user, track in world.engaged(with_reposts):
        if kind == "tracks":
            out[track].add(user)
        elif kind == "users":
            out[user].add(track)
        elif world.artist.get(track) is not None:
            out[world.artist[track]].add(user)  # type: ignore[index]
    return out


def reference(
    world: World, kind: str, top_k: int, min_support: int, with_reposts: bool = False
) -> dict[tuple[int, int], Row]:
    """The rows analyze should write for `kind`, by brute force."""
    groups = sets(world, kind, with_reposts)
    rows: dict[tuple[int, int], Row] = {}
    for a, members in groups.items():
        found = []
        for b, others in groups.items():
            shared = len(members & others)
            if b != a and shared >= min_support:
                found.append((shared / math.sqrt(len(members) * len(others)), b, shared))
        found.sort(key=lambda f: (-f[0], f[1]))
        for rank, (score, b, shared) in enumerate(found[:top_k], start=1):
            rows[(a, b)] = (score, shared, rank)
    return rows


def stored(db: Path, kind: str) -> dict[tuple[int, int], Row]:
    table, first, second, score, count, where = TABLES[kind]
    conn = sqlite3.connect(db)
    try:
        return {
            (a, b): (s, c, r)
            for a, b, s, c, r in conn.execute(
                f'SELECT "{first}", "{second}", "{score}", "{count}", "rank" FROM "{table}" '
                f"WHERE {where}"
            )
        }
    finally:
        conn.close()


def run_analyze(db: Path, **options: object) -> Report:
    with Store.open(db) as store:
        return analyze(store, Options(**options), Silent())  # type: ignore[arg-type]


def assert_matches(got: dict[tuple[int, int], Row], want: dict[tuple[int, int], Row]) -> None:
    assert set(got) == set(want), (
        sorted(set(got) - set(want))[:5],
        sorted(set(want) - set(got))[:5],
    )
    for pair, (score, support, rank) in want.items():
        assert got[pair][1:] == (support, rank), pair
        assert abs(got[pair][0] - score) <= 1e-9, pair


def random_world(seed: int, users: int = 40, tracks: int = 60, artists: int = 8) -> World:
    """Skewed popularity, a heavy user, tracks without an artist or without a row."""
    rng = random.Random(seed)
    world = World()
    weights = [1 / (i + 1) ** 0.8 for i in range(tracks)]
    for user in range(1, users + 1):
        count = 40 if user == 1 else rng.choice([0, 1, 1, 2, 3, 5, 8])
        for track in rng.choices(range(tracks), weights=weights, k=count):
            world.likes.add((user * 10, 1000 + track))
        if count == 0:
            world.idle_users.add(user * 10)
        for track in rng.sample(range(tracks), k=rng.choice([0, 0, 1, 2])):
            world.reposts.add((user * 10, 1000 + track))
    for track in range(tracks):
        if track % 11 != 5:  # every eleventh track has no row in `tracks`
            world.artist[1000 + track] = None if track % 7 == 3 else 5000 + track % artists
    return world


def ties_world() -> World:
    """Ties at the k-th place, a track liked by one user, a user with no likes, a track
    without an artist and one missing from `tracks`."""
    world = World(idle_users={99})
    # Track 1 shares 1 user with each of 2, 3, 4, 5 (all with 2 likers): four ties.
    for user, tracks in {
        1: [1, 2],
        2: [1, 3],
        3: [1, 4],
        4: [1, 5],
        5: [2, 3, 4, 5, 6],
        6: [7],
    }.items():
        world.likes |= {(user, t) for t in tracks}
    world.artist = {1: 10, 2: 10, 3: 20, 4: None, 5: 30, 7: 40}  # 6: no row in tracks
    return world


def test_the_reference_sees_the_ties_and_the_lonely_track() -> None:
    world = ties_world()
    rows = reference(world, "tracks", top_k=2, min_support=1)
    assert [(b, r) for (a, b), (_, _, r) in sorted(rows.items()) if a == 1] == [(2, 1), (3, 2)]
    assert not [pair for pair in rows if 7 in pair]  # liked by a user who liked nothing else


@pytest.mark.parametrize("kind", list(TABLES))
@pytest.mark.parametrize(("top_k", "min_support"), [(1, 1), (2, 1), (3, 2), (50, 1)])
def test_ties_world_matches_the_reference(
    tmp_path: Path, kind: str, top_k: int, min_support: int
) -> None:
    world = ties_world()
    db = world.write(tmp_path / "ties.db")
    run_analyze(db, top_k=top_k, min_support=min_support)
    assert_matches(stored(db, kind), reference(world, kind, top_k, min_support))


@pytest.mark.parametrize(
    "world",
    [
        World(),  # nothing harvested yet
        World(likes={(1, 10)}, artist={10: 5}),  # one like: nothing to relate
        World(likes={(1, 10), (2, 10)}, idle_users={3}),  # no row in tracks: no artist
    ],
    ids=["empty", "one-like", "no-track-rows"],
)
def test_tiny_worlds_give_what_the_reference_gives(tmp_path: Path, world: World) -> None:
    db = world.write(tmp_path / "tiny.db")
    report = run_analyze(db, top_k=3, min_support=1, factors=2)
    for kind in TABLES:
        assert_matches(stored(db, kind), reference(world, kind, 3, 1))
    assert report.inputs["engagements"] == len(world.likes)
