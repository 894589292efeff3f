"""The paging state machine of one list, with no Scrapy import: what a page's next_href means.

`next_step` decides, from one page, where its list stands: read on (`PENDING` and the next
URL), stopped by its cap (`CAPPED`), at its end (`DONE`), stopped for good this run
(`INCOMPLETE`: a next_href on a foreign host), or `REPEAT`: the next_href names a page already
read, which the spider asks again a bounded number of times before giving up. `settle` applies
the never-downgrade rule: a list read further before keeps its stored position. Tested without
a crawl in tests/test_paging.py.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from sgr_scrapy.api import classify_next
from sgr_scrapy.items import CAPPED, DONE, INCOMPLETE, PENDING, ListProgress

REPEAT = "repeat"  # not a stored status: the spider turns it into PENDING or INCOMPLETE
REPEAT_ERROR = "next_href repeats a page already read, however often asked"


@dataclass(frozen=True, slots=True)
class Step:
    status: str  # PENDING, CAPPED, DONE, INCOMPLETE or REPEAT
    next_url: str | None  # the page to read next (PENDING) or to re-read to go further
    error: str | None = None  # why a list is INCOMPLETE
    moved: bool = False  # the next_href was moved onto the API origin (api.classify_next)
    foreign: bool = False  # the next_href named another host, with another path


def next_step(
    next_href: object,
    *,
    api_url: str,
    page_url: str,
    visited: Container[str],
    taken: int,
    cap: int,
    cut_short: bool,
) -> Step:
    """Where a list stands after the page at `page_url` (see the module docstring).

    `visited`: the next_hrefs this list already followed; `taken`: its distinct items so far;
    `cap`: its cap (0: none); `cut_short`: the cap fell inside this page, before its end.
    """
    verdict, url = classify_next(next_href, api_url, page_url)
    moved = verdict == "moved"
    if moved:
        verdict = "follow"
    if cut_short:
        # The cap fell inside this page: a later run with a larger cap re-reads it.
        return Step(CAPPED, page_url, moved=moved)
    if cap and taken >= cap and verdict != "end":
        return Step(CAPPED, url if verdict == "follow" else page_url, moved=moved)
    if verdict == "end":
        return Step(DONE, None, moved=moved)
    if verdict == "foreign":
        error = f"next_href on a foreign host with another path: {url}"
        return Step(INCOMPLETE, page_url, error, foreign=True)
    if url in visited or url == page_url:
        return Step(REPEAT, page_url, REPEAT_ERROR, moved=moved)
    return Step(PENDING, url, moved=moved)


def covers(stored: ListProgress | None, items: int) -> bool:
    """Whether a stored list was read at least as far as `items` distinct items."""
    if stored is None:
        return False
    return stored.status == DONE or (stored.status == CAPPED and stored.items >= items)


def complete(stored: ListProgress, cap: int) -> bool:
    """Whether a stored list is read far enough for a run with this cap (0: none)."""
    if stored.status == DONE:
        return True
    return stored.status == CAPPED and cap != 0 and stored.items >= cap


def settle(
    progress: ListProgress, step: Step, stored: ListProgress | None, taken: int, cap: int
) -> None:
    """Apply `step` to `progress`; a capped step never downgrades a list stored further."""
    if step.status == CAPPED and covers(stored, taken):
        assert stored is not None
        progress.status, progress.next_url = stored.status, stored.next_url
        progress.items, progress.cap = stored.items, stored.cap
        return
    progress.status, progress.next_url = step.status, step.next_url
    progress.items, progress.cap = taken, cap
    if step.status == INCOMPLETE:
        progress.error = step.error
