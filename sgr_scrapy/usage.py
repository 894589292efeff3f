"""What `scrapy crawl harvest --help` says after Scrapy's own options.

The `-a` arguments come from their one declaration (`sgr_scrapy.args.ARGUMENTS`); the project's
settings from `SETTINGS` below, one entry per `SGR_*` and `SOUNDCLOUD_*` name of
`sgr_scrapy/settings.py` (tests/test_help.py fails when one is missing, when a default here
disagrees with settings.py, or when the README's tables say something else).
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgr_scrapy import settings as project_settings
from sgr_scrapy.args import ARGUMENTS
from sgr_scrapy.outcome import EXIT_STATUS, EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Setting:
    """One of the project's settings, as the help and the README describe it."""

    name: str
    default: str  # as it would be typed after -s NAME=
    help: str  # one line
    secret: bool = False  # its value is never shown, only whether it is set


SETTINGS: tuple[Setting, ...] = (
    Setting("SOUNDCLOUD_ACCESS_TOKEN", "", "an OAuth access token", secret=True),
    Setting(
        "SOUNDCLOUD_CLIENT_ID", "", "the app's client id, to obtain and renew tokens", secret=True
    ),
    Setting("SOUNDCLOUD_CLIENT_SECRET", "", "the app's client secret, with the id", secret=True),
    Setting(
        "SOUNDCLOUD_REFRESH_TOKEN",
        "",
        "a refresh token (single-use; the newest is kept in `SGR_TOKEN_CACHE`)",
        secret=True,
    ),
    Setting(
        "SOUNDCLOUD_API_URL",
        "https://api.soundcloud.com",
        "the API; the token is sent to this origin only",
    ),
    Setting(
        "SOUNDCLOUD_TOKEN_URL",
        "https://secure.soundcloud.com/oauth/token",
        "the token endpoint",
    ),
    Setting(
        "SGR_DB_PATH",
        "data/cache/tracks.db",
        "the SQLite database (relative to the directory you run from)",
    ),
    Setting(
        "SGR_TOKEN_CACHE", "data/cache/oauth-token.json", "where obtained tokens are kept (0600)"
    ),
    Setting("SGR_BATCH_SIZE", "5000", "rows per transaction at most"),
    Setting("SGR_FLUSH_INTERVAL", "1.0", "seconds a fetched page may wait for its commit at most"),
    Setting("SGR_LISTS_IN_FLIGHT", "48", "cursor chains (lists) walked at once"),
    Setting(
        "SGR_PROGRESS_INTERVAL",
        "10.0",
        "seconds between progress lines when stderr is not a terminal (on a terminal, a live "
        "bar); `0` = neither",
    ),
    Setting(
        "SGR_MAX_RATE_LIMIT_WAIT",
        "900.0",
        "a 429 asking for a longer wait stops the crawl cleanly; rerun later",
    ),
    Setting("SGR_BACKOFF_BASE", "0.5", "seconds before the first retry; doubles per retry (±50%)"),
    Setting("SGR_BACKOFF_MAX", "60.0", "the longest retry back-off, in seconds"),
    Setting(
        "SGR_STORE_RAW_JSON",
        "1",
        "`0`: new rows keep the columns only, not the API's whole object in `raw_json`",
    ),
)

# Names of settings.py that are not settings a user sets.
INTERNAL = frozenset({"SGR_ENV_ERROR"})


def project_setting_names() -> list[str]:
    """Every SGR_* and SOUNDCLOUD_* setting of settings.py, in file order."""
    return [
        name
        for name in vars(project_settings)
        if name.startswith(("SGR_", "SOUNDCLOUD_")) and name.isupper() and name not in INTERNAL
    ]


def _cell(default: str) -> str:
    return f"`{default}`" if default else ""


def argument_rows() -> list[str]:
    """The README's table of `-a` arguments, one row each (tests/test_help.py checks it)."""
    return [f"| `{a.name}` | {_cell(a.default)} | {a.help} |" for a in ARGUMENTS]


