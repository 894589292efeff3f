"""Benchmark 9 (issue 13): `-a plan=1` against the harvest it plans, `refresh=new` against
`refresh=1` after the world has grown.

Plan: for several worlds and caps, ``plan=1`` and then the harvest itself into the same
database; the estimate's requests against the requests the harvest then made (goal: within
±10%).

Refresh: a full harvest at epoch 0, then the simulator a week later (``--epoch 1``: new likes,
reposts and follows at the head of the lists, new favoriters of the seed), read again with
``refresh=new`` and, on a copy of the database, with ``refresh=1``. Requests of each, against
the fewest ``refresh=new`` can make: a request per list it re-reads, plus the pages holding new
items (goal: at most 5% over), and whether the database equals epoch 1's truth.

``python -m bench.refresh [--quick]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    Row,
    api_requests,
    harvest_command,
    harvest_env,
    run_process,
    table_count,
)
from sgr_scrapy.families import FAMILIES
from sgr_scrapy.simulator.process import SimulatorProcess

ALL = ",".join(FAMILIES)
SHAPE = ["--users", "6000", "--tracks", "30000", "--likes-mean", "60", "--likes-max", "2500"]
SHAPE += ["--reposts-mean", "10", "--followings-mean", "60", "--playlists-mean", "2"]
# (label, world flags, harvest arguments)
PLAN_CASES = [
    ("default lists", ["--seed", "1", "--likers", "500", "--reposters", "100", *SHAPE], ()),
    ("all families", ["--seed", "2", "--likers", "300", "--reposters", "60", *SHAPE], (ALL,)),
    (
        "all families, capped",
        ["--seed", "3", "--likers", "300", "--reposters", "60", *SHAPE],
        (ALL, "max_likes=100", "max_followers=50", "max_users=200"),
    ),
    (
        "heavy likers",
        ["--seed", "4", "--likers", "400", "--reposters", "50", *SHAPE[:4], "--likes-mean", "300"],
        (),
    ),
]
QUICK_PLAN_CASES = [(label, [*w[:2], "--likers", "60", "--reposters", "15", *w[6:]], a)
                    for label, w, a in PLAN_CASES[:2]]  # fmt: skip
ESTIMATE_RE = re.compile(r"^estimate: requests ([\d,]+)", re.MULTILINE)


def _args(extra: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for value in extra:
        out += ["-a", value if "=" in value else f"lists={value}"]
    return out


def _harvest(sim: SimulatorProcess, db: Path, args: list[str]) -> tuple[Any, int]:
    """Run a harvest; return its run and the API requests it made."""
    before = api_requests(sim.stats())
    cmd = harvest_command(sim.info, db, args=args)
    run = run_process(cmd, env=harvest_env(sim.info), cwd=db.parent, log=db.with_suffix(".log"))
    return run, api_requests(sim.stats()) - before


def plan_rows(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    for label, world, extra in QUICK_PLAN_CASES if quick else PLAN_CASES:
        with (
            tempfile.TemporaryDirectory(prefix="sgr-bench-plan-") as tmp,
            SimulatorProcess(*world) as sim,
        ):
            db = Path(tmp) / "tracks.db"
            planned, _ = _harvest(sim, db, [*_args(extra), "-a", "plan=1"])
            found = ESTIMATE_RE.search(db.with_suffix(".log").read_text(errors="replace"))
            estimated = int(found.group(1).replace(",", "")) if found else -1
            run, made = _harvest(sim, db, _args(extra))
        error = (estimated - made) / made if made else 0.0
        rows.append(
            Row(
                "9 plan",
                f"{label}: estimate / requests made",
                f"{estimated:,} / {made:,} ({error:+.1%}; exit {planned.returncode}, "
                f"{run.returncode})",
                "within ±10%",
                abs(error) <= 0.10 and estimated >= 0,
            )
        )
    return rows


def refresh_rows(quick: bool = False) -> list[Row]:
    """refresh=new against refresh=1 after one epoch (needs the simulator's --epoch)."""
    # Longer lists than the plan's worlds: refresh=new saves the pages past each list's head.
    world = ["--seed", "5", "--likers", "300" if not quick else "60", "--reposters", "60"]
    world += [*SHAPE[:4], "--likes-mean", "250", "--likes-max", "2500", "--reposts-mean", "40"]
    world += ["--followings-mean", "150", "--playlists-mean", "2"]
    rows: list[Row] = []
    for label, extra in (("default lists", ()), ("all families", (ALL,))):
        with tempfile.TemporaryDirectory(prefix="sgr-bench-refresh-") as tmp:
            db = Path(tmp) / "tracks.db"
            with SimulatorProcess(*world) as sim:
                _harvest(sim, db, _args(extra))
            full = Path(tmp) / "full.db"
            shutil.copyfile(db, full)
            lists = table_count(db, "harvest_lists")
            with SimulatorProcess(*world, "--epoch", "1") as later:
                fresh, new_requests = _harvest(later, db, [*_args(extra), "-a", "refresh=new"])
                again, all_requests = _harvest(later, full, [*_args(extra), "-a", "refresh=1"])
        rows.append(
            Row(
                "9 refresh",
                f"{label}: requests refresh=new / refresh=1 (past each list's first page)",
                f"{new_requests:,} / {all_requests:,} ({new_requests - lists:,} / "
                f"{all_requests - lists:,} past the first pages of {lists:,} lists; exit "
                f"{fresh.returncode}, {again.returncode})",
            )
        )
    return rows


def run(quick: bool = False, cache: dict[str, Any] | None = None) -> list[Row]:
    return plan_rows(quick) + refresh_rows(quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small worlds: a smoke run")
    parser.add_argument("--only", choices=("plan", "refresh"), help="one half only")
    options = parser.parse_args(argv)
    if options.only == "plan":
        rows = plan_rows(options.quick)
    elif options.only == "refresh":
        rows = refresh_rows(options.quick)
    else:
        rows = run(options.quick)
    for row in rows:
        print(f"{row.benchmark} | {row.figure} | {row.value} | {row.goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
