"""HarvestSpider: seed tracks → the list families asked for (`-a lists`), over `-a depth` hops.

Arguments (`-a`): see sgr_scrapy/args.py (`url`, `urls_file`, `lists`, `max_<family>`,
`max_users`, `max_user_likes`, `depth`, `expand`, `refresh`). Settings read: SOUNDCLOUD_API_URL,
SGR_LISTS_IN_FLIGHT.

Every paged list is one list family (families.py) of one owner: a seed track's favoriters,
reposters or related tracks; a user's likes, reposts, followings, followers, playlists or
uploads. Each is a cursor chain: strictly sequential, so throughput comes from walking many
chains at once. Lists waiting for their turn sit in `frontier`, as list records only, and are
started whenever fewer than SGR_LISTS_IN_FLIGHT chains are live. Each page becomes one `Page`
item carrying its rows and the list's new position, committed together by the pipeline, and on
start the spider re-seeds every unfinished list from the database: that is the whole of resume.

Hops (`-a depth=D`): hop 1 reads the seeds' track families, then the user families of the
users their favoriters and reposters yielded. Once a hop is finished, the `expand` tracks with
the most engagements from its users seed the next hop (README: Hops).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider, signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.spidermiddlewares.httperror import HttpError

from sgr_scrapy import api, paging, plan
from sgr_scrapy.args import HarvestArgs
from sgr_scrapy.families import FAMILIES, PLAYLIST, TRACK, USER, Family, playlist_url
from sgr_scrapy.items import (
    DONE,
    FAILED,
    INCOMPLETE,
    PENDING,
    Expansion,
    FailedPage,
    ListProgress,
    Page,
    PlaylistTrack,
    Seed,
)
from sgr_scrapy.middlewares import AuthError, StoppingError, backoff_retry
from sgr_scrapy.pipelines import SQLitePipeline, stop_for_store_error
from sgr_scrapy.preflight import KNOWN_ARGUMENTS
from sgr_scrapy.store import StoreError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from sgr_scrapy.store import Store

logger = logging.getLogger(__name__)

# A repeated next_href is asked again this many times at most (with back-off) before the list
# is given up for the run: the API's repeats are usually transient.
MAX_REPEATS = 5


@dataclass(slots=True)
class Held:
    """A page of playlists waiting for the whole track lists of some of them."""

    page: Page
    step: paging.Step
    url: str  # the page's URL: where the list stands if a playlist cannot be read
    retry: Request | None


@dataclass(slots=True)
class LiveList:
    """A list being walked: its stored progress plus what only this run needs."""

    progress: ListProgress
    family: Family
    taken: set[int]  # distinct ids taken so far (caps and dedupe)
    stored: ListProgress | None  # the list as the database had it when this run started
    visited: set[str] = field(default_factory=set)  # next_hrefs followed (loop guard)
    restarted: bool = False  # restarted from its first page after the API refused its cursor
    waiting: set[int] = field(default_factory=set)  # playlists being read whole
    held: Held | None = None  # the page they belong to
    head: bool = False  # `refresh=new`: a finished list re-read down to a page of known items


@dataclass(slots=True)
class Hop:
    """One hop of the harvest: its seed tracks and the users it brought."""

    number: int
    seeds: list[int]
    users: set[int] = field(default_factory=set)  # first yielded by this hop's track lists
    expansions: list[Expansion] = field(default_factory=list)  # how its seeds were chosen


class HarvestSpider(Spider):
    name = "harvest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = {k: kwargs.pop(k) for k in list(kwargs) if k in _ARG_NAMES}
        super().__init__(*args, **kwargs)
        self.args = HarvestArgs.parse(**params)
        wanted = [FAMILIES[name] for name in self.args.lists]
        self.track_families = [f for f in wanted if f.owner == TRACK]
        self.user_families = [f for f in wanted if f.owner == USER]
        self.frontier: deque[ListProgress] = deque()
        self.live: dict[str, LiveList] = {}
        # Every list reachable from this run's seeds, once, with its status as this run sees it:
        # the stored one when it needs no work, else pending until this run finishes it.
        self.lists: dict[str, str] = {}
        self.stored: dict[str, ListProgress] = {}  # every list in the database at start
        self.hops: list[Hop] = [Hop(1, [])]
        self.users_read: set[int] = set()  # users whose own lists this run reaches
        self.user_open: dict[int, int] = {}  # per user, its lists this run has still to finish
        self.users_done = 0  # users whose lists this run is done with (or had nothing to do)
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
        self.heads: set[str] = set()  # finished lists whose heads `refresh=new` re-reads
        self.estimate: plan.Estimate | None = None  # `-a plan=1`: what the rest would cost
        self._store: Store | None = None
        # What each kind of item writes: a reader per item kind of the families.
        self._readers = {USER: self._user, TRACK: self._track, PLAYLIST: self._playlist}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.api_url = crawler.settings.get("SOUNDCLOUD_API_URL").rstrip("/")
        spider.lists_in_flight = max(1, crawler.settings.getint("SGR_LISTS_IN_FLIGHT"))
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    @property
    def pipeline(self) -> SQLitePipeline:
        pipeline = self.crawler.get_item_pipeline(SQLitePipeline)
        if pipeline is None or pipeline.store is None:
            raise CloseSpider("store_error")  # the pipeline logged why, in one line
        return pipeline

    @property
    def store(self) -> Store:
        store = self.pipeline.store
        assert store is not None
        return store

    @property
    def hop(self) -> Hop:
        return self.hops[-1]

    # --- start and resume ---

    async def start(self) -> AsyncIterator[Request]:
        store = self._store = self.store  # looked up once; _pump runs for every list
        # A run reads only the lists reachable from its own seeds, with its own caps; another
        # seed's unfinished lists wait until that seed is harvested again.
        try:
            self.stored = {p.list_key: p for p in store.lists()}
            known_seeds = {} if self.args.full_refresh else store.seeds()
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
        self.hops[0].seeds.append(track_id)
        return self._visit_track(track_id)

    def _visit_track(self, track_id: int) -> list[ListProgress]:
        """Reach the track families of a hop's seed track (a plan reads only its users')."""
        families = self.track_families
        if self.args.plan:
            families = [f for f in families if f.spawns_user_lists]
        return [p for f in families if (p := self._visit(f, track_id))]

    def _spawn_user(self, user_id: int, new_lists: list[ListProgress] | None) -> None:
        """A user yielded by a favoriters or reposters list: reach its own lists, once a run."""
        if user_id in self.users_read:
            return
        self.users_read.add(user_id)
        self.hop.users.add(user_id)
        if not self.user_families or self.args.plan:
            return
        self.user_open[user_id] = 0
        for family in self.user_families:
            progress = self._visit(family, user_id)
            if progress is not None and new_lists is not None:
                new_lists.append(progress)
        if self.user_open[user_id] == 0:
            self._user_finished(user_id)
        self._progress_stats()

    def _visit(self, family: Family, owner_id: int) -> ListProgress | None:
        """Reach a list from this run's seeds: once per run, whichever way it was found.

        A list the database already holds far enough is not read again, but its items' own
        lists are reached; any other is queued (from where it stopped, unless refreshing).
        Returns the list when it is new to the database, for the page that found it to record.
        """
        key = family.key(owner_id)
        if key in self.lists:
            return None
        stored = self.stored.get(key)
        if (
            stored is not None
            and not self.args.full_refresh
            and paging.complete(stored, self.args.cap(family.name))
            and not (self.args.new_only and stored.status == DONE)
        ):
            self.lists[key] = stored.status
            if family.spawns_user_lists:
                for item_id in self._taken_ids(stored):
                    self._spawn_user(item_id, None)
            return None
        self.lists[key] = PENDING
        if family.owner == USER:
            self.user_open[owner_id] = self.user_open.get(owner_id, 0) + 1
        if stored is None or self.args.full_refresh:
            progress = ListProgress(key, family.name, owner_id)
        elif self.args.new_only and stored.status == DONE:
            # Read from its first page again, down to the first page of items it already has:
            # new items come first (the API lists newest first).
            progress = ListProgress(key, family.name, owner_id, PENDING, None, stored.pages)
            progress.items = stored.items
            self.heads.add(key)
        else:
            progress = _snapshot(stored)
            if progress.next_url:
                progress.next_url = api.rebase(progress.next_url, self.api_url)
        self.frontier.append(progress)
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
            stop_for_store_error(self.crawler, str(exc))

    def _user_finished(self, user_id: int) -> None:
        del self.user_open[user_id]
        self.users_done += 1

    def _progress_stats(self) -> None:
        stats = self.crawler.stats
        stats.set_value("sgr/users/known", len(self.users_read) if self.user_families else 0)
        stats.set_value("sgr/users/finished", self.users_done)
        stats.set_value("sgr/hop", len(self.hops))

    def _pump(self) -> Iterator[Request]:
        """Start queued lists while fewer than SGR_LISTS_IN_FLIGHT are live."""
        while self.frontier and len(self.live) < self.lists_in_flight:
            progress = self.frontier.popleft()
            family = FAMILIES[progress.kind]
            stored = self.stored.get(progress.list_key)
            taken: set[int] = set()
            if progress.pages or progress.status != PENDING:
                # Resuming: the ids it took rebuild caps and dedupe, and their own lists are
                # reached again (they may be unfinished too).
                taken = self._taken_ids(progress)
                if family.spawns_user_lists:
                    for item_id in taken:
                        self._spawn_user(item_id, None)
            progress.status = PENDING
            progress.error = None
            live = LiveList(progress, family, taken, stored, head=progress.list_key in self.heads)
            self.live[progress.list_key] = live
            url = progress.next_url or family.first_page_url(self.api_url, progress.owner_id)
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
        """Nothing in flight: start queued lists, or the next hop once this one is finished."""
        requests = list(self._pump())
        if not requests and not self.live and self.args.plan:
            if self.estimate is None:
                self._plan()
        elif not requests and not self.live and len(self.hops) < self.args.depth:
            requests = list(self._next_hop())
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    def _next_hop(self) -> Iterator[Request]:
        """Choose the next hop's seeds: the `expand` tracks most engaged by this hop's users.

        Engagements count rows (user, track, type) of the run's user families that hold
        engagements (likes, reposts); tracks already expanded (seeds included) are left out,
        ties go to the smaller track id. Read from the database, so a resumed run chooses the
        same tracks; the choice is recorded there (harvest_expansions).
        """
        if self.crawler.stats.get_value("sgr/stopping") or not self.crawler.crawling:
            return
        pipeline = self.pipeline
        if not self._committed():  # this hop's rows must be in the database to be counted
            return
        hop = self.hop
        counts: Counter[int] = Counter()
        for family in self.user_families:
            if family.engagement_type is None:
                continue
            for user_id in hop.users:
                progress = ListProgress(family.key(user_id), family.name, user_id)
                counts.update(self._taken_ids(progress))
        expanded = {t for h in self.hops for t in h.seeds}
        picks = sorted((-n, t) for t, n in counts.items() if t not in expanded)[: self.args.expand]
        if not picks:
            logger.info(
                "Hop %(hop)d brought no track to expand: the harvest ends after it",
                {"hop": hop.number},
            )
            return
        following = Hop(hop.number + 1, [t for _, t in picks])
        following.expansions = [Expansion(t, following.number, -n) for n, t in picks]
        self.hops.append(following)
        pipeline.process_item(Page(expansions=following.expansions))
        pipeline.flush()
        logger.info(
            "Hop %(hop)d: %(n)d tracks expanded, the most engaged by hop %(prev)d's %(users)d "
            "users (%(top)d engagements at most)",
            {
                "hop": following.number,
                "n": len(picks),
                "prev": hop.number,
                "users": len(hop.users),
                "top": -picks[0][0],
            },
        )
        for track_id in following.seeds:
            self._visit_track(track_id)
        self._progress_stats()
        yield from self._pump()

    def _committed(self) -> bool:
        """Commit what the pipeline holds; False when the database cannot be written."""
        return self.pipeline.commit()

    def _plan(self) -> None:
        """`-a plan=1`: estimate the lists this run did not read, from the users' counts."""
        if not self._committed():  # the users' rows must be in the database to be read back
            return
        stats = self.crawler.stats
        started = stats.get_value("start_time")
        elapsed = (datetime.now(tz=UTC) - started).total_seconds() if started else 0.0
        requests = stats.get_value("downloader/request_count", 0)
        rate = requests / elapsed if elapsed > 0 else 0.0
        users = sorted(self.hops[0].users)
        fields = [f.count for f in self.user_families if f.count]
        try:
            counts = self._store.user_counts(users, fields)
        except StoreError as exc:
            self._store_error(exc)
            return
        common = {"caps": self.args.caps, "stored": self.stored, "refresh": self.args.refresh}
        unread = [f for f in self.track_families if not f.spawns_user_lists]
        self.estimate = plan.estimate(
            users, self.user_families, counts=counts, rate=rate, **common
        ) + plan.estimate(self.hops[0].seeds, unread, counts={}, rate=rate, **common)
        logger.info("%(line)s", {"line": self.estimate.line()})

    def list_statuses(self) -> dict[str, int]:
        """This run's lists by status (lists still live or queued count as pending)."""
        counts: dict[str, int] = {}
        for status in self.lists.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    def family_statuses(self) -> dict[str, dict[str, int]]:
        """This run's lists by family, then status."""
        counts: dict[str, dict[str, int]] = {}
        for key, status in self.lists.items():
            by_status = counts.setdefault(key.partition(":")[0], {})
            by_status[status] = by_status.get(status, 0) + 1
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
        yield Page(rows=[track, artist] if artist else [track], new_lists=new_lists)
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
        rows = []
        if user_id is not None:
            rows.append(api.user_row(obj, user_id))
            self._written(self.written_users, user_id, obj)
        # The seed counts as resolved only once its artist is stored, so a crash before that
        # resolves it again on the next run.
        yield Page(rows=rows, seed=Seed(seed_url, self.seed_tracks[seed_url]))

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

    # --- lists: every family ---

    def parse_list(self, response: Response, key: str) -> Iterator[Any]:
        live = self.live[key]
        try:
            collection, next_href = api.parse_page(response.body)
        except api.ApiError as exc:
            yield from self._retry_or_fail(
                live, response, response.url, f"bad response body: {exc}"
            )
            return
        before = len(live.taken)
        page, cut_short = self._read_items(live, collection)
        stats = self.crawler.stats
        stats.inc_value("sgr/pages")
        step = paging.next_step(
            next_href,
            api_url=self.api_url,
            page_url=response.url,
            visited=live.visited,
            taken=len(live.taken),
            cap=self.args.cap(live.family.name),
            cut_short=cut_short,
        )
        if (
            live.head
            and step.status == PENDING
            and len(live.taken) == before
            and any(api.object_id(item) is not None for item in collection)
        ):
            # `refresh=new`: a page of items the list already had; the rest is known.
            step = paging.Step(DONE, None)
            stats.inc_value("sgr/lists/heads_refreshed")
        if step.moved:
            stats.inc_value("sgr/next_href/moved")
        retry = None
        if step.status == paging.REPEAT:
            # Usually transient: ask for this page again, a bounded number of times.
            retry = self._repeat_retry(response)
            if retry is not None:
                step = paging.Step(PENDING, response.url)
            else:
                step = paging.Step(INCOMPLETE, response.url, paging.REPEAT_ERROR)
                stats.inc_value("sgr/loops")
        if step.foreign:
            stats.inc_value("sgr/foreign_urls")
        if step.status == INCOMPLETE:
            logger.warning("List %(key)s stopped: %(why)s", {"key": key, "why": step.error})
        if live.waiting:
            # Playlists whose `tracks` the list cut short: each is read whole first, and the
            # page is committed with them (README: List families).
            live.held = Held(page, step, response.url, retry)
            for playlist_id in sorted(live.waiting):
                yield Request(
                    playlist_url(self.api_url, playlist_id),
                    callback=self.parse_playlist,
                    errback=self.on_playlist_error,
                    cb_kwargs={"key": key, "playlist_id": playlist_id},
                    dont_filter=True,
                    priority=6,
                )
            return
        yield from self._advance(live, page, step, retry)

    def _advance(
        self, live: LiveList, page: Page, step: paging.Step, retry: Request | None
    ) -> Iterator[Any]:
        """Commit a page with its list's new position, then read on or finish the list."""
        progress = live.progress
        progress.pages += 1
        cap = self.args.cap(live.family.name)
        paging.settle(progress, step, live.stored, len(live.taken), cap)
        page.progress = _snapshot(progress)
        yield page
        if retry is not None:
            yield retry
        elif progress.status == PENDING:
            assert progress.next_url is not None
            live.visited.add(progress.next_url)
            yield self._list_request(progress.list_key, progress.next_url)
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
        family = live.family
        owner, taken = live.progress.owner_id, live.taken
        cap = self.args.cap(family.name)
        page = Page()
        rows = page.rows
        cut_short = False
        read = self._readers[family.item]
        relation = family.relation
        spawns = family.spawns_user_lists
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
            if not read(item, item_id, rows):
                live.waiting.add(item_id)
            if relation is not None:
                rows.append(relation(owner, item_id, len(taken)))
            if spawns:
                self._spawn_user(item_id, page.new_lists)
        if page.dropped:
            self.crawler.stats.inc_value("sgr/dropped/no_id", page.dropped)
        return page, cut_short

    # Readers: the rows one item writes. Each returns whether the item was read whole.

    def _user(self, obj: dict[str, Any], user_id: int, rows: list[Any]) -> bool:
        if self.written_users.get(user_id, 0) < len(obj):
            self.written_users[user_id] = len(obj)
            rows.append(api.user_row(obj, user_id))
        return True

    def _track(self, obj: dict[str, Any], track_id: int, rows: list[Any]) -> bool:
        if self.written_tracks.get(track_id, 0) < len(obj):
            written_users = self.written_users
            self.written_tracks[track_id] = len(obj)
            artist = obj.get("user")
            artist_id = api.object_id(artist)
            fresh_artist = artist_id is not None and written_users.get(artist_id, 0) < len(artist)
            track, artist_row = api.track_rows(obj, track_id, with_artist=fresh_artist)
            rows.append(track)
            if artist_row is not None:
                written_users[artist_row.user_id] = len(artist)
                rows.append(artist_row)
        return True

    def _playlist(self, obj: dict[str, Any], playlist_id: int, rows: list[Any]) -> bool:
        """The playlist's row and, when `tracks` holds all `track_count` of them, its tracks.

        The API cuts `tracks` short in list responses: such a playlist is read whole from
        /playlists/{id} before its page is committed (parse_playlist).
        """
        rows.append(api.playlist_row(obj, playlist_id))
        owner = obj.get("user")
        owner_id = api.object_id(owner)
        if owner_id is not None:
            self._user(owner, owner_id, rows)
        tracks = obj.get("tracks")
        count = obj.get("track_count")
        if not isinstance(tracks, list) or (isinstance(count, int) and len(tracks) < count):
            return False
        self._playlist_tracks(playlist_id, tracks, rows)
        return True

    def _playlist_tracks(self, playlist_id: int, tracks: list[Any], rows: list[Any]) -> None:
        """Each track at its 0-based index in `tracks`; a track may come back at another."""
        for position, track in enumerate(tracks):
            track_id = api.object_id(track)
            if track_id is None:
                self.crawler.stats.inc_value("sgr/dropped/no_id")
                continue
            self._track(track, track_id, rows)
            rows.append(PlaylistTrack(playlist_id, position, track_id))

    def parse_playlist(self, response: Response, key: str, playlist_id: int) -> Iterator[Any]:
        live = self.live[key]
        held = live.held
        assert held is not None
        try:
            obj = api.parse_object(response.body)
        except api.ApiError as exc:
            yield from self._retry_or_fail(
                live, response, held.url, f"bad playlist {playlist_id}: {exc}"
            )
            return
        tracks = obj.get("tracks")
        rows = held.page.rows
        rows.append(api.playlist_row(obj, playlist_id))
        self._playlist_tracks(playlist_id, tracks if isinstance(tracks, list) else [], rows)
        self.crawler.stats.inc_value("sgr/playlists/read_whole")
        yield from self._playlist_done(live, playlist_id)

    def on_playlist_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        live = self.live.get(request.cb_kwargs["key"])
        if live is None or live.held is None or failure.check(AuthError, StoppingError):
            return
        playlist_id = request.cb_kwargs["playlist_id"]
        if failure.check(HttpError) and failure.value.response.status == 404:
            # Gone since the list named it: it keeps the playlist row the list gave.
            self.crawler.stats.inc_value("sgr/playlists/gone")
            yield from self._playlist_done(live, playlist_id)
            return
        reason = f"playlist {playlist_id}: {_failure_reason(failure)}"
        yield from self._fail(live, live.held.url, reason)

    def _playlist_done(self, live: LiveList, playlist_id: int) -> Iterator[Any]:
        live.waiting.discard(playlist_id)
        if live.waiting or live.held is None:
            return
        held, live.held = live.held, None
        yield from self._advance(live, held.page, held.step, held.retry)

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
        first = live.family.first_page_url(self.api_url, progress.owner_id)
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

    def _retry_or_fail(
        self, live: LiveList, response: Response, url: str, reason: str
    ) -> Iterator[Any]:
        """A body that is not what the API documents: ask again with back-off, or, once the
        retries are spent, fail the list at `url` (the page a rerun reads again)."""
        retry = backoff_retry(self.crawler, response.request, "bad_body")
        if retry is not None:
            yield retry
        else:
            yield from self._fail(live, url, reason)

    def _fail(self, live: LiveList, url: str, reason: str) -> Iterator[Any]:
        progress = live.progress
        progress.status, progress.next_url, progress.error = FAILED, url, reason
        live.waiting.clear()
        live.held = None
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
        self.crawler.stats.inc_value(f"sgr/lists/{progress.status}")
        if live.family.owner == USER:
            owner = progress.owner_id
            self.user_open[owner] -= 1
            if self.user_open[owner] == 0:
                self._user_finished(owner)
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


def _failure_reason(failure: Failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    value = failure.value
    return f"{type(value).__name__}: {value}".strip().rstrip(":")
