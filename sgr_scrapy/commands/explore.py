"""`scrapy explore [--port 8001]`: browse the harvest's database in Datasette, read-only.

The database is SGR_DB_PATH, read as the crawl reads it (`-s`, the environment, `.env`). It is
served on 127.0.0.1 only, beside a harvest that may still be writing to it (no lock is taken);
the tables, columns, canned queries and facets are described by sgr_scrapy/explore/. A missing
database, a taken port or a bad `--port` is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand

from sgr_scrapy.explore.server import DEFAULT_PORT, ExploreError, parse_port, serve
from sgr_scrapy.outcome import EXIT_USAGE
from sgr_scrapy.verbosity import store_notices_on_stderr


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return f"[--port {DEFAULT_PORT}]"

    def short_desc(self) -> str:
        return "Browse the harvest's database in Datasette (read-only, on 127.0.0.1)"

    def long_desc(self) -> str:
        return (
            "Serve SGR_DB_PATH with Datasette on http://127.0.0.1:PORT/, read-only, while a "
            "harvest may still be writing to it: every table and column described, canned "
            "queries (co-liked tracks, a user's neighbourhood, an artist's network, the seed "
            "audience's genres, the harvest's completeness) and facets. Ctrl-C stops it."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--port",
            default=str(DEFAULT_PORT),
            metavar="N",
            help=f"port on 127.0.0.1 (default: {DEFAULT_PORT}; 0: any free port, printed)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        store_notices_on_stderr()
        try:
            if args:
                raise ExploreError(f"scrapy explore takes no arguments, not {args[0]!r}")
            env_error = self.settings.get("SGR_ENV_ERROR")
            if env_error:
                raise ExploreError(env_error)
            serve(Path(self.settings.get("SGR_DB_PATH")), parse_port(opts.port))
        except ExploreError as exc:
            sys.stderr.write(f"error: {exc}\n")
            self.exitcode = EXIT_USAGE
