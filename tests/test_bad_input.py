"""A user's mistakes cost one line: non-zero exit, no traceback, the database left as it was.

Pre-flight errors (arguments, credentials, .env, database path, lock) are one `error:` line on
stderr and exit status 2, before any request and before the database is touched. Runtime errors
(a seed the API does not know, or that is not a track; credentials the token endpoint refuses)
stop the harvest with exit status 1, one ERROR log line and one `error:` line in the summary.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.outcome import EXIT_STATUS, STOPPED_TITLE
from sgr_scrapy.store import Store
from tests.helpers import (
    Harvest,
    assert_matches_truth,
    crawl_command,
    harvest_env,
    run_harvest,
    start_harvest,
    wait_for_rows,
)
from tests.test_store import corrupt_middle, make_database

SMALL = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
SMALL += ["--likes-mean", "10", "--likes-max", "300"]

EXIT_STOPPED, EXIT_USAGE = 1, 2
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]+\] (ERROR|CRITICAL): (.*)$")


def error_log_lines(result: Harvest) -> list[str]:
    """Messages of the ERROR and CRITICAL log lines."""
    return [m.group(2) for line in result.stderr.splitlines() if (m := LOG_LINE.match(line))]


def user_length(line: str, db: Path) -> int:
    """The line's length as a user of the default SGR_DB_PATH sees it: the path is the user's
    own (pytest's, longer still under xdist), the rest of the line is ours to keep short."""
    return len(line.replace(str(db), "data/cache/tracks.db"))


def assert_preflight_error(result: Harvest, *fragments: str) -> str:
    """Exit 2, one `error:` line on stderr containing `fragments`, nothing else wrong."""
    assert result.returncode == EXIT_USAGE, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert not error_log_lines(result), result.stderr
    assert "DEEP HARVEST" not in result.stdout, result.stdout  # the crawl never started
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_runtime_error(result: Harvest, *fragments: str) -> str:
    """Exit 1, one ERROR log line and one `error:` summary line, both containing `fragments`."""
    assert result.returncode == EXIT_STOPPED, result.output
    assert "Traceback" not in result.output, result.output
    logged = error_log_lines(result)
    assert len(logged) == 1, logged
    summary = [line.strip() for line in result.stdout.splitlines() if "error:" in line]
    assert len(summary) == 1, result.stdout
    assert summary[0].startswith("error: "), summary[0]
    for fragment in fragments:
        assert fragment in logged[0], logged[0]
        assert fragment in summary[0], summary[0]
    return summary[0]


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path → bytes)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def make_existing_db(db: Path) -> None:
    """A database from an earlier harvest: the schema and a few rows."""
    Store.open(db).close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO users (user_id, username) VALUES (1, 'someone')")
        conn.execute("INSERT INTO tracks (track_id, title, artist_id) VALUES (2, 'a track', 1)")
    conn.close()


def table_contents(db: Path, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] not in skip
        ]
        return {
            name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
            for name in names
        }
    finally:
        conn.close()


def assert_no_request(sim: Any) -> None:
    stats = sim.stats()
    assert stats["total_requests"] == 0, stats["requests"]
    assert stats["foreign_requests"] == 0


# --- pre-flight: arguments and credentials ---------------------------------------------------

# (id, -a arguments, url (None: the seed), fragments of the error line)
ARGUMENT_CASES = [
    ("not-soundcloud", (), "https://example.com/a/b", ["example.com", "not a soundcloud.com URL"]),
    ("user-url", (), "https://soundcloud.com/someone", ["user URL", "not a track URL"]),
    ("playlist-url", (), "https://soundcloud.com/someone/sets/x", ["playlist URL"]),
    ("no-url", (), "", ["no seed URL", "-a url="]),
    ("negative-max-users", ("-a", "max_users=-1"), None, ["max_users=-1", "negative"]),
    ("non-numeric-max-user-likes", ("-a", "max_user_likes=abc"), None, ["max_user_likes"]),
    ("unknown-argument", ("-a", "colour=blue"), None, ["unknown argument -a colour", "url"]),
    ("unknown-family", ("-a", "lists=likes,folowers"), None, ["'folowers'", "followers"]),
    ("no-family", ("-a", "lists=,"), None, ["names no list family"]),
    ("negative-family-cap", ("-a", "max_playlists=-2"), None, ["max_playlists=-2", "negative"]),
    ("depth-zero", ("-a", "depth=0"), None, ["depth=0", "1 or more"]),
    ("expand-not-a-number", ("-a", "expand=many"), None, ["expand='many'"]),
]


@pytest.mark.parametrize(
    ("args", "url", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in ARGUMENT_CASES],
)
def test_bad_argument_is_one_line_and_creates_no_database(
    simulator, tmp_path: Path, args: tuple[str, ...], url: str | None, fragments: list[str]
) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, *args, url=url)
    assert_preflight_error(result, *fragments)
    assert files_in(tmp_path) == {}  # no database, no lock file, no token cache
    assert_no_request(sim)


