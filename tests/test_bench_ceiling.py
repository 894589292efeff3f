"""The bare-Scrapy ceiling (bench/ceiling.py) runs with the project's own Scrapy settings.

A setting the project tunes for speed and the ceiling leaves at Scrapy's default would make
the harvest look closer to the ceiling than its own work warrants.
"""

from __future__ import annotations

from scrapy.settings import Settings

from bench.cpu import CEILING_SETTINGS
from sgr_scrapy import settings as project

TUNING = (
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "CONCURRENT_ITEMS",
    "DOWNLOAD_DELAY",
    "WARN_ON_GENERATOR_RETURN_VALUE",
    "ROBOTSTXT_OBEY",
    "COOKIES_ENABLED",
    "TELNETCONSOLE_ENABLED",
    "USER_AGENT",
)


def test_the_ceiling_runs_with_the_projects_scrapy_tuning() -> None:
    for name in TUNING:
        assert name in CEILING_SETTINGS, name
        assert CEILING_SETTINGS[name] == getattr(project, name), name


def test_the_tuning_differs_from_scrapys_defaults() -> None:
    """Each tuned setting is one the project changed (else it need not be listed)."""
    defaults = Settings()
    changed = [name for name in TUNING if defaults[name] != getattr(project, name)]
    assert "CONCURRENT_ITEMS" in changed and "WARN_ON_GENERATOR_RETURN_VALUE" in changed


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
