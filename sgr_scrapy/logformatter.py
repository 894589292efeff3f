"""Scrapy's log lines for items, without the spider's internal pages.

Scrapy logs every scraped item at DEBUG ("Scraped from <200 ...>" with the item's repr). A
`Page` is the spider's hand-over to the pipeline, not a record a user asked for: its repr is
every row of the page (hundreds of tracks with their `raw_json`), and even when DEBUG is not
shown Scrapy builds the log record for each one (its root logger passes everything to the
handlers, which filter). Records sent to feeds (feeds.py) never come through here.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure

from sgr_scrapy.items import Page


class HarvestLogFormatter(LogFormatter):
    def scraped(
        self, item: Any, response: Response | Failure | None, spider: Spider
    ) -> LogFormatterResult | None:
        if isinstance(item, Page):
            return None  # the pipeline's stats (sgr/rows/*, sgr/pages_committed) count them
        return super().scraped(item, response, spider)
