"""Replay: the spider's and the store's own work on recorded responses, with no network.

``python -m bench.replay [--world cpu|wide] [--recording PATH] [--repeat N] [--limit PAGES]``

A CPU-bound harvest shares two cores with its simulator and its commit thread, and the
machine's speed drifts: one harvest against one ceiling moves by 0.1 (bench/README.md,
"Session 7"). This takes the network, Scrapy's engine and the simulator out:

1. **Record** (once per world, or ``--recording`` to keep it): a real ``scrapy crawl harvest``
   against the simulator, with `Recorder` added to the project's extensions, pickles every
   response (status, headers, body) by URL.
2. **Replay**: `HarvestSpider` and `SQLitePipeline`, built as Scrapy builds them, on a fresh
   database. Each request the spider makes is answered from the recording and handed to its
   callback; each `Page` goes to the pipeline, whose commit thread runs as in a harvest. What
   it prints: CPU seconds of the spider's thread (callbacks, rows, staging) and of the commit
   thread, the bytes the process wrote, rows by table.

Both threads' CPU are what a change to the spider or the store moves, and they hardly drift;
under ``valgrind --tool=callgrind --separate-threads=yes`` (``--limit 1000`` keeps it to a few
minutes) they become exact instruction counts. Scrapy's own per-request work (downloader,
middlewares, the item path) is not in the replay: benchmark 1 measures the whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, harvest_command, harvest_env, table_counts
from bench.cpu import WORLDS

TABLES = ("tracks", "users", "user_engagements", "user_follows", "playlists", "playlist_tracks")
META = "__meta__"  # the recording's key for the API URL and the seed


class Recorder:
    """A Scrapy extension: every response by request URL, pickled at the spider's close to
    the path in SGR_BENCH_RECORDING (bench/record_settings.py enables it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.responses: dict[str, Any] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> Recorder:
        from scrapy import signals

        recorder = cls(crawler.settings.get("SGR_BENCH_RECORDING"))
        crawler.signals.connect(recorder.received, signal=signals.response_received)
        crawler.signals.connect(recorder.closed, signal=signals.spider_closed)
        return recorder

    def received(self, response: Any, request: Any, spider: Any) -> None:
        self.responses[request.url] = (response.status, dict(response.headers), response.body)

    def closed(self, spider: Any) -> None:
        self.responses[META] = {"api_url": spider.api_url, "seed_url": spider.args.urls[0]}
        with open(self.path, "wb") as f:
            pickle.dump(self.responses, f, protocol=pickle.HIGHEST_PROTOCOL)


def record(world: list[str], out: Path) -> dict[str, int]:
    """Harvest ``world`` from a fresh simulator, keeping every response in ``out``; the
    harvest's rows by table."""
    from sgr_scrapy.simulator.process import SimulatorProcess

    with (
        tempfile.TemporaryDirectory(prefix="sgr-bench-record-") as tmp,
        SimulatorProcess(*world) as sim,
    ):
        db = Path(tmp) / "tracks.db"
        cmd = harvest_command(sim.info, db, {"SGR_BENCH_RECORDING": str(out.resolve())})
        env = {**harvest_env(sim.info), "SCRAPY_SETTINGS_MODULE": "bench.record_settings"}
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"recording harvest failed ({done.returncode}): {done.stderr[-500:]}"
            )
        return table_counts(db, TABLES)


@dataclass
class Replayed:
    spider_cpu: float  # seconds on the thread that runs the callbacks and the pipeline
    commit_cpu: float  # seconds on the store's commit thread
    wall: float
    written_mb: float  # what the process wrote (/proc/self/io write_bytes): database, -wal
    pages: int  # Page items handed to the pipeline
    rows: dict[str, int]  # by table, in the database at the end


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of each of this process's threads, by native id (Linux schedstat)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            out[int(tid)] = int(f.read().split()[0]) / 1e9
    return out


def _written_bytes() -> int:
    with open("/proc/self/io") as f:
        fields = dict(line.split(": ") for line in f.read().splitlines())
    return int(fields["write_bytes"])


