"""Paged list responses: limits, cursors, envelopes and the page-level faults.

Faults here only ever add to a page (nulls, duplicates of the previous page's tail, empty
pages) or move its ``next_href`` (internal host, foreign host, repeat); the order of the
distinct items a client collects is never changed (see the README, "Ground truth").
``--forget-cursors`` refuses (400) any cursor this process did not issue for that list;
offsets (``related``) are not cursors and never expire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import orjson

from sgr_scrapy.simulator import faults as F
from sgr_scrapy.simulator.cursors import decode, encode, next_query
from sgr_scrapy.simulator.http import Request, Response

if TYPE_CHECKING:
    from sgr_scrapy.simulator.app import SimulatorApp
    from sgr_scrapy.simulator.world import ItemList

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
ALL_ACCESS = frozenset({"playable", "preview", "blocked"})
DEFAULT_ACCESS = frozenset({"playable", "preview"})


def page_size(query: dict[str, list[str]]) -> int:
    """Return ``page_size`` (else ``limit``) clamped to 1..200; default 50 when not an int."""
    raw = (query.get("page_size") or query.get("limit") or [""])[0]
    try:
        n = int(raw)
    except ValueError:
        return DEFAULT_LIMIT
    return min(MAX_LIMIT, max(1, n))


def truthy(values: list[str] | None) -> bool:
    """Return whether a boolean query parameter is on (``true`` or ``1``)."""
    return any(v.lower() in ("true", "1") for v in values or ())


def allowed_access(query: dict[str, list[str]]) -> frozenset[str] | None:
    """Return the ``access`` values asked for (API default playable,preview); None = all."""
    access = (query.get("access") or [None])[0]
    allowed = frozenset(a.strip() for a in access.split(",")) if access else DEFAULT_ACCESS
    return None if allowed >= ALL_ACCESS else allowed


def with_access(app: SimulatorApp, ids: list[int], allowed: frozenset[str] | None) -> list[int]:
    """Return the tracks of ``ids`` whose ``access`` is ``allowed`` (None = all), in order."""
    if allowed is None:
        return ids
    return [t for t in ids if app.world.track_access(t) in allowed]


def page_response(
    app: SimulatorApp, req: Request, lst: ItemList, family: str, kind: str
) -> Response:
    """Answer one page of ``lst``: ``family`` is its cursor family (``cursors.py``), ``kind``
    its items (users, tracks or playlists)."""
    q, cfg, dice, stats = req.query, app.cfg, app.dice, app.stats
    size = page_size(q)
    param = "offset" if family == "offset" else "cursor"
    cursor = (q.get(param) or [None])[0]
    pos = 0
    if cursor is not None:
        decoded = decode(family, lst, cursor)
        if decoded is None or (
            cfg.forget_cursors
            and family != "offset"
            and cursor not in app.issued_cursors.get((lst.name, lst.owner_id), ())
        ):
            return Response(400, F.bad_request(f"invalid {param}: {cursor!r}"))
        pos = decoded
    envelope = family == "epoch" or truthy(q.get("linked_partitioning")) or not cfg.legacy_arrays
    extra = "".join(
        f"&{name}=" + quote(q[name][0], safe=",")
        for name in ("access", "show_tracks")
        if q.get(name)
    )
    base = req.origin + req.path.rstrip("/")
    href: str | None = None

    if (
        envelope
        and cursor is not None
        and pos < len(lst)
        and dice.coin("empty", cfg.empty_page_rate)
    ):
        # The same position under a new, never-seen URL, so a client's loop guard stays quiet.
        gap = q.get("_gap", ["0"])[0]
        n_gap = int(gap) + 1 if gap.isdigit() else 1
        stats.faults["empty_page"] += 1
        items: list[bytes] = []
        href = f"{base}?{next_query(family, cursor, size, f'{extra}&_gap={n_gap}')}"
    else:
        end = min(pos + size, len(lst))
        ids = lst.ids[pos:end]
        if pos > 0 and envelope and dice.coin("duplicate", cfg.duplicate_rate):
            stats.faults["duplicates"] += 1
            ids = lst.ids[pos - dice.rng("dupk").randint(1, min(3, pos)) : pos] + ids
        items = _items(app, req, ids, kind)
        if items and dice.coin("null", cfg.null_item_rate):
            stats.faults["null_items"] += 1
            items.insert(dice.rng("nullpos").randint(0, len(items)), b"null")
        if end < len(lst):
            cursor_next = encode(family, lst, end)
            if cfg.forget_cursors and family != "offset":
                app.issued_cursors.setdefault((lst.name, lst.owner_id), set()).add(cursor_next)
            href = f"{base}?{next_query(family, cursor_next, size, extra)}"
    if not envelope:
        return Response(200, b"[" + b",".join(items) + b"]")
    return envelope_response(app, req, items, href, cursor is not None)


def _items(app: SimulatorApp, req: Request, ids: list[int], kind: str) -> list[bytes]:
    q, origin = req.query, req.origin
    if kind == "playlists":
        allowed = allowed_access(q)
        shown = truthy(q.get("show_tracks", ["true"]))
        limit = app.cfg.playlist_tracks_limit
        return [app.playlist_bytes(origin, p, allowed, shown, limit) for p in ids]  # type: ignore[misc]
    if kind == "tracks":
        # Like the real API (#139): filtered after paging, so pages come up short.
        ids = with_access(app, ids, allowed_access(q))
    return [app.object_bytes(origin, kind, i) for i in ids]  # type: ignore[misc]


def envelope_response(
    app: SimulatorApp, req: Request, items: list[bytes], href: str | None, followed: bool
) -> Response:
    """Return ``{"collection": items, "next_href": href}`` with the next_href faults."""
    if href is not None:
        href = _move_href(app, req, href, followed)
    elif app.cfg.omit_null_next_href:
        return Response(200, b'{"collection":[' + b",".join(items) + b"]}")
    return Response(
        200, b'{"collection":[' + b",".join(items) + b'],"next_href":' + orjson.dumps(href) + b"}"
    )


def _move_href(app: SimulatorApp, req: Request, href: str, followed: bool) -> str:
    cfg, dice, stats = app.cfg, app.dice, app.stats
    if followed and dice.coin("repeat", cfg.repeat_next_rate):
        stats.faults["repeat_next_href"] += 1
        href = req.origin + req.target
    if dice.coin("internal", cfg.internal_host_rate):
        stats.faults["internal_host"] += 1
        href = F.INTERNAL_ORIGIN + href[len(req.origin) :]
    elif app.foreign_origin and dice.coin("foreign", cfg.foreign_next_href_rate):
        stats.faults["foreign_next_href"] += 1
        href = app.foreign_origin + href[len(req.origin) :]
    return href
