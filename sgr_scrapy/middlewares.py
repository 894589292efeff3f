"""Downloader middlewares for what Scrapy lacks: auth, 429 pacing, retries with back-off.

Settings read: SOUNDCLOUD_API_URL, SOUNDCLOUD_TOKEN_URL (and the credentials, see auth.py),
SGR_TOKEN_CACHE, SGR_MAX_RATE_LIMIT_WAIT, SGR_BACKOFF_BASE, SGR_BACKOFF_MAX, RETRY_*.

Order (process_request runs low to high, process_response high to low):
550 BackoffRetryMiddleware, 560 RateLimitMiddleware, 570 AuthMiddleware. The Authorization
header is added last, just before the download, and taken off every request that comes back
for another try, so it never sits in the scheduler, in a retry copy or in a log line.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import orjson
from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from sgr_scrapy.api import origin
from sgr_scrapy.auth import Credentials, CredentialsError, TokenSource

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

NOT_BEFORE = "sgr_not_before"  # request meta: epoch seconds before which it must not be sent
SENT_AT = "sgr_sent_at"  # request meta: when the rate limiter let it go

# Pacing (see _Pace): the fit reads the latest HISTORY answers of the slot; the slot is then
# paced at MARGIN of the fitted rate (send times jitter by a few ms, and a bucket of one
# forgives none of it), which then grows by a share of itself each second (see _Pace.limited).
HISTORY = 400
MARGIN = 0.97
# Slow start (before any 429): from 50 requests/s, this much faster after each success, until
# 1,000/s, then unpaced: a limited server still answers only a handful of 429s, and an
# unlimited one costs the first ~50 requests about 0.15 s (doubling every 35 cost 0.35 s).
SLOW_START_GROWTH = 1.06
FIRST_GROWTH = 0.3
MIN_GROWTH = 0.001
BURSTS = (1, 2, 3, 4, 5, 6, 8, 11, 16, 20, 24, 32, 45, 64)
GRID = 25  # rates tried per burst and pass
TOLERANCE = 0.5  # misfit within which a more cautious fit is preferred
JITTER = 0.005  # seconds by which the server may count a request after we send it


class StoppingError(IgnoreRequest):
    """Raised by RateLimitMiddleware for a request still waiting when the crawl stops.

    Its list keeps its last committed position, so the next run asks for the page again.
    """


async def wait_unless_stopping(crawler: Crawler, seconds: float) -> None:
    """Sleep without blocking the reactor, but give up as soon as the crawl is stopping.

    A graceful stop waits for every request in progress, and a request waiting out a long
    429 or back-off is in progress: without this, Ctrl-C would take as long as the wait.
    """
    deadline = time.time() + seconds
    while (left := deadline - time.time()) > 0:
        if not crawler.crawling or crawler.stats.get_value("sgr/stopping"):
            raise StoppingError("the crawl is stopping")
        await asyncio.sleep(min(left, 0.25))


def _jitter(seconds: float) -> float:
    return seconds * random.uniform(0.5, 1.5)


def backoff_delay(settings: Any, attempt: int) -> float:
    base = settings.getfloat("SGR_BACKOFF_BASE")
    return _jitter(min(settings.getfloat("SGR_BACKOFF_MAX"), base * 2 ** max(0, attempt - 1)))


def backoff_retry(crawler: Crawler, request: Request, reason: str) -> Request | None:
    """A retry of `request` that waits an exponential, jittered delay; None when exhausted."""
    retry = get_retry_request(request, spider=crawler.spider, reason=reason)
    if retry is not None:
        delay = backoff_delay(crawler.settings, retry.meta["retry_times"])
        retry.meta[NOT_BEFORE] = time.time() + delay
        retry.meta.pop("download_latency", None)
        retry.headers.pop(b"Authorization", None)
    return retry


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, with exponential back-off instead of immediate retries."""

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        return backoff_retry(self.crawler, request, reason) or response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry") or not isinstance(exception, self.exceptions_to_retry):
            return None
        return backoff_retry(self.crawler, request, type(exception).__name__)


