"""Merging and trimming JSON text, and the SQL functions the schema and upserts call with it.

- Upserts merge and never erase: `raw_json` objects are merged key by key, a new null never
  erasing a known value (`merge_json`).
- `raw_json` holds what the columns do not (since schema 3): an API key whose value a column
  holds (`title`, `duration`, ...) and a track's nested `user` (a row of `users`) are left out
  (`trim_json`).
- Machine tags (`geo:lat=52.52`) live in `tracks.machine_tags`, not `tags` (since schema 2).

`SQL_FUNCTIONS` lists what every connection registers (sqlite.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from sgr_scrapy.api import (
    TRACK_COLUMN_KEYS,
    USER_COLUMN_KEYS,
    split_machine_tags,
    trim_object,
)


def _merge_objects(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        if value is None:
            old.setdefault(key, None)
            continue
        known = old.get(key)
        if isinstance(value, dict) and isinstance(known, dict):
            old[key] = _merge_objects(known, value)
        else:
            old[key] = value
    return old


def merge_json(old: str | None, new: str | None) -> str | None:
    """Merge two JSON objects: `new`'s keys applied to `old`, a new null never erasing a value.

    Nested objects merge recursively; lists and scalars from `new` replace. When either side is
    not an object, `new` wins unless it is null. Invalid JSON on one side yields the other side.
    """
    if old == new or new is None:
        return old
    if old is None:
        return new
    try:
        merged_new = orjson.loads(new)
    except orjson.JSONDecodeError:
        return old
    if merged_new is None:
        return old
    try:
        merged_old = orjson.loads(old)
    except orjson.JSONDecodeError:
        return new
    if not (isinstance(merged_old, dict) and isinstance(merged_new, dict)):
        return new
    return orjson.dumps(_merge_objects(merged_old, merged_new)).decode()


def _markers(keys: Iterable[str]) -> re.Pattern[str]:
    return re.compile('"(?:' + "|".join(re.escape(k) for k in keys) + ')":')


# `"key":` of any key trimming removes: when none is in a raw JSON string, trimming has nothing
# to do, so a merge of two objects api.py trimmed is not parsed again (one regex pass: a third
# of the time of one `in` per key).
_TRACK_MARKERS = _markers([*TRACK_COLUMN_KEYS, "user"])
_USER_MARKERS = _markers(USER_COLUMN_KEYS)


def trim_json(
    raw: str | None,
    column_keys: dict[str, type],
    markers: re.Pattern[str],
    artist: bool = False,
) -> str | None:
    """`raw` without what the row's columns hold (api.trim_object); else unchanged."""
    if raw is None:
        return None
    if markers.search(raw) is None:
        return raw
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(obj, dict):
        return raw
    trim_object(obj, column_keys, artist)
    return orjson.dumps(obj).decode()


def trim_track_json(raw: str | None) -> str | None:
    return trim_json(raw, TRACK_COLUMN_KEYS, _TRACK_MARKERS, artist=True)


def trim_user_json(raw: str | None) -> str | None:
    return trim_json(raw, USER_COLUMN_KEYS, _USER_MARKERS)


def _merge_trimmed(
    old: str | None, new: str | None, trim: Callable[[str | None], str | None]
) -> str | None:
    """merge_json, then trimmed: a row stored whole before schema 3 loses its column keys."""
    merged = merge_json(old, new)
    if merged is old or merged is new:
        return merged  # nothing merged: `new` is trimmed already, `old` untouched
    return trim(merged)


def merge_track_json(old: str | None, new: str | None) -> str | None:
    """SQL sgr_merge_track: merge_json of two track objects, without what columns hold."""
    return _merge_trimmed(old, new, trim_track_json)


def merge_user_json(old: str | None, new: str | None) -> str | None:
    """SQL sgr_merge_user: merge_json of two user objects, without what columns hold."""
    return _merge_trimmed(old, new, trim_user_json)


def _stored_tags(tags: str | None) -> list[str] | None:
    try:
        parsed = orjson.loads(tags) if tags is not None else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(t, str) for t in parsed):
        return parsed
    return None


def user_tags_sql(tags: str | None) -> str | None:
    """SQL sgr_user_tags: a stored `tags` array without its machine tags (else unchanged)."""
    parsed = _stored_tags(tags)
    return tags if parsed is None else orjson.dumps(split_machine_tags(parsed)[0]).decode()


def machine_tags_sql(tags: str | None) -> str:
    """SQL sgr_machine_tags: the machine tags of a stored `tags` array as a JSON object."""
    parsed = _stored_tags(tags)
    return "{}" if parsed is None else orjson.dumps(split_machine_tags(parsed)[1]).decode()


# Every SQL function the schema (migrations) and the upserts call: name -> (arity, function).
SQL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "sgr_merge_track": (2, merge_track_json),
    "sgr_merge_user": (2, merge_user_json),
    "sgr_merge_json": (2, merge_json),
    "sgr_user_tags": (1, user_tags_sql),
    "sgr_machine_tags": (1, machine_tags_sql),
}
