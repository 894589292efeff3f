"""The ground truth equals a plain walk of the routes, with caps and with faults on."""

from __future__ import annotations

import pytest

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
