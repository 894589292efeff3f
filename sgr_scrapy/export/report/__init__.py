"""`scrapy report`: one self-contained HTML page about a harvest, its figures inline SVG.

- data.py: what the page shows, read in one snapshot of the database;
- figures.py: the figures, declared once, drawn with matplotlib;
- page.py: the HTML (inline CSS, no script, no link, nothing fetched when it opens).

The page is written as `.<name>.partial` beside its place and renamed when whole.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from sgr_scrapy.export.database import open_database
from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.export.progress import ExportProgress
from sgr_scrapy.export.report import data as report_data
from sgr_scrapy.export.report.figures import FIGURES, render
from sgr_scrapy.export.report.page import page
from sgr_scrapy.store import StoreError

__all__ = ["FIGURES", "write_report"]


def _prepare(path: Path) -> Path:
    """The partial file beside `path`, created: the place can be written."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.touch()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot write {path}: {reason}; choose another -o") from None
    return partial


def write_report(db_path: str | Path, output: Path, progress: ExportProgress) -> list[str]:
    """Write the report of the database at `db_path` to `output`; the summary's lines."""
    started = time.monotonic()
    if output.is_dir():
        raise ExportError(f"{output} is a folder: -o takes the report's file name (report.html)")
    store = open_database(db_path)
    try:
        data = report_data.read(store, db_path)
    except StoreError as exc:  # a read that failed half-way: a damaged page, say
        raise ExportError(str(exc), status=1) from None
    finally:
        store.close()
    partial = _prepare(output)
    try:
        svgs: dict[str, str] = {}
        with progress:
            step = progress.step("figures", len(FIGURES))
            for spec in FIGURES:
                if spec.missing(data) is None:
                    svgs[spec.name] = render(spec, data)
                step.advance(1)
        try:
            partial.write_text(page(data, svgs), encoding="utf-8")
            os.replace(partial, output)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise ExportError(
                f"cannot write {output}: {reason}; free some space or choose another -o", status=1
            ) from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    notes = [f"  {spec.name}: {spec.missing(data)}" for spec in FIGURES if spec.name not in svgs]
    size = output.stat().st_size
    return [
        f"wrote {output} ({size / 1024:,.0f} KB, {len(svgs)} of {len(FIGURES)} figures) "
        f"in {time.monotonic() - started:.1f} s",
        *notes,
    ]
