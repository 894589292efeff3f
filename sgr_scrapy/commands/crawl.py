"""`scrapy crawl harvest ...`: Scrapy's crawl command, with checks first and a telling exit code.

Before anything starts, the harvest's arguments, credentials and database are checked; a
problem is one line on stderr and exit status 2, with the database left as it was. After the
crawl, the exit status follows the summary's title (see sgr_scrapy/outcome.py): 0 COMPLETE,
1 FAILED (nothing could be harvested), 3 INCOMPLETE (something is missing; the summary says
what), 4 STOPPED (Ctrl-C, a long rate-limit wait, a database that could not be written).

Quiet by default (sgr_scrapy/verbosity.py): the progress, warnings, errors and the summary;
`-L INFO` adds Scrapy's own lines. `--help` lists the harvest's arguments and settings after
Scrapy's options (sgr_scrapy/usage.py, from the arguments' one declaration in args.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from scrapy.commands import ScrapyHelpFormatter
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from sgr_scrapy.args import ArgumentError
from sgr_scrapy.extensions import HarvestReport
from sgr_scrapy.outcome import EXIT_STATUS, EXIT_USAGE, FAILED_TITLE
from sgr_scrapy.pipelines import SQLitePipeline
from sgr_scrapy.preflight import preflight
from sgr_scrapy.runtime import tune_gc
from sgr_scrapy.usage import harvest_help
from sgr_scrapy.verbosity import quiet_by_default

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["EXIT_USAGE", "Command"]


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, ScrapyHelpFormatter):
    """Scrapy's help layout, with the harvest's sections printed as written."""


class Command(ScrapyCrawlCommand):
    def long_desc(self) -> str:
        return (
            "Run a spider of the current project, by name. The harvest:\n"
            "  scrapy crawl harvest -a url=https://soundcloud.com/<artist>/<track>"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        assert self.settings is not None
        for action in parser._actions:  # reword Scrapy's -L help: the default is quieter
            if action.dest == "loglevel":
                action.help = (
                    "log level; by default the progress, warnings and errors only: -L INFO adds "
                    "Scrapy's banner, settings, components and stats"
                )
        parser.formatter_class = _HelpFormatter
        parser.epilog = harvest_help(self.settings)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        quiet_by_default(self.settings)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("run one spider: scrapy crawl harvest -a url=<track URL>")
        spname = args[0]
        assert self.crawler_process is not None and self.settings is not None
        try:
            spidercls = self.crawler_process.spider_loader.load(spname)
        except KeyError:
            names = ", ".join(self.crawler_process.spider_loader.list())
            sys.stderr.write(f"error: no spider named {spname!r}; this project has: {names}\n")
            self.exitcode = EXIT_USAGE
            return
        if getattr(spidercls, "name", "") != "harvest":
            super().run(args, opts)
            return
        try:
            preflight(self.settings, opts.spargs)
        except (ArgumentError, ValueError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            self.exitcode = EXIT_USAGE
            return
        tune_gc()
        crawler = self._create_crawler(spname)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = EXIT_STATUS[FAILED_TITLE]
            return
        self.exitcode = _finish(crawler)


def _finish(crawler: Crawler) -> int:
    """The exit status; after a forced shutdown, also the summary and the run's record.

    A second Ctrl-C (or signal) stops the reactor at once: the spider is never closed, so its
    pipeline never commits its last batch nor records the run, and no summary is printed.
    Both are done here. The batch holds whole pages only, so committing it is safe.
    """
    report = crawler.get_extension(HarvestReport)
    if report is None:
        return EXIT_STATUS[FAILED_TITLE]
    if report.outcome is None:
        pipeline = crawler.get_item_pipeline(SQLitePipeline)
        if pipeline is not None and pipeline.store is not None:
            pipeline.close_spider()
            pipeline.spider_closed("forced_shutdown")
        report.finish("forced_shutdown")
    assert report.outcome is not None
    return report.outcome.exit_status
