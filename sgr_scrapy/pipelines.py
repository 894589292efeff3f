"""The item pipeline: batches `Page` items and hands them to the store, one transaction a batch.

Settings read: SGR_DB_PATH, SGR_BATCH_SIZE (rows per transaction at most), SGR_FLUSH_INTERVAL
(seconds a page may wait for its commit at most), SGR_STORE_RAW_JSON (keep `raw_json`), and
FEEDS (whether to export records, see feeds.py).

A page's rows and its list's new position go into the same transaction, so whatever moment the
process dies at, the database holds whole pages and cursors that point just past them. Each
batch is finished (most upserts, the COMMIT) on the store's commit thread while the spider goes
on; the next batch, or anything that reads the store, waits for it first. A batch
that cannot be stored (disk full, a damaged file) is one ERROR line and a clean stop: it was
rolled back whole, so the next run fetches its pages again. Never a dump of its rows.

When a feed is configured (`-O out.jsonl`), the rows the run wrote are sent as records after
the last commit (feeds.py); otherwise nothing is built for feeds.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Self

from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task

from sgr_scrapy import feeds
from sgr_scrapy.items import Page
from sgr_scrapy.store import Store, StoreError, one_line

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
        # The batch whose COMMIT runs behind: (pages, rows per kind), counted once it holds.
        self._committing: tuple[int, dict[str, int]] | None = None
        self.store_raw_json = settings.getbool("SGR_STORE_RAW_JSON", True)
        self.export_records = feeds.feeds_configured(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        try:
            self.store = Store.open(self.db_path)
            self.store.store_raw_json = self.store_raw_json
            self.run_id = self.store.begin_run()
        except StoreError as exc:
            if self.store is not None:
                self.store.close()
                self.store = None
            say_store_error(self.crawler, str(exc))
            raise CloseSpider("store_error") from None
        if self.flush_interval > 0:
            self._timer = task.LoopingCall(self._flush_if_due)
            self._timer.start(self.flush_interval, now=False)

    def process_item(self, item: object) -> object:
        if isinstance(item, Page):
            self.buffer.append(item)
            self.buffered_rows += 1 + len(item.rows)
            if self.buffered_rows >= self.batch_size:
                self.flush()
        return item

    def _flush_if_due(self) -> None:
        if self.buffer and time.monotonic() - self.last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write what the buffer holds; its COMMIT runs behind (see commit())."""
        pages, self.buffer, self.buffered_rows = self.buffer, [], 0
        self.last_flush = time.monotonic()
        if not pages or not self._settle():
            return
        try:
            written = self.store.write(pages, behind=True)  # type: ignore[union-attr]
        except Exception as exc:
            self._write_failed(exc)
            return
        self._committing = (sum(1 for p in pages if p.progress is not None), written)

    def commit(self) -> bool:
        """Write and commit everything buffered; False when the database cannot be written."""
        self.flush()
        return self._settle()

    def _settle(self) -> bool:
        """Wait for the batch committing behind, then count it; False after a write error.

        The store commits each batch on a worker thread while the spider goes on parsing
        (Store.commit_behind), so a batch counts in the stats only once its COMMIT held.
        """
        if self.store is None or self.write_error:
            return False
        try:
            self.store.sync()
        except Exception as exc:
            self._write_failed(exc)
            return False
        if self._committing is not None:
            (pages, written), self._committing = self._committing, None
            stats = self.crawler.stats
            stats.inc_value("sgr/commits")
            stats.inc_value("sgr/pages_committed", pages)
            for kind, count in written.items():
                stats.inc_value(f"sgr/rows/{kind}", count)
        return True

    def _write_failed(self, exc: Exception) -> None:
        """Disk full, say: one line, and stop. The batch was rolled back whole, so its pages
        are simply fetched again by the next run. Anything else is a bug, but still one line
        here: Scrapy would log the whole batch with its traceback."""
        message = str(exc)
        if not isinstance(exc, StoreError):
            logger.debug("cannot write a batch", exc_info=True)
            message = one_line(f"cannot write to {self.db_path}: {type(exc).__name__}: {exc}")
        self.write_error = message
        stop_for_store_error(self.crawler, message)

    def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.store is None:
            return
        self.commit()
        if self.export_records:
            self.export()
        try:
            self.summary = {
                "tables": self.store.table_counts(),
                "engagements": self.store.engagement_counts(),
                "lists": self.store.list_summary(),
                "failed_pages": self.store.failed_pages(),
            }
        except StoreError as exc:
            if not self.write_error:
                say_store_error(self.crawler, str(exc))

    def export(self) -> None:
        """Send every row this run wrote, once, as a record to the feeds (feeds.py).

        Runs once, after the last commit and before the feeds close (spider_closed). After a
        forced stop the reactor is gone and so are the feeds: the rows stay in the database.
        """
        self.export_records = False
        store, crawler = self.store, self.crawler
        if store is None or self.run_id is None:
            return
        from twisted.internet import reactor  # the installed one (asyncio), never a default

        if not reactor.running:
            logger.warning("Stopped by force: no records exported; the database holds them")
            return
        send, stats = crawler.signals.send_catch_log, crawler.stats
        spider = crawler.spider
        item_scraped = signals.item_scraped
        exported: dict[str, int] = {}
        try:
            since = store.run_started_at(self.run_id)
            if since is None:
                return
            for record in feeds.records(store, since):
                send(item_scraped, item=record, response=None, spider=spider)
                exported[record.type] = exported.get(record.type, 0) + 1
        except StoreError as exc:
            logger.error("Records not all exported: %(error)s", {"error": exc})
        for kind, count in exported.items():
            stats.set_value(f"sgr/exported/{kind}", count)

    def spider_closed(self, reason: str) -> None:
        """Record the run (its finish reason is known only now) and release the database."""
        if self.store is None:
            return
        try:
            if self.run_id is not None:
                # Waits out another writer longer than a page write does: closing may block.
                self.store.end_run(self.run_id, reason, self.crawler.stats.get_stats())
        except StoreError as exc:
            if self.write_error:
                # The cause (a full disk, say) was already the run's one ERROR line.
                logger.warning("%(error)s", {"error": exc})
            else:
                say_store_error(self.crawler, str(exc))
        finally:
            self.store.close()
            self.store = None


def say_store_error(crawler: Crawler, message: str) -> None:
    """A storage error as one ERROR line, and the run's first one in `sgr/store_error` (the
    summary's reason). A message that was the run's first already is not said again: the spider
    meets a lost batch's error first when it reads the store before the pipeline writes."""
    stats = crawler.stats
    if stats.get_value("sgr/store_error") == message:
        return
    logger.error("%(error)s", {"error": message})
    if not stats.get_value("sgr/store_error"):
        stats.set_value("sgr/store_error", message)


def stop_for_store_error(crawler: Crawler, message: str) -> None:
    """Say a storage error met mid-run (a read by the spider, a batch the pipeline could not
    write) and stop cleanly: no hop starts and no retry waits any more (`sgr/stopping`)."""
    say_store_error(crawler, message)
    crawler.stats.set_value("sgr/stopping", "store_error")
    deferred_from_coro(crawler.engine.close_spider_async(reason="store_error"))
