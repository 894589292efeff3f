"""`scrapy report [-o report.html]`: one self-contained HTML page about the harvest.

Thin: `sgr_scrapy.export.report.write_report` reads the database at SGR_DB_PATH (as the crawl
does) and writes the page. Exit status: 0 written; 2 refused before anything was written (one
line on stderr); 1 failed while writing (one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand

from sgr_scrapy.verbosity import store_notices_on_stderr

DEFAULT_OUTPUT = "report.html"


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "-o report.html"

    def short_desc(self) -> str:
        return "Write one self-contained HTML page about the harvest, with figures"

    def long_desc(self) -> str:
        return (
            "Write one HTML page about the database at SGR_DB_PATH: what was harvested (seeds, "
            "hops, list families, completeness), the degree distributions, the audience's "
            "genres and tags, and what scrapy analyze found when it has run. The figures are "
            "inline SVG: the page loads nothing when it opens."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Report")
        group.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            default=DEFAULT_OUTPUT,
            help=f"the page to write (default {DEFAULT_OUTPUT})",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from sgr_scrapy.export import ExportError
        from sgr_scrapy.export.progress import ExportProgress
        from sgr_scrapy.export.report import write_report

        assert self.settings is not None
        store_notices_on_stderr()
        try:
            if args:
                raise ExportError(f"unexpected argument {args[0]!r}; see scrapy report --help")
            env_error = self.settings.get("SGR_ENV_ERROR")
            if env_error:
                raise ExportError(env_error)
            lines = write_report(
                self.settings.get("SGR_DB_PATH"), Path(opts.output), ExportProgress()
            )
        except ExportError as exc:
            sys.stderr.write(f"error: {exc}\n")
            self.exitcode = exc.status
            return
        sys.stdout.write("\n".join(lines) + "\n")
