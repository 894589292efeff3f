"""`scrapy export --format parquet|csv|graphml|gexf -o PATH [--tables ...] [--graph ...]`.

Thin: the options go to `sgr_scrapy.export.ExportJob`, which checks them (one line each) and
writes. Reads SGR_DB_PATH (settings.py: `-s`, the environment or `.env`), as the crawl does.
Exit status: 0 written; 2 refused before anything was written (one line on stderr); 1 failed
while writing (one line). The summary goes to stdout, the progress bar to stderr (on a terminal
only).
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand

from sgr_scrapy.export.formats import FORMATS, TABLES
from sgr_scrapy.export.graphs import GRAPHS
from sgr_scrapy.verbosity import store_notices_on_stderr

# No colon in help text: Scrapy's help formatter takes a line ending in one for a heading.
FORMAT_HELP = "; ".join(f"{f.name} = {f.description}" for f in FORMATS.values())
GRAPH_HELP = "; ".join(f"{g.name} = {g.description}" for g in GRAPHS.values())


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        formats, graphs = "|".join(FORMATS), "|".join(GRAPHS)
        return f"--format {formats} -o PATH [--tables TABLE ...] [--graph {graphs}]"

    def short_desc(self) -> str:
        return "Export the harvest's database: Parquet or CSV tables, a GraphML or GEXF graph"

    def long_desc(self) -> str:
        return (
            "Export the database at SGR_DB_PATH: every table (or --tables) to a directory of "
            "Parquet or CSV files, or one graph (--graph) to a GraphML or GEXF file. A harvest "
            "may be writing meanwhile: the export reads the last commit before it began."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Export")
        group.add_argument("--format", metavar="FORMAT", help=FORMAT_HELP)
        group.add_argument(
            "-o",
            "--output",
            metavar="PATH",
            help="a directory (created if need be) for "
            + ", ".join(f.name for f in FORMATS.values() if f.writes == TABLES)
            + "; a file otherwise",
        )
        group.add_argument(
            "--tables",
            nargs="+",
            metavar="TABLE",
            help="tables to export, space- or comma-separated (default every table)",
        )
        group.add_argument(
            "--graph",
            metavar="GRAPH",
            help=f"the graph to export (default engagements); {GRAPH_HELP}",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from sgr_scrapy.export import ExportError, ExportJob
        from sgr_scrapy.export.progress import ExportProgress

        assert self.settings is not None
        store_notices_on_stderr()
        try:
            if args:
                raise ExportError(f"unexpected argument {args[0]!r}; see scrapy export --help")
            env_error = self.settings.get("SGR_ENV_ERROR")
            if env_error:
                raise ExportError(env_error)
            job = ExportJob.parse(opts.format, opts.output, opts.tables, opts.graph)
            lines, warnings = job.run(self.settings.get("SGR_DB_PATH"), ExportProgress())
        except ExportError as exc:
            sys.stderr.write(f"error: {exc}\n")
            self.exitcode = exc.status
            return
        for warning in warnings:
            sys.stderr.write(f"warning: {warning}\n")
        sys.stdout.write("\n".join(lines) + "\n")
