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
import random
import time
from dataclasses import dataclass
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
    """One download slot's pacing, learnt from the server's 429s.

    Each 429 blocks the slot for the wait the server
    asked for. 429s of requests sent before the last adjustment belong to the same event; a new
    event sets the interval between sends from what the server admitted since the previous
    one (it was saturated all along, so that is its rate, burst excluded), a little slower.
    After a quiet stretch the interval shrinks slowly, so a raised limit is found again.
    """

    blocked_until: float = 0.0
    # Seconds between sends. A crawl starts at 50 requests/s and doubles about every 35
    # successes until unpaced (slow start: a limited server then answers a handful of 429s
    # instead of one per request in flight); after a 429 the server's rate sets it.
    interval: float = 0.02
    next_send: float = 0.0
    adjusted_at: float = 0.0
    first_ok: float = 0.0
    oks: int = 0
    window_start: float = 0.0  # start of the measurement since the last event
    window_oks: int = 0
    quiet: int = 0  # successes since the last 429

    def reserve(self, now: float) -> float:
        """Seconds to wait before this request may be sent (and book its turn)."""
        start = max(now, self.blocked_until)
        if self.interval:
            start = max(start, self.next_send)
            self.next_send = start + self.interval
        return start - now

    def ok(self, now: float) -> None:
        if not self.first_ok:
            self.first_ok = self.window_start = now
        self.oks += 1
        self.quiet += 1
        if not self.adjusted_at:
            self.interval = self.interval * 0.98 if self.interval > 0.001 else 0.0
        elif self.quiet > 300:
            self.interval *= 0.998

    def limited(self, now: float, wait: float, sent_at: float) -> None:
        self.blocked_until = max(self.blocked_until, now + wait)
        self.next_send = max(self.next_send, self.blocked_until)
        self.quiet = 0
        if sent_at < self.adjusted_at:
            return
        admitted = self.oks - self.window_oks
        elapsed = now - self.window_start
        if not self.adjusted_at:
            # The first window began with the server's burst allowance still full: what got
            # through then overstates its rate, so start at half of it.
            self.interval = 2 * elapsed / admitted if admitted and elapsed > 0 else 0.05
        elif admitted >= 5 and elapsed >= 0.25:
            self.interval = 1.07 * elapsed / admitted
        else:
            self.interval = min(1.0, self.interval * 1.2)
        self.adjusted_at = now
        # The server's bucket was empty at this 429 and will be at the next: what it admits in
        # between, blocked time included (its bucket refills meanwhile), is its rate.
        self.window_start, self.window_oks = now, self.oks


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
        self.last_log = 0.0

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
        while (wait := pace.reserve(now)) > 0:
            self.crawler.stats.inc_value("sgr/throttle/wait_seconds", wait)
            await wait_unless_stopping(self.crawler, wait)
            now = time.time()
            if now >= pace.blocked_until:
                break  # else a 429 came in while this one waited: queue again behind it
        request.meta[SENT_AT] = now

    def process_response(self, request: Request, response: Response) -> Request | Response:
        now = time.time()
        pace = self._pace(request)
        if response.status != 429:
            if response.status < 400:
                pace.ok(now)
            return response
        attempt = request.meta.get("sgr_rate_limited", 0) + 1
        wait = _server_wait(response, now)
        if wait is None:
            wait = backoff_delay(self.crawler.settings, attempt)
        stats = self.crawler.stats
        stats.inc_value("sgr/rate_limit/responses")
        stats.inc_value("sgr/rate_limit/wait_seconds", wait)
        if wait > self.max_wait:
            logger.error(
                "Rate limited for %(wait).0f s (more than SGR_MAX_RATE_LIMIT_WAIT); stopping. "
                "Rerun the same command after that to resume.",
                {"wait": wait},
            )
            self.crawler.stats.set_value("sgr/stopping", "rate_limited")
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="rate_limited"))
            raise StoppingError("rate limited beyond SGR_MAX_RATE_LIMIT_WAIT")
        pace.limited(now, wait, request.meta.get(SENT_AT, now))
        interval = pace.interval
        if now - self.last_log >= 10:
            self.last_log = now
            logger.info(
                "429 from %(host)s: waiting %(wait).1f s, then pacing at %(rate).1f requests/s",
                {"host": urlparse_cached(request).hostname, "wait": wait, "rate": 1 / interval},
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
