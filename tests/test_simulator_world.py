"""Unit tests of the simulator's world, cursors, tokens and rate limiter (no server)."""

from __future__ import annotations

import random
import re
from collections import Counter

import orjson
import pytest

from sgr_scrapy.simulator.auth import RateLimiter, TokenStore, reset_time
from sgr_scrapy.simulator.cursors import decode_epoch, decode_likes, encode_epoch, encode_likes
from sgr_scrapy.simulator.objects import MINI_USER_KEYS, PARTIAL_USER_KEYS
from sgr_scrapy.simulator.world import World


class FakeClock:
    """A settable clock for the token store and the rate limiter."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_same_seed_gives_the_same_bytes() -> None:
    a, b = World(seed=5, users=300, tracks=900), World(seed=5, users=300, tracks=900)
    other = World(seed=6, users=300, tracks=900)
    tid, uid = a.track_id(7), a.user_id(7)
    assert orjson.dumps(a.track(tid)) == orjson.dumps(b.track(tid))
    assert orjson.dumps(a.user(uid)) == orjson.dumps(b.user(uid))
    assert a.favoriters(a.seed_track_id).ids == b.favoriters(b.seed_track_id).ids
    assert a.likes(uid).times == b.likes(uid).times
    assert a.truth().engagements == b.truth().engagements
    assert a.truth().engagements != other.truth().engagements


def test_ids_are_beyond_32_bits_with_matching_urns(world: World) -> None:
    for index in (0, 1, 100, world.n_users - 1):
        user = world.user(world.user_id(index))
        assert user["id"] > 2**31 and user["urn"] == f"soundcloud:users:{user['id']}"
        assert world.user_index(user["id"]) == index
    track = world.track(world.track_id(world.n_tracks - 1))
    assert 2**52 < track["id"] < 2**53
    assert track["urn"] == f"soundcloud:tracks:{track['id']}"
    assert world.user_index(world.user_id(5) + 1) is None
    assert world.track_index(world.user_id(5)) is None


def test_likes_have_a_heavy_tail_and_popular_tracks_are_shared(world: World) -> None:
    counts = [world.like_count(i) for i in range(world.n_users)]
    zero_share = counts.count(0) / len(counts)
    assert 0.05 < zero_share < 0.15
    assert max(counts) >= 1000
    shared = Counter(t for i in range(300) for t in world.likes(world.user_id(i)).ids)
    assert shared.most_common(1)[0][1] >= 10


def test_default_world_totals_tens_of_thousands_of_engagements(world: World) -> None:
    assert 50_000 <= len(world.truth().engagements) <= 150_000


def test_text_carries_real_world_edge_cases(world: World) -> None:
    tracks = [world.track(world.track_id(i)) for i in range(1500)]
    users = [world.user(world.user_id(i)) for i in range(1500)]
    text = "".join(
        str(t[k]) for t in tracks for k in ("title", "description", "tag_list", "genre")
    ) + "".join(str(u[k]) for u in users for k in ("username", "description", "city"))
    assert re.search(r"[\U00010000-\U0010FFFF]", text)  # non-BMP emoji
    assert re.search(r"[\u0590-\u05FF]", text) and re.search(r"[\u0600-\u06FF]", text)
    assert re.search(r"[\u4E00-\u9FFF]", text)
    for needle in ('"', "\\", "\r\n", "&"):
        assert needle in text
    assert any(t["description"] is None for t in tracks)
    assert any(t["description"] == "" for t in tracks)
    assert any(t["genre"] is None for t in tracks) and any(t["bpm"] is None for t in tracks)
    assert any(t["artwork_url"] is None for t in tracks)
    tags = [t["tag_list"] for t in tracks]
    assert "" in tags and " Jazz" in tags
    assert any(re.search(r'"[^"]+ [^"]+"', s) for s in tags)
    assert any("soundcloud:source=iphone-record" in s for s in tags)
    hidden = [t for t in tracks if not t["reveal_stats"]]
    assert hidden and all(t["playback_count"] is None for t in hidden)
    assert {t["access"] for t in tracks} == {"playable", "preview", "blocked"}


@pytest.mark.parametrize(
    ("shape", "keys"),
    [
        ("partial", set(PARTIAL_USER_KEYS)),
        ("mini", {*MINI_USER_KEYS, "uri"}),
        ("full", None),
    ],
)
def test_tracks_nest_a_partial_mini_or_full_user(shape: str, keys: set[str] | None) -> None:
    world = World(users=200, tracks=500, nested_user=shape)
    for index in (0, 1, 77, world.n_tracks - 1):
        tid = world.track_id(index)
        nested = world.track(tid)["user"]
        full = world.user(world.artist_id(tid))
        assert set(nested) == (keys if keys is not None else set(full))
        assert nested == {k: full[k] for k in nested}
    assert World(users=200, tracks=500).config.nested_user == "partial"


def test_bad_world_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="nested_user"):
        World(nested_user="tiny")
    with pytest.raises(ValueError, match="artist_fans"):
        World(artist_fans=1.5)


def test_artist_fans_like_and_repost_the_seed_and_are_liked_by_other_fans() -> None:
    knobs = {"users": 600, "tracks": 3000, "likers": 150, "reposters": 60, "artist_share": 0.5}
    world, plain = World(**knobs, artist_fans=0.5), World(**knobs)
    s = world.seed_track_id
    artists = {world.artist_id(world.track_id(i)) for i in range(world.n_tracks)}
    likers, reposters = world.favoriters(s).ids, world.reposters(s).ids
    assert len(likers) == len(set(likers)) == 150 and len(reposters) == len(set(reposters)) == 60
    new_reposters = [u for u in reposters if u not in set(likers)]
    assert len(new_reposters) == 60 - int(60 * 0.4)
    assert sum(u in artists for u in likers) >= 75
    assert sum(u in artists for u in new_reposters) >= round(len(new_reposters) * 0.5)
    assert sum(u in artists for u in plain.favoriters(s).ids) < 100
    liked_artists = {world.artist_id(t): u for u in likers for t in world.likes(u).ids}
    seen_nested = [u for u in likers if u in artists and liked_artists.get(u, u) != u]
    assert len(seen_nested) >= 30
    assert World(**knobs, artist_fans=0.5).favoriters(s).ids == likers  # deterministic
    assert world.truth().user_ids >= set(likers) | set(reposters)


def test_seed_reposters_overlap_the_likers(world: World) -> None:
    likers = set(world.favoriters(world.seed_track_id).ids)
    reposters = set(world.reposters(world.seed_track_id).ids)
    assert len(likers) == 1500 and len(reposters) == 600
    assert 0 < len(likers & reposters) < len(reposters)


@pytest.mark.parametrize(
    "variant",
    [
        lambda u: u,
        lambda u: u.replace("https://", "http://"),
        lambda u: u.replace("//soundcloud", "//m.soundcloud"),
        lambda u: u + "/",
        lambda u: u.replace("//soundcloud", "//www.soundcloud"),
        lambda u: u + "?si=abc123&utm_source=clipboard&utm_campaign=social_sharing",
        lambda u: u + "/?si=abc#t=0:30",
    ],
)
def test_resolve_accepts_url_variants(world: World, variant) -> None:
    assert world.resolve(variant(world.seed_url)) == ("tracks", world.seed_track_id)


def test_short_links_decode_without_a_table() -> None:
    world = World(tracks=1_000_000, users=5000)
    codes = set()
    for index in (0, 1, 2, 12_345, 999_997, world.n_tracks - 1):
        tid = world.track_id(index)
        short = world.short_url(tid)
        assert re.fullmatch(r"https://on\.soundcloud\.com/[0-9A-Za-z]{8}", short)
        assert world.resolve(short) == world.resolve(short + "?si=x") == ("tracks", tid)
        codes.add(short)
    assert len(codes) == 6
    assert World(tracks=1_000_000, users=5000, seed=2).short_url(world.track_id(5)) not in {
        world.short_url(world.track_id(5))
    }
    rng = random.Random(3)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    forged = ("".join(rng.choices(alphabet, k=8)) for _ in range(2000))
    assert not any(world.resolve(f"https://on.soundcloud.com/{c}") for c in forged)
    with pytest.raises(KeyError):
        world.short_url(12)


def test_resolve_maps_a_user_url_and_refuses_unknown_ones(world: World) -> None:
    user = world.user(world.artist_id(world.seed_track_id))
    assert world.resolve(user["permalink_url"]) == ("users", user["id"])
    assert world.resolve(world.seed_url + "x") is None
    assert world.resolve("https://soundcloud.com/nobody-zzzzzz") is None
    assert world.resolve("https://example.com/a/b") is None


def test_truth_follows_the_caps_and_adds_artists(world: World) -> None:
    s = world.seed_track_id
    truth = world.truth(max_users=10, max_user_likes=5)
    likers = world.favoriters(s).ids[:10]
    reposters = world.reposters(s).ids[:10]
    assert {(u, s, "like") for u in likers} <= truth.engagements
    assert {(u, s, "repost") for u in reposters} <= truth.engagements
    for u in set(likers) | set(reposters):
        for t in world.likes(u).ids[:5]:
            assert (u, t, "like") in truth.engagements
            assert t in truth.track_ids and world.artist_id(t) in truth.user_ids
    expected = {(u, s, "like") for u in likers} | {(u, s, "repost") for u in reposters}
    expected |= {
        (u, t, "like") for u in set(likers) | set(reposters) for t in world.likes(u).ids[:5]
    }
    assert truth.engagements == expected


def test_truth_accepts_several_seeds(world: World) -> None:
    other = world.track_id(3)
    both = world.truth(max_users=5, max_user_likes=2, seeds=[world.seed_track_id, other])
    assert {world.seed_track_id, other} <= both.track_ids
    assert any(t == other for _, t, _ in both.engagements)
    with pytest.raises(KeyError):
        world.truth(seeds=[12345])


def test_cursors_round_trip_and_refuse_forged_or_foreign_ones(world: World) -> None:
    favs = world.favoriters(world.seed_track_id)
    other = world.favoriters(world.track_id(1))
    cursor = encode_epoch(favs, 50)
    assert decode_epoch(favs, cursor) == 50
    assert decode_epoch(other, cursor) is None
    assert decode_epoch(favs, str(int(cursor) + 1)) is None
    assert decode_epoch(favs, "abc") is None
    u1, u2 = favs.ids[0], favs.ids[1]
    likes, likes2 = world.likes(u1), world.likes(u2)
    if len(likes) < 2:
        likes = world.likes(next(u for u in favs.ids if len(world.likes(u)) >= 2))
    c = encode_likes(likes, 2)
    assert decode_likes(likes, c) == 2
    assert decode_likes(likes2, c) is None
    assert decode_likes(likes, c.replace(",user-track-likes,", ",tracks,")) is None
    assert decode_likes(likes, c[:-1] + str((int(c[-1]) + 1) % 10)) is None


def test_tokens_expire_and_refresh_tokens_are_single_use() -> None:
    clock = FakeClock()
    store = TokenStore(ttl=60, clock=clock)
    grant = store.issue()
    assert store.valid(grant.access_token)
    clock.now += 59
    assert store.valid(grant.access_token)
    clock.now += 2
    assert not store.valid(grant.access_token)
    new = store.refresh(grant.refresh_token)
    assert new is not None and store.valid(new.access_token)
    assert store.refresh(grant.refresh_token) is None
    store.revoke_all()
    assert not store.valid(new.access_token)
    assert store.refresh(new.refresh_token) is not None


def test_rate_limiter_refills_per_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0
    clock.now += 0.5
    assert limiter.take("a") == 0


def test_reset_time_is_rounded_up_to_the_next_second() -> None:
    stamp, seconds = reset_time(1.2, wall=lambda: 1_700_000_000.5)
    assert stamp == "2023/11/14 22:13:22 +0000" and seconds == 2
