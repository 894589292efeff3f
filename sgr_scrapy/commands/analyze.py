"""`scrapy analyze`: co-liked tracks, similar users and the artist network, from the harvest.

Reads `SGR_DB_PATH` as the crawl does (`-s`, the environment or `.env`, relative to the
directory you run from), takes the harvest's lock for the time it runs, and replaces its
previous results in one transaction (sgr_scrapy/analysis/run.py). Exit status: 0 done;
2 nothing started (a bad option, no database, a harvest holding it, an unreadable .env: one
line on stderr); 1 a storage error while running; 4 stopped by Ctrl-C. After 1 or 4 the
database is as it was. The progress is drawn on stderr when it is a terminal; the summary
goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.settings import BaseSettings

from sgr_scrapy.analysis.options import Options
from sgr_scrapy.outcome import EXIT_STATUS, EXIT_USAGE, FAILED_TITLE, STOPPED_TITLE
from sgr_scrapy.store import Store, StoreError
from sgr_scrapy.verbosity import store_notices_on_stderr

DEFAULTS = Options()
EXIT_FAILED = EXIT_STATUS[FAILED_TITLE]
EXIT_STOPPED = EXIT_STATUS[STOPPED_TITLE]


@dataclass(frozen=True, slots=True)
class WholeOption:
    """A whole-number option of the command, with its least value."""

    flag: str
    dest: str
    default: int
    least: int
    help: str

    def parse(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = self.least - 1
        if value < self.least:
            raise ValueError(
                f"{self.flag} takes a whole number of at least {self.least}, not {text!r}"
            )
        return value


WHOLE_OPTIONS = (
    WholeOption("--top-k", "top_k", DEFAULTS.top_k, 1, "neighbours kept per track, user, artist"),
    WholeOption(
        "--min-support",
        "min_support",
        DEFAULTS.min_support,
        1,
        "pairs sharing fewer users (or tracks) than this are left out",
    ),
    WholeOption(
        "--factors",
        "factors",
        DEFAULTS.factors,
        0,
        "ALS factors per track and user, then a leave-one-out evaluation (0: none)",
    ),
)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--top-k 50] [--min-support 2] [--with-reposts] [--factors 0]"

    def short_desc(self) -> str:
        return "Compute co-liked tracks, similar users and the artist network from the harvest"

    def long_desc(self) -> str:
        return (
            "Fill related_tracks (source='co_like'), user_similarity and artist_relationships "
            "(relationship_type='co_liked') of SGR_DB_PATH with each row's top-k by cosine "
            "similarity, replacing the previous run's rows in one transaction; with --factors, "
            "ALS vectors in track_factors and user_factors. README: Analyze."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Analyze Options")
        for option in WHOLE_OPTIONS:
            group.add_argument(
                option.flag,
                dest=option.dest,
                default=str(option.default),
                metavar="N",
                help=f"{option.help} (default: {option.default})",
            )
        group.add_argument(
            "--with-reposts",
            action="store_true",
            help="reposts count as engagements too (a track liked and reposted counts once)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        store_notices_on_stderr()
        try:
            if args:
                raise ValueError(f"analyze takes options only, not {' '.join(args)!r}")
            options = Options(
                **{o.dest: o.parse(getattr(opts, o.dest)) for o in WHOLE_OPTIONS},
                with_reposts=opts.with_reposts,
            )
            store = open_database(self.settings)
        except (ValueError, StoreError) as exc:
            self.fail(str(exc), EXIT_USAGE)
            return
        # Imported here: Scrapy imports every command to list them, and numba and numpy
        # would add half a second to each `scrapy crawl`.
        from sgr_scrapy.analysis.progress import progress_on
        from sgr_scrapy.analysis.report import summary
        from sgr_scrapy.analysis.run import analyze

        progress = progress_on(sys.stderr)
        try:
            report = analyze(store, options, progress)
        except StoreError as exc:
            self.fail(f"{exc}; the database is as it was", EXIT_FAILED)
            return
        except KeyboardInterrupt:
            self.fail("stopped by Ctrl-C; the database is as it was", EXIT_STOPPED)
            return
        finally:
            progress.close()
            store.close()
        print(summary(report, options), flush=True)

    def fail(self, message: str, status: int) -> None:
        sys.stderr.write(f"error: {message}\n")
        self.exitcode = status


def open_database(settings: BaseSettings) -> Store:
    """The harvest's database, locked; ValueError or StoreError (one line) if it cannot be."""
    env_error = settings.get("SGR_ENV_ERROR")
    if env_error:
        raise ValueError(env_error)
    path = Path(settings.get("SGR_DB_PATH") or "")
    if not path.is_file():
        raise ValueError(
            f"no database at {path} ({path.resolve()}): harvest first (scrapy crawl harvest "
            "-a url=...) or point SGR_DB_PATH at one"
        )
    return Store.open(path)
