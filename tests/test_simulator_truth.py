"""The ground truth equals a plain walk of the routes: every family, caps, hops, faults on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sgr_scrapy.simulator.truth import FAMILIES, TRACK_FAMILIES, Truth
from sgr_scrapy.simulator.walk import Walker, fetch
from sgr_scrapy.simulator.world import World, WorldConfig

SMALL = ["--users", "400", "--tracks", "1500", "--likers", "45", "--reposters", "25"]
FAULTS = [
    "--error-rate", "0.1", "--malformed-rate", "0.1", "--null-item-rate", "0.3",
    "--duplicate-rate", "0.3", "--empty-page-rate", "0.3", "--internal-host-rate", "0.2",
    "--repeat-next-rate", "0.2", "--foreign-next-href-rate", "0.2", "--omit-id-rate", "0.2",
    "--revoke-every", "40", "--resolve-no-location", "0.3", "--resolve-object-rate", "0.4",
    "--forget-cursors", "--fault-seed", "4",
]  # fmt: skip
ARTIST_FANS = [
    "--users", "600", "--tracks", "3000", "--likers", "150", "--reposters", "60",
    "--artist-share", "0.5", "--artist-fans", "0.5",
]  # fmt: skip
SPELLINGS = [
    lambda u: u.replace("https://", "http://www."),
    lambda u: u.replace("https://", "https://m.") + "/",
    lambda u: u + "?si=5f0c&utm_source=clipboard&utm_medium=text",
]


@pytest.mark.parametrize(
    ("max_users", "max_user_likes"),
    [(0, 0), (10, 10), (20, 5), (11, 9), (1, 1), (45, 0)],
)
def test_truth_equals_a_plain_walk(simulator, max_users: int, max_user_likes: int) -> None:
    # Page size 10: caps of 10 and 20 end exactly on a page boundary.
    sim = simulator(*SMALL)
    walked = Walker(sim.info, page_size=10).truth(max_users, max_user_likes)
    assert walked == sim.truth(max_users, max_user_likes)


@pytest.mark.parametrize(("max_users", "max_user_likes"), [(0, 0), (20, 10), (7, 3)])
def test_truth_equals_a_walk_through_every_fault(simulator, max_users, max_user_likes) -> None:
    sim = simulator(*SMALL, *FAULTS)
    walker = Walker(sim.info, page_size=10)
    seed = ("tracks", sim.seed_track_id)
    for url in [sim.seed_short_url] + [spell(sim.seed_url) for spell in SPELLINGS]:
        assert walker.resolve(url) == seed
    assert walker.truth(max_users, max_user_likes) == sim.truth(max_users, max_user_likes)
    if not max_users:
        faults = sim.stats()["faults"]
        for name in ("null_items", "duplicates", "empty_page", "internal_host", "repeat_next_href",
                     "foreign_next_href", "malformed", "revoke", "resolve_no_location",
                     "resolve_object"):  # fmt: skip
            assert faults.get(name), name


@pytest.mark.parametrize("nested", ["partial", "mini", "full"])
def test_truth_of_an_artist_fans_world_equals_a_walk(simulator, nested: str) -> None:
    sim = simulator(*ARTIST_FANS, "--nested-user", nested, *FAULTS)
    walker = Walker(sim.info, page_size=50)
    assert walker.truth(40, 20) == sim.truth(40, 20)


def test_truth_of_several_seeds_equals_a_walk(simulator) -> None:
    sim = simulator(*SMALL)
    second = World(WorldConfig(users=400, tracks=1500, likers=45, reposters=25)).track_id(2)
    seeds = [sim.seed_track_id, second]
    walked = Walker(sim.info, page_size=25).truth(5, 4, seeds)
    assert walked == sim.truth(5, 4, seeds)
    assert second in walked.track_ids


def test_route_truth_equals_the_python_truth(default_simulator) -> None:
    world = World()
    assert default_simulator.truth(30, 20) == world.truth(30, 20)
    assert default_simulator.seed_url == world.seed_url


def test_a_million_engagement_world_starts_and_serves(simulator) -> None:
    sim = simulator("--likers", "22000", timeout=60)
    reply = fetch(
        f"{sim.api_url}/tracks/{sim.seed_track_id}/favoriters?limit=200",
        {"Authorization": f"OAuth {sim.access_token}"},
    )
    assert reply.status == 200 and len(reply.json()["collection"]) == 200
    world = World(likers=22000)
    likers = world.favoriters(world.seed_track_id).ids
    assert len(likers) == 22000 and world.n_users >= 22000


# -- every list family, caps and hops ------------------------------------------------------
ALL_LISTS = ",".join(FAMILIES)
# Playlists longer than 3 tracks come cut in lists: the walk reads them whole.
CUT = ["--playlist-tracks-limit", "3"]


@pytest.mark.parametrize("family", FAMILIES)
def test_truth_of_each_family_equals_a_walk_through_every_fault(simulator, family: str) -> None:
    sim = simulator(*SMALL, *FAULTS, *CUT)
    lists = family if family in TRACK_FAMILIES else f"favoriters,{family}"
    caps = {"max_favoriters": 12, f"max_{family}": 0}
    walked = Walker(sim.info, page_size=5).truth(lists=lists, **caps)
    assert walked == sim.truth(lists=lists, **caps)
    rows = {
        "related": walked.related,
        "followings": walked.follows,
        "followers": walked.follows,
        "playlists": walked.playlist_tracks,
        "reposts": {e for e in walked.engagements if e[2] == "repost"},
        "tracks": walked.track_ids - {sim.seed_track_id},
    }.get(family, walked.engagements)
    assert rows


@pytest.mark.parametrize(
    "caps",
    [
        {},
        {"max_users": 6, "max_user_likes": 4, "max_followers": 3, "max_playlists": 1},
        {f"max_{family}": 2 for family in FAMILIES},
    ],
)
def test_truth_of_every_family_with_caps_equals_a_walk(simulator, caps: dict) -> None:
    sim = simulator(*SMALL, *FAULTS, *CUT)
    walker = Walker(sim.info, page_size=4)
    walked = walker.truth(lists=ALL_LISTS, **caps)
    truth = sim.truth(lists=ALL_LISTS, **caps)
    assert walked == truth
    assert truth.follows and truth.playlists and truth.playlist_tracks and truth.related
    requests = sim.stats()["requests"]
    for family in ("followers", "followings", "tracks", "reposts", "playlists"):
        assert caps or set(requests[family]) - {"200"}, family  # faults hit every route


@pytest.mark.parametrize(("depth", "expand"), [(2, 3), (3, 2)])
def test_truth_across_hops_equals_a_walk(simulator, depth: int, expand: int) -> None:
    sim = simulator(*SMALL, *FAULTS, *CUT)
    caps = {"max_users": 5, "max_user_likes": 5, "max_reposts": 5, "max_followers": 3}
    walked = Walker(sim.info, page_size=5).truth(
        lists=ALL_LISTS, depth=depth, expand=expand, **caps
    )
    truth = sim.truth(lists=ALL_LISTS, depth=depth, expand=expand, **caps)
    assert walked == truth
    assert {hop for _, hop, _ in truth.expansions} == set(range(2, depth + 1))
    assert len(truth.expansions) == expand * (depth - 1)


def test_truth_flags_match_the_route(simulator) -> None:
    sim = simulator(*SMALL)
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--truth", "--lists", ALL_LISTS]
    cmd += ["--depth", "2", "--expand", "3", "--max-users", "4", "--max-likes", "2"]
    cmd += ["--max-followers", "0", "--max-tracks", "1", *SMALL]
    printed = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    truth = sim.truth(
        4, lists=ALL_LISTS, depth=2, expand=3, max_likes=2, max_followers=0, max_tracks=1
    )
    assert truth.to_json() == printed and Truth.from_json(printed) == truth
    assert set(printed) == {
        "track_ids", "user_ids", "engagements", "follows", "playlists", "playlist_tracks",
        "related", "expansions",
    }  # fmt: skip
    bad = subprocess.run(
        [*cmd[:4], "--lists", "likes,comments"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "unknown list family 'comments'" in bad.stderr


@pytest.mark.parametrize(
    "query", ["lists=likes,comments", "max_bogus=1", "depth=0", "expand=-1", "max_likes=x"]
)
def test_bad_truth_parameters_are_400(default_simulator, query: str) -> None:
    reply = fetch(f"{default_simulator.api_url}/__truth?{query}")
    assert reply.status == 400 and reply.json()["code"] == 400


@pytest.mark.parametrize(
    "path",
    [
        "/users/{u}/followers?limit=2",
        "/users/{u}/tracks?limit=2&linked_partitioning=1",
        "/users/{u}/playlists?limit=1&linked_partitioning=1",
    ],
)
def test_a_walker_restarts_a_new_list_whose_cursor_was_forgotten(simulator, path: str) -> None:
    before, after = simulator(*SMALL), simulator(*SMALL, "--forget-cursors")
    world = World(WorldConfig(users=400, tracks=1500, likers=45, reposters=25))
    method = {"followers": "followers", "tracks": "uploads", "playlists": "playlists"}
    name = path.split("?")[0].rsplit("/", 1)[1]
    uid = next(
        world.user_id(i)
        for i in range(world.n_users)
        if len(getattr(world, method[name])(world.user_id(i))) > 3
    )
    href = fetch(
        before.api_url + path.format(u=uid), {"Authorization": f"OAuth {before.access_token}"}
    ).json()["next_href"]
    moved = after.api_url + href[len(before.api_url) :]
    items = Walker(after.info).walk(moved)
    assert [x["id"] for x in items] == getattr(world, method[name])(uid).ids
    assert after.stats()["requests"][name]["400"] == 1
