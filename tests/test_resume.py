"""Pause, crash and resume: a harvest stopped at any moment finishes with the exact ground truth."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    assert_matches_truth,
    interrupt,
    list_requests,
    run_harvest,
    start_harvest,
    wait_for_rows,
)

pytestmark = pytest.mark.slow

# Latency makes the harvest last long enough to be stopped in the middle.
WORLD = ["--users", "1500", "--tracks", "6000", "--likers", "400", "--reposters", "150"]
WORLD += ["--likes-mean", "25", "--likes-max", "1200", "--latency-ms", "15", "--jitter-ms", "5"]
IN_FLIGHT = 32 + 1  # CONCURRENT_REQUESTS, and the page whose COMMIT runs behind


def clean_run_requests(sim: Any, tmp_path: Path) -> int:
    """List requests of an uninterrupted harvest of the same world (the minimum)."""
    before = list_requests(sim)
    result = run_harvest(sim, tmp_path / "clean.db")
    assert result.returncode == 0, result.output
    return list_requests(sim) - before


def test_ctrl_c_then_same_command_with_jobdir_finishes_without_refetching(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*WORLD)
    minimum = clean_run_requests(sim, tmp_path)
    before = list_requests(sim)
    db = tmp_path / "tracks.db"
    jobdir = {"JOBDIR": str(tmp_path / "job")}
    proc = start_harvest(sim, db, settings=jobdir)
    wait_for_rows(db, "user_engagements", 2000)
    code = interrupt(proc, signal.SIGINT)
    assert code != 0  # stopped early, and says so
    partial = list_requests(sim) - before
    assert partial < minimum
    result = run_harvest(sim, db, settings=jobdir)
    assert result.returncode == 0, result.output
    assert "Resuming" in result.stderr
    assert_matches_truth(db, sim.truth())
    # A graceful stop drains what was in flight and commits it: nothing is fetched twice.
    assert list_requests(sim) - before == minimum


@pytest.mark.parametrize("jobdir", [False, True], ids=["plain", "with-jobdir"])
def test_kill_9_then_same_command_finishes_with_the_exact_truth(
    simulator, tmp_path: Path, jobdir: bool
) -> None:
    sim = simulator(*WORLD)
    minimum = clean_run_requests(sim, tmp_path)
    before = list_requests(sim)
    db = tmp_path / "tracks.db"
    # Every page committed on its own: then what a kill loses is what was in flight and the one
    # page being committed (by default a batch of up to SGR_BATCH_SIZE rows, fetched again).
    settings = {"SGR_BATCH_SIZE": "1"}
    if jobdir:
        settings["JOBDIR"] = str(tmp_path / "job")
    proc = start_harvest(sim, db, settings=settings)
    wait_for_rows(db, "user_engagements", 3000)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    result = run_harvest(sim, db, settings=settings)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())
    repeated = list_requests(sim) - before - minimum
    assert 0 <= repeated <= IN_FLIGHT, f"{repeated} pages fetched twice"


def test_three_kills_at_random_moments_still_end_with_the_truth(simulator, tmp_path) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    for rows in (500, 3000, 6000):
        proc = start_harvest(sim, db)
        try:
            wait_for_rows(db, "user_engagements", rows)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_ctrl_c_during_long_back_off_stops_promptly_and_loses_nothing(
    simulator, tmp_path: Path
) -> None:
    flaky = simulator(*WORLD, "--fail-every", "5")
    db = tmp_path / "tracks.db"
    # Retries wait 30-90 s: a graceful stop must not wait for them.
    proc = start_harvest(flaky, db, settings={"SGR_BACKOFF_BASE": "60"})
    wait_for_rows(db, "user_engagements", 200)
    time.sleep(1)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert time.monotonic() - started < 30
    log = db.with_suffix(".log").read_text()
    assert "Traceback" not in log and "page failed" not in log
    healthy = simulator(*WORLD)
    result = run_harvest(healthy, db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, healthy.truth())
