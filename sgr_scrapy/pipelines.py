"""The item pipeline: batches `Page` items and hands them to the store, one transaction a batch.

Settings read: SGR_DB_PATH, SGR_BATCH_SIZE (rows per transaction at most), SGR_FLUSH_INTERVAL
(seconds a page may wait for its commit at most).

A page's rows and its list's new position go into the same transaction, so whatever moment the
process dies at, the database holds whole pages and cursors that point just past them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Self

from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task

from sgr_scrapy.items import Page
from sgr_scrapy.store import Store, StoreError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class SQLitePipeline:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.db_path = settings.get("SGR_DB_PATH")
        self.batch_size = max(1, settings.getint("SGR_BATCH_SIZE"))
        self.flush_interval = settings.getfloat("SGR_FLUSH_INTERVAL")
        self.store: Store | None = None
        self.run_id: int | None = None
        self.buffer: list[Page] = []
        self.buffered_rows = 0
        self.last_flush = time.monotonic()
        self._timer: task.LoopingCall | None = None
        self.summary: dict[str, object] = {}
        self.write_error: str | None = None  # a failed commit stops all further writes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        try:
            self.store = Store.open(self.db_path)
        except StoreError as exc:
            logger.error("%(error)s", {"error": exc})
            self.crawler.stats.set_value("sgr/store_error", str(exc))
            raise CloseSpider("store_error") from None
        self.run_id = self.store.begin_run()
        if self.flush_interval > 0:
            self._timer = task.LoopingCall(self._flush_if_due)
            self._timer.start(self.flush_interval, now=False)

    def process_item(self, item: object) -> object:
        if isinstance(item, Page):
            self.buffer.append(item)
            self.buffered_rows += 1 + len(item.tracks) + len(item.users) + len(item.engagements)
            if self.buffered_rows >= self.batch_size:
                self.flush()
        return item

    def _flush_if_due(self) -> None:
        if self.buffer and time.monotonic() - self.last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        pages, self.buffer, self.buffered_rows = self.buffer, [], 0
        self.last_flush = time.monotonic()
        if not pages or self.store is None or self.write_error:
            return
        try:
            self.store.write(pages)
        except StoreError as exc:
            # Disk full, say: one line, and stop. The batch was rolled back whole, so its
            # pages are simply fetched again by the next run.
            self.write_error = str(exc)
            logger.error("%(error)s", {"error": exc})
            self.crawler.stats.set_value("sgr/store_error", self.write_error)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_error"))
            return
        stats = self.crawler.stats
        stats.inc_value("sgr/commits")
        stats.inc_value("sgr/pages_committed", sum(1 for p in pages if p.progress is not None))
        stats.inc_value("sgr/rows/tracks", sum(len(p.tracks) for p in pages))
        stats.inc_value("sgr/rows/users", sum(len(p.users) for p in pages))
        stats.inc_value("sgr/rows/engagements", sum(len(p.engagements) for p in pages))

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.store is None:
            return
        self.flush()
        self.summary = {
            "tables": self.store.table_counts(),
            "engagements": self.store.engagement_counts(),
            "lists": self.store.list_summary(),
            "failed_pages": self.store.failed_pages(),
        }

    def spider_closed(self, reason: str) -> None:
        """Record the run (its finish reason is known only now) and release the database."""
        if self.store is None:
            return
        if self.run_id is not None:
            self.store.end_run(self.run_id, reason, self.crawler.stats.get_stats())
        self.store.close()
        self.store = None
