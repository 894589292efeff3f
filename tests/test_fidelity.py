"""Data fidelity: every stored field equals the richest object the API sent for it.

The current API nests a partial user (no counts) inside tracks. A user first seen that way, as
the artist of a track in someone's likes, and later whole in a favoriters or reposters page,
must end up with the whole profile: a poorer object never blocks a richer one.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import api_get, assert_matches_truth, run_harvest

pytestmark = pytest.mark.slow

# Half the users are artists, and half of the seed's likers and reposters are artists, so many
# are seen nested inside liked tracks before their own favoriters or reposters page arrives.
# The favoriters list spans several pages, so likes lists of the first page's users are read
# while its later pages are still to come. (With one page, every liker is met whole first, and
# the test could not fail.)
ARTISTS = ["--users", "1500", "--tracks", "4000", "--likers", "800", "--reposters", "250"]
ARTISTS += ["--likes-mean", "20", "--likes-max", "300", "--artist-share", "0.5"]
ARTISTS += ["--artist-fans", "0.5", "--latency-ms", "5"]
PROFILE = (
    "urn", "username", "permalink_url", "followers_count", "followings_count", "track_count",
    "public_favorites_count", "city", "country",
)  # fmt: skip


@pytest.mark.parametrize("shape", ["partial", "mini", "full"])
def test_every_liker_and_reposter_has_the_whole_profile_the_api_sent(
    simulator, tmp_path: Path, shape: str
) -> None:
    sim = simulator(*ARTISTS, "--nested-user", shape)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    seed = sim.info["seed_track_id"]
    engaged = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT user_id FROM user_engagements WHERE track_id = ?", (seed,)
        )
    ]
    artists = {r[0] for r in conn.execute("SELECT DISTINCT artist_id FROM tracks")}
    assert len(set(engaged) & artists) >= 20  # the case this test is about does occur
    for user_id in engaged:
        # users_full: raw_json with what the columns hold put back (README: The database).
        row = conn.execute("SELECT * FROM users_full WHERE user_id = ?", (user_id,)).fetchone()
        obj = api_get(sim, f"/users/{user_id}")
        for column in PROFILE:
            assert row[column] == obj[column], (user_id, column)
        assert json.loads(row["raw_json"]) == obj
    conn.close()
