"""`scrapy analyze` as a user runs it: a subprocess in the project, on a real harvest.

A harvest of the simulator fills a database; the command fills the three tables, prints its
summary and leaves the harvest's own rows (the API's related tracks among them) as they were.
Everything a user can get wrong is one line on stderr and exit status 2. Bad options and runs
failing half-way go through the command's own run() in this process (a subprocess costs 2 s).
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sgr_scrapy.store import Store, StoreError
from tests.helpers import ROOT, run_harvest

SMALL = ["--users", "300", "--tracks", "1500", "--likers", "80", "--reposters", "30"]
SMALL += ["--likes-mean", "15", "--likes-max", "200", "--related-max", "20"]


def analyze(
    db: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    clean.update(SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings", PYTHONPATH=str(ROOT))
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "analyze", "-s", f"SGR_DB_PATH={db}", *args],
        cwd=cwd or db.parent,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            name: conn.execute(sql).fetchone()[0]
            for name, sql in {
                "co_like": "SELECT count(*) FROM related_tracks WHERE source = 'co_like'",
                "users": "SELECT count(*) FROM user_similarity",
                "artists": "SELECT count(*) FROM artist_relationships "
                "WHERE relationship_type = 'co_liked'",
                "runs": "SELECT count(*) FROM analysis_runs WHERE finished_at IS NOT NULL",
            }.items()
        }
    finally:
        conn.close()


def api_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT * FROM related_tracks WHERE source != 'co_like' ORDER BY 1, 2, 3"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished harvest of a small world, with the related family (the API's rows)."""
    from sgr_scrapy.simulator.process import SimulatorProcess

    db = tmp_path_factory.mktemp("harvest") / "tracks.db"
    with SimulatorProcess(*SMALL) as sim:
        result = run_harvest(sim, db, "-a", "lists=favoriters,reposters,likes,related")
    assert result.returncode == 0, result.output
    return db


def test_analyze_fills_the_three_tables_and_leaves_the_api_rows(
    harvested: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.db"
    with Store.open(harvested, lock=False) as store:  # a consistent copy, WAL included
        store.conn.execute("VACUUM INTO ?", (str(db),))
    before = api_rows(db)
    assert before  # the harvest read /tracks/{id}/related
    result = analyze(db)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no bar, no log line
    got = counts(db)
    assert got["co_like"] > 0 and got["users"] > 0 and got["artists"] > 0
    assert got["runs"] == 1
    assert "ANALYZE COMPLETE" in result.stdout
    for table, key in (("related_tracks", "co_like"), ("user_similarity", "users")):
        assert re.search(rf"^  {table} +{got[key]:,}\b", result.stdout, re.MULTILINE), table
    for step in ("read", "compute tracks", "write related_tracks", "total (wall)"):
        assert step in result.stdout
    assert "Peak memory:" in result.stdout
    assert api_rows(db) == before

    again = analyze(db, "--top-k", "2", "--with-reposts")  # a rerun replaces, API rows kept
    assert again.returncode == 0, again.stderr
    assert counts(db)["runs"] == 2
    conn = sqlite3.connect(db)
    (most,) = conn.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM related_tracks "
        "WHERE source = 'co_like' GROUP BY track_id)"
    ).fetchone()
    conn.close()
    assert most == 2
    assert api_rows(db) == before


def test_a_harvest_holding_the_database_makes_analyze_refuse_in_one_line(
    harvested: Path, tmp_path: Path
) -> None:
    db = tmp_path / "busy.db"
    with Store.open(harvested, lock=False) as store:
        store.conn.execute("VACUUM INTO ?", (str(db),))
    with Store.open(db):  # holds the harvest's lock, as a running crawl does
        result = analyze(db)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "locked by another harvest" in result.stderr
    assert counts(db)["runs"] == 0


