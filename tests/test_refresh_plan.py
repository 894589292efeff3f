"""`-a refresh=new` re-reads only the heads of finished lists; `-a plan=1` estimates the rest."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.families import FAMILIES
from sgr_scrapy.items import CAPPED, DONE, PENDING, ListProgress
from sgr_scrapy.plan import estimate, pages
from tests.helpers import assert_matches_truth, list_requests, run_harvest

ALL = ",".join(FAMILIES)
WORLD = ["--users", "400", "--tracks", "2500", "--likers", "60", "--reposters", "25"]
WORLD += ["--likes-mean", "40", "--likes-max", "900", "--reposts-mean", "6"]
WORLD += ["--followings-mean", "30", "--playlists-mean", "3", "--playlist-tracks-mean", "20"]
SEED_LISTS = ("favoriters", "reposters")


def served(sim: Any) -> dict[str, int]:
    return {route: sum(n.values()) for route, n in sim.stats()["requests"].items()}


def stored_lists(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM harvest_lists GROUP BY status"))
    finally:
        conn.close()


# --- refresh=new ------------------------------------------------------------------------------


def test_refresh_new_on_an_unchanged_world_reads_one_page_a_list(simulator, tmp_path: Path) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    args = ("-a", f"lists={ALL}")
    assert run_harvest(sim, db, *args).returncode == 0
    lists = stored_lists(db)[DONE]
    before = list_requests(sim)
    result = run_harvest(sim, db, *args, "-a", "refresh=new")
    assert result.returncode == 0, result.output
    # Every finished list is re-read from its first page, which holds nothing new: one page each.
    assert list_requests(sim) - before == lists
    assert_matches_truth(db, sim.truth(lists=ALL))


def test_refresh_new_continues_unfinished_lists_and_never_stops_early_in_them(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    # Capped lists are unfinished: refresh=new must read them on from where they stopped.
    assert run_harvest(sim, db, "-a", "max_user_likes=3").returncode == 0
    assert stored_lists(db).get(CAPPED)
    result = run_harvest(sim, db, "-a", "refresh=new")
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_refresh_accepts_0_1_and_new_only(simulator, tmp_path: Path) -> None:
    sim = simulator(*WORLD)
    result = run_harvest(sim, tmp_path / "tracks.db", "-a", "refresh=newest")
    assert result.returncode == 2
    assert "-a refresh='newest' must be 0, 1 or new" in result.stderr


# --- plan=1 -------------------------------------------------------------------------------------

ESTIMATE_RE = re.compile(r"^estimate: requests ([\d,]+)", re.MULTILINE)


@pytest.mark.parametrize(
    ("world", "args"),
    [
        (WORLD, ("-a", f"lists={ALL}")),
        (WORLD, ("-a", f"lists={ALL}", "-a", "max_likes=30", "-a", "max_followers=50")),
        (WORLD, ()),
        ([*WORLD[:12], "--likes-mean", "150", "--likes-max", "3000"], ("-a", "max_users=40")),
    ],
    ids=["all-families", "all-families-capped", "default-lists", "heavy-likers-capped-users"],
)
def test_plan_estimates_the_full_harvest_within_ten_percent(
    simulator, tmp_path: Path, world: list[str], args: tuple[str, ...]
) -> None:
    sim = simulator(*world)
    db = tmp_path / "tracks.db"
    planned = run_harvest(sim, db, *args, "-a", "plan=1")
    assert planned.returncode == 0, planned.output
    assert "DEEP HARVEST PLANNED" in planned.stdout
    found = ESTIMATE_RE.search(planned.stdout)
    assert found, planned.stdout
    estimated = int(found.group(1).replace(",", ""))
    # Nothing but the seed and its favoriters and reposters was read.
    assert set(served(sim)) <= {"resolve", "track", "user", *SEED_LISTS}
    before = served(sim)
    result = run_harvest(sim, db, *args)
    assert result.returncode == 0, result.output
    after = served(sim)
    made = sum(after.values()) - sum(before.values())
    assert after.get("favoriters") == before.get("favoriters")  # reused, not read again
    assert abs(estimated - made) <= 0.10 * made, (estimated, made)


def test_the_estimate_counts_pages_from_counts_caps_and_stored_lists() -> None:
    likes, followers = FAMILIES["likes"], FAMILIES["followers"]
    counts = {1: {"public_favorites_count": 450, "followers_count": None}, 2: {}}
    stored = {
        "likes:2": ListProgress("likes:2", "likes", 2, DONE, None, 3, 500, 0),
        "followers:2": ListProgress("followers:2", "followers", 2, PENDING, "u", 2, 400, 0),
    }
    got = estimate([1, 2], [likes, followers], {}, counts, stored)
    # likes:1 450 items = 3 pages; likes:2 done = 0; followers:1 no count = 1 page;
    # followers:2 unfinished, no count = 1 page.
    assert (got.requests, got.by_family) == (5, {"likes": 3, "followers": 2})
    assert (got.lists, got.unknown, got.rows) == (3, 2, 450)
    capped = estimate([1], [likes], {"likes": 10}, counts, {})
    assert (capped.requests, capped.rows) == (1, 10)
    fresh = estimate([1, 2], [likes], {}, counts, stored, refresh="new")
    assert fresh.by_family == {"likes": 3 + 1}  # a finished list: its first page
    assert pages(0) == 1 and pages(200) == 1 and pages(201) == 2
    line = estimate([1], [likes], {}, counts, {}, rate=2.0).line()
    assert line.startswith("estimate: requests 3, rows ~450, lists 1, time ~2 s at 2.0")
