"""OAuth token store and per-token rate limiter of the simulator (soundcloud-api.md §3, §7.2).

Both take an injectable ``clock`` (seconds, monotonic) so expiry and refill are testable
without sleeping.
"""

from __future__ import annotations

import base64
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

Clock = Callable[[], float]


@dataclass
class Grant:
    """An issued access token and its lifetime."""

    access_token: str
    refresh_token: str
    expires_at: float


class TokenStore:
    """Issues JWT-like access tokens with single-use refresh tokens; revokes on demand."""

    def __init__(self, ttl: float = 3599, clock: Clock = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._access: dict[str, float] = {}
        self._refresh: dict[str, str] = {}
        self.issued = 0
        self.refreshed = 0

    def issue(self) -> Grant:
        """Issue a fresh access token with its refresh token."""
        payload = {"sub": secrets.token_hex(4), "jti": secrets.token_hex(2 + self.issued % 6)}
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
        token = f"eyJhbGciOiJSUzI1NiJ9.{body}.{secrets.token_urlsafe(24)}"
        grant = Grant(token, secrets.token_urlsafe(24), self.clock() + self.ttl)
        self._access[token] = grant.expires_at
        self._refresh[grant.refresh_token] = token
        self.issued += 1
        return grant

    def refresh(self, refresh_token: str) -> Grant | None:
        """Exchange a refresh token (single use) for a new grant; None when unknown or used."""
        old = self._refresh.pop(refresh_token, None)
        if old is None:
            return None
        self._access.pop(old, None)
        self.refreshed += 1
        return self.issue()

    def valid(self, token: str) -> bool:
        """Return whether ``token`` is a live access token."""
        expires = self._access.get(token)
        return expires is not None and self.clock() < expires

    def revoke_all(self) -> None:
        """Invalidate every access token issued so far (refresh tokens keep working)."""
        self._access.clear()

    def grant_json(self, grant: Grant) -> bytes:
        """Return the token endpoint's 200 body for ``grant``."""
        return orjson.dumps(
            {
                "access_token": grant.access_token,
                "expires_in": max(0, round(grant.expires_at - self.clock())),
                "refresh_token": grant.refresh_token,
                "scope": "",
                "token_type": "bearer",
            }
        )


class RateLimiter:
    """A token bucket per access token: ``rate`` requests/s, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: float | None = None, clock: Clock = time.monotonic):
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Consume one request for ``key``; return 0 when allowed, else seconds to wait."""
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


def reset_time(wait: float, wall: Callable[[], float] = time.time) -> tuple[str, int]:
    """Return (``yyyy/MM/dd HH:mm:ss +0000``, whole seconds) for a wait, rounded up."""
    at = math.ceil(wall() + wait)
    return time.strftime("%Y/%m/%d %H:%M:%S +0000", time.gmtime(at)), max(1, math.ceil(wait))
