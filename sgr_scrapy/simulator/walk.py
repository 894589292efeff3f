"""A plain, stdlib-only reference client of the simulator: ``fetch``, ``Walker``, ``RouteSource``.

``Walker.truth`` harvests the way the truth is defined (README, "Ground truth"; every list
family, caps, depth and expand through ``truth.harvest``), reading the routes: resolve the
seed URL (a 302 with or without ``Location``, or a 200 with the object itself), follow
``next_href`` until null, skip nulls, dedupe by id/urn, retry 5xx/429/malformed answers,
refresh the token on 401, move any non-API next_href (internal or foreign host) back onto the
API origin (same path and query) without sending the token elsewhere, re-ask a page whose
next_href repeats (a bounded number of times), and restart a list from its first page when
its cursor is refused with a 400. Tests compare it with ``World.truth``; it also documents
what a correct harvester does.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from sgr_scrapy.simulator.truth import Truth, harvest, parse_lists, resolve_caps

LIST_PARAMS = "linked_partitioning=true&access=playable,preview,blocked"
# family -> (path with {id}, query after limit): the first page of each list family.
FAMILY_ROUTES = {
    "favoriters": ("tracks/{id}/favoriters", ""),
    "reposters": ("tracks/{id}/reposters", ""),
    "related": ("tracks/{id}/related", f"&{LIST_PARAMS}"),
    "likes": ("users/{id}/likes/tracks", f"&{LIST_PARAMS}"),
    "reposts": ("users/{id}/reposts/tracks", f"&{LIST_PARAMS}"),
    "followings": ("users/{id}/followings", ""),
    "followers": ("users/{id}/followers", ""),
    "playlists": ("users/{id}/playlists", f"&{LIST_PARAMS}"),
    "tracks": ("users/{id}/tracks", f"&{LIST_PARAMS}"),
}


@dataclass
class Reply:
    """A raw HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """Decode the body as JSON."""
        return json.loads(self.body)


def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 30.0,
) -> Reply:
    """Send one request (no redirects followed) and return the raw reply."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def item_id(item: dict) -> int:
    """Return an object's numeric id, from ``id`` or else from its ``urn``."""
    if "id" in item:
        return int(item["id"])
    return int(str(item["urn"]).rsplit(":", 1)[1])


class WalkError(RuntimeError):
    """Raised by ``Walker`` when a request keeps failing."""


class CursorRejectedError(WalkError):
    """Raised by ``Walker.get`` when the API answers 400 (a cursor it refuses)."""


