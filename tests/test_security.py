"""A harvest opens no listening port, and its credentials go to the API and token hosts only.

Scrapy 2.19 turns on a RemoteControl extension (executes Python sent to a localhost HTTP port)
and the telnet console by default; the harvest turns both off. The access token is sent to the
API origin only, never appears in a log line at any level, in the database or in JOBDIR, and is
cached in a file only its owner can read. `.env` is git-ignored.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ROOT,
    assert_matches_truth,
    harvest_env,
    interrupt,
    run_harvest,
    start_harvest,
    wait_for_rows,
)

SMALL = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
SMALL += ["--likes-mean", "10", "--likes-max", "300"]
# Lists of several pages (favoriters and heavy users' likes), so next_hrefs are handed out.
PAGED = ["--users", "400", "--tracks", "3000", "--likers", "250", "--reposters", "30"]
PAGED += ["--likes-mean", "10", "--likes-max", "900", "--heavy-share", "0.15"]

# Every access token the simulator issues is a JWT-like string with this header.
SIM_TOKEN_RE = re.compile(rb"eyJhbGciOiJSUzI1NiJ9\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8,}")


# --- no listening port -----------------------------------------------------------------------


def listening_sockets(pid: int) -> set[str]:
    """`host:port` of every TCP socket in LISTEN state that process `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.rsplit(":", 1)
                found.add(f"{table}:{address}:{int(port, 16)}")
    return found


def test_listening_socket_probe_sees_the_simulators_ports(simulator) -> None:
    sim = simulator(*SMALL)
    ports = {entry.rsplit(":", 1)[1] for entry in listening_sockets(sim.info["pid"])}
    assert sim.info["api_url"].rsplit(":", 1)[1] in ports
    assert sim.info["foreign_url"].rsplit(":", 1)[1] in ports


def test_harvest_opens_no_listening_port(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--latency-ms", "100")
    db = tmp_path / "tracks.db"
    proc = start_harvest(sim, db, settings={"SGR_LISTS_IN_FLIGHT": 2})
    samples_while_crawling = 0
    try:
        wait_for_rows(db, "users", 1, timeout=60)  # the engine and its extensions are up
        while proc.poll() is None:
            try:
                listening = listening_sockets(proc.pid)
            except FileNotFoundError:  # the process exited between poll() and the read
                break
            assert listening == set(), f"the harvest listens on {listening}"
            samples_while_crawling += 1
            time.sleep(0.2)
        assert proc.wait(timeout=120) == 0, db.with_suffix(".log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert samples_while_crawling >= 5


def test_remote_control_and_telnet_console_are_off() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings", PYTHONPATH=str(ROOT))
    for name in ("REMOTE_CONTROL_ENABLED", "TELNETCONSOLE_ENABLED"):
        proc = subprocess.run(
            [sys.executable, "-m", "scrapy.cmdline", "settings", "--getbool", name],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert proc.stdout.strip() == "False", (name, proc.stdout, proc.stderr)


# --- the token goes to the API only ----------------------------------------------------------


def test_foreign_next_href_is_asked_of_the_api_host_and_never_requested(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*PAGED, "--foreign-next-href-rate", "0.3")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    stats = sim.stats()
    assert stats["faults"].get("foreign_next_href", 0) >= 3, stats
    assert stats["foreign_requests"] == 0
    assert stats["foreign_authorization_headers"] == 0
    # The list's own path on another host: the same path and query, asked of the API origin.
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())
    assert "Traceback" not in result.output


def test_internal_host_next_href_is_moved_onto_the_api_host(simulator, tmp_path: Path) -> None:
    sim = simulator(*PAGED, "--internal-host-rate", "0.3")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    stats = sim.stats()
    assert stats["faults"].get("internal_host", 0) >= 3, stats
    assert stats["foreign_requests"] == 0
    assert stats["foreign_authorization_headers"] == 0
    # The internal host resolves nowhere: had it been requested, pages would have failed.
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_resolve_redirect_to_another_host_is_not_followed(
    simulator, tmp_path: Path, resolve_stub: Any
) -> None:
    sim = simulator(*SMALL)
    stub = resolve_stub(sim.info["foreign_url"] + "/tracks/2246000002")
    api_url = stub.api_url
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, env=harvest_env(sim, SOUNDCLOUD_API_URL=api_url))
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output
    stats = sim.stats()
    assert stats["foreign_requests"] == 0
    assert stats["foreign_authorization_headers"] == 0
    assert [path for path in stub.paths if not path.startswith("/resolve?")] == []


# --- the token never lands in logs, the database or JOBDIR -----------------------------------


def leaks(secrets: dict[str, str], output: str, folder: Path, skip: set[Path]) -> list[str]:
    """Where any of `secrets` (name → value) or any simulator access token shows up."""
    found = []
    places: list[tuple[str, bytes]] = [("output", output.encode())]
    places += [
        (str(path), path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path not in skip
    ]
    for place, data in places:
        for name, value in secrets.items():
            if value and value.encode() in data:
                found.append(f"{name} in {place}")
        match = SIM_TOKEN_RE.search(data)
        if match:
            found.append(f"access token {match.group()[:24]!r}... in {place}")
    return found


def test_obtained_and_refreshed_tokens_never_reach_logs_database_or_jobdir(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL, "--revoke-after", "50")
    db = tmp_path / "tracks.db"
    cache = Path(str(db) + ".token.json")
    client_id, client_secret = sim.info["client_id"], sim.info["client_secret"]
    env = harvest_env(
        sim, token=False, SOUNDCLOUD_CLIENT_ID=client_id, SOUNDCLOUD_CLIENT_SECRET=client_secret
    )
    settings = {"LOG_LEVEL": "DEBUG", "JOBDIR": str(tmp_path / "job")}
    result = run_harvest(sim, db, env=env, settings=settings)
    assert result.returncode == 0, result.output
    assert " DEBUG: " in result.stderr  # the run did log at DEBUG
    oauth = sim.stats()["requests"]["oauth"]
    assert oauth.get("200", 0) >= 2, oauth  # a token, then a new one after the revocation
    cached = json.loads(cache.read_text())
    assert cached["access_token"] and cached["refresh_token"]
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    secrets = {
        "the access token": cached["access_token"],
        "the refresh token": cached["refresh_token"],
        "the client secret": client_secret,
        "the Basic credentials": basic,
    }
    found = leaks(secrets, result.output, tmp_path, skip={cache})
    assert found == [], found
    assert (tmp_path / "job").is_dir()
    # The search does find a token where there is one: in the cache itself.
    assert "the access token in " + str(cache) in leaks(secrets, "", tmp_path, skip=set())


def test_configured_token_never_reaches_logs_database_or_jobdir(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    settings = {"LOG_LEVEL": "DEBUG", "JOBDIR": str(tmp_path / "job")}
    result = run_harvest(sim, db, env=harvest_env(sim), settings=settings)
    assert result.returncode == 0, result.output
    assert " DEBUG: " in result.stderr
    secrets = {"the access token": sim.info["access_token"]}
    found = leaks(secrets, result.output, tmp_path, skip=set())
    assert found == [], found


def test_token_never_reaches_files_of_a_running_or_interrupted_harvest(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL, "--latency-ms", "100")
    db = tmp_path / "tracks.db"
    settings = {"LOG_LEVEL": "DEBUG", "JOBDIR": str(tmp_path / "job"), "SGR_LISTS_IN_FLIGHT": 2}
    proc = start_harvest(sim, db, settings=settings)  # logs to tracks.log beside the database
    secrets = {"the access token": sim.info["access_token"]}
    try:
        wait_for_rows(db, "users", 1, timeout=60)
        assert proc.poll() is None
        assert Path(str(db) + "-wal").exists()  # mid-run: the WAL is searched too
        found = leaks(secrets, "", tmp_path, skip=set())
        assert found == [], found
        assert interrupt(proc) in (0, 4)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = db.with_suffix(".log").read_text()
    assert " DEBUG: " in log and "Traceback" not in log
    found = leaks(secrets, "", tmp_path, skip=set())
    assert found == [], found


def test_token_cache_is_readable_by_its_owner_only(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL)
    db = tmp_path / "tracks.db"
    cache = Path(str(db) + ".token.json")
    env = harvest_env(
        sim,
        token=False,
        SOUNDCLOUD_CLIENT_ID=sim.info["client_id"],
        SOUNDCLOUD_CLIENT_SECRET=sim.info["client_secret"],
    )
    result = run_harvest(sim, db, "-a", "max_user_likes=5", env=env)
    assert result.returncode == 0, result.output
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(cache.name[:-5])] == [
        cache.name
    ]  # no temporary copy left beside it


# --- .env stays out of git -------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_env_file_is_git_ignored_and_never_tracked() -> None:
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )

    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout")
    assert git("check-ignore", "-q", ".env").returncode == 0
    assert git("check-ignore", "-q", "data/.env").returncode == 0
    tracked = git("ls-files", "-z").stdout.split("\0")
    assert [path for path in tracked if Path(path).name == ".env"] == []
