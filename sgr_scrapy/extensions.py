"""HarvestReport: progress while the harvest runs, and the seed project's summary at the end.

Settings read: SGR_PROGRESS_INTERVAL (seconds between progress lines; when stderr is a terminal,
a live bar redrawn every second replaces them; 0 turns both off). See sgr_scrapy/progress.py.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, deque
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from twisted.internet import task

from sgr_scrapy.families import FAMILIES, TRACK
from sgr_scrapy.items import CAPPED, DONE, FAILED, INCOMPLETE, PENDING, RESUMABLE
from sgr_scrapy.outcome import Outcome, RunFacts, judge
from sgr_scrapy.pipelines import SQLitePipeline
from sgr_scrapy.progress import LiveBar, Snapshot

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)
RULE = "=" * 64
BAR_PERIOD = 1.0  # seconds between redraws of the live bar
RATE_WINDOW = 30.0  # seconds of history behind the requests/s and the ETA


# Tables of the list families beyond the seed's three, as the summary names them.
EXTRA_TABLES = (
    ("Follows", "user_follows"),
    ("Playlists", "playlists"),
    ("Playlist tracks", "playlist_tracks"),
    ("Related tracks", "related_tracks"),
)


class HarvestReport:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.interval = crawler.settings.getfloat("SGR_PROGRESS_INTERVAL")
        self.bar = LiveBar.on(sys.stderr) if self.interval > 0 else None
        self.started = time.monotonic()
        self._timer: task.LoopingCall | None = None
        # (time, requests, users done) of recent reports, for rates that do not jump about
        self._samples: deque[tuple[float, int, int]] = deque([(self.started, 0, 0)])
        self.before: tuple[dict[str, int], dict[str, int]] = ({}, {})  # tables, engagements
        self.outcome: Outcome | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        if pipeline is not None and pipeline.store is not None:
            # The database's totals before this run, to tell this run's new rows apart.
            self.before = (pipeline.store.table_counts(), pipeline.store.engagement_counts())
        self._samples = deque([(self.started, 0, 0)])
        if self.interval <= 0:
            return
        if self.bar is not None:
            self.bar.start()
        self._timer = task.LoopingCall(self.report)
        self._timer.start(BAR_PERIOD if self.bar is not None else self.interval, now=False)

    def _stat(self, key: str) -> int:
        return int(self.crawler.stats.get_value(key, 0) or 0)

    def _phase(self) -> str:
        if not self.crawler.crawling:  # Ctrl-C: what is in flight is finishing
            return "stopping"
        spider = self.crawler.spider
        live = getattr(spider, "live", {})
        queued = getattr(spider, "frontier", ())
        hops = getattr(spider, "hops", ())
        hop = f"hop {len(hops)}: " if getattr(spider.args, "depth", 1) > 1 and hops else ""
        if not live and not queued and not self._stat("sgr/users/known"):
            return f"{hop}seed"
        kinds = chain((item.progress.kind for item in live.values()), (p.kind for p in queued))
        spill = any(FAMILIES[kind].owner == TRACK for kind in kinds)
        return hop + ("social spill" if spill else "user depth")

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        requests = self._stat("downloader/request_count")
        users_total = self._stat("sgr/users/known")
        users_done = self._stat("sgr/users/finished")
        while len(self._samples) > 1 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()
        then, then_requests, then_done = self._samples[0]
        self._samples.append((now, requests, users_done))
        elapsed = max(1e-6, now - then)
        user_rate = (users_done - then_done) / elapsed
        remaining = max(0, users_total - users_done)
        return Snapshot(
            phase=self._phase(),
            users_done=users_done,
            users_total=users_total,
            tracks=self._stat("sgr/rows/tracks"),
            engagements=self._stat("sgr/rows/engagements"),
            requests=requests,
            rate=(requests - then_requests) / elapsed,
            waits=self._stat("sgr/rate_limit/responses"),
            retries=self._stat("retry/count"),
            refreshes=self._stat("sgr/auth/renewals"),
            failed_pages=self._stat("sgr/pages_failed"),
            incomplete=self._stat("sgr/lists/incomplete"),
            eta=remaining / user_rate if user_rate > 0 and remaining else None,
        )

    def report(self) -> None:
        snapshot = self.snapshot()
        if self.bar is not None:
            self.bar.update(snapshot)
        else:
            logger.info("%(line)s", {"line": snapshot.line()})

    def _close_bar(self, reason: str) -> None:
        """Show the last numbers and hand the terminal back, before the summary is printed."""
        if self.bar is not None:
            if self.bar.started:
                last = replace(self.snapshot(), eta=None)
                self.bar.update(
                    replace(last, phase="finished" if reason == "finished" else "stopped")
                )
            self.bar.stop()
            self.bar = None

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.finish(reason)

    def finish(self, reason: str) -> Outcome:
        """Judge the run, print the summary once, and keep the outcome for the exit status."""
        if self.outcome is not None:
            return self.outcome
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._close_bar(reason)
        spider = self.crawler.spider
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        summary: dict[str, Any] = pipeline.summary if pipeline is not None else {}
        mine = getattr(spider, "lists", {})
        failed = [p for p in summary.get("failed_pages", []) if p.list_key in mine]
        stop_detail = self.crawler.stats.get_value(
            "sgr/auth/error"
        ) or self.crawler.stats.get_value("sgr/store_error")
        facts = RunFacts(
            finish_reason=reason,
            seeds_ok=len(set(getattr(spider, "seed_tracks", {}).values())),
            seed_errors=tuple(getattr(spider, "errors", ())),
            lists=spider.list_statuses() if hasattr(spider, "list_statuses") else {},
            failed_pages=len(failed),
            pages=self._stat("sgr/pages"),
            stop_detail=str(stop_detail) if stop_detail else None,
            plan=bool(getattr(getattr(spider, "args", None), "plan", False)),
        )
        self.outcome = judge(facts)
        sys.stdout.write(self.render(summary, facts, self.outcome, failed))
        sys.stdout.flush()
        return self.outcome

    def _tables_written(self) -> set[str]:
        lists = getattr(getattr(self.crawler.spider, "args", None), "lists", ())
        return {table for name in lists for table in FAMILIES[name].writes}

    def _rate_limit_line(self) -> str:
        # The same stat keys as the stats dump: 429 answers, and the wall-clock time downloads
        # stood still for them (overlapping waits counted once).
        stats = self.crawler.stats
        blocked = float(stats.get_value("sgr/rate_limit/blocked_seconds", 0) or 0)
        line = (
            f"{self._stat('sgr/rate_limit/responses')} answers 429 "
            f"(sgr/rate_limit/responses), downloads paused {blocked:.1f} s "
            "(sgr/rate_limit/blocked_seconds)"
        )
        rate = stats.get_value("sgr/throttle/rate")
        if rate:
            line += f", then paced at {float(rate):.1f} requests/s"
        return line

    def render(
        self, summary: dict[str, Any], facts: RunFacts, outcome: Outcome, failed: list[Any]
    ) -> str:
        elapsed = time.monotonic() - self.started
        tables: dict[str, int] = summary.get("tables", {})
        engagements: dict[str, int] = summary.get("engagements", {})
        before_tables, before_engagements = self.before
        lists = facts.lists

        def new(count: int, was: int) -> str:
            return f"{max(0, count - was):,}"

        spider = self.crawler.spider
        aliases = getattr(spider, "aliases", [])
        seeds = f"{facts.seeds_ok} track{'s' if facts.seeds_ok != 1 else ''}"
        if aliases:
            seeds += f" ({len(aliases)} more URL{'s' if len(aliases) > 1 else ''} named the same)"
        out = ["", RULE, outcome.heading, RULE]
        out += [f"  {line}" for line in outcome.why]
        out += [
            "",
            "THIS RUN",
            f"Total time:        {elapsed:.1f} s",
            f"Seeds:             {seeds}",
            f"New tracks:        {new(tables.get('tracks', 0), before_tables.get('tracks', 0))}",
            f"New users:         {new(tables.get('users', 0), before_tables.get('users', 0))}",
            f"New likes:         "
            f"{new(engagements.get('like', 0), before_engagements.get('like', 0))}",
            f"New reposts:       "
            f"{new(engagements.get('repost', 0), before_engagements.get('repost', 0))}",
            *(
                f"{label + ':':<19}{new(tables.get(table, 0), before_tables.get(table, 0))}"
                for label, table in EXTRA_TABLES
                if tables.get(table, 0) or table in self._tables_written()
            ),
            f"API calls:         {self._stat('downloader/request_count'):,}",
            f"Tracks/s:          {self._stat('sgr/rows/tracks') / elapsed if elapsed else 0:,.1f}",
            f"Retries:           {self._stat('retry/count')}",
            f"Rate-limit waits:  {self._rate_limit_line()}",
            f"Token refreshes:   {self._stat('sgr/auth/renewals')}",
            (
                f"Completeness:      {lists.get(DONE, 0):,} lists read to the end, "
                f"{lists.get(CAPPED, 0):,} stopped by a cap, {lists.get(PENDING, 0):,} unfinished, "
                f"{lists.get(INCOMPLETE, 0):,} incomplete, {lists.get(FAILED, 0):,} with a failed "
                f"page ({len(failed):,} pages failed)"
            ),
        ]
        for family, by_status in sorted(getattr(spider, "family_statuses", dict)().items()):
            parts = ", ".join(f"{n:,} {status}" for status, n in sorted(by_status.items()))
            out.append(f"  {family + ':':<17}{parts}")
        hops = getattr(spider, "hops", [])
        if len(hops) > 1 or getattr(getattr(spider, "args", None), "depth", 1) > 1:
            for hop in hops:
                out.append(
                    f"Hop {hop.number}:             {len(hop.seeds):,} seed tracks, "
                    f"{len(hop.users):,} new users"
                    + (
                        f" (expanded: most engaged {hop.expansions[0].engagements:,} .. "
                        f"{hop.expansions[-1].engagements:,} engagements)"
                        if hop.expansions
                        else ""
                    )
                )
        for alias, first in aliases:
            out.append(f"  alias: {alias} is the same track as {first}")
        reasons = Counter(page.reason for page in failed)
        out += [f"  failed: {n} x {why}" for why, n in sorted(reasons.items())]
        if outcome.rerun:
            out.append(f"  {outcome.rerun}")
        estimate = getattr(spider, "estimate", None)
        if estimate is not None:
            parts = ", ".join(f"{name} {n:,}" for name, n in estimate.by_family.items())
            out += [
                "",
                "PLAN (what the rest would cost; nothing else was read)",
                estimate.line(),
                f"  requests by family: {parts or 'none'}",
                f"  {estimate.unknown:,} lists without a count, taken as one page each; "
                "likes lists are shorter than public_favorites_count says (it counts liked "
                "playlists too); hop 1 only (README: Refresh and plan)",
            ]
        db_lists: dict[str, int] = summary.get("lists", {})
        others = sum(db_lists.get(s, 0) - lists.get(s, 0) for s in RESUMABLE)
        out += [
            "",
            "DATABASE TOTALS",
            f"Tracks:            {tables.get('tracks', 0):,}",
            f"Users:             {tables.get('users', 0):,}",
            f"Likes:             {engagements.get('like', 0):,}",
            f"Reposts:           {engagements.get('repost', 0):,}",
            *(
                f"{label + ':':<19}{tables.get(table, 0):,}"
                for label, table in EXTRA_TABLES
                if tables.get(table, 0)
            ),
        ]
        if others > 0:
            out.append(
                f"Other seeds:       {others:,} unfinished lists of seeds not in this run "
                "(they resume when their seed is harvested again)"
            )
        out += ["", "DATABASE STATISTICS", RULE]
        out += [f"  {name:<22} {count:>12,}" for name, count in tables.items()]
        out += [RULE, ""]
        return "\n".join(out)
