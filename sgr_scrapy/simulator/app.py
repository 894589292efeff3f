"""Routes of the simulated SoundCloud v1 API: auth, faults, objects and paged lists.

Routes (every absolute URL is built on the request's own origin):

- ``GET /resolve?url=``: 302 with ``Location`` and ``{"status","location"}``; 404 if unknown
  (``www.``/``m.`` hosts, a trailing slash, a query string and ``on.soundcloud.com/<code>``
  short links are accepted). ``--resolve-object-rate``: 200 with the object instead.
- ``GET /tracks/{id}``, ``GET /users/{id}``, ``GET /playlists/{id}``: id numeric or URN.
- ``GET /tracks/{id}/favoriters``, ``/reposters``: users, epoch cursors, always an envelope.
- ``GET /tracks/{id}/related``: tracks, offset paging (``limit``, ``offset``).
- ``GET /users/{id}/likes/tracks`` and deprecated ``/users/{id}/favorites``: tracks, likes
  cursors; a bare array without ``linked_partitioning`` (legacy, on by default).
- ``GET /users/{id}/followers``, ``/followings``: users, epoch cursors, always an envelope.
- ``GET /users/{id}/tracks``, ``/users/{id}/reposts/tracks``: tracks, tracks cursors.
- ``GET /users/{id}/playlists``: playlists with their ``tracks``, playlists cursors.
- ``GET /playlists/{id}/tracks``: every track of a playlist, one page.
- ``POST /oauth/token`` (and legacy ``/oauth2/token``): client_credentials, refresh_token.
- ``GET /__truth``, ``GET /__stats``, ``POST /__reset_stats``: no auth, not counted.
"""

from __future__ import annotations

import base64
import re
import time
from functools import lru_cache
from urllib.parse import parse_qs

import orjson

from sgr_scrapy.simulator import faults as F
from sgr_scrapy.simulator.auth import Clock, RateLimiter, TokenStore, reset_time
from sgr_scrapy.simulator.http import Request, Response, ServerState
from sgr_scrapy.simulator.pages import (
    allowed_access,
    envelope_response,
    page_response,
    truthy,
    with_access,
)
from sgr_scrapy.simulator.stats import Stats
from sgr_scrapy.simulator.world import World

_URN_RE = re.compile(r"^soundcloud:(\w+):(\d+)$")
_OMIT_ID_KIND = 0x01D


def first(query: dict[str, list[str]], name: str) -> str | None:
    """Return the first value of query parameter ``name`` (None when absent)."""
    values = query.get(name)
    return values[0] if values else None


def truth_params(query: dict[str, list[str]]) -> dict:
    """Return ``World.truth`` keyword arguments from a ``/__truth`` query (ValueError if bad).

    ``seed`` (repeatable), ``max_users``, ``max_user_likes``, ``max_<family>``, ``lists``
    (comma-separated, repeatable), ``depth``, ``expand``.
    """
    params: dict = {"seeds": [int(s) for s in query.get("seed", [])] or None}
    for name, values in query.items():
        if name.startswith("max_") or name in ("depth", "expand"):
            params[name] = int(values[0])
        elif name == "lists":
            params["lists"] = ",".join(values)
    return params


def parse_id(segment: str, kind: str) -> int | None:
    """Return the id of a path segment: ``123`` or ``soundcloud:<kind>:123``."""
    if segment.isdigit():
        return int(segment)
    m = _URN_RE.match(segment)
    return int(m.group(2)) if m and m.group(1) == kind else None