def replay(responses: dict[str, Any], limit: int = 0) -> Replayed:
    """Feed ``responses`` (a recording) through a new spider and pipeline, ``limit`` pages at
    most (0: all); runs in this process, which must have the asyncio reactor installed."""
    from scrapy.exceptions import DontCloseSpider
    from scrapy.http import Request, TextResponse
    from scrapy.utils.project import get_project_settings
    from scrapy.utils.test import get_crawler

    from sgr_scrapy.pipelines import SQLitePipeline
    from sgr_scrapy.spiders.harvest import HarvestSpider

    meta = responses[META]
    with tempfile.TemporaryDirectory(prefix="sgr-bench-replay-") as tmp:
        settings = get_project_settings().copy_to_dict()
        settings.update(
            SOUNDCLOUD_API_URL=meta["api_url"],
            SGR_DB_PATH=f"{tmp}/tracks.db",
            SGR_TOKEN_CACHE=f"{tmp}/token.json",
            SGR_FLUSH_INTERVAL=0,  # batches by rows only: the replay has no clock to wait on
        )
        crawler = get_crawler(HarvestSpider, settings)
        pipeline = SQLitePipeline(crawler)
        queue: deque[Request] = deque()

        class Engine:  # what the spider asks of Scrapy's engine: to schedule a request
            def crawl(self, request: Request) -> None:
                queue.append(request)

        class Spider(HarvestSpider):
            pipeline = property(lambda self: pipeline)  # type: ignore[assignment]

        spider = Spider.from_crawler(crawler, url=meta["seed_url"])
        crawler.spider, crawler.engine, crawler.crawling = spider, Engine(), True
        pipeline.open_spider()
        before, wrote0 = _thread_cpu(), _written_bytes()
        t0, w0 = time.thread_time(), time.perf_counter()

        async def start() -> None:
            async for request in spider.start():
                queue.append(request)

        asyncio.get_event_loop().run_until_complete(start())
        pages = 0
        while True:
            while queue and not (limit and pages >= limit):
                request = queue.popleft()
                status, headers, body = responses[request.url]
                response = TextResponse(
                    request.url, status=status, headers=headers, body=body, request=request
                )
                for out in request.callback(response, **request.cb_kwargs) or ():
                    if isinstance(out, Request):
                        queue.append(out)
                    else:
                        pipeline.process_item(out)
                        pages += 1
            if limit and pages >= limit:
                break
            try:
                spider.on_idle()
            except DontCloseSpider:
                continue
            break
        pipeline.commit()
        spider_cpu, wall = time.thread_time() - t0, time.perf_counter() - w0
        after = _thread_cpu()
        commit_ids = {t.native_id for t in threading.enumerate() if t.name.startswith("sgr-commit")}
        commit_cpu = sum(after[i] - before.get(i, 0.0) for i in commit_ids if i in after)
        written = (_written_bytes() - wrote0) / 1e6
        pipeline.close_spider()
        pipeline.spider_closed("finished")
        return Replayed(
            spider_cpu,
            commit_cpu,
            wall,
            written,
            pages,
            table_counts(Path(tmp) / "tracks.db", TABLES),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replay", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--world", choices=list(WORLDS), default="wide")
    parser.add_argument("--quick", action="store_true", help="the small version of the world")
    parser.add_argument(
        "--recording", type=Path, help="replay this recording; made first if it does not exist"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="pages at most (0: all)")
    args = parser.parse_args(argv)

    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from sgr_scrapy.runtime import tune_gc

    tune_gc()  # as the crawl command does
    with tempfile.TemporaryDirectory(prefix="sgr-bench-replay-") as tmp:
        path = args.recording or Path(tmp) / "recording.pickle"
        if not path.exists():
            world = WORLDS[args.world][1 if args.quick else 0]
            rows = record(world, path)
            print(f"recorded {path} ({path.stat().st_size / 1e6:.0f} MB); harvest rows {rows}")
        with open(path, "rb") as f:
            responses = pickle.load(f)
        runs = []
        for _ in range(max(1, args.repeat)):
            r = replay(responses, args.limit)
            runs.append(r)
            print(
                f"spider thread {r.spider_cpu:6.3f} s  commit thread {r.commit_cpu:6.3f} s  "
                f"wall {r.wall:6.3f} s  written {r.written_mb:,.0f} MB  pages {r.pages:,}  "
                f"rows {r.rows}",
                flush=True,
            )
    print(
        f"median: spider thread {statistics.median(r.spider_cpu for r in runs):.3f} s, "
        f"commit thread {statistics.median(r.commit_cpu for r in runs):.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
