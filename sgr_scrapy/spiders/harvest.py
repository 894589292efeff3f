"""HarvestSpider: one track URL → its likers, reposters and each one's liked tracks.

Arguments (`-a`): `url` (comma-separated for several), `urls_file`, `max_users`,
`max_user_likes`, `refresh`; see sgr_scrapy/args.py. Settings read: SOUNDCLOUD_API_URL,
SGR_LISTS_IN_FLIGHT.

The three phases overlap in one crawl. Every paged list (a track's favoriters or reposters, a
user's likes) is a cursor chain: strictly sequential, so throughput comes from walking many
chains at once. Lists waiting for their turn sit in `frontier`, as list records only, and are
started whenever fewer than SGR_LISTS_IN_FLIGHT chains are live. Each page becomes one `Page`
item carrying its rows and the list's new position, committed together by the pipeline, and on
start the spider re-seeds every unfinished list from the database: that is the whole of resume.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider, signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.spidermiddlewares.httperror import HttpError

from sgr_scrapy import api
from sgr_scrapy.args import HarvestArgs
from sgr_scrapy.items import (
    CAPPED,
    DONE,
    ENGAGEMENT_TYPE,
    FAILED,
    FAVORITERS,
    FROM_TRACK_LIST,
    FROM_USER_LIST,
    INCOMPLETE,
    LIKES,
    PENDING,
    REPOSTERS,
    Engagement,
    FailedPage,
    ListProgress,
    Page,
    Seed,
)
from sgr_scrapy.middlewares import AuthError, StoppingError, backoff_retry
from sgr_scrapy.pipelines import SQLitePipeline
from sgr_scrapy.preflight import KNOWN_ARGUMENTS

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from sgr_scrapy.store import Store

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LiveList:
    """A list being walked: its stored progress plus what only this run needs."""

    progress: ListProgress
    taken: set[int]  # distinct ids taken so far (caps and dedupe)
    visited: set[str] = field(default_factory=set)  # next_hrefs followed (loop guard)


class HarvestSpider(Spider):
    name = "harvest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = {k: kwargs.pop(k) for k in list(kwargs) if k in _ARG_NAMES}
        super().__init__(*args, **kwargs)
        self.args = HarvestArgs.parse(**params)
        self.frontier: deque[ListProgress] = deque()
        self.live: dict[str, LiveList] = {}
        self.likes_lists: set[int] = set()  # users whose likes list exists (any status)
        self.seed_tracks: dict[str, int] = {}
        # Ids written by this run. The same track comes back in many users' likes, the same
        # artist with each of their tracks: one write each is enough (upserts merge anyway),
        # and skipping the rest halves a harvest's CPU time.
        self.written_tracks: set[int] = set()
        self.written_users: set[int] = set()
        self.errors: list[str] = []  # one line each, for the summary and the exit status
        self.incomplete = False  # set on close: lists left failed, incomplete or unfinished
        self._store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.api_url = crawler.settings.get("SOUNDCLOUD_API_URL").rstrip("/")
        spider.lists_in_flight = max(1, crawler.settings.getint("SGR_LISTS_IN_FLIGHT"))
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    @property
    def store(self) -> Store:
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        if pipeline is None or pipeline.store is None:
            raise CloseSpider("store_error")  # the pipeline logged why, in one line
        return pipeline.store

    # --- start and resume ---

    async def start(self) -> AsyncIterator[Request]:
        store = self._store = self.store  # looked up once; _pump runs for every list
        known_seeds = {} if self.args.refresh else store.seeds()
        if not self.args.refresh:
            self._restore(store)
        for url in self.args.urls:
            if url in known_seeds:
                self.seed_tracks[url] = known_seeds[url]
                continue
            yield Request(
                api.resolve_url(self.api_url, url),
                callback=self.parse_resolve,
                errback=self.on_seed_error,
                cb_kwargs={"seed_url": url},
                meta={"dont_redirect": True, "handle_httpstatus_list": [302, 404]},
                dont_filter=True,
                priority=10,
            )
        for request in self._pump():
            yield request

    def _restore(self, store: Store) -> None:
        """Queue every list a previous run left unfinished, at the page where it stopped."""
        resumed = 0
        for progress in store.lists():
            if progress.kind == LIKES:
                self.likes_lists.add(progress.owner_id)
            if not self._needs_work(progress):
                continue
            if progress.next_url:
                progress.next_url = api.rebase(progress.next_url, self.api_url)
            self.frontier.append(progress)
            resumed += 1
        self.crawler.stats.set_value("sgr/lists/resumed", resumed)
        self.crawler.stats.set_value("sgr/lists/likes_known", len(self.likes_lists))
        if resumed:
            logger.info("Resuming %(n)d unfinished lists from the database", {"n": resumed})

    def _cap(self, kind: str) -> int:
        return self.args.max_user_likes if kind == LIKES else self.args.max_users

    def _needs_work(self, progress: ListProgress) -> bool:
        if progress.status == DONE:
            return False
        if progress.status == CAPPED:
            cap = self._cap(progress.kind)
            return cap == 0 or cap > progress.cap
        return True

    def _add_list(self, kind: str, owner_id: int) -> ListProgress | None:
        """A newly discovered list, queued unless it is already known."""
        if kind == LIKES:
            if owner_id in self.likes_lists:
                return None
            self.likes_lists.add(owner_id)
            self.crawler.stats.set_value("sgr/lists/likes_known", len(self.likes_lists))
        progress = ListProgress(api.list_key(kind, owner_id), kind, owner_id)
        self.frontier.append(progress)
        return progress

    def _pump(self) -> Iterator[Request]:
        """Start queued lists while fewer than SGR_LISTS_IN_FLIGHT are live."""
        while self.frontier and len(self.live) < self.lists_in_flight:
            progress = self.frontier.popleft()
            taken: set[int] = set()
            if progress.pages or progress.status != PENDING:
                taken = self._store.taken_ids(progress)
            progress.status = PENDING
            progress.error = None
            live = LiveList(progress, taken)
            self.live[progress.list_key] = live
            url = progress.next_url or api.first_page_url(
                self.api_url, progress.kind, progress.owner_id
            )
            yield self._list_request(progress.list_key, url)

    def _list_request(self, key: str, url: str) -> Request:
        # Continuations of a started list go first, so live chains finish and free their place.
        return Request(
            url,
            callback=self.parse_list,
            errback=self.on_list_error,
            cb_kwargs={"key": key},
            dont_filter=True,
            priority=5,
        )

    def on_idle(self) -> None:
        """Nothing in flight: start queued lists (callbacks normally do this)."""
        requests = list(self._pump())
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    def closed(self, reason: str) -> None:
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        lists = pipeline.summary.get("lists", {}) if pipeline is not None else {}
        self.incomplete = any(lists.get(s) for s in (PENDING, FAILED, INCOMPLETE))

    # --- seed: resolve, track, artist ---

    def parse_resolve(self, response: Response, seed_url: str) -> Iterator[Request]:
        if response.status == 404:
            self._seed_error(seed_url, "not found on SoundCloud (404); check the URL")
            return
        location = api.resolve_location(response.headers.get("Location"), response.body)
        if not location:
            self._seed_error(seed_url, "the API's /resolve answered without a location")
            return
        if api.origin(location) != api.origin(self.api_url):
            self._seed_error(seed_url, f"/resolve pointed off the API host ({location})")
            self.crawler.stats.inc_value("sgr/foreign_urls")
            return
        kind, ident = api.resolved_kind(location)
        if kind != "tracks" or ident is None:
            what = {"users": "a user", "playlists": "a playlist"}.get(kind, f"a {kind!r}")
            self._seed_error(seed_url, f"resolves to {what}, not a track; pass a track URL")
            return
        yield Request(
            api.track_url(self.api_url, ident),
            callback=self.parse_seed_track,
            errback=self.on_seed_error,
            cb_kwargs={"seed_url": seed_url},
            dont_filter=True,
            priority=10,
        )

    def parse_seed_track(self, response: Response, seed_url: str) -> Iterator[Any]:
        obj = self._object_or_retry(response)
        if obj is None:
            return
        track_id = api.object_id(obj)
        if track_id is None:
            self._seed_error(seed_url, "the API's track has no id or urn")
            return
        self.seed_tracks[seed_url] = track_id
        track, artist = api.track_rows(obj, track_id)
        self.written_tracks.add(track_id)
        new_lists = [p for k in (FAVORITERS, REPOSTERS) if (p := self._add_list(k, track_id))]
        yield Page(tracks=[track], users=[artist] if artist else [], new_lists=new_lists)
        if track.artist_id is not None:
            yield Request(
                api.user_url(self.api_url, track.artist_id),
                callback=self.parse_artist,
                errback=self.on_seed_error,
                cb_kwargs={"seed_url": seed_url},
                dont_filter=True,
                priority=10,
            )
        else:
            yield Page(seed=Seed(seed_url, track_id))
        yield from self._pump()

    def parse_artist(self, response: Response, seed_url: str) -> Iterator[Any]:
        obj = self._object_or_retry(response)
        if obj is None:
            return
        user_id = api.object_id(obj)
        users = [api.user_row(obj, user_id)] if user_id is not None else []
        # The seed counts as resolved only once its artist is stored, so a crash before that
        # resolves it again on the next run.
        yield Page(users=users, seed=Seed(seed_url, self.seed_tracks[seed_url]))

    def _object_or_retry(self, response: Response) -> dict[str, Any] | None:
        try:
            return api.parse_object(response.body)
        except api.ApiError as exc:
            retry = backoff_retry(self.crawler, response.request, f"bad_body: {exc}")
            if retry is not None:
                self.crawler.engine.crawl(retry)
            else:
                self._seed_error(response.request.cb_kwargs["seed_url"], f"bad response: {exc}")
            return None

    def _seed_error(self, seed_url: str, message: str) -> None:
        line = f"seed {seed_url}: {message}"
        self.errors.append(line)
        self.crawler.stats.inc_value("sgr/seeds/failed")
        logger.error(line)

    def on_seed_error(self, failure: Failure) -> None:
        if failure.check(AuthError, StoppingError):
            return  # the crawl is stopping (an auth error is reported once, by its middleware)
        request = failure.request
        self._seed_error(request.cb_kwargs["seed_url"], _failure_reason(failure))

    # --- lists: favoriters, reposters, likes ---

    def parse_list(self, response: Response, key: str) -> Iterator[Any]:
        live = self.live[key]
        try:
            collection, next_href = api.parse_page(response.body)
        except api.ApiError as exc:
            retry = backoff_retry(self.crawler, response.request, "bad_body")
            if retry is not None:
                yield retry
            else:
                yield from self._fail(live, response.url, f"bad response body: {exc}")
            return
        page, cut_short = self._read_items(live, collection)
        progress = live.progress
        progress.pages += 1
        cap = self._cap(progress.kind)
        stats = self.crawler.stats
        stats.inc_value("sgr/pages")
        verdict, url = api.classify_next(next_href, self.api_url)
        if cut_short:
            # The cap fell inside this page: a later run with a larger cap re-reads it.
            status, next_url = CAPPED, response.url
        elif cap and len(live.taken) >= cap and verdict != "end":
            status, next_url = CAPPED, url if verdict == "follow" else response.url
        elif verdict == "end":
            status, next_url = DONE, None
        elif verdict == "foreign" or url in live.visited or url == response.url:
            status, next_url = INCOMPLETE, response.url
            if verdict == "foreign":
                progress.error = f"next_href on a foreign host: {url}"
                stats.inc_value("sgr/foreign_urls")
            else:
                progress.error = "next_href repeats a page already read"
                stats.inc_value("sgr/loops")
            logger.warning("List %(key)s stopped: %(why)s", {"key": key, "why": progress.error})
        else:
            status, next_url = PENDING, url
        progress.status, progress.next_url = status, next_url
        progress.items, progress.cap = len(live.taken), cap
        page.progress = _snapshot(progress)
        yield page
        if status == PENDING:
            live.visited.add(next_url)
            yield self._list_request(key, next_url)
        else:
            self._finish(live)
            yield from self._pump()

    def _read_items(self, live: LiveList, collection: list[Any]) -> tuple[Page, bool]:
        """The page's rows, and whether the cap stopped the reading before the page's end."""
        progress = live.progress
        kind, owner, taken = progress.kind, progress.owner_id, live.taken
        cap = self._cap(kind)
        page = Page()
        etype = ENGAGEMENT_TYPE[kind]
        cut_short = False
        written_tracks, written_users = self.written_tracks, self.written_users
        for index, item in enumerate(collection):
            if cap and len(taken) >= cap:
                rest = collection[index:]
                cut_short = any(api.object_id(x) not in taken for x in rest if x is not None)
                break
            item_id = api.object_id(item)
            if item_id is None:
                page.dropped += 1
                continue
            if item_id in taken:
                self.crawler.stats.inc_value("sgr/duplicates")
                continue
            taken.add(item_id)
            if kind == LIKES:
                if item_id not in written_tracks:
                    written_tracks.add(item_id)
                    artist_id = api.object_id(item.get("user"))
                    fresh_artist = artist_id is not None and artist_id not in written_users
                    track, artist = api.track_rows(item, item_id, with_artist=fresh_artist)
                    page.tracks.append(track)
                    if artist is not None:
                        written_users.add(artist.user_id)
                        page.users.append(artist)
                page.engagements.append(Engagement(owner, item_id, etype, FROM_USER_LIST))
            else:
                if item_id not in written_users:
                    written_users.add(item_id)
                    page.users.append(api.user_row(item, item_id))
                page.engagements.append(Engagement(item_id, owner, etype, FROM_TRACK_LIST))
                new = self._add_list(LIKES, item_id)
                if new is not None:
                    page.new_lists.append(new)
        if page.dropped:
            self.crawler.stats.inc_value("sgr/dropped/no_id", page.dropped)
        return page, cut_short

    def on_list_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        live = self.live.get(request.cb_kwargs["key"])
        if live is None or failure.check(AuthError, StoppingError):
            return  # the crawl is stopping; the list keeps its last committed position
        if failure.check(HttpError) and failure.value.response.status == 404:
            # The user or track is gone: there is nothing more to read, now or later.
            live.progress.status, live.progress.next_url = DONE, None
            live.progress.error = "404 not found"
            page = Page(progress=_snapshot(live.progress))
            self._finish(live)
            yield page
            yield from self._pump()
            return
        yield from self._fail(live, request.url, _failure_reason(failure))

    def _fail(self, live: LiveList, url: str, reason: str) -> Iterator[Any]:
        progress = live.progress
        progress.status, progress.next_url, progress.error = FAILED, url, reason
        self.crawler.stats.inc_value("sgr/pages_failed")
        logger.warning(
            "List %(key)s: page failed after retries (%(reason)s); a rerun retries it",
            {"key": progress.list_key, "reason": reason},
        )
        yield Page(progress=_snapshot(progress), failed=FailedPage(progress.list_key, url, reason))
        self._finish(live)
        yield from self._pump()

    def _finish(self, live: LiveList) -> None:
        progress = live.progress
        del self.live[progress.list_key]
        stats = self.crawler.stats
        stats.inc_value(f"sgr/lists/{progress.status}")
        if progress.kind == LIKES:
            stats.inc_value("sgr/lists/likes_finished")


_ARG_NAMES = frozenset(KNOWN_ARGUMENTS)


def _snapshot(progress: ListProgress) -> ListProgress:
    """A copy for the item: the live record keeps changing while the item waits for a commit."""
    return ListProgress(
        progress.list_key,
        progress.kind,
        progress.owner_id,
        progress.status,
        progress.next_url,
        progress.pages,
        progress.items,
        progress.cap,
        progress.error,
    )


def _failure_reason(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    value = failure.value
    return f"{type(value).__name__}: {value}".strip().rstrip(":")