def setting_rows() -> list[str]:
    """The README's table of settings, one row each (tests/test_help.py checks it)."""
    return [f"| `{s.name}` | {_cell(s.default)} | {s.help} |" for s in SETTINGS]


def _plain(text: str) -> str:
    return text.replace("`", "")


def _rows(rows: list[tuple[str, str]], width: int) -> list[str]:
    """argparse's look: the name in a column, the text wrapped beside or under it."""
    out: list[str] = []
    column = min(32, max(len(name) for name, _ in rows) + 4)
    for name, text in rows:
        lead = f"  {name}"
        wrapped = textwrap.wrap(_plain(text), max(30, width - column)) or [""]
        if len(lead) < column - 1:
            out.append(f"{lead:<{column}}{wrapped[0]}")
            wrapped = wrapped[1:]
        else:
            out.append(lead)
        out += [" " * column + line for line in wrapped]
    return out


def _section(title: str, underline: str = "=") -> list[str]:
    return ["", title, underline * len(title)]


def _now(setting: Setting, value: Any) -> str:
    """The value in force (environment or .env), unless it is the default; secrets never."""
    shown = "" if value is None else str(int(value) if isinstance(value, bool) else value)
    if setting.secret:
        return "set" if shown else "not set"
    if shown == setting.default:
        return ""
    return f"now {shown}"


def harvest_help(settings: Any, width: int | None = None) -> str:
    """The harvest's arguments, settings and database, for `scrapy crawl harvest --help`."""
    width = width or min(100, shutil.get_terminal_size().columns - 2)
    out = _section("Harvest Arguments (-a NAME=VALUE)")
    arg_rows = []
    for a in ARGUMENTS:
        default = f" (default: {a.default})" if a.default else ""
        arg_rows.append((f"-a {a.name}={a.metavar}", a.help + default))
    out += _rows(arg_rows, width)
    out += [
        "",
        "  Example: scrapy crawl harvest -a url=https://soundcloud.com/<artist>/<track>",
        "  At least one seed, from url or urls_file.",
    ]
    out += _section("Harvest Settings (-s NAME=VALUE, the environment, or .env)")
    out += textwrap.wrap(
        "Precedence: -s on the command line wins over the environment, which wins over .env "
        "in the directory you run from.",
        width,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    out.append("")
    declared = {s.name: s for s in SETTINGS}
    setting_rows = []
    for name in project_setting_names():
        setting = declared.get(name, Setting(name, "", "", secret=_looks_secret(name)))
        notes = []
        if setting.default and not setting.secret:
            notes.append(f"default: {setting.default}")
        now = _now(setting, settings.get(name))
        if now:
            notes.append(now)
        suffix = f" ({'; '.join(notes)})" if notes else ""
        setting_rows.append((name, setting.help + suffix))
    out += _rows(setting_rows, width)
    db = str(settings.get("SGR_DB_PATH") or "")
    out += _section("Where The Database Goes")
    out += textwrap.wrap(
        f"SGR_DB_PATH = {db}, that is {Path(db).resolve()} from here (a relative path is "
        "taken from the directory you run from). Its folder is created if missing. Obtained "
        f"tokens go to SGR_TOKEN_CACHE = {settings.get('SGR_TOKEN_CACHE')}.",
        width,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    out += _section("Output")
    out += textwrap.wrap(
        "Quiet by default: the progress (a live bar on a terminal, else a line every "
        "SGR_PROGRESS_INTERVAL seconds), warnings, errors and the summary. -L INFO adds "
        "Scrapy's banner, settings, components and stats; -L DEBUG every request. Exit status: "
        + ", ".join(f"{code} {title}" for code, title in sorted(_exit_statuses().items()))
        + ".",
        width,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    return "\n".join(out) + "\n"


def _exit_statuses() -> dict[int, str]:
    statuses = {code: title.lower() for title, code in EXIT_STATUS.items()}
    statuses[EXIT_USAGE] = "usage error (one line, nothing started)"
    return statuses


def _looks_secret(name: str) -> bool:
    return any(word in name for word in ("SECRET", "ACCESS_TOKEN", "REFRESH_TOKEN", "PASSWORD"))
