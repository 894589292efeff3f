"""The README's by-hand block runs as written, and so does the command `make demo` prints.

The block is read out of README.md and run command by command, with only its port changed (to
a free one); the checkout is reached through symlinks from a temporary folder, so the database
it writes lands there and not in data/cache/. The Ctrl-C is a SIGINT to the command's process
group, as a terminal sends it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sgr_scrapy.simulator.process import SimulatorProcess
from tests.helpers import ROOT, wait_for_rows

pytestmark = pytest.mark.slow

SECTION = "## Run it by hand against the simulator"
README_PORT = "8765"


def by_hand_commands() -> list[list[str]]:
    """The `$ ` lines of each console block of the section, block by block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", section, re.DOTALL)
    return [[line[2:] for line in block.splitlines() if line.startswith("$ ")] for block in blocks]


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def sandbox(tmp_path: Path) -> Path:
    """A folder that looks like the checkout (what the block needs) but keeps its own data/."""
    here = tmp_path / "checkout"
    here.mkdir()
    for name in (".venv", "sgr_scrapy", "scrapy.cfg", "Makefile", "requirements.txt"):
        (here / name).symlink_to(ROOT / name)
    (here / "requirements-dev.txt").symlink_to(ROOT / "requirements-dev.txt")
    return here


def list_requests(api_url: str) -> int:
    with urllib.request.urlopen(api_url + "/__stats", timeout=30) as response:
        routes = json.loads(response.read())["requests"]
    return sum(sum(routes.get(name, {}).values()) for name in ("favoriters", "reposters", "likes"))


def test_readme_by_hand_block_runs_as_written(tmp_path: Path) -> None:
    blocks = by_hand_commands()
    assert len(blocks) == 2 and len(blocks[0]) == 1, blocks
    port = free_port()
    [start], session = blocks
    assert start.startswith("make simulator PORT=8765")
    here = sandbox(tmp_path)
    server = subprocess.Popen(
        ["bash", "-c", start.replace(README_PORT, port)],
        cwd=here,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        info = _info_line(server)
        setup = [line.replace(README_PORT, port) for line in session if "scrapy crawl" not in line]
        crawls = [line for line in session if line.startswith("scrapy crawl")]
        assert len(crawls) == 3 and "Ctrl-C" in crawls[0], crawls
        assert f"SEED={info['seed_url']}" in "\n".join(setup)  # the simulator's own values
        assert f"SOUNDCLOUD_CLIENT_SECRET={info['client_secret']}" in "\n".join(setup)
        db = here / "data" / "cache" / "by-hand.db"

        stopped = _run(here, setup, crawls[0], interrupt_when=lambda: _rows(db))
        assert stopped.returncode == 4, stopped.stdout
        assert "DEEP HARVEST STOPPED" in stopped.stdout

        resumed = _run(here, setup, crawls[1])
        assert resumed.returncode == 0, resumed.stdout
        assert "DEEP HARVEST COMPLETE" in resumed.stdout

        before = list_requests(info["api_url"])
        again = _run(here, setup, crawls[2])
        assert again.returncode == 0 and "DEEP HARVEST COMPLETE" in again.stdout, again.stdout
        assert list_requests(info["api_url"]) == before  # nothing fetched again
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make and the simulator it started
        server.wait(30)
        assert server.stdout is not None
        server.stdout.close()


def _info_line(server: subprocess.Popen[str]) -> dict[str, str]:
    assert server.stdout is not None
    for line in server.stdout:  # make echoes its command first
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("the simulator printed no info line")


def _rows(db: Path) -> bool:
    try:
        wait_for_rows(db, "user_engagements", 500, timeout=0.1)
    except AssertionError:
        return False
    return True


def _run(
    here: Path, setup: list[str], command: str, interrupt_when=None
) -> subprocess.CompletedProcess[str]:
    script = "\n".join([*setup, command]) + "\n"
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=here,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))},
    )
    if interrupt_when is not None:
        deadline = time.monotonic() + 120
        while not interrupt_when():
            assert proc.poll() is None, "the crawl ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_command_make_demo_prints_runs_as_printed(tmp_path: Path) -> None:
    world = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
    db = tmp_path / "demo.db"
    demo_cmd = [sys.executable, "-m", "sgr_scrapy.demo", "--fresh", "--db", str(db)]
    demo = subprocess.run(
        [*demo_cmd, "--port", "0", "--", *world],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    printed = re.search(r"^\$ (.*?\n)(?!  )", demo.stdout, re.MULTILINE | re.DOTALL)
    assert printed, demo.stdout
    command = printed.group(1)
    port = re.search(r"make simulator PORT=(\d+)", demo.stdout)
    assert port and f'ARGS="{" ".join(world)}"' in demo.stdout, demo.stdout
    # What the demo's last line says to do: a simulator like the demo's, on the same port.
    with SimulatorProcess("--port", port.group(1), *world):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
        rerun = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "DEEP HARVEST COMPLETE" in rerun.stdout
    assert "New tracks:        0" in rerun.stdout  # the demo's database, already whole
