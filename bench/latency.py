"""Benchmark 2: latency-bound, 100 ms ± 20 ms a request and 20 requests/s per token.

The ideal is the fewest requests a complete harvest needs (``Plan.min_requests``) at the
rate limit: nothing can finish sooner. The harvest's wall time (process start to exit, so
Python and Scrapy start-up are included) is set against it, and the simulator's count of
429 answers against every request it answered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Row, api_requests, harvest_command, harvest_env, plan, run_process
from sgr_scrapy.simulator.process import SimulatorProcess

RATE = 20.0  # requests per second per token
FAULTS = ["--latency-ms", "100", "--jitter-ms", "20", "--rate-limit", str(int(RATE))]
# ~1,480 requests at least: an ideal of ~74 s.
WORLD = ["--seed", "2", "--likers", "1250", "--reposters", "250"]
QUICK_WORLD = ["--seed", "2", "--likers", "120", "--reposters", "25"]


def run(quick: bool = False, cache: dict | None = None) -> list[Row]:
    world = QUICK_WORLD if quick else WORLD
    world_plan = plan(world)
    ideal = world_plan.min_requests / RATE
    with tempfile.TemporaryDirectory(prefix="sgr-bench-latency-") as tmp:
        work = Path(tmp)
        with SimulatorProcess(*world, *FAULTS) as sim:
            cmd = harvest_command(sim.info, work / "tracks.db")
            result = run_process(cmd, env=harvest_env(sim.info), cwd=work, log=work / "harvest.log")
            stats = sim.stats()
    total = api_requests(stats)
    limited = int(stats["rate_limited"])
    share = limited / total if total else 0.0
    ratio = result.wall / ideal
    name = "2 latency-bound"
    return [
        Row(
            name,
            "minimum requests / ideal wall time at 20/s",
            f"{world_plan.min_requests:,} / {ideal:.1f} s",
        ),
        Row(name, "harvest exit status, wall time", f"{result.returncode}, {result.wall:.1f} s"),
        Row(name, "wall / ideal", f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15),
        Row(
            name,
            "requests answered 429",
            f"{share:.2%} ({limited:,} of {total:,})",
            "< 2%",
            share < 0.02,
        ),
        Row(name, "peak concurrency seen by the server", f"{stats.get('peak_concurrency', '?')}"),
    ]