@pytest.mark.parametrize(
    ("args", "url", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in ARGUMENT_CASES],
)
def test_bad_argument_leaves_an_existing_database_byte_identical(
    simulator, tmp_path: Path, args: tuple[str, ...], url: str | None, fragments: list[str]
) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    before = files_in(tmp_path)
    result = run_harvest(sim, db, *args, url=url)
    assert_preflight_error(result, *fragments)
    assert files_in(tmp_path) == before
    assert_no_request(sim)


def test_missing_credentials_names_the_variables_to_set(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, env=harvest_env(sim, token=False))
    line = assert_preflight_error(result, "SOUNDCLOUD_ACCESS_TOKEN", ".env")
    assert "SOUNDCLOUD_CLIENT_ID" in line and "SOUNDCLOUD_CLIENT_SECRET" in line
    assert files_in(tmp_path) == {}
    assert_no_request(sim)


def test_client_id_without_secret_names_the_missing_secret(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    env = harvest_env(sim, token=False, SOUNDCLOUD_CLIENT_ID=sim.info["client_id"])
    line = assert_preflight_error(run_harvest(sim, db, env=env), "SOUNDCLOUD_CLIENT_SECRET")
    assert "SOUNDCLOUD_CLIENT_ID " not in line and "SOUNDCLOUD_CLIENT_ID," not in line
    assert files_in(tmp_path) == {}
    assert_no_request(sim)


def test_blank_credentials_count_as_missing(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    env = harvest_env(
        sim,
        token=False,
        SOUNDCLOUD_ACCESS_TOKEN="  ",
        SOUNDCLOUD_CLIENT_ID="",
        SOUNDCLOUD_CLIENT_SECRET=" ",
    )
    assert_preflight_error(run_harvest(sim, db, env=env), "SOUNDCLOUD_ACCESS_TOKEN")
    assert files_in(tmp_path) == {}
    assert_no_request(sim)


# --- pre-flight: .env ------------------------------------------------------------------------


def test_env_file_with_invalid_utf8_is_one_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"SOUNDCLOUD_CLIENT_ID=caf\xe9\xff\n")
    result = run_harvest(sim, db)
    assert_preflight_error(result, ".env")
    assert files_in(tmp_path) == {".env": b"SOUNDCLOUD_CLIENT_ID=caf\xe9\xff\n"}
    assert_no_request(sim)


def test_env_path_that_is_a_directory_is_one_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    (tmp_path / ".env").mkdir()
    result = run_harvest(sim, db)
    assert_preflight_error(result, ".env")
    assert files_in(tmp_path) == {}
    assert_no_request(sim)


# --- pre-flight: the database ----------------------------------------------------------------


def test_database_under_a_file_is_one_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be\n")
    db = blocker / "tracks.db"
    # run_harvest runs in the database's folder, which cannot exist here.
    proc = subprocess.run(
        crawl_command(db, url=sim.info["seed_url"], settings={}),
        env=harvest_env(sim),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = Harvest(proc.returncode, proc.stdout, proc.stderr)
    assert_preflight_error(result, str(blocker), "SGR_DB_PATH")
    assert files_in(tmp_path) == {"not-a-folder": b"a file where a folder should be\n"}
    assert_no_request(sim)


def test_corrupt_database_is_one_line_and_left_byte_identical(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    garbage = os.urandom(64 * 1024)
    db.write_bytes(garbage)
    result = run_harvest(sim, db)
    assert_preflight_error(result, str(db), "not a SQLite database", "SGR_DB_PATH")
    assert db.read_bytes() == garbage
    # No journal beside it: SQLite never started writing.
    leftovers = set(files_in(tmp_path)) - {"tracks.db", "tracks.db.lock"}
    assert leftovers == set()
    assert_no_request(sim)


def test_database_locked_by_a_running_harvest_is_one_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--latency-ms", "100")
    db = tmp_path / "tracks.db"
    first = start_harvest(sim, db, settings={"SGR_LISTS_IN_FLIGHT": 2})
    try:
        wait_for_rows(db, "users", 1, timeout=60)  # its pipeline holds the lock now
        other = tmp_path / "other"
        other.mkdir()
        proc = subprocess.run(
            crawl_command(db, url=sim.info["seed_url"], settings={}),
            env=harvest_env(sim),
            cwd=other,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert first.poll() is None, "the first harvest ended too soon to test the lock"
        result = Harvest(proc.returncode, proc.stdout, proc.stderr)
        assert_preflight_error(result, "locked", str(db), f"pid {first.pid}")
        # The first harvest is undisturbed: it finishes and stores the whole truth.
        assert first.wait(timeout=120) == 0, db.with_suffix(".log").read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert_matches_truth(db, sim.truth())


# --- runtime: the seed and the token endpoint ------------------------------------------------


def test_unknown_track_is_one_error_line_and_stores_nothing(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    before = table_contents(db, skip=("harvest_runs",))
    url = "https://soundcloud.com/nobody-at-all/no-such-track"
    result = run_harvest(sim, db, url=url)
    assert_runtime_error(result, url, "404")
    assert table_contents(db, skip=("harvest_runs",)) == before
    assert sim.stats()["requests"] == {"resolve": {"404": 1}}


def test_track_shaped_url_that_resolves_to_a_user_is_one_error_line(
    simulator, tmp_path: Path, resolve_stub: Any
) -> None:
    # The simulator resolves only one-segment URLs to users, and those never pass the syntax
    # check; a stub API answers /resolve with a user for a track-shaped URL.
    stub = resolve_stub("{origin}/users/4242")
    api_url = stub.api_url
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    before = table_contents(db, skip=("harvest_runs",))
    url = "https://soundcloud.com/someone/looks-like-a-track"
    env = harvest_env(sim, SOUNDCLOUD_API_URL=api_url)
    result = run_harvest(sim, db, url=url, env=env)
    line = assert_runtime_error(result, url, "a user", "not a track")
    assert "track URL" in line
    assert len(stub.paths) == 1 and stub.paths[0].startswith("/resolve?"), stub.paths
    assert table_contents(db, skip=("harvest_runs",)) == before


def test_refused_client_secret_is_one_error_line(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    before = table_contents(db, skip=("harvest_runs",))
    env = harvest_env(
        sim,
        token=False,
        SOUNDCLOUD_CLIENT_ID=sim.info["client_id"],
        SOUNDCLOUD_CLIENT_SECRET="not-the-secret",
    )
    start = time.monotonic()
    result = run_harvest(sim, db, env=env)
    assert time.monotonic() - start < 60
    assert_runtime_error(result, "SOUNDCLOUD_CLIENT_ID", "SOUNDCLOUD_CLIENT_SECRET")
    assert "not-the-secret" not in result.output
    assert table_contents(db, skip=("harvest_runs",)) == before
    requests = sim.stats()["requests"]
    assert set(requests) == {"oauth"}, requests  # no API request without a token


def test_rejected_access_token_without_client_credentials_is_one_error_line(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    before = table_contents(db, skip=("harvest_runs",))
    env = harvest_env(sim, token=False, SOUNDCLOUD_ACCESS_TOKEN="expired-or-made-up-token")
    result = run_harvest(sim, db, env=env)
    assert_runtime_error(result, "SOUNDCLOUD_ACCESS_TOKEN", "401")
    assert "expired-or-made-up-token" not in result.output
    assert table_contents(db, skip=("harvest_runs",)) == before


# --- pre-flight: a database that cannot be written or is damaged ----------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_disk("64k")`: a folder on a file system of that size (tmpfs), to fill up."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk-{size}"
        folder.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
        if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("cannot mount a small tmpfs here")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


def test_immutable_database_is_one_line_before_any_request(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_existing_db(db)
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("chattr +i needs root and chattr")
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        result = run_harvest(sim, db)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert_preflight_error(result, str(db), "read-only", "SGR_DB_PATH")
    assert_no_request(sim)


def test_database_with_corrupt_pages_inside_is_one_line_before_any_request(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    make_database(db)
    corrupt_middle(db)
    before = db.read_bytes()
    result = run_harvest(sim, db, "-a", "refresh=1")
    assert_preflight_error(result, str(db), "damaged", "SGR_DB_PATH")
    assert db.read_bytes() == before
    assert_no_request(sim)


def test_disk_full_while_creating_the_schema_is_one_line(
    simulator, tmp_path: Path, small_disk: Callable[[str], Path]
) -> None:
    sim = simulator(*SMALL)
    db = small_disk("64k") / "tracks.db"
    proc = subprocess.run(
        crawl_command(db, url=sim.info["seed_url"], settings={}),
        env=harvest_env(sim),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = Harvest(proc.returncode, proc.stdout, proc.stderr)
    line = assert_preflight_error(result, str(db), "full")
    assert "cannot rollback" not in result.output
    assert user_length(line, db) <= 300, line
    assert_no_request(sim)


# --- runtime: the disk fills up --------------------------------------------------------------


def test_disk_full_mid_harvest_is_one_line_and_resumes_from_the_db_and_its_wal(
    simulator, tmp_path: Path, small_disk: Callable[[str], Path]
) -> None:
    sim = simulator(*SMALL)
    # Smaller than this world's database with its -wal, larger than a new one: it fills mid-way.
    full = small_disk("512k")
    db = full / "tracks.db"
    result = run_harvest(sim, db, env=harvest_env(sim), settings={"SGR_BATCH_SIZE": 200})
    assert result.returncode == EXIT_STATUS[STOPPED_TITLE], result.output
    assert "Traceback" not in result.output, result.output
    (line,) = error_log_lines(result)
    assert user_length(line, db) <= 300, line
    for fragment in (str(db), "full", "keep tracks.db-wal beside tracks.db"):
        assert fragment in line, line
    # Moved to a roomier disk with its -wal file, the database is whole and the harvest resumes.
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    for name in ("tracks.db", "tracks.db-wal"):
        if (full / name).exists():
            shutil.copyfile(full / name, roomy / name)
    resumed = run_harvest(sim, roomy / "tracks.db")
    assert resumed.returncode == 0, resumed.output
    assert_matches_truth(roomy / "tracks.db", sim.truth())
