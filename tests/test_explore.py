"""`scrapy explore` for real: the command in a subprocess, its JSON API, a page in Chromium.

The server is started as a user starts it (`scrapy explore --port 0`, SGR_DB_PATH from `-s` or
the environment) on a harvested database, and read over HTTP. The Chromium test renders the
database's page headless, keeps the screenshot in its tmp_path and reads the DOM for the
canned queries; without Chromium it is skipped, and says so loudly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from sgr_scrapy.explore.metadata import table_metadata
from sgr_scrapy.explore.queries import QUERIES
from sgr_scrapy.explore.tables import TABLES
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.store import SCHEMA_VERSION, Store, StoreError
from tests.helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    ROOT,
    run_harvest,
    start_harvest,
    wait_for_rows,
)
from tests.test_migration import V1_DB

SMALL = ["--users", "400", "--tracks", "2500", "--likers", "80", "--reposters", "30"]
SMALL += ["--likes-mean", "15", "--likes-max", "300"]
# Slow enough to be stopped in the middle (as tests/test_resume.py's world).
SLOW = ["--users", "1500", "--tracks", "6000", "--likers", "400", "--reposters", "150"]
SLOW += ["--likes-mean", "25", "--likes-max", "1200", "--latency-ms", "15", "--jitter-ms", "5"]


def explore_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def explore_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scrapy.cmdline", "explore", *args]


class Explore:
    """`scrapy explore --port 0` running in a subprocess; `url` is the one it printed."""

    def __init__(self, db: Path, log: Path) -> None:
        self.log = log
        with open(log, "wb") as err:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                explore_command("--port", "0", "-s", f"SGR_DB_PATH={db}"),
                cwd=ROOT,
                env=explore_env(),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.line = self._first_line()
        assert self.line.startswith(f"Serving {db} read-only at http://127.0.0.1:"), self.line
        self.url = self.line.split(" at ")[1].split()[0]
        parts = urllib.parse.urlsplit(self.url)
        self.root, self.port = f"{parts.scheme}://{parts.netloc}", parts.port

    def _first_line(self, timeout: float = 60) -> str:
        line: list[str] = []
        stdout: IO[str] = self.proc.stdout  # type: ignore[assignment]
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"scrapy explore did not start: {self.log.read_text()}")
        return line[0].strip()

    def get(self, path: str, **params: str) -> Any:
        """GET `path` (from the root: /-/..., /harvest.json, /harvest/tracks.json) as JSON."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.root}{path}{query}", timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> int:
        """Ctrl-C, as a user stops it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@pytest.fixture
def explore(tmp_path: Path) -> Iterator[Any]:
    started: list[Explore] = []

    def start(db: Path) -> Explore:
        started.append(Explore(db, tmp_path / f"explore-{len(started)}.log"))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        assert server.proc.stdout is not None
        server.proc.stdout.close()


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished harvest of a small world (the default lists)."""
    db = tmp_path_factory.mktemp("explore") / "harvest.db"
    with SimulatorProcess(*SMALL) as sim:
        result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    return db


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_explore_serves_every_table_and_canned_query_as_json(harvested: Path, explore) -> None:
    server = explore(harvested)
    assert server.url == f"{server.root}/harvest"
    # The one database, opened as one that may change (Datasette's mode=ro), not immutable.
    (database,) = server.get("/-/databases.json")
    assert (database["name"], database["is_mutable"]) == ("harvest", True)
    page = server.get("/harvest.json")
    tables = {t["name"] for t in page["tables"]} | {v["name"] for v in page["views"]}
    assert tables == set(TABLES)
    assert [q["name"] for q in page["queries"]] == list(QUERIES)
    shown = server.get("/-/metadata.json")["databases"]["harvest"]
    assert shown["tables"] == {name: table_metadata(t) for name, t in TABLES.items()}
    assert shown["title"] == "Harvest harvest.db"

    # The genres of the seed's audience, by its track id and by its URL, as counted here.
    ((seed, url),) = rows(harvested, "SELECT track_id, url FROM harvest_seeds")
    audience = {u for (u,) in rows(harvested, "SELECT user_id FROM user_engagements "
                                   "WHERE track_id = ?", seed)}  # fmt: skip
    genre = dict(rows(harvested, "SELECT track_id, genre FROM tracks"))
    likes = rows(harvested, "SELECT user_id, track_id FROM user_engagements "
                 "WHERE engagement_type = 'like' AND track_id != ?", seed)  # fmt: skip
    want = Counter((genre[t] or "").strip() or "(none)" for u, t in likes if u in audience)
    for value in (str(seed), url):
        got = server.get("/harvest/seed_audience_genres.json", seed=value, _shape="array")
        assert {r["genre"]: r["likes"] for r in got} == want
        assert got[0]["likes"] == max(want.values())

    (total,) = server.get("/harvest/harvest_completeness.json", _shape="array")[-1:]
    assert total["family"] == "(all)" and total["percent_finished"] == 100.0
    assert total["lists"] == rows(harvested, "SELECT count(*) FROM harvest_lists")[0][0]

    # The facets a researcher starts from, as the tables open.
    facets = server.get("/harvest/user_engagements.json", _size="0")["facet_results"]
    engagements = dict(rows(harvested, "SELECT engagement_type, count(*) FROM user_engagements "
                            "GROUP BY 1"))  # fmt: skip
    assert {f["value"]: f["count"] for f in facets["engagement_type"]["results"]} == engagements
    assert "genre" in server.get("/harvest/tracks.json", _size="0")["facet_results"]
    assert "country" in server.get("/harvest/users.json", _size="0")["facet_results"]
    # Stored in arrival order (schema 6), the tables still open in id order.
    for table, key in (("tracks", "track_id"), ("users", "user_id")):
        shown = server.get(f"/harvest/{table}.json", _shape="array", _size="50")
        ids = [row[key] for row in shown]
        assert ids == [i for (i,) in rows(harvested, f"SELECT {key} FROM {table} ORDER BY 1")][:50]
    assert server.stop() == 0


