"""Checks made before a harvest starts, so that a user's mistake costs one line, not a crawl."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sgr_scrapy.args import KNOWN_ARGUMENTS, HarvestArgs
from sgr_scrapy.auth import Credentials
from sgr_scrapy.feeds import check_feeds
from sgr_scrapy.store import Store, StoreError

__all__ = ["KNOWN_ARGUMENTS", "preflight"]  # KNOWN_ARGUMENTS: declared in sgr_scrapy.args


def preflight(settings: Any, spargs: dict[str, str]) -> HarvestArgs:
    """Raise ValueError (one line) for anything that would make the harvest fail at once."""
    env_error = settings.get("SGR_ENV_ERROR")
    if env_error:
        raise ValueError(env_error)
    args = HarvestArgs.parse(**spargs)  # refuses unknown arguments too
    for name in ("SOUNDCLOUD_API_URL", "SOUNDCLOUD_TOKEN_URL"):
        parts = urlsplit(settings.get(name) or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{name}={settings.get(name)!r} is not an http(s) URL")
    check_feeds(settings)
    problem = Credentials.from_settings(settings).problem()
    if problem:
        raise ValueError(problem)
    try:
        Store.open(settings.get("SGR_DB_PATH")).close()
    except StoreError as exc:
        raise ValueError(str(exc)) from None
    return args
