"""bench/replay.py: a recorded harvest replayed through the spider and the pipeline, with no
network, stores exactly what the harvest stored (so its CPU figures are of the same work)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_replay_stores_the_rows_the_recorded_harvest_stored(tmp_path: Path) -> None:
    recording = tmp_path / "wide.pickle"
    cmd = [sys.executable, "-m", "bench.replay", "--world", "wide", "--quick", "--repeat", "2"]
    done = subprocess.run(
        [*cmd, "--recording", str(recording)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    harvested = re.search(r"^recorded .*; harvest rows (\{.*\})$", done.stdout, re.M)
    assert harvested, done.stdout
    expected = ast.literal_eval(harvested.group(1))
    assert expected["tracks"] > 1_000 and expected["user_engagements"] > 10_000
    replays = re.findall(
        r"^spider thread +([\d.]+) s +commit thread +([\d.]+) s .* pages ([\d,]+) +rows (\{.*\})$",
        done.stdout,
        re.M,
    )
    assert len(replays) == 2, done.stdout
    for spider_cpu, commit_cpu, pages, rows in replays:
        assert ast.literal_eval(rows) == expected
        assert float(spider_cpu) > 0 and float(commit_cpu) > 0 and int(pages.replace(",", "")) > 0
    assert recording.exists()  # kept: the next replay reuses it
