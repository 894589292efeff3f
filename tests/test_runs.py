"""What one run reads and how it ends: seeds by track id, caps per command, honest endings."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from sgr_scrapy.simulator.world import Truth
from tests.helpers import (
    api_get,
    assert_matches_truth,
    harvest_env,
    list_requests,
    run_harvest,
    start_harvest,
    wait_for_rows,
)

SMALL = ["--users", "500", "--tracks", "3000", "--likers", "150", "--reposters", "70"]
SMALL += ["--likes-mean", "20", "--likes-max", "450"]


def union(*truths: Truth) -> Truth:
    out = Truth()
    for truth in truths:
        out.track_ids |= truth.track_ids
        out.user_ids |= truth.user_ids
        out.engagements |= truth.engagements
    return out


def lists(db: Path) -> dict[str, tuple[str, int]]:
    conn = sqlite3.connect(db)
    rows = conn.execute('SELECT "list_key", "status", "items" FROM "harvest_lists"').fetchall()
    conn.close()
    return {key: (status, items) for key, status, items in rows}


def other_seed(sim: Any) -> tuple[int, str]:
    """A second track of the world, with its own favoriters and reposters, and its URL."""
    seed_id = sim.info["seed_track_id"]
    track = next(t for t in sorted(sim.truth(max_user_likes=3).track_ids) if t != seed_id)
    return track, api_get(sim, f"/tracks/{track}")["permalink_url"]


# --- one seed, however it is spelled ---------------------------------------------------------


def test_spellings_of_one_seed_are_one_seed_and_reported_as_aliases(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL)
    url = sim.info["seed_url"]
    www = url.replace("https://soundcloud.com/", "https://www.soundcloud.com/")
    mobile = url.replace("https://soundcloud.com/", "https://m.soundcloud.com/")
    spellings = [url, www, mobile + "/", url + "?si=abc&utm_source=clipboard", sim.seed_short_url]
    before = list_requests(sim)
    clean = run_harvest(sim, tmp_path / "clean.db")
    assert clean.returncode == 0, clean.output
    one_spelling = list_requests(sim) - before
    before = list_requests(sim)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, url=",".join(spellings))
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert_matches_truth(db, sim.truth())
    # Every list started once: exactly the list requests of a run with one spelling.
    assert list_requests(sim) - before == one_spelling
    assert "Seeds:             1 track (4 more URLs named the same)" in result.stdout
    for alias in spellings[1:]:
        assert f"alias: {alias.strip()} is the same track as {url}" in result.stdout
    before = list_requests(sim)
    again = run_harvest(sim, db, url=",".join(spellings))
    assert again.returncode == 0, again.output
    assert list_requests(sim) == before  # a rerun reads no list at all


# --- caps belong to the command --------------------------------------------------------------


def test_a_run_reads_only_its_own_seeds_lists_with_its_own_caps(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    a, a_url = sim.info["seed_track_id"], sim.info["seed_url"]
    b, b_url = other_seed(sim)
    db = tmp_path / "tracks.db"
    first = run_harvest(sim, db, "-a", "max_users=1", "-a", "max_user_likes=1", url=b_url)
    assert first.returncode == 0, first.output
    b_lists = lists(db)
    second = run_harvest(sim, db, "-a", "max_users=2", "-a", "max_user_likes=0", url=a_url)
    assert second.returncode == 0, second.output
    want = union(
        sim.truth(max_users=1, max_user_likes=1, seeds=[b]),
        sim.truth(max_users=2, max_user_likes=0, seeds=[a]),
    )
    assert_matches_truth(db, want)
    after = lists(db)
    for key in (f"favoriters:{b}", f"reposters:{b}"):
        assert after[key] == b_lists[key] == ("capped", 1), key  # B's lists did not grow


def test_a_capped_run_over_a_complete_database_downgrades_nothing(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db).returncode == 0
    complete = lists(db)
    before = list_requests(sim)
    capped = run_harvest(sim, db, "-a", "max_users=1", "-a", "max_user_likes=1")
    assert capped.returncode == 0, capped.output
    assert "DEEP HARVEST COMPLETE" in capped.stdout
    assert list_requests(sim) == before
    assert lists(db) == complete
    refreshed = run_harvest(
        sim, db, "-a", "max_users=1", "-a", "max_user_likes=1", "-a", "refresh=1"
    )
    assert refreshed.returncode == 0, refreshed.output
    assert {k: v[0] for k, v in lists(db).items()} == {k: v[0] for k, v in complete.items()}
    before = list_requests(sim)
    full = run_harvest(sim, db)
    assert full.returncode == 0, full.output
    assert list_requests(sim) == before  # nothing to fetch again
    assert_matches_truth(db, sim.truth())


# --- endings that tell the truth -------------------------------------------------------------


def test_a_seed_that_is_not_found_fails_with_its_one_reason(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert run_harvest(sim, db, "-a", "max_users=3", "-a", "max_user_likes=3").returncode == 0
    missing = sim.info["seed_url"] + "-gone"
    result = run_harvest(sim, db, url=missing)
    assert result.returncode == 1, result.output
    assert "DEEP HARVEST FAILED" in result.stdout
    assert f"seed {missing}: not found" in result.stdout
    assert "Rerun" not in result.output
    assert "New tracks:        0" in result.stdout  # this run's figures, apart from the totals


def test_refused_credentials_fail_with_one_reason(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    env_token = {"SOUNDCLOUD_ACCESS_TOKEN": "not-a-token"}
    env = harvest_env(sim, token=False, **env_token)
    result = run_harvest(sim, tmp_path / "tracks.db", env=env)
    assert result.returncode == 1, result.output
    assert "DEEP HARVEST FAILED" in result.stdout
    assert "Rerun" not in result.stdout
    assert "Traceback" not in result.output


def test_an_unreachable_api_fails_with_one_reason(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    env = harvest_env(sim, SOUNDCLOUD_API_URL="http://127.0.0.1:9")  # discard port: refused
    result = run_harvest(sim, tmp_path / "tracks.db", env=env, settings={"RETRY_TIMES": "1"})
    assert result.returncode == 1, result.output
    assert "DEEP HARVEST FAILED" in result.stdout
    assert "Rerun" not in result.stdout
    assert "Traceback" not in result.output


def test_ctrl_c_is_stopped_and_a_second_signal_still_records_the_run(
    simulator, tmp_path: Path
) -> None:
    # Slow enough that the crawl is still running when the signals come, however fast the CPU.
    sim = simulator(*SMALL, "--latency-ms", "100")
    db = tmp_path / "tracks.db"
    proc = start_harvest(sim, db)
    wait_for_rows(db, "user_engagements", 300)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    log = db.with_suffix(".log").read_text()
    assert code == 4, log
    assert "DEEP HARVEST STOPPED" in log
    assert "Rerun the same command to continue" in log
    conn = sqlite3.connect(db)
    unfinished = conn.execute(
        'SELECT COUNT(*) FROM "harvest_runs" WHERE "finished_at" IS NULL'
    ).fetchone()[0]
    conn.close()
    assert unfinished == 0
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())
