"""The bare-Scrapy ceiling (bench/ceiling.py) runs with the project's own Scrapy settings.

A setting the project tunes for speed and the ceiling leaves at Scrapy's default would make
the harvest look closer to the ceiling than its own work warrants.
"""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from bench.common import steady_rate
from bench.cpu import CEILING_SETTINGS, SCRAPY_TUNING
from sgr_scrapy import settings as project

# What the project sets that concerns the harvest's own components and behaviour, not how fast
# Scrapy itself runs: the ceiling has none of them, or (the dupefilter) never consults them.
HARVEST_ONLY = {
    "BOT_NAME", "SPIDER_MODULES", "NEWSPIDER_MODULE", "COMMANDS_MODULE", "ITEM_PIPELINES",
    "DOWNLOADER_MIDDLEWARES", "EXTENSIONS", "SCHEDULER", "FEED_EXPORTERS",
    "FEED_EXPORT_ENCODING", "DEFAULT_REQUEST_HEADERS", "DOWNLOAD_TIMEOUT", "RETRY_TIMES",
    "RETRY_HTTP_CODES", "LOG_FORMATTER", "DUPEFILTER_CLASS", "AUTOTHROTTLE_ENABLED",
    "AUTOTHROTTLE_START_DELAY", "AUTOTHROTTLE_MAX_DELAY", "AUTOTHROTTLE_TARGET_CONCURRENCY",
}  # fmt: skip


def test_every_setting_the_project_changes_is_the_ceilings_or_the_harvests_own() -> None:
    defaults = Settings()
    changed = {
        name
        for name in dir(project)
        if name.isupper() and not name.startswith("SGR_") and name in defaults
        if defaults[name] != getattr(project, name)
    }
    ceiling = {**CEILING_SETTINGS, **SCRAPY_TUNING}
    assert changed >= HARVEST_ONLY, HARVEST_ONLY - changed  # the list stays exact
    assert changed - HARVEST_ONLY <= set(ceiling), changed - HARVEST_ONLY - set(ceiling)
    for name, value in ceiling.items():
        assert getattr(project, name) == value, name
    assert set(SCRAPY_TUNING) <= changed  # each is a real change from Scrapy's defaults


def test_the_ceiling_runs_with_the_harvests_gc_thresholds_unless_bare() -> None:
    import gc

    from bench.ceiling import CeilingSpider
    from sgr_scrapy.runtime import GC_THRESHOLD

    usual = gc.get_threshold()
    where = {"api_url": "http://127.0.0.1:9", "token": "t", "seed_url": "http://127.0.0.1:9/a/b"}
    try:
        gc.set_threshold(700, 10, 10)
        CeilingSpider(**where, tuned="0")
        assert gc.get_threshold() == (700, 10, 10)
        CeilingSpider(**where)
        assert gc.get_threshold() == GC_THRESHOLD
    finally:
        gc.set_threshold(*usual)


def test_the_steady_rate_cancels_the_machines_speed_and_keeps_the_harvests() -> None:
    # The same run on a machine 1.4x slower: its wall and the simulator's CPU both grow.
    assert steady_rate(3_000, 14.0, 9.0) == pytest.approx(steady_rate(3_000, 19.6, 12.6))
    # A harvest twice as slow on the same machine (the simulator did the same work).
    assert steady_rate(3_000, 28.0, 9.0) == pytest.approx(steady_rate(3_000, 14.0, 9.0) / 2)
    assert steady_rate(3_000, 0.0, 9.0) == 0.0
