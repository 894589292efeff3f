"""Quiet by default: a run shows its progress and summary; a user's mistake is one line.

Scrapy's own INFO lines (banner, settings, components, the stats dump) are one flag away
(`-L INFO`); warnings and errors are always shown (other tests grep them), and the stats are
kept in the database either way.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

from sgr_scrapy.store import Store
from tests.helpers import Harvest, crawl_command, harvest_env, run_harvest

SMALL = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
SMALL += ["--likes-mean", "10", "--likes-max", "300"]
LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[([^\]]+)\] ([A-Z]+): ")


def assert_one_line(result: Harvest, *fragments: str) -> None:
    assert result.returncode == 2, result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def run(sim, db: Path, *args: str, url: str | None = None, env=None, **settings: str) -> Harvest:
    cmd = crawl_command(db, *args, url=url, settings=settings)
    proc = subprocess.run(
        cmd,
        env=env or harvest_env(sim),
        cwd=db.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Harvest(proc.returncode, proc.stdout, proc.stderr)


def test_a_normal_run_shows_progress_and_summary_only(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--latency-ms", "20")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings={"SGR_PROGRESS_INTERVAL": "0.3"})
    assert result.returncode == 0, result.output
    assert "DEEP HARVEST COMPLETE" in result.stdout
    lines = result.stderr.splitlines()
    assert any(" ETA " in line for line in lines), result.stderr
    for line in lines:
        match = LOG.match(line)
        assert match, line  # nothing but log lines: no banner, no dump continuation lines
        logger, level = match.groups()
        assert logger == "sgr_scrapy.extensions" and level == "INFO", line  # progress only
    # The stats dump is gone from the terminal, not from the database.
    with sqlite3.connect(db) as conn:
        (stats,) = conn.execute("SELECT stats_json FROM harvest_runs").fetchone()
    assert json.loads(stats)["downloader/request_count"] > 0


def test_scrapys_own_lines_are_one_flag_away(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-L", "INFO")
    assert result.returncode == 0, result.output
    for expected in (
        "[scrapy.utils.log] INFO: Scrapy",
        "Overridden settings",
        "Enabled extensions",
        "Dumping Scrapy stats",
    ):
        assert expected in result.stderr, expected
    logged = tmp_path / "harvest.log"
    again = run_harvest(sim, db, "--logfile", str(logged))
    assert again.returncode == 0, again.output
    assert again.stderr == "", again.stderr
    assert "Dumping Scrapy stats" in logged.read_text()


def test_a_bad_argument_is_the_only_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    assert_one_line(
        run(sim, db, "-a", "max_users=many", url=sim.info["seed_url"]), "max_users", "many"
    )
    assert_one_line(run(sim, db, "-a", "max_user=3", url=sim.info["seed_url"]), "max_user")
    assert_one_line(run(sim, db, url=None), "no seed URL")
    assert_one_line(run(sim, db, url="https://example.com/a/b"), "not a soundcloud.com URL")


def test_missing_credentials_are_the_only_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    env = harvest_env(sim, token=False)
    result = run(sim, tmp_path / "tracks.db", url=sim.info["seed_url"], env=env)
    assert_one_line(result, "SOUNDCLOUD_CLIENT_ID")


def test_a_locked_database_is_the_only_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    with Store.open(db):  # this process holds the lock, as a running harvest would
        result = run(sim, db, url=sim.info["seed_url"])
    assert_one_line(result, "locked", str(db))


def test_an_unknown_spider_is_the_only_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    cmd = crawl_command(tmp_path / "tracks.db", url=None, settings={})
    cmd[cmd.index("harvest")] = "harvset"
    proc = subprocess.run(
        cmd, env=harvest_env(sim), cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert_one_line(Harvest(proc.returncode, proc.stdout, proc.stderr), "'harvset'", "harvest")


def test_debug_logs_never_print_the_spiders_pages(simulator, tmp_path: Path) -> None:
    """At DEBUG, Scrapy would log every item with its repr: a Page is every row of a page."""
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-L", "DEBUG")
    assert result.returncode == 0, result.output
    assert "Crawled (200)" in result.stderr  # DEBUG was on
    assert "Scraped from" not in result.stderr
    assert "raw_json" not in result.stderr
    assert max(map(len, result.stderr.splitlines())) < 2_000
