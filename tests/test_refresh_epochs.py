"""`-a refresh=new` after the world moved on (`--epoch`): the database equals the new epoch's
truth, at (lists re-read) + (pages holding new items) list requests plus at most 5% (issue 13).

A second simulator with the same world and `--epoch 1` stands in for "the same API, a week
later": the harvest rebases what it stored onto the API URL it is given.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.families import DEFAULT_LISTS, FAMILIES
from sgr_scrapy.simulator.cli import build_parser, configs
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.truth import TRACK_FAMILIES, USER_FAMILIES, parse_lists
from sgr_scrapy.simulator.world import ItemList, World
from tests.helpers import (
    assert_matches_truth,
    list_requests,
    run_harvest,
    snapshot,
    start_harvest,
    wait_for_rows,
)

pytestmark = pytest.mark.slow

ALL = ",".join(FAMILIES)
LISTS = {"default lists": ",".join(DEFAULT_LISTS), "all families": ALL}
# Few users with long lists (likes, reposts and followings of several pages), so a full
# re-read costs several pages a list where `refresh=new` costs about one.
WORLD = ["--users", "1000", "--tracks", "8000", "--likers", "30", "--reposters", "12"]
WORLD += ["--likes-mean", "1500", "--likes-max", "2000", "--reposts-mean", "1500"]
WORLD += ["--followings-mean", "1500", "--playlists-mean", "2", "--playlist-tracks-mean", "20"]
PAGE = 200  # the harvest's page size
PLAYLIST_TRACKS_LIMIT = 50  # the simulator's default --playlist-tracks-limit
GETTERS = {"tracks": "uploads"}  # list family -> World method, when the names differ


def world_at(epoch: int) -> World:
    config, _ = configs(build_parser().parse_args([*WORLD, "--epoch", str(epoch)]))
    return World(config)


def pages(n: int) -> int:
    return -(-n // PAGE)


def read_lists(world: World, lists: str) -> dict[tuple[str, int], ItemList]:
    """Every list a harvest of `lists` (depth 1, no cap) reads: the seed's track lists, then
    the user lists of the seed's favoriters and reposters."""
    families = parse_lists(lists)
    seed = world.seed_track_id
    out = {(f, seed): getattr(world, f)(seed) for f in TRACK_FAMILIES if f in families}
    users = [u for f in ("favoriters", "reposters") if f in families for u in out[f, seed].ids]
    for u in dict.fromkeys(users):
        for f in USER_FAMILIES:
            if f in families:
                out[f, u] = getattr(world, GETTERS.get(f, f))(u)
    return out


@dataclass
class Expected:
    """What a `refresh=new` from `before` to `after` has to read, counted from the worlds."""

    reread: int  # lists the earlier harvest finished, each re-read from its first page
    changed: int  # of those, lists with new items
    new_pages: int  # pages holding new items, and brand-new users' lists read in full
    new_users: int  # users whose lists are read for the first time

    @property
    def bound(self) -> int:
        return self.reread + self.new_pages


def cut_playlists(world: World, key: tuple[str, int], lst: ItemList) -> int:
    """Playlists of a playlists list that it cuts short: each is read whole, one request."""
    if key[0] != "playlists":
        return 0
    return sum(len(world.playlist_tracks(p)) > PLAYLIST_TRACKS_LIMIT for p in lst.ids)


def full_read(world: World, lists: str) -> int:
    """List requests of reading every list of the harvest whole (`refresh=1`)."""
    return sum(
        max(1, pages(len(lst))) + cut_playlists(world, key, lst)
        for key, lst in read_lists(world, lists).items()
    )


def expected(before: World, after: World, lists: str) -> Expected:
    old, new = read_lists(before, lists), read_lists(after, lists)
    assert old.keys() <= new.keys()
    changed = new_pages = 0
    for key, lst in new.items():
        if key in old:
            fresh = set(lst.ids) - set(old[key].ids)
            # New items sit at the head: the old list is the new one's tail.
            assert lst.ids[len(fresh) :] == old[key].ids, key
            changed += bool(fresh)
            new_pages += pages(len(fresh))
        else:
            new_pages += max(1, pages(len(lst)))
            new_pages += cut_playlists(after, key, lst)
    new_users = {owner for family, owner in new.keys() - old.keys() if family in USER_FAMILIES}
    return Expected(len(old), changed, new_pages, len(new_users))


