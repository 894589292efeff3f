"""The harvest spider's arguments, validated once before any request is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sgr_scrapy.api import check_seed_url


class ArgumentError(ValueError):
    """Raised by HarvestArgs.parse for a bad `-a` argument; str() is one line saying what to do."""


def _count(name: str, value: object) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ArgumentError(f"-a {name}={value!r} is not a whole number (0 means no cap)") from None
    if number < 0:
        raise ArgumentError(f"-a {name}={number} is negative (0 means no cap)")
    return number


def _flag(name: str, value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ArgumentError(f"-a {name}={value!r} must be 1 or 0")


@dataclass(frozen=True, slots=True)
class HarvestArgs:
    urls: tuple[str, ...]
    max_users: int = 0  # likers and reposters, each list capped separately; 0: no cap
    max_user_likes: int = 0  # liked tracks per user; 0: no cap
    refresh: bool = False  # re-fetch lists a previous run finished

    @classmethod
    def parse(
        cls,
        url: str = "",
        urls_file: str = "",
        max_users: object = 0,
        max_user_likes: object = 0,
        refresh: object = 0,
    ) -> HarvestArgs:
        raw = [u for u in str(url or "").split(",") if u.strip()]
        if urls_file:
            try:
                lines = Path(urls_file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ArgumentError(f"cannot read -a urls_file={urls_file}: {exc}") from None
            raw += [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not raw:
            raise ArgumentError(
                "no seed URL: pass -a url=https://soundcloud.com/<artist>/<track> "
                "(several: url=URL1,URL2 or -a urls_file=seeds.txt)"
            )
        urls: list[str] = []
        for candidate in raw:
            try:
                checked = check_seed_url(candidate)
            except ValueError as exc:
                raise ArgumentError(str(exc)) from None
            if checked not in urls:
                urls.append(checked)
        return cls(
            urls=tuple(urls),
            max_users=_count("max_users", max_users),
            max_user_likes=_count("max_user_likes", max_user_likes),
            refresh=_flag("refresh", refresh),
        )
