"""Benchmarks 1 (CPU-bound, against the bare-Scrapy ceiling) and 3 (API economy).

No latency, no rate limit, no faults: the simulator answers as fast as it can (in its own
process), so the harvest's own CPU is what limits it. The same world is then walked by
bench/ceiling.py, a bare spider making the very same requests and only ``json.loads``-ing them.
The harvest's requests counted by the simulator, against ``Plan.min_requests``, give benchmark 3.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_simulator import server_cpu_seconds
from bench.common import (
    ROOT,
    Plan,
    Row,
    Run,
    api_requests,
    fmt,
    harvest_command,
    harvest_env,
    plan,
    run_process,
    table_count,
)
from sgr_scrapy.simulator.process import SimulatorProcess

# ~229k listed engagements, 5,100 likes lists, 5,568 requests at least.
WORLD = ["--seed", "1", "--likers", "4500", "--reposters", "1000"]
QUICK_WORLD = ["--seed", "1", "--likers", "300", "--reposters", "60"]
CEILING_SETTINGS = {
    # What the project sets for the same reasons (settings.py); no pipeline, no middleware.
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
    "DOWNLOAD_DELAY": 0,
    "ROBOTSTXT_OBEY": False,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "LOGSTATS_INTERVAL": 0,
    "USER_AGENT": "sgr-scrapy/0.1 (+https://github.com/soundgraph-relate)",
}


@dataclass
class Harvested:
    """A complete harvest of one world, measured."""

    plan: Plan
    run: Run
    requests: int
    tracks: int
    users: int
    engagements: int
    stats: dict[str, Any]
    simulator_cpu: float = 0.0

    def rate(self, n: int) -> float:
        return n / self.run.wall

    def rows_written(self) -> str:
        """What the pipeline handed to SQLite (a track liked by many users is upserted often)."""
        st = self.run.stats
        keys = ("sgr/rows/tracks", "sgr/rows/users", "sgr/rows/engagements")
        crawl = st.get("elapsed_time_seconds", 0.0)
        return " / ".join(f"{int(st.get(k, 0)):,}" for k in keys) + (
            f" (crawl {crawl:.1f} s of the wall time)" if crawl else ""
        )


def harvest(world: list[str], workdir: Path, settings: dict[str, Any] | None = None) -> Harvested:
    """Start a simulator with ``world``, harvest it completely, return the measures."""
    world_plan = plan(world)
    db = workdir / "tracks.db"
    with SimulatorProcess(*world) as sim:
        cmd = harvest_command(sim.info, db, settings)
        cpu0 = server_cpu_seconds(sim.info["pid"])
        run = run_process(cmd, env=harvest_env(sim.info), cwd=workdir, log=workdir / "harvest.log")
        sim_cpu = server_cpu_seconds(sim.info["pid"]) - cpu0
        stats = sim.stats()
    return Harvested(
        world_plan,
        run,
        api_requests(stats),
        table_count(db, "tracks"),
        table_count(db, "users"),
        table_count(db, "user_engagements"),
        stats,
        sim_cpu,
    )


def ceiling(world: list[str], workdir: Path) -> tuple[Run, int]:
    """Walk ``world`` with the bare spider; return its run and the requests it made."""
    with SimulatorProcess(*world) as sim:
        info = sim.info
        cmd = [
            sys.executable,
            "-m",
            "scrapy.cmdline",
            "runspider",
            str(ROOT / "bench" / "ceiling.py"),
        ]
        cmd += ["-a", f"api_url={info['api_url']}", "-a", f"token={info['access_token']}"]
        cmd += ["-a", f"seed_url={info['seed_url']}"]
        for name, value in CEILING_SETTINGS.items():
            cmd += ["-s", f"{name}={value}"]
        env = {k: v for k, v in harvest_env(info).items() if k != "SCRAPY_SETTINGS_MODULE"}
        # Outside the project directory, so scrapy.cfg and the project settings stay out.
        run = run_process(cmd, env=env, cwd=workdir, log=workdir / "ceiling.log")
        requests = api_requests(sim.stats())
    return run, requests


def run(quick: bool = False, cache: dict[str, Any] | None = None) -> list[Row]:
    """Benchmark 1: the harvest against the ceiling on a ~229k-engagement world."""
    world = QUICK_WORLD if quick else WORLD
    with tempfile.TemporaryDirectory(prefix="sgr-bench-cpu-") as tmp:
        work = Path(tmp)
        h = harvest(world, work)
        c_run, c_requests = ceiling(world, work)
    if cache is not None:
        cache["cpu"] = h
    name = "1 cpu-bound"
    h_rps, c_rps = h.rate(h.requests), c_requests / c_run.wall
    share = h_rps / c_rps if c_rps else 0.0
    same = "same" if c_requests == h.requests else f"ceiling made {c_requests:,}"
    return [
        Row(
            name,
            "world: listed engagements / likes lists",
            f"{h.plan.listed:,} / {h.plan.users:,}",
            ">= 200,000",
            h.plan.listed >= 200_000,
        ),
        Row(name, "harvest exit status, wall time", f"{h.run.returncode}, {h.run.wall:.1f} s"),
        Row(name, "tracks stored/s", f"{fmt(h.rate(h.tracks))} ({h.tracks:,} rows)"),
        Row(name, "engagements stored/s", f"{fmt(h.rate(h.engagements))} ({h.engagements:,} rows)"),
        Row(name, "requests/s", f"{fmt(h_rps)} ({h.requests:,} requests)"),
        Row(name, "rows upserted: tracks / users / engagements", h.rows_written()),
        Row(name, "peak RSS of the harvest", f"{h.run.peak_rss_mb:.0f} MB"),
        Row(
            name,
            "CPU of the harvest / of the simulator / wall",
            f"{h.run.cpu:.1f} s / {h.simulator_cpu:.1f} s / {h.run.wall:.1f} s",
        ),
        Row(
            name,
            "ceiling requests/s (bare spider, json.loads)",
            f"{fmt(c_rps)} ({c_requests:,} requests, {same}; {c_run.wall:.1f} s)",
        ),
        Row(name, "ceiling peak RSS", f"{c_run.peak_rss_mb:.0f} MB"),
        Row(name, "harvest / ceiling (requests/s)", f"{share:.0%}", ">= 50%", share >= 0.5),
    ]


def economy(quick: bool = False, cache: dict[str, Any] | None = None) -> list[Row]:
    """Benchmark 3: requests made against the minimum (reuses benchmark 1's harvest if run)."""
    h: Harvested | None = (cache or {}).get("cpu")
    if h is None:
        with tempfile.TemporaryDirectory(prefix="sgr-bench-economy-") as tmp:
            h = harvest(QUICK_WORLD if quick else WORLD, Path(tmp))
    ratio = h.requests / h.plan.min_requests
    by_family = ", ".join(
        f"{family} {sum(v.values()):,}" for family, v in sorted(h.stats["requests"].items())
    )
    return [
        Row(
            "3 api economy",
            "minimum requests (200/page, resolve, track, artist)",
            f"{h.plan.min_requests:,}",
        ),
        Row("3 api economy", "requests made", f"{h.requests:,} ({by_family})"),
        Row("3 api economy", "made / minimum", f"{ratio:.3f}", "1.00", round(ratio, 2) == 1.0),
    ]
