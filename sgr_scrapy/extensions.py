"""HarvestReport: progress while the harvest runs, and the seed project's summary at the end.

Settings read: SGR_PROGRESS_INTERVAL (seconds between progress lines; a live bar on stderr
replaces them when stderr is a terminal).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from twisted.internet import task

from sgr_scrapy.items import CAPPED, DONE, FAILED, INCOMPLETE, LIKES, PENDING
from sgr_scrapy.pipelines import SQLitePipeline

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)
RULE = "=" * 64


class HarvestReport:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.interval = crawler.settings.getfloat("SGR_PROGRESS_INTERVAL")
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self._timer: task.LoopingCall | None = None
        self._last: tuple[float, int, int] = (self.started, 0, 0)  # time, requests, users done

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self._last = (self.started, 0, 0)
        period = 1.0 if self.tty else self.interval
        if period > 0:
            self._timer = task.LoopingCall(self.report)
            self._timer.start(period, now=False)

    def _stat(self, key: str) -> int:
        return int(self.crawler.stats.get_value(key, 0) or 0)

    def _phase(self) -> str:
        spider = self.crawler.spider
        lists = list(getattr(spider, "live", {}).values())
        queued = list(getattr(spider, "frontier", ()))
        if not lists and not queued and not self._stat("sgr/lists/likes_known"):
            return "seed"
        if any(live.progress.kind != LIKES for live in lists) or any(
            p.kind != LIKES for p in queued
        ):
            return "social spill"
        return "user depth"

    def report(self) -> None:
        now = time.monotonic()
        requests = self._stat("downloader/request_count")
        users_total = self._stat("sgr/lists/likes_known")
        users_done = self._stat("sgr/lists/likes_finished")
        then, last_requests, last_done = self._last
        elapsed = max(1e-6, now - then)
        rate = (requests - last_requests) / elapsed
        user_rate = (users_done - last_done) / elapsed
        self._last = (now, requests, users_done)
        remaining = max(0, users_total - users_done)
        eta = f"{remaining / user_rate:.0f} s" if user_rate > 0 and remaining else "-"
        line = (
            f"{self._phase()}: users {users_done}/{users_total}, "
            f"tracks {self._stat('sgr/rows/tracks')}, "
            f"engagements {self._stat('sgr/rows/engagements')}, requests {requests} "
            f"({rate:.1f}/s), 429 waits {self._stat('sgr/rate_limit/responses')}, "
            f"retries {self._stat('retry/count')}, token refreshes "
            f"{self._stat('sgr/auth/renewals')}, failed pages {self._stat('sgr/pages_failed')}, "
            f"lists incomplete {self._stat('sgr/lists/incomplete')}, ETA {eta}"
        )
        if self.tty:
            done = users_done / users_total if users_total else 0.0
            bar = "#" * int(done * 20)
            sys.stderr.write(f"\r[{bar:<20}] {line[:150]}\x1b[K")
            sys.stderr.flush()
        else:
            logger.info("%(line)s", {"line": line})

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.tty:
            sys.stderr.write("\n")
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        summary: dict[str, Any] = pipeline.summary if pipeline is not None else {}
        sys.stdout.write(self.render(summary, reason, getattr(spider, "errors", [])))
        sys.stdout.flush()

    def render(self, summary: dict[str, Any], reason: str, errors: list[str]) -> str:
        elapsed = time.monotonic() - self.started
        tables: dict[str, int] = summary.get("tables", {})
        engagements: dict[str, int] = summary.get("engagements", {})
        lists: dict[str, int] = summary.get("lists", {})
        failed = summary.get("failed_pages", [])
        tracks_run = self._stat("sgr/rows/tracks")
        complete = reason == "finished" and not errors and not failed
        complete = complete and not lists.get(PENDING) and not lists.get(INCOMPLETE)
        title = "DEEP HARVEST COMPLETE" if complete else f"DEEP HARVEST STOPPED ({reason})"
        out = [
            "",
            RULE,
            title,
            RULE,
            f"Total time:        {elapsed:.1f} s",
            f"Tracks:            {tables.get('tracks', 0):,}",
            f"Users:             {tables.get('users', 0):,}",
            f"Likes:             {engagements.get('like', 0):,}",
            f"Reposts:           {engagements.get('repost', 0):,}",
            f"API calls:         {self._stat('downloader/request_count'):,}",
            f"Tracks/s:          {tracks_run / elapsed if elapsed else 0:,.1f}",
            f"Retries:           {self._stat('retry/count')}",
            f"Rate-limit waits:  {self._stat('sgr/rate_limit/responses')} "
            f"({self.crawler.stats.get_value('sgr/rate_limit/wait_seconds', 0):.1f} s)",
            f"Token refreshes:   {self._stat('sgr/auth/renewals')}",
            (
                f"Completeness:      {lists.get(DONE, 0)} lists read to the end, "
                f"{lists.get(CAPPED, 0)} stopped by a cap, {lists.get(PENDING, 0)} unfinished, "
                f"{lists.get(INCOMPLETE, 0)} incomplete, {lists.get(FAILED, 0)} with a failed "
                f"page ({len(failed)} pages failed)"
            ),
        ]
        reasons: dict[str, int] = {}
        for page in failed:
            reasons[page.reason] = reasons.get(page.reason, 0) + 1
        out += [f"  failed: {n} x {why}" for why, n in sorted(reasons.items())]
        out += [f"  error: {line}" for line in errors]
        if not complete:
            out.append("  Rerun the same command to resume: finished lists are not fetched again.")
        out += ["", "DATABASE STATISTICS", RULE]
        out += [f"  {name:<22} {count:>12,}" for name, count in tables.items()]
        out += [RULE, ""]
        return "\n".join(out)
