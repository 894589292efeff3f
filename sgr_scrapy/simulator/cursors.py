"""Cursor formats of the simulated API (soundcloud-api.md §1.4 and §7.4).

Each family's cursor is the sort key of the last item returned; ``next_query`` lays out the
next_href query in the family's own order:

- ``epoch`` (favoriters, reposters, followers, followings):
  ``cursor=<epoch ms>&page_size=<n>``, no linked_partitioning;
- ``likes`` (``/users/{id}/likes/tracks`` and ``/favorites``):
  ``cursor=<ISO-ms>,user-track-likes,000-<20d user id>-<20d track id>`` with
  ``linked_partitioning=true&page_size=<n>``;
- ``tracks`` (``/users/{id}/tracks``, ``/users/{id}/reposts/tracks``) and ``playlists``
  (``/users/{id}/playlists``): ``cursor=<ISO-ms>,<tracks|playlists>,<11-digit id>`` with
  ``linked_partitioning=1&page_size=<n>`` (the 2020 blog post and #309; the ``playlists``
  word is inferred);
- ``offset`` (``/tracks/{id}/related``): ``limit=<n>&linked_partitioning=true&offset=<k>``.

A cursor is valid only for the list it came from; ``decode`` returns the list position right
after the cursor's item (for ``offset``, the offset itself), or None for a forged or foreign
cursor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from sgr_scrapy.simulator.objects import iso_ms

if TYPE_CHECKING:
    from sgr_scrapy.simulator.world import ItemList

CURSOR_FAMILIES = ("epoch", "likes", "tracks", "playlists", "offset")
_ISO = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
_LIKES_RE = re.compile(rf"^{_ISO},user-track-likes,000-(\d{{20}})-(\d{{20}})$")
_KEYED_RE = re.compile(rf"^{_ISO},(tracks|playlists),(\d{{11,20}})$")
_EPOCH_RE = re.compile(r"^\d{1,16}$")
_OFFSET_RE = re.compile(r"^\d{1,9}$")


def _iso_to_ms(text: str) -> int | None:
    try:
        dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000


def encode_epoch(lst: ItemList, position: int) -> str:
    """Return the epoch cursor pointing after item ``position - 1``."""
    return str(lst.times[position - 1])


def decode_epoch(lst: ItemList, cursor: str) -> int | None:
    """Return the position after an epoch cursor of ``lst``, or None when invalid."""
    if not _EPOCH_RE.match(cursor):
        return None
    return lst.position_of_time(int(cursor))


def encode_likes(lst: ItemList, position: int) -> str:
    """Return the likes cursor pointing after item ``position - 1``."""
    i = position - 1
    return f"{iso_ms(lst.times[i])},user-track-likes,000-{lst.owner_id:020d}-{lst.ids[i]:020d}"


def decode_likes(lst: ItemList, cursor: str) -> int | None:
    """Return the position after a likes cursor of ``lst``, or None when invalid."""
    m = _LIKES_RE.match(cursor)
    if not m or int(m.group(2)) != lst.owner_id:
        return None
    ms = _iso_to_ms(m.group(1))
    pos = None if ms is None else lst.position_of_time(ms)
    if pos is None or lst.ids[pos - 1] != int(m.group(3)):
        return None
    return pos


def encode_keyed(lst: ItemList, position: int, word: str) -> str:
    """Return the ``<ISO-ms>,<word>,<11-digit id>`` cursor pointing after ``position - 1``."""
    i = position - 1
    return f"{iso_ms(lst.times[i])},{word},{lst.ids[i]:011d}"


def decode_keyed(lst: ItemList, cursor: str, word: str) -> int | None:
    """Return the position after a tracks/playlists cursor of ``lst``, or None."""
    m = _KEYED_RE.match(cursor)
    if not m or m.group(2) != word:
        return None
    pos = lst.position_of_id(int(m.group(3)))
    if pos is None or lst.times[pos - 1] != _iso_to_ms(m.group(1)):
        return None
    return pos


def encode(family: str, lst: ItemList, position: int) -> str:
    """Return the ``family`` cursor pointing after item ``position - 1`` of ``lst``."""
    if family == "epoch":
        return encode_epoch(lst, position)
    if family == "likes":
        return encode_likes(lst, position)
    if family == "offset":
        return str(position)
    return encode_keyed(lst, position, family)


def decode(family: str, lst: ItemList, cursor: str) -> int | None:
    """Return the position a ``family`` cursor points at in ``lst``, or None when invalid."""
    if family == "epoch":
        return decode_epoch(lst, cursor)
    if family == "likes":
        return decode_likes(lst, cursor)
    if family == "offset":
        return min(int(cursor), len(lst)) if _OFFSET_RE.match(cursor) else None
    return decode_keyed(lst, cursor, family)


def next_query(family: str, cursor: str, page_size: int, extra: str = "") -> str:
    """Return the query string of a next_href (percent-encoded, in the family's order)."""
    c = quote(cursor, safe="")
    if family == "epoch":
        return f"cursor={c}&page_size={page_size}{extra}"
    if family == "offset":
        return f"limit={page_size}&linked_partitioning=true&offset={c}{extra}"
    if family == "likes":
        return f"cursor={c}&linked_partitioning=true&page_size={page_size}{extra}"
    return f"cursor={c}&linked_partitioning=1&page_size={page_size}{extra}"
