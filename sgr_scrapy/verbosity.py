"""Quiet by default: what `scrapy crawl harvest` writes on stderr unless asked for more.

Unless logs were asked for (`-L`/`--loglevel`, `-s LOG_LEVEL=...`, `--logfile`/`LOG_FILE`, or
SCRAPY_LOG_LEVEL/SCRAPY_LOG_FILE in the environment), Scrapy's own INFO lines (the banner and
versions, overridden settings, enabled components, spider opened/closed, the stats dump) are
left out. Every WARNING and ERROR is shown, and so are the harvest's own messages (progress
lines, "Resuming ...", rate-limit waits, token renewals) and Scrapy's "Received SIGINT" notice.
The stats are kept in the database either way (harvest_runs.stats_json).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES

OWN_LOGGERS = "sgr_scrapy"


def logs_asked_for(settings: Any) -> bool:
    """True when the user chose the log level or a log file."""
    return bool(
        settings.getpriority("LOG_LEVEL") >= SETTINGS_PRIORITIES["cmdline"]
        or settings.get("LOG_FILE")
        or os.environ.get("SCRAPY_LOG_LEVEL")
        or os.environ.get("SCRAPY_LOG_FILE")
    )


class _HarvestInfoFilter(logging.Filter):
    """INFO records worth a user's screen: the harvest's own, and the Ctrl-C notice."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return False  # Scrapy's own handler prints those
        if record.name == OWN_LOGGERS or record.name.startswith(OWN_LOGGERS + "."):
            # Every run with client credentials obtains a token: the progress and the summary
            # count renewals, a line for each is noise.
            return not str(record.msg).startswith("Obtained a new access token")
        # "Received SIGINT, shutting down gracefully. Send again to force": a clean stop can
        # take a while, and the user should know the key press was heard.
        return record.name.startswith("scrapy.crawler") and str(record.msg).startswith("Received ")


def quiet_by_default(settings: Any) -> None:
    """Before the CrawlerProcess exists (it logs the banner): hide Scrapy's INFO lines.

    Scrapy's root handler is set to WARNING, and a second handler on stderr, with Scrapy's
    format, prints the INFO records that `_HarvestInfoFilter` lets through.
    """
    if logs_asked_for(settings) or not settings.getbool("LOG_ENABLED"):
        return
    settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO)
    handler.addFilter(_HarvestInfoFilter())
    handler.setFormatter(
        logging.Formatter(fmt=settings.get("LOG_FORMAT"), datefmt=settings.get("LOG_DATEFORMAT"))
    )
    logging.root.addHandler(handler)


@functools.cache  # once per process
def store_notices_on_stderr() -> None:
    """For the commands that run no crawl (`analyze`, `export`, `report`, `explore`): Scrapy
    configures no logging for them, so Python would drop the store's INFO lines (a migration
    under way, a file too big to check at open). Print those as plain lines on stderr."""
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(f"{OWN_LOGGERS}.store")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