def test_explore_cannot_write_and_listens_on_127_0_0_1_only(harvested: Path, explore) -> None:
    server = explore(harvested)
    before = rows(harvested, "SELECT * FROM harvest_seeds")
    sql = "WITH x AS (SELECT 1) DELETE FROM harvest_seeds"  # passes Datasette's SELECT check
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.get("/harvest.json", sql=sql)
    assert "readonly database" in refused.value.read().decode()
    assert rows(harvested, "SELECT * FROM harvest_seeds") == before
    # Another loopback address reaches a server bound to all interfaces, not this one.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", server.port), timeout=10).close()
    assert server.stop() == 0


def test_explore_brings_an_older_file_up_to_date_first_and_says_so(tmp_path: Path, explore) -> None:
    db = tmp_path / "old.db"
    shutil.copyfile(V1_DB, db)
    server = explore(db)
    # Served as it was, schema 1 has no tracks_full, no machine_tags: the metadata names both.
    assert server.get("/harvest/tracks_full.json", _size="1")["rows"]
    assert "machine_tags" in server.get("/harvest/tracks.json", _size="1")["columns"]
    assert server.stop() == 0
    assert server.log.read_text().count(f"from schema 1 to {SCHEMA_VERSION};") == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    again = explore(db)  # current now: nothing to say, nothing written
    assert again.stop() == 0
    assert "schema" not in again.log.read_text()


def test_explore_serves_while_a_harvest_holds_the_lock(simulator, tmp_path: Path, explore) -> None:
    sim = simulator(*SLOW)
    db = tmp_path / "harvest.db"
    count = "SELECT count(*) AS n FROM user_engagements"
    harvest = start_harvest(sim, db)
    try:
        wait_for_rows(db, "user_engagements", 200)
        harvest.send_signal(signal.SIGSTOP)  # holding its lock, mid-harvest, until SIGCONT
        assert harvest.poll() is None
        with pytest.raises(StoreError, match="locked by another harvest"):
            Store.open(db).close()
        server = explore(db)
        seen = server.get("/harvest.json", sql=count, _shape="array")[0]["n"]
        assert seen >= 200
        harvest.send_signal(signal.SIGCONT)
        assert harvest.wait(timeout=300) == 0
    finally:
        if harvest.poll() is None:
            harvest.send_signal(signal.SIGCONT)
            harvest.kill()
            harvest.wait()
    # Not a snapshot: what the harvest committed since is served too.
    final = rows(db, count)[0][0]
    assert final > seen
    assert server.get("/harvest.json", sql=count, _shape="array")[0]["n"] == final
    assert server.stop() == 0


def test_explore_page_in_headless_chromium_shows_the_canned_queries(
    harvested: Path, explore, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip(
            "CHROMIUM IS NOT INSTALLED: the Datasette page was NOT rendered "
            "(apt-get install -y chromium, as .ci/run does when it runs as root)"
        )
    server = explore(harvested)
    screenshot = tmp_path / "datasette.png"

    def chromium(profile: str, *args: str) -> subprocess.CompletedProcess[str]:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / profile}"]
        return subprocess.run(
            [CHROMIUM, *flags, *args, server.url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    shot = chromium("profile-shot", f"--screenshot={screenshot}", "--window-size=1280,1600")
    assert shot.returncode == 0, shot.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a page, not a blank
    dom = chromium("profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    for query in QUERIES.values():
        assert f">{query.title}</a>" in dom.stdout.replace("&#39;", "'"), query.title
    assert "Harvest harvest.db" in dom.stdout
    assert server.stop() == 0


def refusal(tmp_path: Path, case: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of each refused start."""
    db = tmp_path / "harvest.db"
    if case == "missing database":
        return explore_command(), explore_env(SGR_DB_PATH=str(db))
    if case == "not a database":
        db.write_text("not SQLite\n" * 100)
    else:
        Store.open(db).close()
    args = {"bad port": ["--port", "http"], "extra argument": ["tracks.db"]}.get(case, [])
    return explore_command(*args, "-s", f"SGR_DB_PATH={db}"), explore_env()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing database", r"no database at .*harvest\.db: harvest first"),
        ("not a database", r"cannot read .*harvest\.db: file is not a database; .*move it away"),
        ("bad port", r"--port 'http' is not a port: give 1 to 65535"),
        ("extra argument", r"scrapy explore takes no arguments, not 'tracks\.db'"),
    ],
)
def test_explore_refuses_in_one_line(tmp_path: Path, case: str, message: str) -> None:
    cmd, env = refusal(tmp_path, case)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert re.search(message, proc.stderr), proc.stderr


def test_explore_refuses_a_taken_port_in_one_line(harvested: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cmd = explore_command("--port", port, "-s", f"SGR_DB_PATH={harvested}")
        proc = subprocess.run(
            cmd, cwd=ROOT, env=explore_env(), capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: port {port} on 127.0.0.1 is taken (another scrapy explore?): "
        "choose another with --port N (0: any free port)\n"
    )