def first_page(url: str) -> str:
    """Return ``url`` without its ``cursor`` (and ``_gap``): the list's first page."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("cursor", "_gap")]
    return parts._replace(query=urlencode(query, safe=",")).geturl()


class Walker:
    """A sequential harvester of the simulator (see the module docstring)."""

    def __init__(self, info: dict, page_size: int = 200, max_attempts: int = 50) -> None:
        self.page_size = page_size
        self.api_url = info["api_url"]
        self.info = info
        self.token = info["access_token"]
        self.refresh_token = info["refresh_token"]
        self.max_attempts = max_attempts
        self.requests = 0

    def _refresh(self) -> None:
        # A refresh token is single-use; when it is spent, exchange the client credentials.
        for grant in ("refresh_token", "client_credentials"):
            form = urlencode(
                {
                    "grant_type": grant,
                    "refresh_token": self.refresh_token,
                    "client_id": self.info["client_id"],
                    "client_secret": self.info["client_secret"],
                }
            ).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            reply = fetch(self.info["token_url"], headers, "POST", form)
            if reply.status == 200:
                data = reply.json()
                assert isinstance(data, dict)
                self.token, self.refresh_token = data["access_token"], data["refresh_token"]
                return
        raise WalkError(f"cannot refresh the token: {reply.status} {reply.body!r}")

    def ask(self, url: str) -> tuple[int, dict[str, str], object]:
        """GET ``url`` on the API origin until a 200 or 302 with valid JSON.

        Returns (status, headers, decoded body). Raises ``CursorRejectedError`` on a 400,
        ``WalkError`` on a 404 or when every attempt failed.
        """
        parts = urlsplit(url)
        url = self.api_url + parts.path + (f"?{parts.query}" if parts.query else "")
        for _ in range(self.max_attempts):
            self.requests += 1
            reply = fetch(url, {"Authorization": f"OAuth {self.token}"})
            if reply.status == 401:
                self._refresh()
                continue
            if reply.status == 400:
                raise CursorRejectedError(f"400 on {url}: {reply.body!r}")
            if reply.status == 404:
                raise WalkError(f"404 on {url}")
            if reply.status not in (200, 302):
                continue
            try:
                return reply.status, reply.headers, reply.json()
            except ValueError:
                continue
        raise WalkError(f"giving up on {url}")

    def get(self, url: str) -> object:
        """GET ``url`` on the API origin, retrying until a 200 with valid JSON."""
        return self.ask(url)[2]

    def resolve(self, url: str) -> tuple[str, int]:
        """Return ``("tracks"|"users", id)`` of a soundcloud.com URL via ``/resolve``."""
        status, headers, body = self.ask(f"{self.api_url}/resolve?url={quote(url, safe='')}")
        assert isinstance(body, dict)
        if status == 200:  # the object itself (api-v2 style)
            return f"{body['kind']}s", item_id(body)
        location = headers.get("location") or body["location"]
        kind, ident = urlsplit(location).path.strip("/").split("/")[:2]
        return kind, int(ident)

    def walk(self, url: str, cap: int = 0, restarts: int = 3) -> list[dict]:
        """Return the first ``cap`` (0 = all) distinct items of a list, in API order.

        A refused cursor (400) restarts the list from its first page, at most ``restarts``
        times; the ids already taken keep the result exact.
        """
        out: list[dict] = []
        seen_ids: set[int] = set()
        seen_urls = {url}
        repeats = 0
        while url:
            try:
                page = self.get(url)
            except CursorRejectedError:
                if restarts <= 0 or first_page(url) == url:
                    raise
                restarts -= 1
                url = first_page(url)
                seen_urls = {url}
                continue
            if isinstance(page, list):
                page = {"collection": page, "next_href": None}
            assert isinstance(page, dict)
            for item in page["collection"]:
                if item is None or item_id(item) in seen_ids:
                    continue
                seen_ids.add(item_id(item))
                out.append(item)
                if cap and len(out) >= cap:
                    return out
            nxt = page.get("next_href")
            if nxt:
                key = urlsplit(nxt)._replace(scheme="", netloc="").geturl()
                if key in seen_urls:
                    repeats += 1
                    if repeats > self.max_attempts:
                        raise WalkError(f"next_href keeps repeating: {nxt}")
                    continue  # a repeated next_href: ask the same page again
                seen_urls.add(key)
            repeats = 0
            url = nxt
        return out

    def truth(
        self,
        max_users: int = 0,
        max_user_likes: int = 0,
        seeds: list[int] | None = None,
        *,
        lists: str | Sequence[str] | None = None,
        depth: int = 1,
        expand: int = 50,
        **caps: int,
    ) -> Truth:
        """Harvest from ``seeds`` (default: the resolved seed URL); arguments as
        ``World.truth``. Hops and expansion are ``truth.harvest``'s; every list is read
        through the routes by ``RouteSource``."""
        seeds = seeds or [self.resolve(self.info["seed_url"])[1]]
        caps_by_family = resolve_caps(max_users, max_user_likes, **caps)
        return harvest(RouteSource(self), seeds, parse_lists(lists), caps_by_family, depth, expand)


class RouteSource:
    """``truth.Source`` over the HTTP routes, read by a ``Walker`` (every fault survived).

    A playlist whose ``tracks`` is missing or shorter than its ``track_count`` (see
    ``--playlist-tracks-limit``) is read again whole from ``/playlists/{id}``.
    """

    def __init__(self, walker: Walker) -> None:
        self.walker = walker
        self.api = walker.api_url
        self.size = walker.page_size

    def artist(self, track_id: int) -> int:
        track = self.walker.get(f"{self.api}/tracks/{track_id}")
        assert isinstance(track, dict)
        return item_id(track["user"])

    def _url(self, family: str, owner_id: int) -> str:
        path, query = FAMILY_ROUTES[family]
        return f"{self.api}/{path.format(id=owner_id)}?limit={self.size}{query}"

    def users(self, family: str, owner_id: int, cap: int) -> list[int]:
        return [item_id(u) for u in self.walker.walk(self._url(family, owner_id), cap)]

    def tracks(self, family: str, owner_id: int, cap: int) -> list[tuple[int, int]]:
        items = self.walker.walk(self._url(family, owner_id), cap)
        return [(item_id(t), item_id(t["user"])) for t in items]

    def playlists(self, owner_id: int, cap: int) -> list[tuple[int, list[tuple[int, int]]]]:
        out = []
        for playlist in self.walker.walk(self._url("playlists", owner_id), cap):
            tracks = playlist.get("tracks")
            if tracks is None or len(tracks) != playlist["track_count"]:
                whole = self.walker.get(
                    f"{self.api}/playlists/{item_id(playlist)}?access=playable,preview,blocked"
                )
                assert isinstance(whole, dict)
                tracks = whole["tracks"]
            out.append((item_id(playlist), [(item_id(t), item_id(t["user"])) for t in tracks]))
        return out
