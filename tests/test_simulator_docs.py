"""The README's simulator section documents every command-line flag and every startup key."""

from __future__ import annotations

from pathlib import Path

from sgr_scrapy.simulator.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "README.md"


def test_every_flag_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    flags = [o for a in build_parser()._actions for o in a.option_strings if o.startswith("--")]
    missing = [f for f in flags if f"`{f}`" not in text and f != "--help"]
    assert not missing


def test_every_startup_key_is_documented(default_simulator) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert not [k for k in default_simulator.info if f"`{k}`" not in text]
