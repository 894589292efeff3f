"""Whole harvests against the simulator: the database must equal the simulator's ground truth."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from sgr_scrapy.api import parse_tags, split_machine_tags
from tests.helpers import api_get, assert_matches_truth, list_requests, run_harvest

# A small world: a few hundred users, one user with hundreds of likes, lists of several pages.
SMALL = ["--users", "500", "--tracks", "3000", "--likers", "150", "--reposters", "70"]
SMALL += ["--likes-mean", "20", "--likes-max", "450"]


def test_harvest_stores_exactly_the_ground_truth(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    assert "DEEP HARVEST COMPLETE" in result.stdout
    assert "DATABASE STATISTICS" in result.stdout
    assert_matches_truth(db, sim.truth())


def test_harvested_fields_equal_the_api_objects(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db, "-a", "max_user_likes=30").returncode == 0
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    tracks = conn.execute("SELECT * FROM tracks_full").fetchall()  # raw_json made whole
    users = conn.execute("SELECT * FROM users").fetchall()
    rng = random.Random(7)
    for row in rng.sample(tracks, 25):
        obj = api_get(sim, f"/tracks/{row['track_id']}")
        assert row["title"] == obj["title"]
        assert row["artist_id"] == obj["user"]["id"]
        assert row["artist_name"] == obj["user"]["username"]
        assert row["genre"] == obj["genre"]
        assert row["duration_ms"] == obj["duration"]
        assert row["playback_count"] == obj["playback_count"]
        assert row["like_count"] == obj["favoritings_count"]
        assert row["permalink_url"] == obj["permalink_url"]
        tags, machine_tags = split_machine_tags(parse_tags(obj["tag_list"]))
        assert json.loads(row["tags"]) == tags
        assert json.loads(row["machine_tags"]) == machine_tags
        assert json.loads(row["raw_json"])["title"] == obj["title"]
    engaged = {r[0] for r in conn.execute("SELECT user_id FROM user_engagements")}
    for row in rng.sample(users, 25):
        obj = api_get(sim, f"/users/{row['user_id']}")
        assert row["username"] == obj["username"]
        assert row["city"] == obj["city"]
        if row["user_id"] in engaged:  # seen whole in a favoriters or reposters page
            assert row["followers_count"] == obj["followers_count"]
            assert row["permalink_url"] == obj["permalink_url"]
        else:  # only ever seen as a track's artist: the API nests no counts there
            assert row["followers_count"] is None
    conn.close()


def test_rerun_of_a_finished_harvest_makes_no_list_requests(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db, "-a", "max_user_likes=50").returncode == 0
    first = sqlite3.connect(db).execute("SELECT COUNT(*) FROM user_engagements").fetchone()
    before = list_requests(sim)
    again = run_harvest(sim, db, "-a", "max_user_likes=50")
    assert again.returncode == 0, again.output
    assert list_requests(sim) == before
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM user_engagements").fetchone() == first
    assert_matches_truth(db, sim.truth(max_user_likes=50))


def test_refresh_refetches_everything_and_keeps_counts(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db, "-a", "max_user_likes=10").returncode == 0
    counts = _counts(db)
    before = list_requests(sim)
    assert run_harvest(sim, db, "-a", "max_user_likes=10", "-a", "refresh=1").returncode == 0
    assert list_requests(sim) > before
    assert _counts(db) == counts


def _counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    names = ("tracks", "users", "user_engagements")
    counts = {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    conn.close()
    return counts


@pytest.mark.parametrize(
    ("max_users", "max_user_likes"),
    [(200, 200), (201, 201), (1, 1), (0, 199), (199, 0)],
    ids=["exactly-a-page", "one-more", "one", "no-user-cap", "no-likes-cap"],
)
def test_caps_take_the_first_distinct_items_in_api_order(
    simulator, tmp_path: Path, max_users: int, max_user_likes: int
) -> None:
    sim = simulator(
        "--users", "900", "--tracks", "3000", "--likers", "420", "--reposters", "230",
        "--likes-mean", "8", "--likes-max", "420", "--heavy-share", "0.01",
    )  # fmt: skip
    db = tmp_path / "tracks.db"
    args = ["-a", f"max_users={max_users}", "-a", f"max_user_likes={max_user_likes}"]
    result = run_harvest(sim, db, *args)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth(max_users=max_users, max_user_likes=max_user_likes))


def test_growing_a_cap_continues_where_the_smaller_one_stopped(simulator, tmp_path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db, "-a", "max_users=30", "-a", "max_user_likes=5").returncode == 0
    assert_matches_truth(db, sim.truth(max_users=30, max_user_likes=5))
    assert run_harvest(sim, db, "-a", "max_users=0", "-a", "max_user_likes=0").returncode == 0
    # Nothing is deleted, so the first run's rows are a subset of the uncapped truth.
    assert_matches_truth(db, sim.truth())


def test_several_seeds_share_one_database(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    seed_id = sim.info["seed_track_id"]
    other = next(t for t in sorted(sim.truth(max_user_likes=3).track_ids) if t != seed_id)
    other_url = api_get(sim, f"/tracks/{other}")["permalink_url"]
    db = tmp_path / "tracks.db"
    urls = f"{sim.info['seed_url']},{other_url}"
    result = run_harvest(sim, db, "-a", "max_users=40", "-a", "max_user_likes=5", url=urls)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth(max_users=40, max_user_likes=5, seeds=[seed_id, other]))


def test_default_world_harvest_matches_truth(simulator, tmp_path: Path) -> None:
    sim = simulator()
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, timeout=600)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_progress_lines_report_phase_counts_and_eta(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--latency-ms", "20")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings={"SGR_PROGRESS_INTERVAL": "0.3"})
    assert result.returncode == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "ETA" in line]
    assert lines, result.stderr
    for word in ("users", "tracks", "engagements", "requests", "429 waits", "retries"):
        assert word in lines[-1]
    assert any(phase in result.stderr for phase in ("social spill:", "user depth:"))
    assert "token refreshes" in lines[-1] and "lists incomplete" in lines[-1]
