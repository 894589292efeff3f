"""Benchmark 5: resume cost. ``kill -9`` half-way through a harvest, rerun, count the repeats.

The harvest runs at full speed (no latency, no limit) on benchmark 1's world; once half the
listed engagements are committed (polled read-only from the database) it is killed with
SIGKILL, then the same command is run to completion against the same simulator. Every API
request of both runs, less the world's minimum, is a request repeated because of the kill.
The bound is what Scrapy can have in flight at once: CONCURRENT_REQUESTS of the settings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    Row,
    api_requests,
    harvest_command,
    harvest_env,
    plan,
    run_process,
    table_count,
)
from bench.cpu import QUICK_WORLD, WORLD
from sgr_scrapy.simulator.process import SimulatorProcess


def in_flight_bound() -> int:
    from sgr_scrapy import settings

    return int(settings.CONCURRENT_REQUESTS)


def run(quick: bool = False, cache: dict[str, Any] | None = None) -> list[Row]:
    world = QUICK_WORLD if quick else WORLD
    world_plan = plan(world)
    half = world_plan.listed // 2
    bound = in_flight_bound()
    with tempfile.TemporaryDirectory(prefix="sgr-bench-resume-") as tmp:
        work = Path(tmp)
        db = work / "tracks.db"
        with SimulatorProcess(*world) as sim:
            cmd = harvest_command(sim.info, db)
            env = harvest_env(sim.info)
            first = run_process(
                cmd,
                env=env,
                cwd=work,
                log=work / "first.log",
                kill_when=lambda: table_count(db, "user_engagements") >= half,
            )
            at_kill = table_count(db, "user_engagements")
            before = api_requests(sim.stats())
            second = run_process(cmd, env=env, cwd=work, log=work / "second.log")
            total = api_requests(sim.stats())
        complete = table_count(db, "user_engagements")
    repeated = total - world_plan.min_requests
    how = "killed" if first.killed else "it ended first"
    name = "5 resume cost"
    return [
        Row(
            name,
            "killed (SIGKILL) at engagements committed",
            f"{at_kill:,} of ~{world_plan.listed:,} ({how})",
        ),
        Row(
            name,
            "requests: first run / resume / minimum",
            f"{before:,} / {total - before:,} / {world_plan.min_requests:,}",
        ),
        Row(
            name, "resume exit status; engagements at the end", f"{second.returncode}; {complete:,}"
        ),
        Row(
            name, "requests repeated", f"{repeated:,}", f"<= {bound} (in flight)", repeated <= bound
        ),
    ]