@dataclass(slots=True)
class _Pace:
    """One download slot's pacing: a token bucket shaped like the server's, learnt from its 429s.

    Until the first 429 the slot is in slow start: 50 requests/s, a little faster after each
    success, until unpaced, so a limited server answers a handful of 429s instead of one per
    request in flight. Each 429 blocks the slot until the time the server gave. A 429 of a
    request sent after the last fit is a new event: the rate and burst are fitted again to the
    server's own answers (which requests it admitted, which it refused, and when each was
    sent), and the slot is paced a little under them, with the fitted bucket's state. The
    pace then grows: quickly after the first fit (one 429 says little), by 0.1% a second once
    two fits agree, so a raised limit is found again.
    """

    rate: float = 50.0  # requests/s the slot is paced at; 0: unpaced
    burst: int = 1  # requests let go at once when the bucket is full
    tat: float = 0.0  # theoretical arrival time of the next booking (GCRA)
    released: float = 0.0  # the same, of the requests actually sent
    blocked_until: float = 0.0
    fitted_at: float = 0.0
    fitted_rate: float = 0.0
    generation: int = 0  # bumped by every fit: requests already booked book again
    growth: float = 0.0  # share of the rate added per second until the next 429
    # (sent at, admitted) of the latest answers, and the latest send times.
    answers: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    sends: deque[float] = field(default_factory=lambda: deque(maxlen=256))

    @property
    def fitted(self) -> bool:
        """The rate comes from a fit, not from slow start."""
        return self.generation > 0

    def _earliest(self, tat: float) -> float:
        """The earliest send the paced bucket lets go, given its next theoretical arrival."""
        return tat - (self.burst - 1) * (1.0 / self.rate)

    def reserve(self, now: float) -> float:
        """Seconds to wait before this request may be sent (and book its turn)."""
        start = max(now, self.blocked_until)
        if self.rate:
            start = max(start, self._earliest(self.tat))
            self.tat = max(self.tat, start) + 1.0 / self.rate
        return start - now

    def release(self, now: float) -> float:
        """Seconds this request must still wait so that actual sends conform to the bucket.

        A booked turn can come late (the reactor was busy parsing or committing), and two late
        turns would leave together: a bucket of one refuses the second.
        """
        if self.rate:
            earliest = self._earliest(self.released)
            if now < earliest:
                return earliest - now
            self.released = max(self.released, now) + 1.0 / self.rate
        self.sends.append(now)
        return 0.0

    def admitted(self, sent_at: float) -> None:
        """The server answered the request sent at `sent_at` with anything but a 429."""
        self.answers.append((sent_at, True))
        if not self.fitted:
            if self.rate:  # slow start: double about every 12 successes, then unpaced
                self.rate = self.rate * SLOW_START_GROWTH if self.rate < 1000 else 0.0
        else:  # `growth` per second
            self.rate += self.growth

    def limited(self, now: float, wait: float, sent_at: float) -> float:
        """Block the slot for the server's wait and, on a new event, fit the bucket again.

        Returns the seconds this 429 added to the block (0 when an earlier one covered it).
        """
        until = now + wait
        added = max(0.0, until - max(self.blocked_until, now))
        self.blocked_until = max(self.blocked_until, until)
        self.answers.append((sent_at, False))
        if sent_at < self.fitted_at:
            return added  # sent before the last fit: the same event, already accounted for
        answers = [a for a in self.answers if a[0] <= sent_at]
        # Requests sent before this one and not answered yet took a token too, most likely.
        answered = {at for at, _ in answers}
        answers += [(at, True) for at in self.sends if at <= sent_at and at not in answered]
        answers.sort()
        rate, burst, tokens = fit_bucket(answers)
        rate *= MARGIN
        if self.fitted and rate >= 0.98 * self.rate:
            # Refused at about the pace the fit recommends: the fit is wrong, the 429 is not.
            rate = 0.9 * self.rate
        # A first fit may be far too cautious: grow quickly until the next 429. Once two fits
        # agree, the rate is known, and it only creeps up, in case the limit is raised.
        if not self.fitted:
            self.growth = FIRST_GROWTH
        elif abs(rate / self.fitted_rate - 1) < 0.05:
            self.growth = MIN_GROWTH
        else:
            self.growth = max(MIN_GROWTH, self.growth / 2)
        self.rate = self.fitted_rate = rate
        self.burst = max(1, burst // 2)
        self.fitted_at = now
        self.generation += 1
        # The fitted bucket holds `tokens` at the last answered send; every request sent since
        # took one (or will be refused). Refill at our own, slower rate from there on.
        interval = 1.0 / self.rate
        tokens = min(self.burst, tokens) - sum(1 for t in self.sends if t > sent_at)
        self.tat = self.released = sent_at + (self.burst - tokens) * interval
        return added


def fit_bucket(answers: list[tuple[float, bool]]) -> tuple[float, int, float]:
    """(rate, burst, tokens left) of the token bucket that best explains the server's answers.

    `answers` is (sent at, admitted) in send order. A candidate bucket is replayed over them,
    starting full (see _replay); each burst in BURSTS gets its best rate, and every fit within
    TOLERANCE of the best misfit is kept.
    """
    span = answers[-1][0] - answers[0][0]
    admitted = sum(1 for _, ok in answers if ok)
    mean = max(admitted, 1) / max(span, 0.1)
    fits = [(*_fit_rate(answers, burst, mean / 4, mean * 8), burst) for burst in BURSTS]
    floor = min(f[0] for f in fits)
    good = [f for f in fits if f[0] <= floor + TOLERANCE]
    # Several buckets explain the answers as well (a small burst and a high rate, or the
    # reverse). Burst: the smallest, safe under each. Rate: between the slowest and the
    # fastest fit; too fast brings the next 429 soon, and with it the answers that narrow
    # the range, too slow would never be seen.
    slowest = min(good, key=lambda f: f[2])
    rate = math.sqrt(slowest[2] * max(f[2] for f in good))
    return rate, min(f[3] for f in good), slowest[1]


def _fit_rate(
    answers: list[tuple[float, bool]], burst: int, lo: float, hi: float
) -> tuple[float, float, float]:
    """(misfit, tokens left, rate) of the best rate for `burst` between `lo` and `hi`.

    A coarse grid (ratio 1.07) and then a fine one (ratio ~1.005) around its best point;
    the lowest rate within TOLERANCE of the best misfit wins.
    """
    for _ in range(2):
        step = (hi / lo) ** (1 / (GRID - 1))
        fits = [(*_replay(answers, lo * step**i, burst), lo * step**i) for i in range(GRID)]
        floor = min(f[0] for f in fits)
        good = next(f for f in fits if f[0] <= floor + TOLERANCE)
        lo, hi = good[2] / step, good[2] * step
    return good


def _replay(answers: list[tuple[float, bool]], rate: float, burst: int) -> tuple[float, float]:
    """(misfit, tokens left) of a token bucket of `rate` and `burst` replayed over `answers`.

    A request reaches the server a little after we send it: an admitted request counts
    against the bucket only when it is short even JITTER seconds later, by one plus how much;
    a refused one when the bucket had a token at the send.
    """
    tokens, last, misfit = float(burst), answers[0][0], 0.0
    slack = rate * JITTER
    for at, ok in answers:
        refill = tokens + (at - last) * rate
        last = at
        if ok:
            if min(burst, refill + slack) < 1.0:
                misfit += 2.0 - refill
            # A small debt carries over, so a rate a little too high shows after a few sends.
            tokens = max(-slack, min(burst, refill) - 1.0)
        else:
            # No slack here: a request reaches the server after we send it, when its bucket
            # holds more, not less. (Slack both ways would let a bucket that refills exactly
            # at our own pace explain every answer.)
            if min(burst, refill) >= 1.0:
                misfit += min(burst, refill)
            tokens = min(burst, refill, 1.0)
    return misfit, tokens


class RateLimitMiddleware:
    """Turns every 429 into a wait and a retry of the same request, never a lost page.

    The wait is the body's `reset_time`, else `Retry-After`, else exponential back-off with
    jitter. It holds the request's download slot (not the reactor), and the slot is then paced
    at the rate the server was seen to accept. A 429 never spends the retry budget. A wait
    longer than SGR_MAX_RATE_LIMIT_WAIT stops the crawl cleanly: rerun later to resume.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.max_wait = crawler.settings.getfloat("SGR_MAX_RATE_LIMIT_WAIT")
        self.paces: dict[str, _Pace] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _pace(self, request: Request) -> _Pace:
        key = request.meta.get("download_slot") or urlparse_cached(request).hostname or ""
        pace = self.paces.get(key)
        if pace is None:
            pace = self.paces[key] = _Pace()
        return pace

    async def process_request(self, request: Request) -> None:
        not_before = request.meta.get(NOT_BEFORE, 0.0)
        now = time.time()
        if not_before > now:
            await wait_unless_stopping(self.crawler, not_before - now)
            now = time.time()
        pace = self._pace(request)
        while True:
            generation = pace.generation
            wait = pace.reserve(now)
            if wait <= 0:
                break
            await wait_unless_stopping(self.crawler, wait)
            now = time.time()
            if pace.generation == generation and now >= pace.blocked_until:
                break  # else a 429 came in while this one waited: book again behind it
        while (late := pace.release(now)) > 0:
            await wait_unless_stopping(self.crawler, late)
            now = time.time()
        request.meta[SENT_AT] = now

    def process_response(self, request: Request, response: Response) -> Request | Response:
        now = time.time()
        pace = self._pace(request)
        sent_at = request.meta.get(SENT_AT, now)
        if response.status != 429:
            # Any other answer took a token from the server's bucket, an error included.
            pace.admitted(sent_at)
            return response
        attempt = request.meta.get("sgr_rate_limited", 0) + 1
        wait = _server_wait(response, now)
        if wait is None:
            wait = backoff_delay(self.crawler.settings, attempt)
        stats = self.crawler.stats
        stats.inc_value("sgr/rate_limit/responses")
        if wait > self.max_wait:
            logger.error(
                "Rate limited for %(wait).0f s (more than SGR_MAX_RATE_LIMIT_WAIT); stopping. "
                "Rerun the same command after that to resume.",
                {"wait": wait},
            )
            stats.set_value("sgr/stopping", "rate_limited")
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="rate_limited"))
            raise StoppingError("rate limited beyond SGR_MAX_RATE_LIMIT_WAIT")
        generation = pace.generation
        # Wall-clock time the slot stood still for 429s: overlapping waits count once.
        stats.inc_value("sgr/rate_limit/blocked_seconds", pace.limited(now, wait, sent_at))
        if pace.generation != generation:
            stats.inc_value("sgr/rate_limit/events")
            stats.set_value("sgr/throttle/rate", round(pace.rate, 2))
            stats.set_value("sgr/throttle/burst", pace.burst)
            logger.info(
                "429 from %(host)s: waiting %(wait).1f s, then pacing at %(rate).1f requests/s "
                "in bursts of at most %(burst)d (fitted to the server's last %(n)d answers)",
                {
                    "host": urlparse_cached(request).hostname,
                    "wait": wait,
                    "rate": pace.rate,
                    "burst": pace.burst,
                    "n": len(pace.answers),
                },
            )
        retry = request.replace(dont_filter=True)
        retry.meta["sgr_rate_limited"] = attempt
        retry.meta.pop(NOT_BEFORE, None)
        retry.headers.pop(b"Authorization", None)
        return retry


def _server_wait(response: Response, now: float) -> float | None:
    """Seconds the server asks us to wait: `reset_time` in a JSON body, else Retry-After."""
    try:
        data = orjson.loads(response.body)
        reset = data["errors"][0]["meta"]["reset_time"]
        when = datetime.strptime(reset, "%Y/%m/%d %H:%M:%S %z").timestamp()
        # reset_time has whole seconds; a small floor keeps a stale one from spinning.
        return max(0.05, when - now)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
        pass
    header = response.headers.get(b"Retry-After")
    if header:
        try:
            return max(0.0, float(header.decode().strip()))
        except ValueError:
            pass
    return None


class AuthError(IgnoreRequest):
    """Raised by AuthMiddleware for a request that cannot get a token; the crawl is stopping."""


class AuthMiddleware:
    """Adds `Authorization: OAuth <token>` to requests for the API origin, and only those.

    Gets a token before the first request when none is configured, renews it before it
    expires, and on a 401 renews it once (however many requests failed at the same moment)
    and replays the request.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.api_origin = origin(settings.get("SOUNDCLOUD_API_URL"))
        self.tokens = TokenSource(
            Credentials.from_settings(settings), settings.get("SGR_TOKEN_CACHE") or None
        )
        self._lock = asyncio.Lock()
        self.error: str | None = None  # credentials the API refused: every request stops

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("sgr_token_request"):
            return
        if origin(urlparse_cached(request)) != self.api_origin:
            # Never to another host, whatever a next_href or a redirect says.
            if request.headers.pop(b"Authorization", None) is not None:
                self.crawler.stats.inc_value("sgr/auth/stripped")
            return
        if not self.tokens.valid():
            await self._renew(self.tokens.generation)
        request.headers[b"Authorization"] = f"OAuth {self.tokens.token}".encode()
        request.meta["sgr_token_generation"] = self.tokens.generation

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("sgr_token_request"):
            return response
        request.headers.pop(b"Authorization", None)
        if response.status != 401 or origin(urlparse_cached(request)) != self.api_origin:
            return response
        tries = request.meta.get("sgr_auth_retries", 0)
        if tries >= 2:
            return response
        self.crawler.stats.inc_value("sgr/auth/401")
        await self._renew(request.meta.get("sgr_token_generation", 0))
        retry = request.replace(dont_filter=True)
        retry.meta["sgr_auth_retries"] = tries + 1
        return retry

    async def _renew(self, failed_generation: int) -> None:
        async with self._lock:
            if self.error is not None:
                raise AuthError(self.error)
            if self.tokens.generation != failed_generation and self.tokens.valid():
                return  # another request renewed it while this one waited
            try:
                await self.tokens.renew(self._post)
            except CredentialsError as exc:
                if self.error is None:
                    self.error = str(exc)
                    self.crawler.stats.set_value("sgr/auth/error", self.error)
                    errors = getattr(self.crawler.spider, "errors", None)
                    if isinstance(errors, list):
                        errors.append(self.error)
                    logger.error("%(error)s", {"error": exc})
                    self.crawler.stats.set_value("sgr/stopping", "auth_error")
                    deferred_from_coro(self.crawler.engine.close_spider_async(reason="auth_error"))
                raise AuthError(str(exc)) from None
            self.crawler.stats.inc_value("sgr/auth/renewals")
            logger.info("Obtained a new access token (renewal %(n)d)", {"n": self.tokens.renewals})

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        request = Request(
            url,
            method="POST",
            headers=headers,
            body=body,
            meta={"sgr_token_request": True, "dont_redirect": True, "dont_retry": True},
            dont_filter=True,
        )
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # any transport failure is a failed grant
            logger.warning("Token request failed: %(error)s", {"error": type(exc).__name__})
            return 0, b""
        return response.status, response.body
