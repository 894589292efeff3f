"""The exports benchmark's dressed databases and its rows (bench/exports.py); no timing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("numpy")

from bench import exports
from bench.analyze import Spec

SMALL = Spec("test", 5_000, 300, 1_000, 100, seed=3)


def test_a_dressed_database_holds_what_a_harvest_fills_and_is_reused(tmp_path: Path) -> None:
    d = exports.dressed(SMALL, tmp_path)
    assert not d.reused and d.rows["user_engagements"] > 4_000
    con = sqlite3.connect(f"file:{d.path}?mode=ro", uri=True)
    try:
        empty = con.execute(
            'SELECT count(*) FROM "user_engagements" WHERE "first_seen" IS NULL'
        ).fetchone()
        tagged = con.execute('SELECT count(*) FROM "tracks" WHERE "tags" != \'[]\'').fetchone()
    finally:
        con.close()
    assert empty == (0,) and tagged == (d.rows["tracks"],)
    again = exports.dressed(SMALL, tmp_path)
    assert again.reused and again.rows == d.rows


def test_every_export_of_the_benchmark_succeeds_and_is_reported(tmp_path: Path) -> None:
    d = exports.dressed(SMALL, tmp_path)
    rows = exports.measure(d, tmp_path, 0.0)
    figures = {r.figure.removeprefix("test: "): r for r in rows}
    assert "(0)" in figures["parquet, every table: wall (exit status) / CPU"].value
    assert "(0)" in figures["graphml, engagements graph: wall (exit status) / CPU / file"].value
    rss = figures["parquet peak RSS"]
    assert rss.goal == f"<= {exports.GOAL_RSS_MB} MB" and rss.met is not None
    assert not list(tmp_path.glob("parquet-*/*")) and not list(tmp_path.glob("*.graphml"))
