"""`--epoch E` advances time: new likes, reposts and follows at the head of lists (issue 13)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from sgr_scrapy.simulator.epochs import EPOCH_MS
from sgr_scrapy.simulator.objects import WORLD_NOW_MS
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.truth import FAMILIES
from sgr_scrapy.simulator.walk import Walker, fetch
from sgr_scrapy.simulator.world import ItemList, World
from tests.test_simulator_taste import KNOBS, PLAIN_DIGEST, world_bytes

ALL = ",".join(FAMILIES)
SMALL = ["--users", "400", "--tracks", "1500", "--likers", "45", "--reposters", "25"]
SMALL += ["--likes-mean", "60", "--followings-mean", "60", "--reposts-mean", "30"]
SMALL_KNOBS = {"users": 400, "tracks": 1500, "likers": 45, "reposters": 25, "likes_mean": 60.0}
SMALL_KNOBS |= {"followings_mean": 60.0, "reposts_mean": 30.0}
USER_LISTS = ("likes", "reposts", "followings", "followers", "uploads", "playlists")
TRACK_LISTS = ("favoriters", "reposters", "related")
# Both ends of each event graph: (a user's list, the list of its items' other end).
ENDS = [("likes", "favoriters"), ("reposts", "reposters"), ("followings", "followers")]


@pytest.fixture(scope="module")
def worlds() -> list[World]:
    return [World(**KNOBS, epoch=e) for e in range(3)]


def every_list(world: World) -> dict[tuple[str, int], ItemList]:
    out = {}
    for i in range(world.n_users):
        uid = world.user_id(i)
        out |= {(name, uid): getattr(world, name)(uid) for name in USER_LISTS}
    for i in range(world.n_tracks):
        tid = world.track_id(i)
        out |= {(name, tid): getattr(world, name)(tid) for name in TRACK_LISTS}
    return out


def test_epoch_0_is_todays_world_byte_for_byte() -> None:
    world = World(**KNOBS, epoch=0)
    assert world.epochs is None
    assert hashlib.sha256(world_bytes(world)).hexdigest() == PLAIN_DIGEST


def test_epochs_are_deterministic_and_differ(worlds: list[World]) -> None:
    assert world_bytes(World(**KNOBS, epoch=2)) == world_bytes(worlds[2])
    assert world_bytes(worlds[1]) != world_bytes(worlds[0])
    assert world_bytes(World(**KNOBS, epoch=1, seed=2)) != world_bytes(World(**KNOBS, seed=2))


def test_each_epoch_adds_newer_items_at_the_head_of_every_list(worlds: list[World]) -> None:
    lists = [every_list(w) for w in worlds]
    for epoch in (1, 2):
        grown = {name: 0 for name in (*USER_LISTS, *TRACK_LISTS)}
        for key, new in lists[epoch].items():
            old = lists[epoch - 1][key]
            n = len(new) - len(old)
            # The older world's list is the newer one's tail, same sort keys: old cursors hold.
            assert new.ids[n:] == old.ids and new.times[n:] == old.times, key
            assert len(set(new.ids)) == len(new.ids), key
            # Newest first everywhere (related is in relevance order, without times).
            assert new.times == sorted(new.times, reverse=True), key
            if n:
                assert min(new.times[:n]) > WORLD_NOW_MS + (epoch - 1) * EPOCH_MS, key
                assert max(new.times[:n]) <= WORLD_NOW_MS + epoch * EPOCH_MS, key
            grown[key[0]] += n
        # Likes, reposts and follows grow by a few per cent; uploads, playlists and related not.
        for name in ("likes", "reposts", "followings", "favoriters", "reposters", "followers"):
            total = sum(len(lst) for (family, _), lst in lists[epoch].items() if family == name)
            assert 0 < grown[name] <= 0.05 * total, (epoch, name, grown[name], total)
        assert grown["uploads"] == grown["playlists"] == grown["related"] == 0


@pytest.mark.parametrize(("out_name", "in_name"), ENDS)
def test_both_ends_agree_at_every_epoch(worlds: list[World], out_name: str, in_name: str) -> None:
    for world in worlds[1:]:
        by_owner, by_item = set(), set()
        for i in range(world.n_users):
            got = getattr(world, out_name)(world.user_id(i))
            by_owner |= {(got.owner_id, x, t) for x, t in zip(got.ids, got.times, strict=True)}
        items = world.n_users if in_name == "followers" else world.n_tracks
        make_id = world.user_id if in_name == "followers" else world.track_id
        for i in range(items):
            got = getattr(world, in_name)(make_id(i))
            by_item |= {(x, got.owner_id, t) for x, t in zip(got.ids, got.times, strict=True)}
        assert by_owner == by_item


def test_the_seed_gains_fans_some_brand_new(worlds: list[World]) -> None:
    seed = worlds[0].seed_track_id
    for epoch in (1, 2):
        before, after = worlds[epoch - 1], worlds[epoch]
        fans = set(before.favoriters(seed).ids) | set(before.reposters(seed).ids)
        for name, own in (("favoriters", "likes"), ("reposters", "reposts")):
            new = set(getattr(after, name)(seed).ids) - set(getattr(before, name)(seed).ids)
            # Brand-new users among them: a refresh reads their own lists in full.
            assert new and new - fans, (epoch, name)
            for uid in new:  # the other end agrees: the seed is among the user's new items
                head = len(getattr(after, own)(uid)) - len(getattr(before, own)(uid))
                assert seed in getattr(after, own)(uid).ids[:head], (epoch, name, uid)


def test_counts_grow_with_the_lists(worlds: list[World]) -> None:
    first, last = worlds[0], worlds[2]
    counted = {
        "likes_count": "likes",
        "public_favorites_count": "likes",
        "reposts_count": "reposts",
        "followings_count": "followings",
        "followers_count": "followers",
    }
    grew = 0
    for i in range(first.n_users):
        uid = first.user_id(i)
        for key, name in counted.items():
            added = len(getattr(last, name)(uid)) - len(getattr(first, name)(uid))
            assert last.user(uid)[key] - first.user(uid)[key] == added, (uid, key)
            grew += added
    assert grew
    for i in range(first.n_tracks):
        tid = first.track_id(i)
        for key, name in (("favoritings_count", "favoriters"), ("reposts_count", "reposters")):
            if first.track(tid)[key] is None:
                assert last.track(tid)[key] is None
                continue
            added = len(getattr(last, name)(tid)) - len(getattr(first, name)(tid))
            assert last.track(tid)[key] - first.track(tid)[key] == added, (tid, key)


def get(sim: SimulatorProcess, url: str) -> dict:
    """GET a path and query (of any origin) from `sim`, as JSON."""
    parts = urlsplit(url)
    auth = {"Authorization": f"OAuth {sim.access_token}"}
    reply = fetch(f"{sim.api_url}{parts.path}?{parts.query}", auth)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert isinstance(body, dict)
    return body


def ids(page: dict) -> list[int]:
    return [item["id"] for item in page["collection"]]


def tail(url: str | None) -> str | None:
    """A next_href without its origin (each simulator answers on its own)."""
    return None if url is None else urlsplit(url)._replace(scheme="", netloc="").geturl()


def test_a_cursor_of_the_previous_epoch_pages_on_at_the_next() -> None:
    now, week = World(**SMALL_KNOBS), World(**SMALL_KNOBS, epoch=1)

    def grown(name: str) -> int:
        """A user whose `name` list has a second page and new items a week later."""
        for i in range(now.n_users):
            uid = now.user_id(i)
            if len(getattr(week, name)(uid)) > len(getattr(now, name)(uid)) >= 6:
                return uid
        raise AssertionError(f"no {name} list grew")

    seed = now.seed_track_id
    lists = {  # one list of each cursor family: epoch, likes and tracks
        ("favoriters", seed): f"/tracks/{seed}/favoriters?limit=5",
        ("followers", grown("followers")): "/users/{}/followers?limit=5",
        ("followings", grown("followings")): "/users/{}/followings?limit=5",
        ("likes", grown("likes")): "/users/{}/likes/tracks?limit=5&linked_partitioning=true",
        ("reposts", grown("reposts")): "/users/{}/reposts/tracks?limit=5&linked_partitioning=1",
    }
    with SimulatorProcess(*SMALL) as sim0, SimulatorProcess(*SMALL, "--epoch", "1") as sim1:
        for (name, owner), path in lists.items():
            path = path.format(owner) + "&access=playable,preview,blocked"
            first = get(sim0, path)
            assert ids(first) == getattr(now, name)(owner).ids[:5]
            assert ids(get(sim1, path)) == getattr(week, name)(owner).ids[:5]
            # The epoch-0 next_href asked a week later: the same older items, then the rest.
            later, then = get(sim1, first["next_href"]), get(sim0, first["next_href"])
            assert ids(later) == ids(then), name
            assert tail(later["next_href"]) == tail(then["next_href"]), name
            parts = urlsplit(first["next_href"])
            rest = Walker(sim1.info).walk(f"{sim1.api_url}{parts.path}?{parts.query}")
            assert [item["id"] for item in rest] == getattr(now, name)(owner).ids[5:], name


def test_truth_route_cli_and_walk_agree_at_an_epoch(simulator) -> None:
    faults = ["--duplicate-rate", "0.2", "--empty-page-rate", "0.2", "--error-rate", "0.05"]
    sim = simulator(*SMALL, "--epoch", "2", *faults)
    expected = World(**SMALL_KNOBS, epoch=2).truth(lists=ALL)
    assert sim.truth(lists=ALL) == expected
    assert Walker(sim.info, page_size=20).truth(lists=ALL) == expected
    assert expected != World(**SMALL_KNOBS, epoch=1).truth(lists=ALL)
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--truth", "--lists", ALL]
    cmd += [*SMALL, "--epoch", "2"]
    printed = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    assert printed == expected.to_json()


def test_a_negative_epoch_is_refused() -> None:
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--epoch", "-1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and done.stderr.strip() == "--epoch must be 0 (today) or more"
    with pytest.raises(ValueError, match="epoch"):
        World(epoch=-1)
