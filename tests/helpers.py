"""Running `scrapy crawl harvest` as a user would, in a subprocess, against a simulator."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sgr_scrapy.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Headless, as root, and quiet on a machine without a network (.ci/run installs Chromium).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Harvest:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def api_get(sim: Any, path: str) -> Any:
    """GET an API path of the simulator with its access token, as JSON."""
    request = urllib.request.Request(
        sim.info["api_url"] + path, headers={"Authorization": f"OAuth {sim.info['access_token']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# The simulator's route families of list pages (its /__stats names), every list family's.
LIST_ROUTES = (
    "favoriters",
    "reposters",
    "related",
    "likes",
    "favorites",
    "reposts",
    "followings",
    "followers",
    "playlists",
    "playlist",
    "playlist_tracks",
    "tracks",
)
TRUTH_SETS = (
    "track_ids",
    "user_ids",
    "engagements",
    "follows",
    "playlists",
    "playlist_tracks",
    "related",
    "expansions",
)


def list_requests(sim: Any) -> int:
    """List pages the simulator has served so far (every status)."""
    routes = sim.stats()["requests"]
    return sum(sum(routes.get(family, {}).values()) for family in LIST_ROUTES)


def client_env(sim: Any) -> dict[str, str]:
    """Client credentials without a token: the harvester must obtain its own."""
    return harvest_env(
        sim,
        token=False,
        SOUNDCLOUD_CLIENT_ID=sim.info["client_id"],
        SOUNDCLOUD_CLIENT_SECRET=sim.info["client_secret"],
    )


def harvest_env(sim: Any, *, token: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a harvest against `sim`: endpoints and credentials, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(
        SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings",
        PYTHONPATH=str(ROOT),
        SOUNDCLOUD_API_URL=sim.info["api_url"],
        SOUNDCLOUD_TOKEN_URL=sim.info["token_url"],
    )
    if token:
        env["SOUNDCLOUD_ACCESS_TOKEN"] = sim.info["access_token"]
    env.update(extra)
    return env


def crawl_command(db: Path, *args: str, url: str | None, settings: dict[str, Any]) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "harvest"]
    if url is not None:
        cmd += ["-a", f"url={url}"]
    cmd += list(args)
    base = {"SGR_DB_PATH": str(db), "SGR_TOKEN_CACHE": str(db) + ".token.json"}
    for name, value in {**base, **settings}.items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


def run_harvest(
    sim: Any,
    db: Path,
    *args: str,
    url: str | None = None,
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float = 300,
) -> Harvest:
    """Run a harvest to its end; `url` defaults to the simulator's seed track."""
    cmd = crawl_command(
        db, *args, url=sim.info["seed_url"] if url is None else url, settings=settings or {}
    )
    proc = subprocess.run(
        cmd,
        env=env or harvest_env(sim),
        cwd=db.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Harvest(proc.returncode, proc.stdout, proc.stderr)


def start_harvest(
    sim: Any,
    db: Path,
    *args: str,
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a harvest in the background (for kill and pause tests)."""
    cmd = crawl_command(db, *args, url=sim.info["seed_url"], settings=settings or {})
    with open(log or db.with_suffix(".log"), "ab") as out:  # the child keeps its own copy
        return subprocess.Popen(
            cmd, env=env or harvest_env(sim), cwd=db.parent, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for_rows(db: Path, table: str, at_least: int, timeout: float = 120) -> int:
    """Wait until the harvest has committed `at_least` rows of `table`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with Store.open(db, lock=False) as store:
                    count = store.table_counts()[table]
            except Exception:  # the harvest may be creating the file
                count = 0
            if count >= at_least:
                return count
        time.sleep(0.05)
    raise AssertionError(f"{table} never reached {at_least} rows")


def interrupt(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 120) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=timeout)


def snapshot(db: Path) -> dict[str, set[Any]]:
    with Store.open(db, lock=False) as store:
        return store.snapshot()


def assert_matches_truth(db: Path, truth: Any) -> None:
    got = snapshot(db)
    for name in TRUTH_SETS:
        want = set(getattr(truth, name))
        missing, extra = want - got[name], got[name] - want
        assert not missing and not extra, (
            f"{name}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} extra (e.g. {sorted(extra)[:3]})"
        )


class _ResolveStubHandler(BaseHTTPRequestHandler):
    """/resolve answers a 302 to `location` ({origin}: the stub's own); anything else a 404."""

    location: str
    seen: list[tuple[str, str | None]]  # (path, Authorization header)

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/resolve?"):
            host, port = self.server.server_address[:2]
            location = self.location.replace("{origin}", f"http://{host}:{port}")
            body = json.dumps({"status": "302 - Found", "location": location}).encode()
            self.send_response(302)
            self.send_header("Location", location)
        else:
            body = b'{"errors":[{"error_message":"404 - Not Found"}]}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class ResolveStub:
    """A stub API whose /resolve points wherever a test needs (a user, another host)."""

    def __init__(self, location: str) -> None:
        self.seen: list[tuple[str, str | None]] = []
        attrs = {"location": location, "seen": self.seen}
        handler = type("Handler", (_ResolveStubHandler,), attrs)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
