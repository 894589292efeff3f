"""The harvest spider's `-a` arguments: declared once, validated once before any request is made.

`ARGUMENTS` is the one declaration: parsing and validation (`HarvestArgs.parse`), the list of
known names (`KNOWN_ARGUMENTS`), `scrapy crawl harvest --help` and the README's table all come
from it (tests/test_help.py checks the last two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sgr_scrapy.api import check_seed_url
from sgr_scrapy.families import CAP_ALIASES, DEFAULT_LISTS, FAMILIES, parse_lists


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


def _lists(name: str, value: object) -> tuple[str, ...]:
    try:
        return parse_lists(str(value))
    except ValueError as exc:
        raise ArgumentError(f"-a {name}={value!r} {exc}; use any of {','.join(FAMILIES)}") from None


def _at_least_one(name: str, value: object) -> int:
    number = _count(name, value)
    if number < 1:
        raise ArgumentError(f"-a {name}={number} must be 1 or more")
    return number


REFRESH_MODES = ("0", "1", "new")


def _refresh(name: str, value: object) -> str:
    text = str(value).strip().lower()
    mode = {"": "0", "false": "0", "no": "0", "true": "1", "yes": "1"}.get(text, text)
    if mode not in REFRESH_MODES:
        raise ArgumentError(f"-a {name}={value!r} must be 0, 1 or new")
    return mode


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
        "lists",
        ",".join(DEFAULT_LISTS),
        "FAMILY[,FAMILY...]",
        "the list families to read, comma-separated, any of "
        + ", ".join(f"`{name}`" for name in FAMILIES)
        + " (README: List families)",
        _lists,
    ),
    Argument(
        "max_users",
        "0",
        "N",
        "likers and reposters to take, each list capped separately: the first N distinct "
        "users in API order; `0` = all (sets `max_favoriters` and `max_reposters`)",
        _count,
    ),
    Argument(
        "max_user_likes",
        "0",
        "N",
        "liked tracks to take per user: the first N distinct in API order; `0` = all "
        "(sets `max_likes`)",
        _count,
    ),
    *(
        Argument(
            f"max_{name}",
            "0",
            "N",
            f"cap of each `{name}` list: its first N distinct items in API order; `0` = all"
            + "".join(f" (wins over `{a}`)" for a, names in CAP_ALIASES.items() if name in names),
            _count,
        )
        for name in FAMILIES
    ),
    Argument(
        "depth",
        "1",
        "D",
        "hops: with `2` or more, the `expand` tracks most engaged by a hop's users seed the "
        "next hop (README: Hops)",
        _at_least_one,
    ),
    Argument(
        "expand",
        "50",
        "K",
        "tracks that seed each hop after the first: the K with the most engagements",
        _count,
    ),
    Argument(
        "refresh",
        "0",
        "0|1|new",
        "`1` re-fetches every list an earlier run finished (rows are merged, never doubled); "
        "`new` re-reads finished lists only down to their first page of known items "
        "(README: Refresh and plan)",
        _refresh,
    ),
    Argument(
        "plan",
        "0",
        "0|1",
        "`1` reads the seeds and their favoriters and reposters, then prints what the rest "
        "would cost (`estimate: requests N ...`) without reading it",
        _flag,
    ),
)

KNOWN_ARGUMENTS: tuple[str, ...] = tuple(a.name for a in ARGUMENTS)


@dataclass(frozen=True, slots=True)
class HarvestArgs:
    urls: tuple[str, ...]
    lists: tuple[str, ...] = DEFAULT_LISTS  # list families to read, in registry order
    caps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0))  # 0: none
    depth: int = 1  # hops
    expand: int = 50  # tracks that seed each hop after the first
    refresh: str = "0"  # "1": re-fetch lists a previous run finished; "new": only their heads
    plan: bool = False  # estimate the harvest instead of running it

    @property
    def full_refresh(self) -> bool:
        return self.refresh == "1"

    @property
    def new_only(self) -> bool:
        return self.refresh == "new"

    def cap(self, family: str) -> int:
        return self.caps.get(family, 0)

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
        # max_users and max_user_likes set their families' caps; an explicit max_<family> wins.
        caps = {name: values.pop(f"max_{name}") for name in FAMILIES}
        for alias, families in CAP_ALIASES.items():
            cap = values.pop(alias)
            for name in families:
                if f"max_{name}" not in given:
                    caps[name] = cap
        return cls(urls=tuple(urls), caps=caps, **values)  # type: ignore[arg-type]
