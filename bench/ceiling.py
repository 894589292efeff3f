"""The ceiling: a bare Scrapy spider that reads exactly what the harvest reads, and nothing more.

Run as ``scrapy runspider bench/ceiling.py -a api_url=... -a token=... -a seed_url=...``
outside the project (no scrapy.cfg, no project settings), with the concurrency of the
harvest passed in ``-s``. It makes the harvest's requests, in the same order of phases:
``/resolve``, the seed track, its artist, the seed's favoriters and reposters, then the likes
of every distinct user found there, each list followed by ``next_href`` at 200 a page and at
most ``lists`` chains walked at once. Each body is only ``json.loads``-ed: no items, no
pipeline, no database, so requests/s here is what Scrapy itself can do on this machine.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response

LIKES_QUERY = "access=playable%2Cpreview%2Cblocked&limit=200&linked_partitioning=true"


class CeilingSpider(Spider):
    name = "ceiling"

    def __init__(
        self, api_url: str, token: str, seed_url: str, lists: str = "48", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"OAuth {token}"}
        self.seed_url = seed_url
        self.lists = int(lists)
        self.frontier: deque[str] = deque()
        self.live = 0
        self.seen_users: set[int] = set()
        self.items = 0

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> CeilingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    def _get(self, url: str, callback: Any, priority: int = 5, **meta: Any) -> Request:
        return Request(
            url,
            callback=callback,
            headers=self.headers,
            dont_filter=True,
            priority=priority,
            meta=meta,
        )

    async def start(self) -> AsyncIterator[Request]:
        url = f"{self.api_url}/resolve?{urlencode({'url': self.seed_url})}"
        yield self._get(
            url, self.parse_resolve, 10, dont_redirect=True, handle_httpstatus_list=[302]
        )

    def parse_resolve(self, response: Response) -> Iterator[Request]:
        location = json.loads(response.body)["location"]
        yield self._get(location, self.parse_track, 10)

    def parse_track(self, response: Response) -> Iterator[Request]:
        track = json.loads(response.body)
        yield self._get(f"{self.api_url}/users/{track['user']['id']}", self.parse_artist, 10)
        base = f"{self.api_url}/tracks/{track['id']}"
        for kind in ("favoriters", "reposters"):
            self.frontier.append(f"{base}/{kind}?limit=200&linked_partitioning=true")
        yield from self._pump()

    def parse_artist(self, response: Response) -> None:
        json.loads(response.body)

    def _pump(self) -> Iterator[Request]:
        while self.frontier and self.live < self.lists:
            self.live += 1
            yield self._get(self.frontier.popleft(), self.parse_list)

    def parse_list(self, response: Response) -> Iterator[Request]:
        page = json.loads(response.body)
        collection = page["collection"]
        self.items += len(collection)
        if "/tracks/" in response.url:  # favoriters or reposters: each user's likes come next
            for user in collection:
                if user["id"] not in self.seen_users:
                    self.seen_users.add(user["id"])
                    self.frontier.append(
                        f"{self.api_url}/users/{user['id']}/likes/tracks?{LIKES_QUERY}"
                    )
        if page.get("next_href"):
            yield self._get(page["next_href"], self.parse_list)
        else:
            self.live -= 1
            yield from self._pump()

    def on_idle(self) -> None:
        requests = list(self._pump())
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    def on_closed(self, spider: Spider) -> None:
        self.crawler.stats.set_value("ceiling/items", self.items)
        self.crawler.stats.set_value("ceiling/users", len(self.seen_users))
