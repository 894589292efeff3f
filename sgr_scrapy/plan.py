"""`-a plan=1`: what the rest of a harvest would cost, from the counts the API gave, no Scrapy.

A plan reads the seeds and their favoriters and reposters (stored: the real harvest reuses
them), then estimates every remaining list from its owner's counts without asking for it:
`ceil(min(count, cap) / 200)` pages a list, at least one; a list the database already holds far
enough costs nothing (one page under `refresh=new`), an unfinished one the pages it has left.

Where the counts mislead (README: Refresh and plan): `public_favorites_count` counts liked
playlists too, so likes lists are shorter than it says; counts were 0 for every user during
past API incidents (#279); a user without a count is taken as one page; playlists whose
tracks a list response cuts short cost one request more each, which no count tells; hops after
the first depend on what the first brings, so only hop 1 is estimated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sgr_scrapy import paging
from sgr_scrapy.families import PAGE_SIZE, Family
from sgr_scrapy.items import DONE, ListProgress


@dataclass(frozen=True, slots=True)
class Estimate:
    requests: int  # list requests still to make
    rows: int  # items those lists would add (engagements, follows, ...)
    lists: int  # lists still to read
    unknown: int  # of which the owner gave no count (one page assumed)
    rate: float  # requests per second observed so far (0: unknown)
    by_family: dict[str, int] = field(default_factory=dict)  # requests per family

    def __add__(self, other: Estimate) -> Estimate:
        by_family = Counter(self.by_family)
        by_family.update(other.by_family)
        return Estimate(
            self.requests + other.requests,
            self.rows + other.rows,
            self.lists + other.lists,
            self.unknown + other.unknown,
            max(self.rate, other.rate),
            dict(by_family),
        )

    @property
    def seconds(self) -> float | None:
        return self.requests / self.rate if self.rate > 0 else None

    def line(self) -> str:
        """One line for scripts: it begins `estimate: requests N`."""
        time = "unknown" if self.seconds is None else _duration(self.seconds)
        return (
            f"estimate: requests {self.requests:,}, rows ~{self.rows:,}, lists {self.lists:,}, "
            f"time ~{time} at {self.rate:.1f} requests/s (observed so far)"
        )


def pages(items: int) -> int:
    """Requests to read `items` items at PAGE_SIZE a page: an empty list is one request."""
    return max(1, -(-items // PAGE_SIZE))


def estimate(
    owners: Iterable[int],
    families: Iterable[Family],
    caps: Mapping[str, int],
    counts: Mapping[int, Mapping[str, int | None]],
    stored: Mapping[str, ListProgress],
    *,
    refresh: str = "0",
    rate: float = 0.0,
) -> Estimate:
    """The cost of reading `families` of every owner in `owners` (see the module docstring).

    `counts`: per owner, its API counts by name (Family.count); `stored`: the database's lists
    by key; `refresh`: the run's `-a refresh` ("0", "1" or "new").
    """
    by_family: Counter[str] = Counter()
    rows = lists = unknown = 0
    owners = list(owners)
    for family in families:
        cap = caps.get(family.name, 0)
        for owner in owners:
            progress = stored.get(family.key(owner))
            if progress is not None and refresh != "1" and paging.complete(progress, cap):
                if refresh == "new" and progress.status == DONE:
                    by_family[family.name] += 1  # its first page, to see what is new
                    lists += 1
                continue
            count = counts.get(owner, {}).get(family.count) if family.count else None
            lists += 1
            if count is None or count < 0:
                unknown += 1
                by_family[family.name] += 1
                continue
            wanted = min(count, cap) if cap else count
            needed = pages(wanted)
            if progress is not None and refresh != "1" and progress.pages:
                # Unfinished: it continues from where it stopped.
                needed = max(1, needed - progress.pages)
                wanted = max(0, wanted - progress.items)
            by_family[family.name] += needed
            rows += wanted
    return Estimate(sum(by_family.values()), rows, lists, unknown, rate, dict(by_family))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
