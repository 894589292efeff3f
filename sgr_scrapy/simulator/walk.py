"""A plain, stdlib-only reference client of the simulator: ``fetch`` and ``walk_truth``.

``walk_truth`` harvests the way the truth is defined (README, "Ground truth"): follow
``next_href`` until null, skip nulls, dedupe by id/urn, retry 5xx/429/malformed answers,
refresh the token on 401, move any non-API next_href (internal or foreign host) back onto the
API origin without sending the token elsewhere, and re-ask a page whose next_href repeats.
Tests compare it with ``World.truth``; it also documents what a correct harvester does.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sgr_scrapy.simulator.world import Truth

LIST_PARAMS = "linked_partitioning=true&access=playable,preview,blocked"


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

    def get(self, url: str) -> object:
        """GET ``url`` on the API origin, retrying until a 200 with valid JSON."""
        parts = urlsplit(url)
        url = self.api_url + parts.path + (f"?{parts.query}" if parts.query else "")
        for _ in range(self.max_attempts):
            self.requests += 1
            reply = fetch(url, {"Authorization": f"OAuth {self.token}"})
            if reply.status == 401:
                self._refresh()
                continue
            if reply.status != 200:
                continue
            try:
                return reply.json()
            except ValueError:
                continue
        raise WalkError(f"giving up on {url}")

    def walk(self, url: str, cap: int = 0) -> list[dict]:
        """Return the first ``cap`` (0 = all) distinct items of a list, in API order."""
        out: list[dict] = []
        seen_ids: set[int] = set()
        seen_urls = {url}
        while url:
            page = self.get(url)
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
                    continue  # a repeated next_href: ask the same page again
                seen_urls.add(key)
            url = nxt
        return out

    def truth(
        self, max_users: int = 0, max_user_likes: int = 0, seeds: list[int] | None = None
    ) -> Truth:
        """Harvest from ``seeds`` (default: the seed track) with these caps."""
        seeds = seeds or [self.info["seed_track_id"]]
        truth = Truth(track_ids=set(seeds))
        for s in seeds:
            base = f"{self.api_url}/tracks/{s}"
            track = self.get(base)
            assert isinstance(track, dict)
            truth.user_ids.add(item_id(track["user"]))
            for kind, route in (("like", "favoriters"), ("repost", "reposters")):
                for user in self.walk(f"{base}/{route}?limit={self.page_size}", max_users):
                    truth.user_ids.add(item_id(user))
                    truth.engagements.add((item_id(user), s, kind))
        for u in {e[0] for e in truth.engagements}:
            url = f"{self.api_url}/users/{u}/likes/tracks?limit={self.page_size}&{LIST_PARAMS}"
            for track in self.walk(url, max_user_likes):
                t = item_id(track)
                truth.track_ids.add(t)
                truth.user_ids.add(item_id(track["user"]))
                truth.engagements.add((u, t, "like"))
        return truth
