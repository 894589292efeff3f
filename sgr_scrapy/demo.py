"""`make demo`: start the local simulator, harvest its seed track into data/cache/demo.db.

Usage: python -m sgr_scrapy.demo [--db PATH] [--fresh] [-- extra simulator options]
The harvest runs exactly as a user would run it (`scrapy crawl harvest -a url=...`), with the
simulator's URL and credentials in its environment, and prints the harvest's own summary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from sgr_scrapy.simulator.process import SimulatorProcess

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "data" / "cache" / "demo.db"))
    parser.add_argument("--fresh", action="store_true", help="delete the demo database first")
    parser.add_argument("simulator_args", nargs="*", help="options for the simulator")
    opts = parser.parse_args(argv)
    db = Path(opts.db)
    if opts.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    with SimulatorProcess(*opts.simulator_args) as sim:
        print(f"Simulator at {sim.info['api_url']}; seed track {sim.info['seed_url']}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
        env.update(
            SOUNDCLOUD_API_URL=sim.info["api_url"],
            SOUNDCLOUD_TOKEN_URL=sim.info["token_url"],
            SOUNDCLOUD_CLIENT_ID=sim.info["client_id"],
            SOUNDCLOUD_CLIENT_SECRET=sim.info["client_secret"],
            SGR_DB_PATH=str(db),
        )
        cmd = [sys.executable, "-m", "scrapy.cmdline", "crawl", "harvest"]
        cmd += ["-a", f"url={sim.info['seed_url']}", "-s", "LOG_LEVEL=WARNING"]
        cmd += ["-s", f"SGR_TOKEN_CACHE={db}.token.json", "-s", "SGR_PROGRESS_INTERVAL=5"]
        print("$ " + " ".join(cmd[2:]))
        code = subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
    print(f"Database: {db} (try: sqlite3 {db} 'SELECT COUNT(*) FROM user_engagements')")
    return code


if __name__ == "__main__":
    sys.exit(main())