# route family -> (id kind, World list method, cursor family, item kind)
LIST_ROUTES: dict[str, tuple[str, str, str, str]] = {
    "favoriters": ("tracks", "favoriters", "epoch", "users"),
    "reposters": ("tracks", "reposters", "epoch", "users"),
    "related": ("tracks", "related", "offset", "tracks"),
    "likes": ("users", "likes", "likes", "tracks"),
    "favorites": ("users", "likes", "likes", "tracks"),
    "reposts": ("users", "reposts", "tracks", "tracks"),
    "followers": ("users", "followers", "epoch", "users"),
    "followings": ("users", "followings", "epoch", "users"),
    "tracks": ("users", "uploads", "tracks", "tracks"),
    "playlists": ("users", "playlists", "playlists", "playlists"),
}
# (first segment, path tail) -> route family
ROUTES = {
    ("tracks", ()): "track",
    ("tracks", ("favoriters",)): "favoriters",
    ("tracks", ("reposters",)): "reposters",
    ("tracks", ("related",)): "related",
    ("users", ()): "user",
    ("users", ("likes", "tracks")): "likes",
    ("users", ("favorites",)): "favorites",
    ("users", ("reposts", "tracks")): "reposts",
    ("users", ("followers",)): "followers",
    ("users", ("followings",)): "followings",
    ("users", ("tracks",)): "tracks",
    ("users", ("playlists",)): "playlists",
    ("playlists", ()): "playlist",
    ("playlists", ("tracks",)): "playlist_tracks",
}


def classify(path: str) -> tuple[str, str | None]:
    """Return (route family, id segment) of a path; family ``unknown`` when no route."""
    segs = [s for s in path.split("/") if s]
    if segs == ["resolve"]:
        return "resolve", None
    if len(segs) >= 2:
        family = ROUTES.get((segs[0], tuple(segs[2:])))
        if family is not None:
            return family, segs[1]
    return "unknown", None


