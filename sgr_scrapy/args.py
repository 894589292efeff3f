"""The harvest spider's `-a` arguments: declared once, validated once before any request is made.

`ARGUMENTS` is the one declaration: parsing and validation (`HarvestArgs.parse`), the list of
known names (`KNOWN_ARGUMENTS`), `scrapy crawl harvest --help` and the README's table all come
from it (tests/test_help.py checks the last two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sgr_scrapy.api import check_seed_url


class ArgumentError(ValueError):
    """Raised by HarvestArgs.parse for a bad `-a` argument; str() is one line saying what to do."""


def _urls(name: str, value: object) -> tuple[str, ...]:
    return tuple(u for u in str(value or "").split(",") if u.strip())


def _urls_file(name: str, value: object) -> tuple[str, ...]:
    if not value:
        return ()
    try:
        lines = Path(str(value)).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"cannot read -a {name}={value}: {exc}") from None
    return tuple(line for line in lines if line.strip() and not line.lstrip().startswith("#"))


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
class Argument:
    """One `-a NAME=VALUE` argument of the harvest."""

    name: str
    default: str  # what leaving it out means, spelled as it would be typed
    metavar: str  # how its value is written in the help
    help: str  # one line, for --help and the README
    convert: Callable[[str, object], object]


ARGUMENTS: tuple[Argument, ...] = (
    Argument(
        "url",
        "",
        "URL[,URL...]",
        "track URL(s), comma-separated (`https://soundcloud.com/<artist>/<track>`)",
        _urls,
    ),
    Argument(
        "urls_file",
        "",
        "FILE",
        "a file of track URLs, one per line (`#` comments allowed); adds to `url`",
        _urls_file,
    ),
    Argument(
        "max_users",
        "0",
        "N",
        "likers and reposters to take, each list capped separately: the first N distinct "
        "users in API order; `0` = all",
        _count,
    ),
    Argument(
        "max_user_likes",
        "0",
        "N",
        "liked tracks to take per user: the first N distinct in API order; `0` = all",
        _count,
    ),
    Argument(
        "refresh",
        "0",
        "0|1",
        "`1` re-fetches lists that an earlier run finished (rows are merged, never doubled)",
        _flag,
    ),
)
KNOWN_ARGUMENTS: tuple[str, ...] = tuple(a.name for a in ARGUMENTS)


@dataclass(frozen=True, slots=True)
class HarvestArgs:
    urls: tuple[str, ...]
    max_users: int = 0  # likers and reposters, each list capped separately; 0: no cap
    max_user_likes: int = 0  # liked tracks per user; 0: no cap
    refresh: bool = False  # re-fetch lists a previous run finished

    @classmethod
    def parse(cls, **given: object) -> HarvestArgs:
        """Validate `-a` arguments (strings, as Scrapy passes them); ArgumentError if bad."""
        unknown = sorted(set(given) - set(KNOWN_ARGUMENTS))
        if unknown:
            raise ArgumentError(
                f"unknown argument -a {unknown[0]}; the harvest takes " + ", ".join(KNOWN_ARGUMENTS)
            )
        values = {a.name: a.convert(a.name, given.get(a.name, a.default)) for a in ARGUMENTS}
        raw = [*values.pop("url"), *values.pop("urls_file")]  # type: ignore[misc]
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
        return cls(urls=tuple(urls), **values)  # type: ignore[arg-type]
