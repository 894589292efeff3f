"""What every benchmark shares: the machine, a world's minimum requests, running a harvest.

Nothing here asserts: a benchmark measures, prints and writes what it measured.

- ``machine()``: cores, CPU model, Python, Scrapy, Twisted and SQLite versions.
- ``plan(world_args)``: the world the simulator builds from these flags, rebuilt in this
  process (it is deterministic), walked list by list: how many engagements the API lists and
  the minimum number of requests that read them all (``ceil(n / 200)`` pages a list, at least
  one, plus resolve, the seed track and its artist).
- ``run_process(cmd, ...)``: a subprocess's wall time, peak RSS (``ru_maxrss`` from ``wait4``)
  and CPU time, optionally killed with SIGKILL once a condition on the database holds.
- ``harvest_command`` / ``harvest_env``: ``scrapy crawl harvest`` against a simulator, with
  the project's default settings (only the database path and token cache moved).
"""

from __future__ import annotations

import math
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 200
SEED_REQUESTS = 3  # /resolve, /tracks/{seed}, /users/{artist}
LIST_FAMILIES = ("favoriters", "reposters", "likes")


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: a figure reported for information, with no goal

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "figure": self.figure,
            "value": self.value,
            "goal": self.goal,
            "met": self.met,
        }


@dataclass
class Plan:
    """A world's size and the fewest requests a complete harvest of it needs."""

    users: int  # distinct favoriters and reposters of the seed (one likes list each)
    listed: int  # items over every list (an engagement liked and listed twice counts twice)
    list_requests: int
    seed_requests: int = SEED_REQUESTS
    largest_list: int = 0

    @property
    def min_requests(self) -> int:
        return self.list_requests + self.seed_requests


def pages(n: int) -> int:
    """Requests to read a list of ``n`` items at 200 a page: an empty list is one request."""
    return max(1, math.ceil(n / PAGE_SIZE))


def plan(world_args: list[str]) -> Plan:
    """Walk the simulator's world for these flags (rebuilt here; same flags, same world)."""
    from sgr_scrapy.simulator.cli import build_parser, configs
    from sgr_scrapy.simulator.world import World

    world_config, _ = configs(build_parser().parse_args(world_args))
    world = World(world_config)
    seed = world.seed_track_id
    favoriters, reposters = world.favoriters(seed), world.reposters(seed)
    assert favoriters is not None and reposters is not None
    users = set(favoriters.ids) | set(reposters.ids)
    listed = len(favoriters) + len(reposters)
    requests = pages(len(favoriters)) + pages(len(reposters))
    largest = max(len(favoriters), len(reposters))
    for user in users:
        likes = world.likes(user)
        n = len(likes) if likes is not None else 0
        listed += n
        requests += pages(n)
        largest = max(largest, n)
    return Plan(len(users), listed, requests, largest_list=largest)


def machine() -> dict[str, str]:
    """The versions and the hardware the figures were measured on."""
    import scrapy
    import twisted

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "scrapy": scrapy.__version__,
        "twisted": twisted.__version__,
        "sqlite": sqlite3.sqlite_version,
        # Other work on the machine skews every rate: the 1-minute load when the run began.
        "load": f"{os.getloadavg()[0]:.2f}",
    }


