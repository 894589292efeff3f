"""The pipeline turns every storage error into one log line and a clean stop, never a row dump.

The pipeline is built from a crawler that never crawls (`get_crawler`); the engine is a stub
that records the stop it is asked for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from sgr_scrapy import pipelines
from sgr_scrapy import store as store_module
from sgr_scrapy.items import ListProgress, Page
from sgr_scrapy.pipelines import SQLitePipeline
from sgr_scrapy.spiders.harvest import HarvestSpider
from sgr_scrapy.store import Store, StoreError
from tests.test_store import corrupt_middle, hold_write_lock, make_database, track


class StubEngine:
    def __init__(self) -> None:
        self.stops: list[str] = []

    async def close_spider_async(self, reason: str = "") -> None:
        self.stops.append(reason)


def run_now(coro: Coroutine[Any, Any, Any]) -> None:
    """deferred_from_coro without a reactor: the stub's coroutine never waits."""
    with contextlib.suppress(StopIteration):
        coro.send(None)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SQLitePipeline]:
    monkeypatch.setattr(pipelines, "deferred_from_coro", run_now)
    settings = {"SGR_DB_PATH": str(tmp_path / "tracks.db"), "SGR_BATCH_SIZE": 1}
    crawler = get_crawler(HarvestSpider, {**settings, "SGR_FLUSH_INTERVAL": 0})
    crawler._apply_settings()
    engine = StubEngine()
    crawler.engine = engine  # type: ignore[assignment]
    built = SQLitePipeline.from_crawler(crawler)
    yield built
    if built.store is not None:
        built.store.close()


def storage_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_corrupt_page_met_at_run_time_is_one_short_line_and_a_clean_stop(
    pipeline: SQLitePipeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = Path(pipeline.db_path)
    make_database(db)
    corrupt_middle(db)
    monkeypatch.setattr(store_module, "QUICK_CHECK_MAX_BYTES", 0)  # too big to check at open
    pipeline.open_spider()
    page = Page(
        rows=[track(i, title="t" * 500) for i in range(1, 3001)],
        progress=ListProgress("favoriters:1", "favoriters", 1, pages=1, items=3000),
    )
    with caplog.at_level(logging.INFO):
        assert pipeline.process_item(page) is page  # nothing escapes to Scrapy's item logger
        # The batch's rows are written with its COMMIT, behind: the damage is met there.
        assert pipeline.commit() is False
    (line,) = storage_errors(caplog)
    assert len(line) <= 300 and "\n" not in line and "damaged" in line, line
    assert pipeline.crawler.engine.stops == ["store_error"]
    assert pipeline.crawler.stats.get_value("sgr/store_error") == line
    pipeline.spider_closed("store_error")
    assert pipeline.store is None


def test_a_batch_lost_behind_and_met_by_the_spider_first_stops_every_later_write(
    pipeline: SQLitePipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """The spider may read the store before the pipeline writes again: it meets the lost
    batch's error first (one line); the pipeline then writes nothing more, and says nothing."""
    pipeline.open_spider()
    store = pipeline.store
    assert store is not None
    first = ListProgress("likes:1", "likes", 1, pages=1, items=1)
    assert pipeline.commit() and pipeline.process_item(Page(rows=[track(1)], progress=first))
    assert pipeline.commit()
    (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
    second = ListProgress("likes:1", "likes", 1, pages=2, items=3000)
    pipeline.process_item(
        Page(rows=[track(i, title="t" * 500) for i in range(2, 3002)], progress=second)
    )
    with pytest.raises(StoreError) as caught:
        store.lists()  # the spider, reading: it logs the error and stops (HarvestSpider)
    pipeline.crawler.stats.set_value("sgr/store_error", str(caught.value))
    store.conn.execute("PRAGMA max_page_count = 1000000")  # space again, too late
    third = ListProgress("likes:1", "likes", 1, pages=3, items=3001)
    with caplog.at_level(logging.INFO):
        pipeline.process_item(Page(rows=[track(9000)], progress=third))
        assert pipeline.commit() is False
    assert not storage_errors(caplog)
    assert pipeline.write_error == str(caught.value)
    pipeline.close_spider()
    pipeline.spider_closed("store_error")
    with Store.open(pipeline.db_path) as reopened:
        assert [p.pages for p in reopened.lists()] == [1]
        assert reopened.table_counts()["tracks"] == 1


def test_spider_closed_behind_another_writer_still_finishes_the_run_row(
    pipeline: SQLitePipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.open_spider()
    assert pipeline.store is not None
    pipeline.store.conn.execute("PRAGMA busy_timeout = 200")  # the page writes' timeout, shorter
    holder = hold_write_lock(Path(pipeline.db_path), 1.0)
    pipeline.spider_closed("finished")
    holder.join()
    assert not storage_errors(caplog)
    with Store.open(pipeline.db_path) as reopened:  # the lock was released
        assert reopened.unfinished_runs() == []


def test_spider_closed_behind_a_writer_that_never_lets_go_is_one_line(
    pipeline: SQLitePipeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(store_module, "CLOSE_BUSY_TIMEOUT", 0.3)
    pipeline.open_spider()
    run_id: Any = pipeline.run_id
    holder = hold_write_lock(Path(pipeline.db_path), 1.5)
    pipeline.spider_closed("finished")
    (line,) = storage_errors(caplog)
    assert "\n" not in line and len(line) <= 300 and f"run {run_id}" in line, line
    holder.join()
    with Store.open(pipeline.db_path) as reopened:
        assert reopened.unfinished_runs() == [run_id]
