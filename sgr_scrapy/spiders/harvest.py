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
from scrapy.utils.defer import deferred_from_coro

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
from sgr_scrapy.store import StoreError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from sgr_scrapy.store import Store

logger = logging.getLogger(__name__)


# What each list's items spawn: a liker's or reposter's own likes. (The list-family registry
# of the neighbourhood issue will declare this per family.)
CHILD_KIND = {FAVORITERS: LIKES, REPOSTERS: LIKES}
# A repeated next_href is asked again this many times at most (with back-off) before the list
# is given up for the run: the API's repeats are usually transient.
MAX_REPEATS = 5


@dataclass(slots=True)
class LiveList:
    """A list being walked: its stored progress plus what only this run needs."""

    progress: ListProgress
    taken: set[int]  # distinct ids taken so far (caps and dedupe)
    stored: ListProgress | None  # the list as the database had it when this run started
    visited: set[str] = field(default_factory=set)  # next_hrefs followed (loop guard)
    restarted: bool = False  # restarted from its first page after the API refused its cursor


class HarvestSpider(Spider):
    name = "harvest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = {k: kwargs.pop(k) for k in list(kwargs) if k in _ARG_NAMES}
        super().__init__(*args, **kwargs)
        self.args = HarvestArgs.parse(**params)
        self.frontier: deque[ListProgress] = deque()
        self.live: dict[str, LiveList] = {}
        # Every list reachable from this run's seeds, once, with its status as this run sees it:
        # the stored one when it needs no work, else pending until this run finishes it.
        self.lists: dict[str, str] = {}
        self.stored: dict[str, ListProgress] = {}  # every list in the database at start
        self.likes_total = 0  # likes lists reachable this run
        self.likes_done = 0  # ... of which this run is done with (or had no work to do)
        self.seed_tracks: dict[str, int] = {}  # seed URL -> track id, this run's seeds only
        self.seed_urls: dict[int, str] = {}  # track id -> the first URL that named it
        self.aliases: list[tuple[str, str]] = []  # (alias URL, the URL it repeats)
        # Per id, how complete the richest object this run wrote was (its number of keys).
        # The same track comes back in many users' likes, the same artist with each of their
        # tracks: writing each once per richness level halves a harvest's CPU time, and a
        # richer object seen later (a full user after the partial one nested in a track) is
        # still written, so no profile field stays NULL.
        self.written_tracks: dict[int, int] = {}
        self.written_users: dict[int, int] = {}
        self.errors: list[str] = []  # one line each, for the summary and the exit status
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
        # A run reads only the lists reachable from its own seeds, with its own caps; another
        # seed's unfinished lists wait until that seed is harvested again.
        try:
            self.stored = {p.list_key: p for p in store.lists()}
            known_seeds = {} if self.args.refresh else store.seeds()
        except StoreError as exc:
            self._store_error(exc)
            return
        for url in self.args.urls:
            if url in known_seeds:
                self._add_seed(url, known_seeds[url])
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
        resumed = sum(1 for p in self.frontier if p.list_key in self.stored)
        self.crawler.stats.set_value("sgr/lists/resumed", resumed)
        if resumed:
            logger.info("Resuming %(n)d unfinished lists from the database", {"n": resumed})
        for request in self._pump():
            yield request

    def _add_seed(self, url: str, track_id: int) -> list[ListProgress]:
        """Record a seed; the first URL of a track queues its lists, later ones are aliases."""
        self.seed_tracks[url] = track_id
        first = self.seed_urls.setdefault(track_id, url)
        if first != url:
            self.aliases.append((url, first))
            logger.info(
                "Seed %(url)s is the same track as %(first)s (track %(id)d): harvested once",
                {"url": url, "first": first, "id": track_id},
            )
            return []
        return [p for kind in (FAVORITERS, REPOSTERS) if (p := self._visit(kind, track_id))]

    def _cap(self, kind: str) -> int:
        return self.args.max_user_likes if kind == LIKES else self.args.max_users

    def _complete(self, progress: ListProgress) -> bool:
        """Whether a stored list is read far enough for this run's cap."""
        if progress.status == DONE:
            return True
        if progress.status == CAPPED:
            cap = self._cap(progress.kind)
            return cap != 0 and progress.items >= cap
        return False

    def _visit(self, kind: str, owner_id: int) -> ListProgress | None:
        """Reach a list from this run's seeds: once per run, whichever way it was found.

        A list the database already holds far enough is not read again, but its items' own
        lists are reached; any other is queued (from where it stopped, unless refreshing).
        Returns the list when it is new to the database, for the page that found it to record.
        """
        key = api.list_key(kind, owner_id)
        if key in self.lists:
            return None
        stored = self.stored.get(key)
        if kind == LIKES:
            self.likes_total += 1
        if stored is not None and not self.args.refresh and self._complete(stored):
            self.lists[key] = stored.status
            if kind == LIKES:
                self.likes_done += 1
            child = CHILD_KIND.get(kind)
            if child is not None:
                for item_id in self._taken_ids(stored):
                    self._visit(child, item_id)
            self._progress_stats()
            return None
        self.lists[key] = PENDING
        if stored is None or self.args.refresh:
            progress = ListProgress(key, kind, owner_id)
        else:
            progress = _snapshot(stored)
            if progress.next_url:
                progress.next_url = api.rebase(progress.next_url, self.api_url)
        self.frontier.append(progress)
        self._progress_stats()
        return progress if stored is None else None

    def _taken_ids(self, progress: ListProgress) -> set[int]:
        try:
            return self._store.taken_ids(progress)
        except StoreError as exc:
            self._store_error(exc)
            return set()

    def _store_error(self, exc: StoreError) -> None:
        """A database read failed: one line, and a clean stop (nothing was written)."""
        if not self.crawler.stats.get_value("sgr/store_error"):
            logger.error("%(error)s", {"error": exc})
            self.crawler.stats.set_value("sgr/store_error", str(exc))
            self.crawler.stats.set_value("sgr/stopping", "store_error")
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_error"))

    def _progress_stats(self) -> None:
        self.crawler.stats.set_value("sgr/lists/likes_known", self.likes_total)
        self.crawler.stats.set_value("sgr/lists/likes_finished", self.likes_done)

    def _pump(self) -> Iterator[Request]:
        """Start queued lists while fewer than SGR_LISTS_IN_FLIGHT are live."""
        while self.frontier and len(self.live) < self.lists_in_flight:
            progress = self.frontier.popleft()
            stored = self.stored.get(progress.list_key)
            taken: set[int] = set()
            if progress.pages or progress.status != PENDING:
                # Resuming: the ids it took rebuild caps and dedupe, and their own lists are
                # reached again (they may be unfinished too).
                taken = self._taken_ids(progress)
                child = CHILD_KIND.get(progress.kind)
                if child is not None:
                    for item_id in taken:
                        self._visit(child, item_id)
            progress.status = PENDING
            progress.error = None
            self.live[progress.list_key] = LiveList(progress, taken, stored)
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

    def list_statuses(self) -> dict[str, int]:
        """This run's lists by status (lists still live or queued count as pending)."""
        counts: dict[str, int] = {}
        for status in self.lists.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    # --- seed: resolve, track, artist ---

    def parse_resolve(self, response: Response, seed_url: str) -> Iterator[Any]:
        if response.status == 404:
            self._seed_error(seed_url, "not found on SoundCloud (404); check the URL")
            return
        if response.status == 200:
            # The api-v2 style, also seen on some v1 gateways: the resource itself.
            obj = self._object_or_retry(response)
            if obj is None:
                return
            if obj.get("kind") not in ("track", None):
                kind = obj.get("kind")
                self._seed_error(seed_url, f"resolves to a {kind}, not a track; pass a track URL")
                return
            yield from self._seed_track(obj, seed_url)
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
        if ident in self.seed_urls:
            # Another spelling of a seed this run already has: no need to fetch it again.
            yield from self._seed_track_known(seed_url, ident)
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
        if obj is not None:
            yield from self._seed_track(obj, seed_url)

    def _seed_track_known(self, seed_url: str, track_id: int) -> Iterator[Any]:
        self._add_seed(seed_url, track_id)
        yield Page(seed=Seed(seed_url, track_id))

    def _seed_track(self, obj: dict[str, Any], seed_url: str) -> Iterator[Any]:
        track_id = api.object_id(obj)
        if track_id is None:
            self._seed_error(seed_url, "the API's track has no id or urn")
            return
        if track_id in self.seed_urls:
            yield from self._seed_track_known(seed_url, track_id)
            return
        track, artist = api.track_rows(obj, track_id)
        self._written(self.written_tracks, track_id, obj)
        if artist is not None:
            self._written(self.written_users, artist.user_id, obj.get("user"))
        new_lists = self._add_seed(seed_url, track_id)
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
        users = []
        if user_id is not None:
            users.append(api.user_row(obj, user_id))
            self._written(self.written_users, user_id, obj)
        # The seed counts as resolved only once its artist is stored, so a crash before that
        # resolves it again on the next run.
        yield Page(users=users, seed=Seed(seed_url, self.seed_tracks[seed_url]))

    @staticmethod
    def _written(written: dict[int, int], object_id: int, obj: Any) -> None:
        if isinstance(obj, dict):
            written[object_id] = max(written.get(object_id, 0), len(obj))

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
        verdict, url = api.classify_next(next_href, self.api_url, response.url)
        if verdict == "moved":
            stats.inc_value("sgr/next_href/moved")
            verdict = "follow"
        repeat = verdict == "follow" and (url in live.visited or url == response.url)
        retry = None
        if cut_short:
            # The cap fell inside this page: a later run with a larger cap re-reads it.
            status, next_url = CAPPED, response.url
        elif cap and len(live.taken) >= cap and verdict != "end":
            status, next_url = CAPPED, url if verdict == "follow" else response.url
        elif verdict == "end":
            status, next_url = DONE, None
        elif repeat and (retry := self._repeat_retry(response)) is not None:
            # Usually transient: ask for this page again, a bounded number of times.
            status, next_url = PENDING, response.url
        elif verdict == "foreign" or repeat:
            status, next_url = INCOMPLETE, response.url
            if verdict == "foreign":
                progress.error = f"next_href on a foreign host with another path: {url}"
                stats.inc_value("sgr/foreign_urls")
            else:
                progress.error = "next_href repeats a page already read, however often asked"
                stats.inc_value("sgr/loops")
            logger.warning("List %(key)s stopped: %(why)s", {"key": key, "why": progress.error})
        else:
            status, next_url = PENDING, url
        if status == CAPPED and _covers(live.stored, len(live.taken)):
            # A refresh with a smaller cap never downgrades a list read further before.
            stored = live.stored
            assert stored is not None
            status, next_url = stored.status, stored.next_url
            progress.items, progress.cap = stored.items, stored.cap
        else:
            progress.items, progress.cap = len(live.taken), cap
        progress.status, progress.next_url = status, next_url
        page.progress = _snapshot(progress)
        yield page
        if retry is not None:
            yield retry
        elif status == PENDING:
            live.visited.add(next_url)
            yield self._list_request(key, next_url)
        else:
            self._finish(live)
            yield from self._pump()

    def _repeat_retry(self, response: Response) -> Request | None:
        request = response.request
        if request.meta.get("sgr_repeats", 0) >= MAX_REPEATS:
            return None
        retry = backoff_retry(self.crawler, request, "repeated_next_href")
        if retry is not None:
            retry.meta["sgr_repeats"] = request.meta.get("sgr_repeats", 0) + 1
            self.crawler.stats.inc_value("sgr/next_href/repeats_asked_again")
        return retry

    def _read_items(self, live: LiveList, collection: list[Any]) -> tuple[Page, bool]:
        """The page's rows, and whether the cap stopped the reading before the page's end."""
        progress = live.progress
        kind, owner, taken = progress.kind, progress.owner_id, live.taken
        cap = self._cap(kind)
        page = Page()
        etype = ENGAGEMENT_TYPE[kind]
        cut_short = False
        written_tracks, written_users = self.written_tracks, self.written_users
        child = CHILD_KIND.get(kind)
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
                if written_tracks.get(item_id, 0) < len(item):
                    written_tracks[item_id] = len(item)
                    artist = item.get("user")
                    artist_id = api.object_id(artist)
                    fresh_artist = artist_id is not None and written_users.get(artist_id, 0) < len(
                        artist
                    )
                    track, artist_row = api.track_rows(item, item_id, with_artist=fresh_artist)
                    page.tracks.append(track)
                    if artist_row is not None:
                        written_users[artist_row.user_id] = len(artist)
                        page.users.append(artist_row)
                page.engagements.append(Engagement(owner, item_id, etype, FROM_USER_LIST))
            else:
                if written_users.get(item_id, 0) < len(item):
                    written_users[item_id] = len(item)
                    page.users.append(api.user_row(item, item_id))
                page.engagements.append(Engagement(item_id, owner, etype, FROM_TRACK_LIST))
            if child is not None:
                new = self._visit(child, item_id)
                if new is not None:
                    page.new_lists.append(new)
        if page.dropped:
            self.crawler.stats.inc_value("sgr/dropped/no_id", page.dropped)
        return page, cut_short

    def on_list_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        key = request.cb_kwargs["key"]
        live = self.live.get(key)
        if live is None or failure.check(AuthError, StoppingError):
            return  # the crawl is stopping; the list keeps its last committed position
        progress = live.progress
        status = failure.value.response.status if failure.check(HttpError) else None
        if status == 404:
            # The user or track is gone: there is nothing more to read, now or later.
            progress.status, progress.next_url = DONE, None
            progress.error = "404 not found"
            page = Page(progress=_snapshot(progress))
            self._finish(live)
            yield page
            yield from self._pump()
            return
        first = api.first_page_url(self.api_url, progress.kind, progress.owner_id)
        if status == 400 and not live.restarted and request.url != first:
            # The API refused a cursor (expired, or a restarted server forgot it): read the list
            # again from its first page. The ids already taken keep the rows exact.
            live.restarted = True
            live.visited.clear()
            self.crawler.stats.inc_value("sgr/lists/restarted")
            logger.warning(
                "List %(key)s: the API refused its cursor (HTTP 400); reading it again from "
                "its first page",
                {"key": key},
            )
            yield self._list_request(key, first)
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
        self.lists[progress.list_key] = progress.status
        stats = self.crawler.stats
        stats.inc_value(f"sgr/lists/{progress.status}")
        if progress.kind == LIKES:
            self.likes_done += 1
            self._progress_stats()


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


def _covers(stored: ListProgress | None, items: int) -> bool:
    """Whether a stored list was read at least as far as `items` distinct items."""
    if stored is None:
        return False
    return stored.status == DONE or (stored.status == CAPPED and stored.items >= items)


def _failure_reason(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    value = failure.value
    return f"{type(value).__name__}: {value}".strip().rstrip(":")
