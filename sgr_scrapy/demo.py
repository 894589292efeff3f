"""`make demo`: start the local simulator, harvest its seed track into data/cache/demo.db.

Usage: python -m sgr_scrapy.demo [--db PATH] [--port N] [--fresh] [-- extra simulator options]
The harvest runs exactly as a user would run it (`scrapy crawl harvest -a url=...`), with the
simulator's URL and credentials in its environment, and prints the harvest's own summary. The
command is printed with that environment, so it runs as printed (from the checkout) while a
simulator with the same options listens on the same port: `make simulator PORT=... ARGS=...`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from sgr_scrapy.simulator.process import SimulatorProcess, SimulatorStartError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8765  # the Makefile's PORT, so `make simulator` serves the printed command


def _shown(path: Path | str) -> str:
    """A path as short as it can be written from the checkout."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _scrapy() -> str:
    """This Python's `scrapy` script, as it can be typed from the checkout."""
    script = Path(sys.executable).parent / "scrapy"
    if script.exists():
        shown = _shown(script)
        return shown if os.sep in shown else f".{os.sep}{shown}"
    return f"{_shown(sys.executable)} -m scrapy.cmdline"


def printed_command(env: dict[str, str], argv: list[str]) -> str:
    """`NAME=value ... scrapy crawl ...`, one shell line per part, to copy and paste."""
    lines = [f"{name}={shlex.quote(value)}" for name, value in env.items()]
    lines.append(" ".join([_scrapy(), *(shlex.quote(a) for a in argv)]))
    return "$ " + " \\\n  ".join(lines)


def _start(stack: contextlib.ExitStack, port: int, args: list[str]) -> SimulatorProcess:
    try:
        return stack.enter_context(SimulatorProcess("--port", str(port), *args))
    except SimulatorStartError:
        if port == 0:
            raise
        print(f"Port {port} is busy; the simulator takes a free one.")
        return stack.enter_context(SimulatorProcess("--port", "0", *args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "data" / "cache" / "demo.db"))
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="simulator port (0: any free port)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the demo database first")
    parser.add_argument("simulator_args", nargs="*", help="options for the simulator")
    opts = parser.parse_args(argv)
    db = Path(opts.db)
    if opts.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        sim = _start(stack, opts.port, opts.simulator_args)
        info = sim.info
        print(f"Simulator at {info['api_url']}; seed track {info['seed_url']}")
        shown_env = {
            "SOUNDCLOUD_API_URL": info["api_url"],
            "SOUNDCLOUD_TOKEN_URL": info["token_url"],
            "SOUNDCLOUD_CLIENT_ID": info["client_id"],
            "SOUNDCLOUD_CLIENT_SECRET": info["client_secret"],
            # Empty, so that a real token in the checkout's .env is neither used nor sent here
            # (the environment wins over .env, even when empty).
            "SOUNDCLOUD_ACCESS_TOKEN": "",
            "SOUNDCLOUD_REFRESH_TOKEN": "",
            "SGR_DB_PATH": _shown(db),
            "SGR_TOKEN_CACHE": _shown(f"{db}.token.json"),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
        env.update(shown_env)
        args = ["crawl", "harvest", "-a", f"url={info['seed_url']}"]
        print(printed_command(shown_env, args), flush=True)
        cmd = [sys.executable, "-m", "scrapy.cmdline", *args]
        code = subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
    port = info["api_url"].rsplit(":", 1)[1]
    sim_args = f' ARGS="{shlex.join(opts.simulator_args)}"' if opts.simulator_args else ""
    query = "SELECT COUNT(*) FROM user_engagements"
    print(f"Database: {_shown(db)} (try: sqlite3 {_shown(db)} '{query}')")
    print(
        "The simulator has stopped. To run the command above yourself (from the checkout), "
        f"start it again in another terminal: make simulator PORT={port}{sim_args}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
