"""`Store`: the harvest's SQLite database, assembled from one mixin per job.

- base.py: opening (lock, checks, migrations), closing, storage errors as one line;
- writes.py: `write()`, pages in one transaction;
- reads.py: resume state (`seeds`, `lists`, `taken_ids`, `failed_pages`, `expansions`);
- runs.py: `begin_run`, `end_run`, the rows a run wrote;
- stats.py: counts for the summary, `snapshot` for tests;
- analysis.py: `scrapy analyze`'s bulk reads and its one-transaction writes.
"""

from __future__ import annotations

from sgr_scrapy.store.analysis import Analysis
from sgr_scrapy.store.export_reads import ExportReads
from sgr_scrapy.store.reads import Reads
from sgr_scrapy.store.runs import Runs
from sgr_scrapy.store.stats import Stats
from sgr_scrapy.store.writes import Writes


class Store(Writes, Reads, Runs, Stats, ExportReads, Analysis):
    """One harvest database; build it with `Store.open(path)`.

    Not thread-safe: use it from one thread at a time (it may be a worker thread).
    """
