"""The ceiling: a bare Scrapy spider that reads exactly what the harvest reads, and nothing more.

Run as ``scrapy runspider bench/ceiling.py -a api_url=... -a token=... -a seed_url=...
[-a lists=favoriters,reposters,likes] [-a chains=48] [-a tuned=0]`` outside the project (no
scrapy.cfg, no project settings), with the concurrency and Scrapy tuning of the harvest passed
in ``-s`` (bench/cpu.py, ceiling_invocation) and its garbage-collector thresholds. It makes the
harvest's requests, in the same order of phases: ``/resolve``, the seed track, its artist, the
seed's track families (favoriters, reposters, related), then every user family of every
distinct user found in its favoriters and reposters, each list followed by ``next_href`` at
200 a page and at most ``chains`` lists walked at once. ``lists`` names the families as the
harvest's ``-a lists=`` does (the default is the harvest's default); first-page URLs come from
the project's registry (sgr_scrapy/families.py), so they are the harvest's own.

A playlist whose ``tracks`` is shorter than its ``track_count`` is read whole from
``/playlists/{id}`` before its list's next page is asked, as the harvest holds that page.
Each body is only ``json.loads``-ed: no items, no pipeline, no database, so requests/s and
list entries/s here are what Scrapy itself can do on this machine. The stats dump ends with
``ceiling/items`` (entries over every list page) and ``ceiling/items/<family>``.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response

from sgr_scrapy.families import FAMILIES, TRACK, USER, parse_lists, playlist_url
from sgr_scrapy.runtime import tune_gc

DEFAULT_LISTS = "favoriters,reposters,likes"


class CeilingSpider(Spider):
    name = "ceiling"

    def __init__(
        self,
        api_url: str,
        token: str,
        seed_url: str,
        lists: str = DEFAULT_LISTS,
        chains: str = "48",
        tuned: str = "1",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if tuned == "1":
            # The harvest's runtime tuning (sgr_scrapy/runtime.py), so that the ratio weighs only
            # the harvest's own work; `-a tuned=0` (with Scrapy's default settings) is bare Scrapy.
            tune_gc()
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"OAuth {token}"}
        self.seed_url = seed_url
        families = [FAMILIES[name] for name in parse_lists(lists)]
        self.track_families = [f for f in families if f.owner == TRACK]
        self.user_families = [f for f in families if f.owner == USER]
        self.chains = int(chains)
        self.frontier: deque[tuple[str, str]] = deque()  # (family, first page URL)
        self.live = 0
        self.seen_users: set[int] = set()
        self.items = 0
        self.by_family: Counter[str] = Counter()
        self.playlists_read = 0
        # chain number -> [playlists still being read, the list's next_href]
        self.held: dict[int, list[Any]] = {}
        self.chain_numbers = 0

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
        for family in self.track_families:
            self.frontier.append((family.name, family.first_page_url(self.api_url, track["id"])))
        yield from self._pump()

    def parse_artist(self, response: Response) -> None:
        json.loads(response.body)

    def _pump(self) -> Iterator[Request]:
        while self.frontier and self.live < self.chains:
            self.live += 1
            self.chain_numbers += 1
            family, url = self.frontier.popleft()
            yield self._get(url, self.parse_list, family=family, chain=self.chain_numbers)

    def parse_list(self, response: Response) -> Iterator[Request]:
        page = json.loads(response.body)
        collection = page["collection"]
        family = FAMILIES[response.meta["family"]]
        self.items += len(collection)
        self.by_family[family.name] += len(collection)
        if family.spawns_user_lists:  # favoriters or reposters: each user's lists come next
            for user in collection:
                if user["id"] not in self.seen_users:
                    self.seen_users.add(user["id"])
                    for f in self.user_families:
                        self.frontier.append((f.name, f.first_page_url(self.api_url, user["id"])))
        if family.name == "playlists":
            chain = response.meta["chain"]
            for playlist in collection:
                tracks, count = playlist.get("tracks"), playlist.get("track_count")
                if not isinstance(tracks, list) or (isinstance(count, int) and len(tracks) < count):
                    held = self.held.setdefault(chain, [0, page.get("next_href")])
                    held[0] += 1
                    yield self._get(
                        playlist_url(self.api_url, playlist["id"]),
                        self.parse_playlist,
                        6,
                        family=family.name,
                        chain=chain,
                    )
            if chain in self.held:
                return  # the next page waits for the playlists read whole, as in the harvest
        yield from self._next(response.meta, page.get("next_href"))

    def parse_playlist(self, response: Response) -> Iterator[Request]:
        json.loads(response.body)
        self.playlists_read += 1
        chain = response.meta["chain"]
        held = self.held[chain]
        held[0] -= 1
        if held[0] == 0:
            del self.held[chain]
            yield from self._next(response.meta, held[1])

    def _next(self, meta: dict[str, Any], next_href: str | None) -> Iterator[Request]:
        if next_href:
            yield self._get(next_href, self.parse_list, family=meta["family"], chain=meta["chain"])
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
        stats = self.crawler.stats
        stats.set_value("ceiling/items", self.items)
        for family, n in self.by_family.items():
            stats.set_value(f"ceiling/items/{family}", n)
        stats.set_value("ceiling/users", len(self.seen_users))
        stats.set_value("ceiling/playlists_read_whole", self.playlists_read)
