"""Smoke tests of the simulator process: startup line, a page, the truth, a clean stop."""

from __future__ import annotations

import json
import urllib.request

from sgr_scrapy.simulator.process import SimulatorProcess

STARTUP_KEYS = {
    "api_url", "token_url", "seed_url", "seed_track_id", "access_token", "refresh_token",
    "client_id", "client_secret", "foreign_url", "truth_url", "stats_url", "pid",
}  # fmt: skip


def test_startup_line_has_every_contract_key(default_simulator: SimulatorProcess) -> None:
    info = default_simulator.info
    assert info.keys() >= STARTUP_KEYS
    assert info["api_url"].startswith("http://127.0.0.1:")
    assert not info["api_url"].endswith("/")
    assert info["token_url"] == info["api_url"] + "/oauth/token"
    assert info["seed_url"].startswith("https://soundcloud.com/")


def test_favoriters_page_is_served_with_the_startup_token(
    default_simulator: SimulatorProcess,
) -> None:
    sim = default_simulator
    url = f"{sim.api_url}/tracks/{sim.seed_track_id}/favoriters?limit=5"
    req = urllib.request.Request(url, headers={"Authorization": f"OAuth {sim.access_token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        page = json.loads(resp.read())
    assert len(page["collection"]) == 5
    assert page["next_href"].startswith(sim.api_url)


def test_simulator_factory_stops_cleanly(simulator) -> None:
    sim = simulator("--seed", "3", "--likers", "40", "--users", "200", "--tracks", "500")
    truth = sim.truth(max_users=10, max_user_likes=5)
    assert truth.track_ids and truth.user_ids and truth.engagements
    assert sim.stop() == 0