def harvest_env(info: dict[str, Any]) -> dict[str, str]:
    """The environment of a harvest against a simulator: endpoints and its token only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(
        SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings",
        PYTHONPATH=str(ROOT),
        SOUNDCLOUD_API_URL=info["api_url"],
        SOUNDCLOUD_TOKEN_URL=info["token_url"],
        SOUNDCLOUD_ACCESS_TOKEN=info["access_token"],
    )
    return env


def harvest_command(
    info: dict[str, Any],
    db: Path,
    settings: dict[str, Any] | None = None,
    profile: Path | None = None,
    args: Sequence[str] = (),
) -> list[str]:
    """``scrapy crawl harvest -a url=<seed> [args]`` with the project defaults but the database
    path; ``profile`` runs it under cProfile, writing there."""
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "scrapy.cmdline", "crawl", "harvest", "-a", f"url={info['seed_url']}", *args]
    # LOG_LEVEL asks for the logs (sgr_scrapy/verbosity.py quiets Scrapy's INFO lines
    # otherwise), so the run ends with the stats dump that `Run.stats` reads.
    base = {"SGR_DB_PATH": str(db), "SGR_TOKEN_CACHE": f"{db}.token.json", "LOG_LEVEL": "INFO"}
    for name, value in {**base, **(settings or {})}.items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


@dataclass
class Run:
    """How a subprocess went."""

    returncode: int
    wall: float  # seconds from spawn to exit
    peak_rss_mb: float  # ru_maxrss of the process itself (not the simulator)
    cpu: float  # user + system seconds
    written_mb: float = 0.0  # what it wrote to files (ru_oublock): the database and its -wal
    killed: bool = False
    log_tail: str = ""
    stats: dict[str, float] = field(default_factory=dict)  # numbers of Scrapy's stats dump


def run_process(
    cmd: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    kill_when: Callable[[], bool] | None = None,
    poll: float = 0.05,
) -> Run:
    """Run ``cmd`` to its end, or SIGKILL it as soon as ``kill_when()`` is true."""
    killed = False
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        if kill_when is not None:
            while proc.poll() is None:
                if kill_when():
                    proc.kill()
                    killed = True
                    break
                time.sleep(poll)
        # wait4 reaps the child and hands back its own rusage (not every child's high mark).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    return Run(
        returncode=proc.returncode,
        wall=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu=usage.ru_utime + usage.ru_stime,
        written_mb=usage.ru_oublock * 512 / 1e6,
        killed=killed,
        log_tail=text[-3000:],
        stats=dumped_stats(text),
    )


# The dump is a pprinted dict: its first entry follows the "{", its last comes before the "}".
_STAT_RE = re.compile(r"^[{ ]'([\w/.\-]+)': (\d+(?:\.\d+)?)[,}]?$", re.MULTILINE)


def dumped_stats(log_text: str) -> dict[str, float]:
    """The numeric entries of the 'Dumping Scrapy stats' block at the end of a crawl's log."""
    start = log_text.rfind("Dumping Scrapy stats")
    if start < 0:
        return {}
    return {k: float(v) for k, v in _STAT_RE.findall(log_text[start:])}


def table_count(db: Path, table: str) -> int:
    """Rows of ``table`` committed so far (read-only; 0 while the file is being created)."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def table_counts(db: Path, tables: Sequence[str]) -> dict[str, int]:
    """Rows of each of ``tables`` committed so far (``table_count`` of each)."""
    return {table: table_count(db, table) for table in tables}


def api_requests(stats: dict[str, Any]) -> int:
    """API requests the simulator answered (control routes are never counted)."""
    return sum(
        n
        for family, by_status in stats["requests"].items()
        if family != "oauth"
        for n in by_status.values()
    )


def list_requests(stats: dict[str, Any]) -> int:
    return sum(
        n
        for family, by_status in stats["requests"].items()
        if family in LIST_FAMILIES
        for n in by_status.values()
    )


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def steady_rate(work: float, wall: float, simulator_cpu: float) -> float:
    """Work per second with the machine's speed taken out: ``work * simulator_cpu / wall``.

    On the shared 2-core machine the same run's wall time moves by a third within minutes
    (another tenant, the CPU's clock). The simulator answers the very same requests in the
    harvest and in the ceiling, so its CPU seconds move with the machine: a slower machine
    makes both `wall` and `simulator_cpu` larger, and their ratio stays. Its assumption: the
    simulator's CPU per request does not depend on the client's pace (bench/README.md, Session
    7, gives the evidence).
    """
    return work * simulator_cpu / wall if wall else 0.0


def median_of(values: Sequence[float]) -> str:
    """`82%`, or `82% (median of 0.79, 0.82, 0.88)` for several runs."""
    runs = f" (median of {', '.join(f'{v:.2f}' for v in values)})" if len(values) > 1 else ""
    return f"{statistics.median(values):.0%}{runs}"