def in_process(db: Path, *args: str) -> int:
    """The command's run() in this process, as scrapy.cmdline calls it; its exit status."""
    import argparse

    from scrapy.settings import Settings

    from sgr_scrapy.commands.analyze import Command

    command = Command()
    command.settings = Settings({"SGR_DB_PATH": str(db), "LOG_LEVEL": "INFO"})
    parser = argparse.ArgumentParser()
    command.add_options(parser)
    opts, positional = parser.parse_known_args(list(args))
    command.run(positional, opts)
    return command.exitcode


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--top-k", "0"], "--top-k takes a whole number of at least 1, not '0'"),
        (["--min-support", "two"], "--min-support takes a whole number of at least 1, not 'two'"),
        (["--factors", "-1"], "--factors takes a whole number of at least 0, not '-1'"),
        (["harvest"], "analyze takes options only, not 'harvest'"),
    ],
)
def test_a_bad_option_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    db = tmp_path / "tracks.db"
    Store.open(db).close()
    assert in_process(db, *args) == 2
    assert capsys.readouterr() == ("", f"error: {says}\n")


def test_a_missing_database_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    result = analyze(tmp_path / "nowhere" / "tracks.db", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no database at" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_database_comes_from_dotenv_like_the_crawls(tmp_path: Path) -> None:
    db = tmp_path / "data" / "mine.db"
    Store.open(db).close()
    (tmp_path / ".env").write_text("SGR_DB_PATH=data/mine.db\n")  # relative to the cwd
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "analyze"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "sgr_scrapy.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert counts(db)["runs"] == 1  # an empty harvest: nothing to relate, but a run recorded
    assert "0 engagements" in result.stdout


def test_the_bars_are_drawn_on_a_terminal_only() -> None:
    from rich.console import Console

    from sgr_scrapy.analysis.progress import Bars, Silent, progress_on

    assert isinstance(progress_on(io.StringIO()), Silent)
    screen = io.StringIO()
    bars = Bars(Console(file=screen, force_terminal=True, width=100))
    update = bars.step("co-liked tracks", 10)
    update(5)
    bars.queued(100)
    bars.written(40)
    bars.close()
    assert "co-liked tracks" in screen.getvalue() and "40/100" in screen.getvalue()


def test_help_lists_the_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "analyze", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for option in ("--top-k", "--min-support", "--with-reposts", "--factors"):
        assert option in result.stdout


def test_the_readme_documents_every_option_and_table() -> None:
    from sgr_scrapy.commands.analyze import WHOLE_OPTIONS
    from sgr_scrapy.store.analysis import FACTOR_TABLES, RELATIONS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Analyze\n") :]
    section = section[: section.index("\n## ", 1)]
    for flag in [o.flag for o in WHOLE_OPTIONS] + ["--with-reposts"]:
        assert f"| `{flag}" in section, flag
    tables = [r.table for r in RELATIONS.values()] + [t for t, _ in FACTOR_TABLES.values()]
    for name in [*tables, "analysis_runs"]:
        assert f"`{name}`" in section, name
    for relation in RELATIONS.values():
        for column in relation.columns:
            assert f"`{column}`" in section, column


@pytest.mark.parametrize(
    ("raised", "status", "says"),
    [
        (KeyboardInterrupt(), 4, "stopped by Ctrl-C; the database is as it was"),
        (StoreError("cannot write to x.db: database or disk is full; free some space"), 1,
         "cannot write to x.db: database or disk is full; free some space; "
         "the database is as it was"),
    ],
)  # fmt: skip
def test_a_run_stopped_or_failing_half_way_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    status: int,
    says: str,
) -> None:
    from sgr_scrapy.analysis import run

    db = tmp_path / "tracks.db"
    Store.open(db).close()

    def broken(*args: object) -> None:
        raise raised

    monkeypatch.setattr(run, "analyze", broken)
    assert in_process(db) == status
    assert capsys.readouterr() == ("", f"error: {says}\n")
    with Store.open(db):  # the lock was released
        pass
