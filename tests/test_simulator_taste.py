"""Planted taste (``--taste-groups``, ``--taste-strength``): off by default, deterministic, real."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter, defaultdict
from itertools import combinations

import orjson
import pytest

from sgr_scrapy.simulator.cli import build_parser, configs
from sgr_scrapy.simulator.world import World

ALL = "favoriters,reposters,likes,reposts,followings,followers,playlists,tracks,related"
KNOBS = {
    "users": 800, "tracks": 3000, "likers": 60, "reposters": 20, "likes_mean": 20.0,
    "likes_max": 120,
}  # fmt: skip
# sha256 of world_bytes(World(**KNOBS)), computed with the simulator before the option existed:
# a world without --taste-groups must stay this world, byte for byte.
PLAIN_DIGEST = "a6579924d07fed4b597f60eb532716dea301729b40bd0bf0846e10c2259b281f"


def world_bytes(world: World) -> bytes:
    """The truth of every family over two hops, plus objects and list times of a sample."""
    truth = world.truth(lists=ALL, depth=2, expand=5)
    parts = [orjson.dumps(truth.to_json(), option=orjson.OPT_SORT_KEYS)]
    for i in range(0, world.n_users, 7):
        uid = world.user_id(i)
        likes, reposts = world.likes(uid), world.reposts(uid)
        assert likes is not None and reposts is not None
        parts.append(orjson.dumps([world.user(uid), likes.times, reposts.times]))
    for i in range(0, world.n_tracks, 11):
        tid = world.track_id(i)
        favoriters, reposters = world.favoriters(tid), world.reposters(tid)
        assert favoriters is not None and reposters is not None
        parts.append(orjson.dumps([world.track(tid), favoriters.times, reposters.times]))
    return b"\n".join(parts)


def likes_by_user(world: World) -> dict[int, list[int]]:
    """Every user's liked track indexes (the seed track left out), users with none too."""
    out = {}
    for u in range(world.n_users):
        likes = world.likes(world.user_id(u))
        assert likes is not None
        out[u] = [i for i in map(world.track_index, likes.ids) if i]
    return out


def recall_at_10(likes: dict[int, list[int]]) -> tuple[float, float]:
    """Leave-one-out recall@10 of popularity and of co-like cosine kNN (support >= 2)."""
    rng = random.Random(0)
    held = {u: rng.choice(v) for u, v in likes.items() if len(v) >= 3}
    train = {u: set(likes[u]) - {held[u]} for u in held}
    n = Counter(t for items in train.values() for t in items)
    co = Counter(pair for items in train.values() for pair in combinations(sorted(items), 2))
    neighbours = defaultdict(list)
    for (a, b), s in co.items():
        if s >= 2:
            cosine = s / math.sqrt(n[a] * n[b])
            neighbours[a].append((b, cosine))
            neighbours[b].append((a, cosine))
    ranked = [t for t, _ in n.most_common()]
    pop_hits = knn_hits = 0
    for u, seen in train.items():
        pop_hits += held[u] in [t for t in ranked[: 10 + len(seen)] if t not in seen][:10]
        score: Counter[int] = Counter()
        for i in seen:
            for j, cosine in neighbours[i]:
                if j not in seen:
                    score[j] += cosine
        knn_hits += held[u] in {t for t, _ in score.most_common(10)}
    return pop_hits / len(train), knn_hits / len(train)


def test_a_world_without_the_option_is_the_world_before_it() -> None:
    plain = World(**KNOBS)
    assert plain.config.taste_groups == 0 and plain.taste is None
    assert hashlib.sha256(world_bytes(plain)).hexdigest() == PLAIN_DIGEST
    # The strength alone plants nothing.
    assert world_bytes(World(**KNOBS, taste_strength=0.3)) == world_bytes(plain)


def test_planted_worlds_are_deterministic_from_the_seed() -> None:
    planted = world_bytes(World(**KNOBS, taste_groups=8))
    assert planted == world_bytes(World(**KNOBS, taste_groups=8))
    assert planted != world_bytes(World(**KNOBS))
    assert planted != world_bytes(World(**KNOBS, taste_groups=8, seed=2))
    assert planted != world_bytes(World(**KNOBS, taste_groups=8, taste_strength=0.5))


def test_planted_lists_stay_two_way_with_unique_times() -> None:
    world = World(**KNOBS, taste_groups=8)
    for out_name, in_name in (("likes", "favoriters"), ("reposts", "reposters")):
        by_user, by_track = set(), set()
        for u in range(world.n_users):
            got = getattr(world, out_name)(world.user_id(u))
            assert len(set(got.times)) == len(got.times)
            by_user |= {(got.owner_id, t, ms) for t, ms in zip(got.ids, got.times, strict=True)}
        for i in range(world.n_tracks):
            got = getattr(world, in_name)(world.track_id(i))
            assert len(set(got.times)) == len(got.times)
            by_track |= {(u, got.owner_id, ms) for u, ms in zip(got.ids, got.times, strict=True)}
        assert by_user == by_track and len(by_user) > 1000


def test_users_like_their_groups_genre_far_above_chance() -> None:
    world = World(**KNOBS, taste_groups=8)
    taste = world.taste
    assert taste is not None and taste.n == 8
    genre_of = {}
    for i in range(world.n_tracks):
        track = world.track(world.track_id(i))
        assert track is not None
        genre_of[i] = track["genre"]
    # A group is one genre (or null), and a group holds every artist's whole catalogue.
    by_group = defaultdict(set)
    for i, genre in genre_of.items():
        by_group[taste.track_group(i)].add(genre)
    assert all(len(genres - {None}) == 1 for genres in by_group.values())
    same = total = 0
    for u, tracks in likes_by_user(world).items():
        ours = {g for g in by_group[taste.user_group(u)] if g}
        for i in tracks:
            if genre_of[i]:
                total += 1
                same += genre_of[i] in ours
    assert same / total > 0.6  # chance: about 1/8


def test_knn_beats_popularity_only_on_a_planted_world() -> None:
    pop, knn = recall_at_10(likes_by_user(World(**KNOBS, taste_groups=20)))
    assert knn > 2 * pop
    pop, knn = recall_at_10(likes_by_user(World(**KNOBS)))
    assert knn < 1.2 * pop


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--taste-groups", "-1"], "--taste-groups must be 0"),
        (["--taste-strength", "1.5"], "--taste-strength must be between 0 and 1"),
    ],
)
def test_bad_taste_flags_are_refused_in_one_line(flags: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        configs(build_parser().parse_args(flags))


def test_bad_taste_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="taste_groups"):
        World(taste_groups=-2)
    with pytest.raises(ValueError, match="taste_strength"):
        World(taste_groups=3, taste_strength=-0.1)


def test_the_simulator_serves_the_planted_world(simulator) -> None:
    flags = ["--users", "400", "--tracks", "1500", "--likers", "40", "--reposters", "15"]
    sim = simulator(*flags, "--taste-groups", "6", "--taste-strength", "0.7")
    world = World(
        users=400, tracks=1500, likers=40, reposters=15, taste_groups=6, taste_strength=0.7
    )
    assert sim.truth() == world.truth()
