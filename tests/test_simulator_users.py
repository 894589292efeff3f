"""Users as the routes serve them: nested shapes in tracks, full objects elsewhere, artist fans."""

from __future__ import annotations

import pytest

from sgr_scrapy.simulator.objects import MINI_USER_KEYS, PARTIAL_USER_KEYS
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.walk import Walker, fetch

SMALL = ["--users", "300", "--tracks", "1000", "--likers", "60", "--reposters", "30"]
ARTIST_FANS = [
    "--users", "600", "--tracks", "3000", "--likers", "150", "--reposters", "60",
    "--artist-share", "0.5", "--artist-fans", "0.5",
]  # fmt: skip
LIKES_Q = "limit=200&linked_partitioning=true&access=playable,preview,blocked"


def get_json(sim: SimulatorProcess, path: str) -> object:
    reply = fetch(sim.api_url + path, {"Authorization": f"OAuth {sim.access_token}"})
    assert reply.status == 200, (path, reply.status)
    return reply.json()


@pytest.mark.parametrize(
    ("flags", "keys"),
    [
        ([], set(PARTIAL_USER_KEYS)),
        (["--nested-user", "partial"], set(PARTIAL_USER_KEYS)),
        (["--nested-user", "mini"], {*MINI_USER_KEYS, "uri"}),
        (["--nested-user", "full"], None),
    ],
)
def test_tracks_nest_the_chosen_user_shape_and_other_routes_serve_full_users(
    simulator, flags: list[str], keys: set[str] | None
) -> None:
    sim = simulator(*SMALL, *flags)
    track = get_json(sim, f"/tracks/{sim.seed_track_id}")
    assert isinstance(track, dict)
    nested = track["user"]
    full = get_json(sim, f"/users/{nested['id']}")
    assert isinstance(full, dict) and "followers_count" in full and "uri" in full
    assert set(nested) == (keys if keys is not None else set(full))
    assert nested == {k: full[k] for k in nested}
    if keys is not None:
        assert not {"followers_count", "track_count", "public_favorites_count"} & set(nested)
    page = get_json(sim, f"/tracks/{sim.seed_track_id}/favoriters?limit=5")
    assert isinstance(page, dict)
    assert all(set(u) == set(full) for u in page["collection"])
    likes = get_json(sim, f"/users/{page['collection'][0]['id']}/likes/tracks?{LIKES_Q}")
    assert isinstance(likes, dict)
    assert all(set(t["user"]) == set(nested) for t in likes["collection"])


def test_nested_users_without_an_id_keep_their_urn(simulator) -> None:
    sim = simulator(*SMALL, "--omit-id-rate", "1")
    nested = get_json(sim, f"/tracks/{sim.seed_track_id}")["user"]  # type: ignore[index]
    assert set(nested) == set(PARTIAL_USER_KEYS) - {"id"}
    assert nested["urn"].startswith("soundcloud:users:")


def test_artist_fans_are_first_met_as_partial_artists_of_liked_tracks(simulator) -> None:
    sim = simulator(*ARTIST_FANS)
    walker = Walker(sim.info)
    likers = walker.walk(f"{sim.api_url}/tracks/{sim.seed_track_id}/favoriters?limit=200")
    full = {u["id"]: u for u in likers}
    assert len(full) == 150
    nested: dict[int, dict] = {}
    for u in list(full)[:40]:
        for track in walker.walk(f"{sim.api_url}/users/{u}/likes/tracks?{LIKES_Q}"):
            if track["user"]["id"] != u:
                nested.setdefault(track["user"]["id"], track["user"])
    fans_seen_as_artists = set(nested) & set(full)
    assert len(fans_seen_as_artists) >= 10
    for uid in fans_seen_as_artists:
        assert "followers_count" not in nested[uid] and "followers_count" in full[uid]
        assert nested[uid] == {k: full[uid][k] for k in nested[uid]}
    reposters = walker.walk(f"{sim.api_url}/tracks/{sim.seed_track_id}/reposters?limit=200")
    assert len(reposters) == 60 and all("followers_count" in u for u in reposters)
