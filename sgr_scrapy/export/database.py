"""Opening the harvest's database for reading, beside a harvest that may be writing to it.

A reader takes no harvest lock (`Store.open(lock=False)`): in WAL mode SQLite lets it read the
last commit while a harvest writes, and `Store.read_snapshot()` keeps one view for a whole export.
A missing file is refused here rather than created, and every storage error is one line.
"""

from __future__ import annotations

from pathlib import Path

from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.store import Store, StoreError


def open_database(path: str | Path) -> Store:
    """The database at `path`, open for reading; ExportError (one line) if it cannot be."""
    path = Path(path)
    if not path.exists():
        raise ExportError(
            f"no database at {path}: harvest first (scrapy crawl harvest -a url=...) "
            "or point SGR_DB_PATH at one (-s SGR_DB_PATH=...)"
        )
    if path.is_dir():
        raise ExportError(f"{path} is a folder, not a database; point SGR_DB_PATH at the file")
    try:
        return Store.open(path, lock=False)
    except StoreError as exc:
        raise ExportError(str(exc)) from None


def unfinished_runs(store: Store) -> int:
    """Harvest runs begun and not ended: one is writing now, or one stopped without ending."""
    return int(store.report_runs()[3] or 0)