def copy_db(src: Path, dst: Path) -> Path:
    """A consistent copy of a harvested database (SQLite's backup, WAL included)."""
    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return dst


def refresh(sim: SimulatorProcess, db: Path, lists: str, how: str = "new") -> int:
    """Run `refresh=<how>` against `sim`; return the list requests it made."""
    before = list_requests(sim)
    result = run_harvest(sim, db, "-a", f"lists={lists}", "-a", f"refresh={how}")
    assert result.returncode == 0, result.output
    return list_requests(sim) - before


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[int, SimulatorProcess]]:
    """The same world at epochs 0, 1 and 2, one simulator each (shared: read their deltas)."""
    with contextlib.ExitStack() as stack:
        yield {
            e: stack.enter_context(SimulatorProcess(*WORLD, "--epoch", str(e))) for e in range(3)
        }


@pytest.fixture(scope="module")
def worlds() -> dict[int, World]:
    return {e: world_at(e) for e in range(3)}


@pytest.fixture(scope="module", params=list(LISTS))
def harvested(request: Any, sims, tmp_path_factory) -> tuple[str, Path]:
    """(lists, database) of a full harvest of `lists` at epoch 0."""
    lists = LISTS[request.param]
    db = tmp_path_factory.mktemp("epoch0") / "tracks.db"
    result = run_harvest(sims[0], db, "-a", f"lists={lists}")
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sims[0].truth(lists=lists))
    return lists, db


def test_each_epoch_changes_some_of_the_harvested_lists(worlds, harvested) -> None:
    lists, _ = harvested
    for epoch in (1, 2):
        got = expected(worlds[epoch - 1], worlds[epoch], lists)
        assert got.changed >= 2 and got.new_users >= 1, got


def test_refresh_new_reads_the_new_heads_only_and_equals_a_full_refresh(
    sims, worlds, harvested, tmp_path: Path
) -> None:
    lists, db0 = harvested
    db = copy_db(db0, tmp_path / "new.db")
    made = refresh(sims[1], db, lists, "new")
    truth = sims[1].truth(lists=lists)
    assert_matches_truth(db, truth)
    want = expected(worlds[0], worlds[1], lists)
    assert made <= want.bound * 1.05, (made, want)
    # refresh=1 reads every list again, whole: the same database, far more requests.
    full = copy_db(db0, tmp_path / "full.db")
    made_full = refresh(sims[1], full, lists, "1")
    assert_matches_truth(full, truth)
    assert snapshot(full) == snapshot(db)
    assert made_full >= full_read(worlds[1], lists)
    # Both read each list's first page; past it refresh=new reads a small part of the rest.
    assert made - want.reread <= (made_full - want.reread) / 4, (made, made_full, want)


def test_refresh_new_after_a_second_epoch(sims, worlds, harvested, tmp_path: Path) -> None:
    lists, db0 = harvested
    db = copy_db(db0, tmp_path / "tracks.db")
    refresh(sims[1], db, lists, "new")
    made = refresh(sims[2], db, lists, "new")
    assert_matches_truth(db, sims[2].truth(lists=lists))
    want = expected(worlds[1], worlds[2], lists)
    assert made <= want.bound * 1.05, (made, want)


def test_an_interrupted_refresh_new_ends_equal_to_the_truth_when_rerun(
    simulator, harvested, tmp_path: Path
) -> None:
    lists, db0 = harvested
    db = copy_db(db0, tmp_path / "tracks.db")
    sim = simulator(*WORLD, "--epoch", "1", "--latency-ms", "20")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM user_engagements").fetchone()[0]
    # Few lists at a time and every page committed on its own, so the kill lands mid-run.
    settings = {"SGR_BATCH_SIZE": "1", "CONCURRENT_REQUESTS": "2"}
    proc = start_harvest(sim, db, "-a", f"lists={lists}", "-a", "refresh=new", settings=settings)
    try:
        wait_for_rows(db, "user_engagements", rows + 1)
        running = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert running, "the refresh ended before it could be interrupted"
    result = run_harvest(sim, db, "-a", f"lists={lists}", "-a", "refresh=new")
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth(lists=lists))
