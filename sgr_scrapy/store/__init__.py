"""The harvest's database: schema, migrations, merging upserts, resume state, statistics.

No Scrapy import: the pipeline hands `Page` items (see `items.py`) to `Store.write`, and the spider
reads its resume state (`seeds`, `lists`, `taken_ids`, `failed_pages`) back on (re)start.

- One harvest per database: `Store.open` takes an exclusive `flock` on `<path>.lock`, the path
  resolved (a symlink to a database in use is refused), released by the kernel when the process
  exits, even by kill -9 (lock.py).
- What can be seen at open is refused at open, in one line: a file that cannot be written, a
  file that is not a database, and (up to QUICK_CHECK_MAX_BYTES) a damaged one (base.py).
- The schema is versioned by `PRAGMA user_version`; `MIGRATIONS` brings an older file up to date
  (schema.py).
- Upserts merge and never erase: a later, poorer object (a nested mini user, a null count) never
  replaces a known value with NULL, and `raw_json` objects are merged key by key (merge.py);
  each row kind is declared once, with its table and merge rules (kinds.py).
- `raw_json` holds what the columns do not (since schema 3): an API key whose value a column
  holds (`title`, `duration`, ...) and a track's nested `user` (a row of `users`) are left
  out; the views `tracks_full` and `users_full` put them back (README: The database).
- Every storage error (disk full, damaged file, another writer) is a StoreError of one line.
- A `Store` is not thread-safe; use it from one thread at a time (it may be a worker thread).
  `write(pages, behind=True)` finishes the batch on the Store's own commit thread
  (`commit_behind`); any later use of the connection waits for it first (`sync`).

The harvest uses the store only through `HarvestStore`: the spider, the pipeline, the
extensions and the feed export call nothing else, so another database (PostgreSQL, say) could
sit beside `Store` by implementing it. `snapshot`, `table_counts` and the rest of `Store` serve
the summary, tests and tools.

The tunables below (`QUICK_CHECK_MAX_BYTES`, ...) may be set here, on the package: they are set
where they are read.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from sgr_scrapy.items import Expansion, FailedPage, ListProgress, Page
from sgr_scrapy.store import base, runs, schema
from sgr_scrapy.store.base import BUSY_TIMEOUT, QUICK_CHECK_MAX_BYTES, migrate_older
from sgr_scrapy.store.errors import MESSAGE_MAX, StoreError, one_line
from sgr_scrapy.store.kinds import ROW_KINDS, RowKind
from sgr_scrapy.store.merge import (
    machine_tags_sql,
    merge_json,
    merge_track_json,
    merge_user_json,
    trim_json,
    user_tags_sql,
)
from sgr_scrapy.store.runs import CLOSE_BUSY_TIMEOUT
from sgr_scrapy.store.schema import MIGRATIONS, SCHEMA_VERSION
from sgr_scrapy.store.sqlite import Store

__all__ = [
    "BUSY_TIMEOUT",
    "CLOSE_BUSY_TIMEOUT",
    "MESSAGE_MAX",
    "MIGRATIONS",
    "QUICK_CHECK_MAX_BYTES",
    "ROW_KINDS",
    "SCHEMA_VERSION",
    "HarvestStore",
    "RowKind",
    "Store",
    "StoreError",
    "machine_tags_sql",
    "merge_json",
    "merge_track_json",
    "merge_user_json",
    "migrate_older",
    "one_line",
    "trim_json",
    "user_tags_sql",
]


class HarvestStore(Protocol):
    """What a harvest needs of its database; `Store` (SQLite) implements it.

    Every method raises StoreError (one line) for a storage problem the user can fix.
    """

    store_raw_json: bool  # False: new rows get no raw_json (SGR_STORE_RAW_JSON=0)

    # pipeline: a batch of pages in one transaction; rows written per row kind. With `behind`
    # the transaction may end on another thread: sync() waits for it (StoreError if it failed),
    # and every other method waits for it first.
    def write(self, pages: Iterable[Page], *, behind: bool = False) -> dict[str, int]: ...
    def sync(self) -> None: ...

    # pipeline: the run's record
    def begin_run(self) -> int: ...
    def end_run(
        self, run_id: int, finish_reason: str, stats: dict[str, Any], *, wait: float | None = None
    ) -> bool: ...

    # spider, on (re)start
    def seeds(self) -> dict[str, int]: ...
    def lists(self, statuses: Iterable[str] | None = None) -> list[ListProgress]: ...
    def taken_ids(self, progress: ListProgress) -> set[int]: ...
    def failed_pages(self) -> list[FailedPage]: ...

    # feed exports: what a run wrote
    def run_started_at(self, run_id: int) -> str | None: ...
    def rows_seen_since(
        self, table: str, columns: Sequence[str], key: Sequence[str], since: str
    ) -> Iterator[tuple[Any, ...]]: ...

    # the end-of-run summary
    def table_counts(self) -> dict[str, int]: ...
    def engagement_counts(self) -> dict[str, int]: ...
    def list_summary(self) -> dict[str, int]: ...
    def expansions(self) -> list[Expansion]: ...

    def close(self) -> None: ...


# Where each tunable is read. Tests and embedders set them on the package
# (`monkeypatch.setattr(store, "QUICK_CHECK_MAX_BYTES", 0)`), as when this was one module.
_TUNABLES: dict[str, types.ModuleType] = {
    "BUSY_TIMEOUT": base,
    "QUICK_CHECK_MAX_BYTES": base,
    "CLOSE_BUSY_TIMEOUT": runs,
    "MIGRATIONS": schema,
    "SCHEMA_VERSION": schema,
}


class _Package(types.ModuleType):
    """This package, whose tunables, when set here, are set where they are read."""

    def __setattr__(self, name: str, value: Any) -> None:
        home = _TUNABLES.get(name)
        if home is not None:
            setattr(home, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
