"""Cursor formats of the simulated API (soundcloud-api.md §1.4 and §7.4).

Two families, each the sort key of the last item returned:

- epoch (favoriters, reposters): ``cursor=<epoch ms>&page_size=<n>``, no linked_partitioning;
- likes (``/users/{id}/likes/tracks`` and ``/favorites``):
  ``cursor=<ISO-ms>,user-track-likes,000-<20d user id>-<20d track id>`` with
  ``linked_partitioning=true&page_size=<n>``.

A cursor is valid only for the list it came from; ``decode_*`` returns the list position
right after the cursor's item, or None for a forged or foreign cursor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from sgr_scrapy.simulator.objects import iso_ms
from sgr_scrapy.simulator.world import EngagementList

_LIKES_RE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z),user-track-likes,000-(\d{20})-(\d{20})$"
)
_EPOCH_RE = re.compile(r"^\d{1,16}$")


def encode_epoch(lst: EngagementList, position: int) -> str:
    """Return the epoch cursor pointing after item ``position - 1``."""
    return str(lst.times[position - 1])


def decode_epoch(lst: EngagementList, cursor: str) -> int | None:
    """Return the position after an epoch cursor of ``lst``, or None when invalid."""
    if not _EPOCH_RE.match(cursor):
        return None
    return lst.position_of_time(int(cursor))


def encode_likes(lst: EngagementList, position: int) -> str:
    """Return the likes cursor pointing after item ``position - 1``."""
    i = position - 1
    return f"{iso_ms(lst.times[i])},user-track-likes,000-{lst.owner_id:020d}-{lst.ids[i]:020d}"


def decode_likes(lst: EngagementList, cursor: str) -> int | None:
    """Return the position after a likes cursor of ``lst``, or None when invalid."""
    m = _LIKES_RE.match(cursor)
    if not m or int(m.group(2)) != lst.owner_id:
        return None
    try:
        dt = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    ms = int(dt.timestamp()) * 1000 + dt.microsecond // 1000
    pos = lst.position_of_time(ms)
    if pos is None or lst.ids[pos - 1] != int(m.group(3)):
        return None
    return pos


def next_query(family: str, cursor: str, page_size: int, extra: str = "") -> str:
    """Return the query string of a next_href (percent-encoded, in the family's order)."""
    c = quote(cursor, safe="")
    if family == "epoch":
        return f"cursor={c}&page_size={page_size}{extra}"
    return f"cursor={c}&linked_partitioning=true&page_size={page_size}{extra}"