class SimulatorApp:
    """The request handler: ``handle(Request) -> Response`` (see the module docstring)."""

    def __init__(
        self,
        world: World,
        faults: F.FaultConfig | None = None,
        client_id: str = "sim-client-id",
        client_secret: str = "sim-client-secret",
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.world = world
        self.cfg = faults or F.FaultConfig()
        self.client_id = client_id
        self.client_secret = client_secret
        self.wall = wall
        self.tokens = TokenStore(self.cfg.token_ttl, clock)
        self.limiter = (
            RateLimiter(self.cfg.rate_limit, self.cfg.rate_burst, clock)
            if self.cfg.rate_limit > 0
            else None
        )
        self.dice = F.FaultDice(self.cfg.fault_seed)
        self.stats = Stats()
        self.state = ServerState(self.handle)
        self.api_host = ""
        self.foreign_origin = ""
        self.api_requests = 0
        self.object_bytes = lru_cache(maxsize=300_000)(self._object_bytes)
        # --forget-cursors: (list name, owner id) -> every cursor this process has issued.
        self.issued_cursors: dict[tuple[str, int], set[str]] = {}

    # -- entry point -----------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request (counts it, applies faults and latency)."""
        if req.path.startswith("/__"):
            return self._control(req)
        has_auth = "authorization" in req.headers
        if req.listener == "foreign":
            self.stats.foreign_requests += 1
            self.stats.foreign_authorization_headers += has_auth
        elif has_auth and req.headers.get("host") != self.api_host:
            self.stats.foreign_authorization_headers += 1
        if req.path in ("/oauth/token", "/oauth2/token"):
            family, resp = "oauth", self._token(req)
        else:
            family, ident = classify(req.path)
            resp = self._api(req, family, ident)
        self.stats.count(family, resp.status)
        resp.delay = self._latency()
        return resp

    def _latency(self) -> float:
        cfg = self.cfg
        if cfg.latency_ms <= 0 and cfg.jitter_ms <= 0:
            return 0.0
        jitter = self.dice.rng("latency").uniform(-cfg.jitter_ms, cfg.jitter_ms)
        return max(0.0, cfg.latency_ms + jitter) / 1000

    # -- API routes ------------------------------------------------------------------------
    def _api(self, req: Request, family: str, ident: str | None) -> Response:
        if family == "unknown":
            return Response(404, F.NOT_FOUND)
        if req.method not in ("GET", "HEAD"):
            return Response(405, F.error_json(405, "", "405 - Method Not Allowed", []))
        self.api_requests += 1
        n, cfg = self.api_requests, self.cfg
        if (cfg.revoke_after and n == cfg.revoke_after + 1) or (
            cfg.revoke_every and n > 1 and (n - 1) % cfg.revoke_every == 0
        ):
            self.tokens.revoke_all()
            self.stats.faults["revoke"] += 1
        denied = self._authorize(req)
        if denied is not None:
            return denied
        failure = self._server_error(n)
        if failure is not None:
            return failure
        resp = self._route(req, family, ident)
        if resp.status == 200 and self.dice.coin("malformed", cfg.malformed_rate):
            self.stats.faults["malformed"] += 1
            resp.body = resp.body[: max(1, len(resp.body) // 2)] + b"\x00<truncated"
        return resp

    def _authorize(self, req: Request) -> Response | None:
        header = req.headers.get("authorization")
        if not header:
            return Response(401, F.UNAUTHORIZED_MISSING)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("oauth", "bearer") or not self.tokens.valid(token):
            return Response(401, F.UNAUTHORIZED_BAD)
        if self.limiter is None:
            return None
        wait = self.limiter.take(token)
        if wait <= 0:
            return None
        self.stats.rate_limited += 1
        variant = self.cfg.rate_limit_body
        if variant == "mixed":
            variant = self.dice.rng("ratebody").choice(F.RATE_LIMIT_BODIES)
        stamp, seconds = reset_time(wait, self.wall)
        ctype, body = F.rate_limit_body(variant, stamp)
        headers = [("Retry-After", str(seconds))] if self.cfg.retry_after else []
        return Response(429, body, ctype, headers)

    def _server_error(self, n: int) -> Response | None:
        cfg = self.cfg
        kinds = cfg.error_kinds or F.ERROR_KINDS
        if cfg.fail_every and n % cfg.fail_every == 0:
            kind = kinds[(n // cfg.fail_every - 1) % len(kinds)]
        elif self.dice.coin("error", cfg.error_rate):
            kind = self.dice.rng("errorkind").choice(kinds)
        else:
            return None
        self.stats.faults[f"error-{kind}"] += 1
        status, ctype, body = F.SERVER_ERRORS[kind]
        return Response(status, body, ctype)

    def _route(self, req: Request, family: str, ident: str | None) -> Response:
        origin = req.origin
        if family == "resolve":
            return self._resolve(req)
        if family in ("track", "user"):
            kind = f"{family}s"
            obj_id = parse_id(ident or "", kind)
            body = None if obj_id is None else self.object_bytes(origin, kind, obj_id)
            return Response(200, body) if body is not None else Response(404, F.NOT_FOUND)
        if family in ("playlist", "playlist_tracks"):
            return self._playlist(req, family, parse_id(ident or "", "playlists"))
        kind, method, cursor_family, item_kind = LIST_ROUTES[family]
        obj_id = parse_id(ident or "", kind)
        lst = None if obj_id is None else getattr(self.world, method)(obj_id)
        if lst is None:
            if kind == "users" and self.cfg.unknown_user_empty:
                return Response(200, b'{"collection":[],"next_href":null}')
            return Response(404, F.NOT_FOUND)
        return page_response(self, req, lst, cursor_family, item_kind)

    def _playlist(self, req: Request, family: str, playlist_id: int | None) -> Response:
        tracks = None if playlist_id is None else self.world.playlist_tracks(playlist_id)
        if tracks is None:
            return Response(404, F.NOT_FOUND)
        allowed = allowed_access(req.query)
        if family == "playlist":
            shown = truthy(req.query.get("show_tracks", ["true"]))
            body = self.playlist_bytes(req.origin, playlist_id, allowed, shown, 0)  # type: ignore[arg-type]
            return Response(200, body)
        items = [
            self.object_bytes(req.origin, "tracks", t) for t in with_access(self, tracks, allowed)
        ]
        if self.cfg.legacy_arrays and not truthy(req.query.get("linked_partitioning")):
            return Response(200, b"[" + b",".join(items) + b"]")  # type: ignore[arg-type]
        return envelope_response(self, req, items, None, False)  # type: ignore[arg-type]

    def _resolve(self, req: Request) -> Response:
        url = first(req.query, "url")
        found = self.world.resolve(url) if url else None
        if found is None:
            return Response(404, F.NOT_FOUND)
        kind, obj_id = found
        if self.dice.coin("resolveobj", self.cfg.resolve_object_rate):
            self.stats.faults["resolve_object"] += 1
            body = self.object_bytes(req.origin, kind, obj_id)
            assert body is not None
            return Response(200, body)
        location = f"{req.origin}/{kind}/{obj_id}"
        body: bytes = orjson.dumps({"status": "302 - Found", "location": location})
        if self.dice.coin("noloc", self.cfg.resolve_no_location):
            self.stats.faults["resolve_no_location"] += 1
            return Response(302, body)
        return Response(302, body, headers=[("Location", location)])

    def _object_bytes(self, origin: str, kind: str, obj_id: int) -> bytes | None:
        world = self.world
        make = {"tracks": world.make_track, "users": world.make_user}.get(kind, world.make_playlist)
        obj = make(obj_id, origin)
        if obj is None:
            return None
        rate = self.cfg.omit_id_rate
        if rate and self.dice.per_object(rate, _OMIT_ID_KIND, obj["id"]):
            del obj["id"]
        user = obj.get("user")
        if rate and user and self.dice.per_object(rate, _OMIT_ID_KIND, user["id"]):
            obj["user"] = {k: v for k, v in user.items() if k != "id"}
        return orjson.dumps(obj)

    def playlist_bytes(
        self,
        origin: str,
        playlist_id: int,
        allowed: frozenset[str] | None,
        show_tracks: bool,
        limit: int,
    ) -> bytes:
        """Return a playlist's JSON: ``tracks`` last, the first ``limit`` (0 = all) of them,
        then those whose ``access`` is ``allowed`` (None = all); no ``tracks`` key when not
        ``show_tracks``."""
        head = self.object_bytes(origin, "playlists", playlist_id)
        assert head is not None
        if not show_tracks:
            return head
        tracks = self.world.playlist_tracks(playlist_id) or []
        tracks = with_access(self, tracks[: limit or None], allowed)
        body = b",".join(self.object_bytes(origin, "tracks", t) for t in tracks)  # type: ignore[misc]
        return head[:-1] + b',"tracks":[' + body + b"]}"

    # -- OAuth -----------------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        if req.method != "POST":
            return Response(405, F.error_json(405, "", "405 - Method Not Allowed", []))
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        header = req.headers.get("authorization", "")
        client_id, client_secret = first(form, "client_id"), first(form, "client_secret")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except ValueError:
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return Response(401, b'{"error":"invalid_client"}')
        grant_type = first(form, "grant_type")
        if grant_type == "client_credentials":
            grant = self.tokens.issue()
        elif grant_type in ("refresh_token", "authorization_code"):
            grant = self.tokens.refresh(first(form, "refresh_token") or "")
            if grant is None or grant_type == "authorization_code":
                return Response(400, b'{"error":"invalid_grant"}')
        else:
            return Response(400, b'{"error":"unsupported_grant_type"}')
        return Response(200, self.tokens.grant_json(grant))

    # -- control routes --------------------------------------------------------------------
    def _control(self, req: Request) -> Response:
        if req.path == "/__stats":
            return Response(200, orjson.dumps(self.stats_json()))
        if req.path == "/__reset_stats" and req.method == "POST":
            self.stats.reset()
            self.state.peak = self.state.inflight
            return Response(200, b'{"ok":true}')
        if req.path == "/__truth":
            try:
                truth = self.world.truth(**truth_params(req.query))
            except (KeyError, ValueError) as exc:
                return Response(400, F.bad_request(str(exc)))
            return Response(200, orjson.dumps(truth.to_json()))
        return Response(404, F.NOT_FOUND)

    def stats_json(self) -> dict:
        """Return the ``/__stats`` document."""
        return self.stats.to_json(
            peak_concurrency=self.state.peak,
            open_connections=self.state.connections,
            api_requests=self.api_requests,
            tokens_issued=self.tokens.issued,
            refresh_grants=self.tokens.refreshed,
        )
