"""Paged list responses: limits, cursors, envelopes and the page-level faults.

Faults here only ever add to a page (nulls, duplicates of the previous page's tail, empty
pages) or move its ``next_href`` (internal host, foreign host, repeat); the order of the
distinct items a client collects is never changed (see the README, "Ground truth").
``--forget-cursors`` refuses (400) any cursor this process did not issue for that list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import orjson

from sgr_scrapy.simulator import faults as F
from sgr_scrapy.simulator.cursors import (
    decode_epoch,
    decode_likes,
    encode_epoch,
    encode_likes,
    next_query,
)
from sgr_scrapy.simulator.http import Request, Response
from sgr_scrapy.simulator.world import EngagementList

if TYPE_CHECKING:
    from sgr_scrapy.simulator.app import SimulatorApp

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
ALL_ACCESS = frozenset({"playable", "preview", "blocked"})


def page_size(query: dict[str, list[str]]) -> int:
    """Return ``page_size`` (else ``limit``) clamped to 1..200; default 50 when not an int."""
    raw = (query.get("page_size") or query.get("limit") or [""])[0]
    try:
        n = int(raw)
    except ValueError:
        return DEFAULT_LIMIT
    return min(MAX_LIMIT, max(1, n))


def _truthy(values: list[str] | None) -> bool:
    return any(v.lower() in ("true", "1") for v in values or ())


def page_response(
    app: SimulatorApp, req: Request, lst: EngagementList, family: str, kind: str
) -> Response:
    """Answer one page of ``lst`` (``family`` epoch|likes, items of ``kind`` users|tracks)."""
    q, cfg, dice, stats = req.query, app.cfg, app.dice, app.stats
    size = page_size(q)
    cursor = (q.get("cursor") or [None])[0]
    pos = 0
    if cursor is not None:
        decoded = (decode_epoch if family == "epoch" else decode_likes)(lst, cursor)
        if decoded is None or (
            cfg.forget_cursors
            and cursor not in app.issued_cursors.get((lst.name, lst.owner_id), ())
        ):
            return Response(400, F.bad_request(f"invalid cursor: {cursor!r}"))
        pos = decoded
    envelope = family == "epoch" or _truthy(q.get("linked_partitioning")) or not cfg.legacy_arrays
    access = (q.get("access") or [None])[0]
    extra = "" if access is None else "&access=" + quote(access, safe=",")
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
        if kind == "tracks":
            allowed = {a.strip() for a in access.split(",")} if access else {"playable", "preview"}
            if not allowed >= ALL_ACCESS:
                # Like the real API (#139): filtered after paging, so pages come up short.
                ids = [t for t in ids if app.world.track_access(t) in allowed]
        obj = app.object_bytes
        items = [obj(req.origin, kind, i) for i in ids]  # type: ignore[misc]
        if items and dice.coin("null", cfg.null_item_rate):
            stats.faults["null_items"] += 1
            items.insert(dice.rng("nullpos").randint(0, len(items)), b"null")
        if end < len(lst):
            cursor_next = (encode_epoch if family == "epoch" else encode_likes)(lst, end)
            if cfg.forget_cursors:
                app.issued_cursors.setdefault((lst.name, lst.owner_id), set()).add(cursor_next)
            href = f"{base}?{next_query(family, cursor_next, size, extra)}"
    if not envelope:
        return Response(200, b"[" + b",".join(items) + b"]")
    if href is not None:
        href = _move_href(app, req, href, cursor is not None)
    elif cfg.omit_null_next_href:
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
