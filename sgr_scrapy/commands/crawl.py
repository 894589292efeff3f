"""`scrapy crawl harvest ...`: Scrapy's crawl command, with checks first and a telling exit code.

Before anything starts, the harvest's arguments, credentials and database are checked; a
problem is one line on stderr and exit status 2, with the database left as it was. After the
crawl: 0 when the harvest is complete, 3 when it finished with failed pages or incomplete lists
(rerun to retry them), 1 when it stopped early (a bad seed, credentials the API refused, a rate
limit longer than SGR_MAX_RATE_LIMIT_WAIT, Ctrl-C).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from sgr_scrapy.args import ArgumentError
from sgr_scrapy.preflight import preflight

if TYPE_CHECKING:
    import argparse

EXIT_COMPLETE, EXIT_STOPPED, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("run one spider: scrapy crawl harvest -a url=<track URL>")
        spname = args[0]
        assert self.crawler_process is not None and self.settings is not None
        spidercls = self.crawler_process.spider_loader.load(spname)
        if getattr(spidercls, "name", "") == "harvest":
            try:
                preflight(self.settings, opts.spargs)
            except (ArgumentError, ValueError) as exc:
                sys.stderr.write(f"error: {exc}\n")
                self.exitcode = EXIT_USAGE
                return
        crawler = self._create_crawler(spname)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_STOPPED
            return
        spider = crawler.spider
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        if reason != "finished" or getattr(spider, "errors", None):
            self.exitcode = EXIT_STOPPED
        elif getattr(spider, "incomplete", False):
            self.exitcode = EXIT_INCOMPLETE
