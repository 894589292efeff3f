"""The README's simulator section documents every flag, route, list family and startup key."""

from __future__ import annotations

from pathlib import Path

from sgr_scrapy.simulator.app import LIST_ROUTES, ROUTES
from sgr_scrapy.simulator.cli import build_parser
from sgr_scrapy.simulator.truth import FAMILIES

DOC = Path(__file__).resolve().parent.parent / "README.md"


def test_every_flag_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    flags = [o for a in build_parser()._actions for o in a.option_strings if o.startswith("--")]
    missing = [f for f in flags if f"`{f}`" not in text and f != "--help"]
    assert not missing


def test_every_startup_key_is_documented(default_simulator) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert not [k for k in default_simulator.info if f"`{k}`" not in text]


def test_every_route_and_list_family_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    routes = ["/" + "/".join((first, "{id}", *tail)) for first, tail in ROUTES]
    section = text[text.index("## The local SoundCloud API simulator") :]
    assert not [r for r in routes if r not in section]
    assert not [f for f in FAMILIES if f"`{f}`" not in section]
    assert not [f for f in (*ROUTES.values(), *LIST_ROUTES) if f"`{f}`" not in section]
