"""`make demo` runs end to end: simulator up, a real harvest, the summary, simulator down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sgr_scrapy.simulator.world import World, WorldConfig
from tests.helpers import ROOT, assert_matches_truth


def test_demo_harvests_the_simulators_seed_track(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    world = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
    result = subprocess.run(
        [sys.executable, "-m", "sgr_scrapy.demo", "--fresh", "--db", str(db), "--", *world],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DEEP HARVEST COMPLETE" in result.stdout
    assert "DATABASE STATISTICS" in result.stdout
    # The world is deterministic: rebuilt here, it says what the demo must have stored.
    truth = World(WorldConfig(users=300, tracks=1500, likers=60, reposters=30)).truth()
    assert_matches_truth(db, truth)
