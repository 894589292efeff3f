"""OAuth tokens for the API: which credentials to use, obtaining, caching and refreshing tokens.

Settings read: SOUNDCLOUD_ACCESS_TOKEN, SOUNDCLOUD_CLIENT_ID, SOUNDCLOUD_CLIENT_SECRET,
SOUNDCLOUD_REFRESH_TOKEN, SOUNDCLOUD_TOKEN_URL, SGR_TOKEN_CACHE.

Precedence: an explicit access token; else a still-valid token cached by an earlier run; else
the refresh_token grant (with the newest refresh token: they are single-use, so each new one is
saved at once); else client_credentials. Tokens never go to the log: only their fingerprint.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EXPIRY_MARGIN = 60.0  # seconds: renew a token this long before the API would reject it
EXPIRY_MARGIN_SHARE = 0.1  # ... but never more than this share of a short-lived token's life


class CredentialsError(Exception):
    """Raised by TokenSource for credentials a user must fix; str() is one line saying what."""


@dataclass(frozen=True, slots=True)
class Credentials:
    access_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    token_url: str

    @classmethod
    def from_settings(cls, settings: Any) -> Credentials:
        return cls(
            access_token=settings.get("SOUNDCLOUD_ACCESS_TOKEN") or "",
            client_id=settings.get("SOUNDCLOUD_CLIENT_ID") or "",
            client_secret=settings.get("SOUNDCLOUD_CLIENT_SECRET") or "",
            refresh_token=settings.get("SOUNDCLOUD_REFRESH_TOKEN") or "",
            token_url=settings.get("SOUNDCLOUD_TOKEN_URL") or "",
        )

    @property
    def can_renew(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def problem(self) -> str | None:
        """One line naming what is missing, or None when a harvest can authenticate."""
        if self.access_token or self.can_renew:
            return None
        missing = [
            name
            for name, value in (
                ("SOUNDCLOUD_CLIENT_ID", self.client_id),
                ("SOUNDCLOUD_CLIENT_SECRET", self.client_secret),
            )
            if not value
        ]
        return (
            "no SoundCloud credentials: set SOUNDCLOUD_ACCESS_TOKEN, or "
            + " and ".join(missing)
            + ", in the environment or in .env"
        )


# (status, body) of a POST to the token URL; the caller supplies the transport (Scrapy).
Poster = Callable[[str, dict[str, str], bytes], Awaitable[tuple[int, bytes]]]


def fingerprint(token: str) -> str:
    """What may be logged about a token: its length and last four characters."""
    return f"<token …{token[-4:]} ({len(token)} chars)>" if token else "<no token>"


class TokenSource:
    """Holds the current access token and renews it, one renewal at a time."""

    def __init__(self, credentials: Credentials, cache_path: str | Path | None) -> None:
        self.credentials = credentials
        self.cache_path = Path(cache_path) if cache_path else None
        self.token = credentials.access_token
        self.expires_at = float("inf") if self.token else 0.0
        self.margin = EXPIRY_MARGIN
        self.refresh_token = credentials.refresh_token
        self.generation = 0  # bumped on every new token: tells stale 401s from fresh ones
        self.last_status = 0  # of the last token request
        self.renewals = 0
        if not self.token:
            self._load_cache()

    def valid(self) -> bool:
        return bool(self.token) and time.time() < self.expires_at - self.margin

    async def renew(self, post: Poster) -> None:
        """Get a new token: refresh_token grant first, client_credentials as the fallback."""
        if not self.credentials.can_renew:
            raise CredentialsError(
                "the API rejected SOUNDCLOUD_ACCESS_TOKEN (401) and there is no "
                "SOUNDCLOUD_CLIENT_ID/SOUNDCLOUD_CLIENT_SECRET to get a new one; set them or a "
                "fresh token"
            )
        data = None
        if self.refresh_token:
            data = await self._grant(
                post, {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
            )
        if data is None:
            data = await self._grant(post, {"grant_type": "client_credentials"})
        if data is None:
            raise CredentialsError(self._grant_failure())
        self.token = data["access_token"]
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float) and expires_in > 0:
            self.expires_at = time.time() + float(expires_in)
            self.margin = min(EXPIRY_MARGIN, EXPIRY_MARGIN_SHARE * float(expires_in))
        else:
            self.expires_at = float("inf")
        self.refresh_token = data.get("refresh_token") or ""
        self.generation += 1
        self.renewals += 1
        self._save_cache()

    async def _grant(self, post: Poster, form: dict[str, str]) -> dict[str, Any] | None:
        creds = self.credentials
        basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json; charset=utf-8",
        }
        status, body = await post(creds.token_url, headers, urlencode(form).encode())
        self.last_status = status
        if status != 200:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            return None
        return data

    def _grant_failure(self) -> str:
        """One line on why no token could be had, by what the token endpoint last answered."""
        url, status = self.credentials.token_url, self.last_status
        if status in (400, 401, 403):
            return (
                "the token endpoint refused SOUNDCLOUD_CLIENT_ID/SOUNDCLOUD_CLIENT_SECRET; "
                "check them in .env"
            )
        if status == 0:
            return f"cannot reach the token endpoint {url}; check SOUNDCLOUD_TOKEN_URL"
        if status == 429:
            return (
                f"the token endpoint {url} is rate limiting token requests (429); "
                "try again in an hour"
            )
        return f"the token endpoint {url} answered HTTP {status}; try again later"

    def _load_cache(self) -> None:
        if self.cache_path is None or not self.cache_path.is_file():
            return
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("client_id") != self.credentials.client_id:
            return
        if data.get("refresh_token"):
            self.refresh_token = data["refresh_token"]
        if data.get("access_token") and float(data.get("expires_at", 0)) > time.time():
            self.token = data["access_token"]
            self.expires_at = float(data["expires_at"])
            self.margin = min(EXPIRY_MARGIN, float(data.get("margin", EXPIRY_MARGIN)))

    def _save_cache(self) -> None:
        if self.cache_path is None or not self.credentials.client_id:
            return
        data = {
            "client_id": self.credentials.client_id,
            "access_token": self.token,
            "expires_at": self.expires_at if self.expires_at != float("inf") else 0,
            "margin": self.margin,
            "refresh_token": self.refresh_token,
        }
        with contextlib.suppress(OSError):
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.cache_path)
