"""The README documents every harvest setting, argument and exit status (a test, so it stays so)."""

from __future__ import annotations

import re
from pathlib import Path

from sgr_scrapy import settings
from sgr_scrapy.commands import crawl
from sgr_scrapy.outcome import EXIT_STATUS
from sgr_scrapy.preflight import KNOWN_ARGUMENTS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_project_setting_is_documented() -> None:
    names = [n for n in dir(settings) if re.match(r"^(SGR|SOUNDCLOUD)_[A-Z_]+$", n)]
    missing = [n for n in names if n != "SGR_ENV_ERROR" and f"`{n}`" not in README]
    assert not missing


def test_every_spider_argument_is_documented() -> None:
    assert not [a for a in KNOWN_ARGUMENTS if f"| `{a}` |" not in README]


def test_every_exit_status_and_title_is_documented() -> None:
    codes = {crawl.EXIT_USAGE, *EXIT_STATUS.values()}
    assert sorted(codes) == [0, 1, 2, 3, 4]
    assert all(f"| {code} |" in README for code in codes)
    for title, code in EXIT_STATUS.items():
        assert f"| {code} | `DEEP HARVEST {title}` |" in README


def test_readme_shows_the_two_commands_of_a_fresh_clone() -> None:
    assert "make demo" in README and "make test" in README
