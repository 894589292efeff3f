"""The list families of the world (no server): both ends of every graph agree, uploads,
playlists and related tracks are well formed, and the truth follows families, caps and hops."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from sgr_scrapy.simulator.cursors import decode, encode
from sgr_scrapy.simulator.graph import EventGraph, Perm
from sgr_scrapy.simulator.truth import (
    DEFAULT_LISTS,
    FAMILIES,
    Truth,
    parse_lists,
    resolve_caps,
)
from sgr_scrapy.simulator.world import World

KNOBS = {"users": 300, "tracks": 1200, "likers": 40, "reposters": 20}


@pytest.fixture(scope="module")
def world() -> World:
    return World(**KNOBS)


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 4099])
def test_perm_is_a_bijection_with_its_inverse(n: int) -> None:
    perm = Perm(n, key=n)
    images = [perm(x) for x in range(n)]
    assert sorted(images) == list(range(n))
    assert [perm.inverse(y) for y in images] == list(range(n))


def test_event_graph_reads_the_same_edges_from_both_ends() -> None:
    counts = [i % 37 for i in range(200)]
    graph = EventGraph(200, 500, counts.__getitem__, 1 / 3, key=3)
    out = {(o, r, t) for o in range(200) for r, t in graph.out_list(o).items()}
    into = {(o, r, t) for r in range(500) for o, t in graph.in_list(r).items()}
    assert out == into
    assert len({t for _, _, t in out}) == len(out)  # times are unique: cursor positions
    assert sum(len(graph.in_list(r)) for r in range(10)) > sum(
        len(graph.in_list(r)) for r in range(490, 500)
    )  # low ranks are popular


@pytest.mark.parametrize(
    ("out_name", "in_name"),
    [("likes", "favoriters"), ("reposts", "reposters"), ("followings", "followers")],
)
def test_both_ends_of_every_graph_agree(world: World, out_name: str, in_name: str) -> None:
    out_of, in_of = getattr(world, out_name), getattr(world, in_name)
    users = [world.user_id(i) for i in range(world.n_users)]
    edges = set()
    for u in users:
        lst = out_of(u)
        assert len(set(lst.ids)) == len(lst.ids)
        assert lst.times == sorted(lst.times, reverse=True) and len(set(lst.times)) == len(lst)
        edges |= {(u, x, t) for x, t in zip(lst.ids, lst.times, strict=True)}
    targets = {x for _, x, _ in edges}
    back = set()
    for x in targets:
        lst = in_of(x)
        back |= {(u, x, t) for u, t in zip(lst.ids, lst.times, strict=True)}
    assert edges == back
    if in_name != "followers":
        assert world.seed_track_id in targets  # the seed too: exactly its likers like it
        assert {u for u, x, _ in edges if x == world.seed_track_id} == set(
            in_of(world.seed_track_id).ids
        )
    else:
        assert all(u != x for u, x, _ in edges)  # nobody follows themself


def test_uploads_partition_the_tracks_among_artists(world: World) -> None:
    owner: dict[int, int] = {}
    for i in range(world.n_users):
        uid = world.user_id(i)
        uploads = world.uploads(uid)
        assert uploads.times == sorted(uploads.times, reverse=True)
        assert world.user(uid)["track_count"] == len(uploads)
        for t in uploads.ids:
            assert t not in owner
            owner[t] = uid
    assert len(owner) == world.n_tracks
    assert all(world.artist_id(t) == u for t, u in owner.items())
    assert all(world.track(t)["user"]["id"] == u for t, u in list(owner.items())[:50])


def test_playlists_have_ordered_tracks_with_repeats(world: World) -> None:
    lengths, repeats, owners = [], 0, 0
    for i in range(world.n_users):
        uid = world.user_id(i)
        playlists = world.playlists(uid)
        assert len(playlists) == world.user(uid)["playlist_count"]
        owners += bool(len(playlists))
        for p in playlists.ids:
            assert world.playlist_owner(p) is not None
            tracks = world.playlist_tracks(p)
            obj = world.make_playlist(p)
            assert obj["kind"] == "playlist" and obj["urn"] == f"soundcloud:playlists:{p}"
            assert obj["user"]["id"] == uid and obj["track_count"] == len(tracks)
            assert "/sets/" in obj["permalink_url"]
            lengths.append(len(tracks))
            repeats += len(tracks) != len(set(tracks))
    assert owners > world.n_users // 4 and repeats >= 5 and max(lengths) > 50
    assert 0 in lengths
    assert world.playlist_tracks(12345) is None and world.make_playlist(12345) is None


def test_related_tracks_are_distinct_other_tracks(world: World) -> None:
    sizes = []
    for i in range(0, world.n_tracks, 7):
        tid = world.track_id(i)
        related = world.related(tid).ids
        assert tid not in related and len(set(related)) == len(related)
        sizes.append(len(related))
    assert min(sizes) == 0 and max(sizes) > 40
    assert world.related(12) is None


@pytest.mark.parametrize("family", ["epoch", "likes", "tracks", "playlists", "offset"])
def test_every_cursor_family_round_trips(world: World, family: str) -> None:
    u = next(
        world.user_id(i)
        for i in range(world.n_users)
        if min(len(world.uploads(world.user_id(i))), len(world.playlists(world.user_id(i)))) >= 3
    )
    lst = {
        "epoch": world.followers(u),
        "likes": world.likes(world.favoriters(world.seed_track_id).ids[0]),
        "tracks": world.uploads(u),
        "playlists": world.playlists(u),
        "offset": world.related(world.seed_track_id),
    }[family]
    for position in range(1, min(len(lst), 5)):
        assert decode(family, lst, encode(family, lst, position)) == position
    if family in ("tracks", "playlists"):
        other = "playlists" if family == "tracks" else "tracks"
        cursor = encode(family, lst, 1)
        assert decode(family, lst, cursor.replace(f",{family},", f",{other},")) is None
        assert decode(family, lst, cursor[:-1] + str((int(cursor[-1]) + 1) % 10)) is None


def test_caps_default_to_todays_and_explicit_caps_win() -> None:
    caps = resolve_caps(10, 5)
    assert caps["favoriters"] == caps["reposters"] == 10 and caps["likes"] == 5
    assert set(caps) == set(FAMILIES) and caps["followers"] == 0
    caps = resolve_caps(10, 5, max_reposters=3, max_likes=0, max_related=7)
    assert (caps["favoriters"], caps["reposters"], caps["likes"], caps["related"]) == (10, 3, 0, 7)
    with pytest.raises(ValueError, match="max_bogus"):
        resolve_caps(max_bogus=1)
    with pytest.raises(ValueError, match="max_likes"):
        resolve_caps(max_likes=-1)
    assert parse_lists(None) == DEFAULT_LISTS == ("favoriters", "reposters", "likes")
    assert parse_lists(" likes,related,,likes") == ("likes", "related")
    with pytest.raises(ValueError, match="unknown list family"):
        parse_lists("likes,comments")


def test_default_truth_is_todays_and_its_json_keeps_the_old_keys(world: World) -> None:
    truth = world.truth(5, 4)
    s = world.seed_track_id
    likers, reposters = world.favoriters(s).ids[:5], world.reposters(s).ids[:5]
    users = set(likers) | set(reposters)
    expected = {(u, s, "like") for u in likers} | {(u, s, "repost") for u in reposters}
    expected |= {(u, t, "like") for u in users for t in world.likes(u).ids[:4]}
    assert truth.engagements == expected
    assert truth.track_ids == {t for _, t, _ in expected}
    assert truth.user_ids == users | {world.artist_id(t) for t in truth.track_ids}
    assert not (truth.follows or truth.playlists or truth.related or truth.expansions)
    data = truth.to_json()
    assert list(data)[:3] == ["track_ids", "user_ids", "engagements"]
    old = {k: data[k] for k in ("track_ids", "user_ids", "engagements")}
    assert Truth.from_json(old) == truth == Truth.from_json(data)


def test_truth_of_every_family_follows_its_lists_and_caps(world: World) -> None:
    caps = {f"max_{f}": 3 for f in FAMILIES}
    truth = world.truth(lists=",".join(FAMILIES), **caps)
    s = world.seed_track_id
    users = set(world.favoriters(s).ids[:3]) | set(world.reposters(s).ids[:3])
    assert truth.related == {(s, t, r) for r, t in enumerate(world.related(s).ids[:3], 1)}
    follows = {(u, v) for u in users for v in world.followings(u).ids[:3]}
    follows |= {(v, u) for u in users for v in world.followers(u).ids[:3]}
    assert truth.follows == follows
    playlists = {(p, u) for u in users for p in world.playlists(u).ids[:3]}
    assert truth.playlists == playlists
    assert truth.playlist_tracks == {
        (p, i, t) for p, _ in playlists for i, t in enumerate(world.playlist_tracks(p))
    }
    reposts = {(u, t, "repost") for u in users for t in world.reposts(u).ids[:3]}
    assert reposts <= truth.engagements
    uploads = {t for u in users for t in world.uploads(u).ids[:3]}
    assert uploads <= truth.track_ids
    assert truth.user_ids >= {v for pair in follows for v in pair}
    assert truth.user_ids >= {world.artist_id(t) for t in truth.track_ids}
    # Each family alone adds nothing of another's.
    only_related = world.truth(lists="related", max_related=3)
    assert only_related.related == truth.related and not only_related.engagements


def test_depth_expands_the_most_engaged_tracks_of_the_hop(world: World) -> None:
    lists = "favoriters,reposters,likes,reposts"
    truth = world.truth(4, 4, lists=lists, depth=3, expand=3, max_reposts=4)
    s = world.seed_track_id
    # Hop 1, by hand: its users, their engagement rows, the three most engaged other tracks.
    hop1 = set(world.favoriters(s).ids[:4]) | set(world.reposters(s).ids[:4])
    rows = {(u, s, "like") for u in world.favoriters(s).ids[:4]}
    rows |= {(u, s, "repost") for u in world.reposters(s).ids[:4]}
    rows |= {(u, t, "like") for u in hop1 for t in world.likes(u).ids[:4]}
    rows |= {(u, t, "repost") for u in hop1 for t in world.reposts(u).ids[:4]}
    counts = Counter(t for _, t, _ in rows if t != s)
    picks = sorted((-c, t) for t, c in counts.items())[:3]
    hop2 = {(t, 2, -c) for c, t in picks}
    assert {e for e in truth.expansions if e[1] == 2} == hop2
    for t, _, _ in hop2:
        assert {(u, t, "like") for u in world.favoriters(t).ids[:4]} <= truth.engagements
    third = [e for e in truth.expansions if e[1] == 3]
    assert len(third) == 3 and not {t for t, _, _ in third} & ({t for t, _, _ in hop2} | {s})
    assert truth.engagements >= rows
    shallow = world.truth(4, 4, lists=lists, depth=2, expand=3, max_reposts=4)
    assert shallow.expansions == hop2 and shallow.engagements < truth.engagements
    assert world.truth(4, 4, lists=lists, depth=3, expand=0) == world.truth(4, 4, lists=lists)


def test_hop_users_are_read_once_and_ties_go_to_the_smaller_track(world: World) -> None:
    truth = world.truth(0, 0, lists="favoriters,likes", depth=2, expand=50)
    counts = [c for _, _, c in truth.expansions]
    by_count = sorted(truth.expansions, key=lambda e: (-e[2], e[0]))
    assert [e[2] for e in by_count] == sorted(counts, reverse=True)
    tied = [e for e in by_count if e[2] == by_count[-1][2]]
    assert [e[0] for e in tied] == sorted(e[0] for e in tied)
    with pytest.raises(ValueError, match="depth"):
        world.truth(depth=0)


def test_a_million_engagement_world_starts_fast_and_serves_new_lists() -> None:
    started = time.perf_counter()
    world = World(likers=22000)
    assert time.perf_counter() - started < 2
    popular = world.track_id(1)
    assert len(world.favoriters(popular)) > 1000
    u = world.favoriters(popular).ids[0]
    assert popular in world.likes(u).ids
    assert world.followers(u) is not None and world.playlists(u) is not None
