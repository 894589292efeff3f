"""Benchmark 7: every list family on, against the ceiling, and at a million rows (issue 10 §5).

The harvest runs with ``-a lists=`` naming all nine families (favoriters, reposters and related
of the seed; likes, reposts, followings, followers, playlists and uploads of every user found
in its favoriters and reposters; cut-short playlists read whole from ``/playlists/{id}``).

**Items** are list entries taken: every user, track or playlist a list page names, over every
page of every list read, i.e. one relation row each (engagements + follows + related rows +
playlists + uploads entries; the tracks inside playlists are not items). The world's own count
comes from walking it as ``sgr_scrapy/simulator/truth.py`` does; the harvest's from its
``sgr/rows/*`` stats (below); the ceiling's from its own counter (``ceiling/items``).

1. Throughput (``WORLD``): the harvest's items/s against bench/ceiling.py with the same
   families (same requests, same concurrency and chains, bodies only ``json.loads``-ed), goal
   >= 0.80; requests the simulator served against ``truth.fewest_requests``, goal 1.00.
2. Scale (``SCALE_WORLD``): peak RSS of a harvest that leaves >= 1,000,000 rows over the
   tables of ``ROW_TABLES``, goal <= 300 MB.

``python -m bench.families [--quick] [--repeat N] [--only throughput|scale] [--profile DIR]``:
N back-to-back harvest/ceiling pairs (each ratio and their median), then the scale harvest
once; ``--profile`` writes a cProfile of each throughput harvest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    Row,
    Run,
    fmt,
    machine,
    median_of,
    steady_rate,
    table_counts,
)
from bench.cpu import Ceiling, Harvested, harvest
from bench.cpu import ceiling as cpu_ceiling
from sgr_scrapy.families import FAMILIES
from sgr_scrapy.simulator import truth

NAME = "7 families"
LISTS = ",".join(FAMILIES)
# Longer lists than the simulator's defaults (likes 40, reposts 8, followings 25, 1.5 playlists
# of 15 tracks), so rows per request are closer to a real account's and a million rows fit in
# a couple of minutes of harvest: ~37 items a request instead of ~14.
SHAPE = ["--users", "20000", "--tracks", "60000", "--likes-mean", "120", "--reposts-mean", "30"]
SHAPE += ["--followings-mean", "80", "--playlists-mean", "3", "--playlist-tracks-mean", "30"]
# ~270k items, ~1,120 users, ~7,300 requests at least.
WORLD = ["--seed", "1", "--likers", "1000", "--reposters", "200", *SHAPE]
QUICK_WORLD = ["--seed", "1", "--likers", "150", "--reposters", "30", *SHAPE]
# ~1.06M rows (805k items), 3,360 users, 21,787 requests at least.
SCALE_WORLD = ["--seed", "1", "--likers", "3000", "--reposters", "600", *SHAPE]
QUICK_SCALE_WORLD = ["--seed", "4", "--likers", "300", "--reposters", "60", *SHAPE]
ROW_TABLES = (
    "tracks",
    "users",
    "user_engagements",
    "user_follows",
    "playlists",
    "playlist_tracks",
    "related_tracks",
)
MIN_SHARE = 0.80  # harvest items/s over the ceiling's
REPEAT = 3  # harvest/ceiling pairs in `make bench` (bench/cpu.py: one ratio moves by 0.1)
MIN_ROWS = 1_000_000
MAX_RSS_MB = 300


class _ItemSource(truth.WorldSource):
    """The world's lists, counting the entries of every list read, per family."""

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        self.items: Counter[str] = Counter()
        self.playlist_tracks = 0
        self.spawned: set[int] = set()  # users whose own lists are read

    def users(self, family: str, owner_id: int, cap: int) -> list[int]:
        ids = super().users(family, owner_id, cap)
        self.items[family] += len(ids)
        if FAMILIES[family].spawns_user_lists:
            self.spawned.update(ids)
        return ids

    def tracks(self, family: str, owner_id: int, cap: int) -> list[tuple[int, int]]:
        tracks = super().tracks(family, owner_id, cap)
        self.items[family] += len(tracks)
        return tracks

    def playlists(self, owner_id: int, cap: int) -> list[tuple[int, list[tuple[int, int]]]]:
        playlists = super().playlists(owner_id, cap)
        self.items["playlists"] += len(playlists)
        self.playlist_tracks += sum(len(tracks) for _, tracks in playlists)
        return playlists


@dataclass
class Plan:
    """What a complete harvest of a world with every family reads, and the fewest requests."""

    items: Counter[str]  # list entries per family
    users: int  # distinct users whose own lists are read
    playlist_tracks: int  # tracks inside the playlists (not items)
    fewest: Counter[str]  # fewest requests per route family (the simulator's names)

    @property
    def total_items(self) -> int:
        return sum(self.items.values())

    @property
    def total_requests(self) -> int:
        return sum(self.fewest.values())


def plan(world_args: list[str]) -> Plan:
    """Walk the world the simulator builds from these flags (rebuilt here, it is deterministic)."""
    from sgr_scrapy.simulator.cli import build_parser, configs
    from sgr_scrapy.simulator.world import World

    world_config, fault_config = configs(build_parser().parse_args(world_args))
    world = World(world_config)
    seeds = [world.seed_track_id]
    lists = tuple(FAMILIES)
    caps = truth.resolve_caps()
    source = _ItemSource(world)
    truth.harvest(source, seeds, lists, caps)
    limit = fault_config.playlist_tracks_limit
    fewest = truth.fewest_requests(world, seeds, lists, caps, playlist_tracks_limit=limit)
    return Plan(source.items, len(source.spawned), source.playlist_tracks, fewest)


def harvest_items(stats: dict[str, float]) -> int:
    """List entries the harvest took, from its stats: one relation row per entry (engagements,
    follows, related rows, uploads entries), and one playlist row per playlist a list named (a
    playlist read whole from /playlists/{id} is written a second time: taken off)."""
    keys = ("engagements", "follows", "related_tracks", "list_items", "playlists")
    rows = sum(stats.get(f"sgr/rows/{k}", 0) for k in keys)
    return int(rows - stats.get("sgr/playlists/read_whole", 0))


def ceiling(world: list[str], workdir: Path) -> Ceiling:
    """Walk ``world`` with bench/ceiling.py reading every family; its run and what it read."""
    return cpu_ceiling(world, workdir, args=("-a", f"lists={LISTS}"))


@dataclass
class Harvest:
    """A harvest with every family on: its measures, the items it took, the rows it left."""

    h: Harvested
    items: int  # from its stats (harvest_items)
    tables: dict[str, int]  # rows of ROW_TABLES at the end

    @property
    def items_rate(self) -> float:
        return self.h.rate(self.items)


def harvest_all(world: list[str], workdir: Path, profile: Path | None = None) -> Harvest:
    h = harvest(world, workdir, profile=profile, args=("-a", f"lists={LISTS}"))
    return Harvest(h, harvest_items(h.run.stats), table_counts(workdir / "tracks.db", ROW_TABLES))


@dataclass
class Pair:
    """One harvest and one ceiling run on the same world, back to back."""

    harvest: Harvest
    ceiling: Ceiling

    @property
    def share(self) -> float:
        """The harvest's items/s over the ceiling's."""
        c_rate = self.ceiling.items / self.ceiling.run.wall
        return self.harvest.items_rate / c_rate if c_rate else 0.0

    @property
    def steady_share(self) -> float:
        """The same, each run's rate per simulator CPU second (common.steady_rate)."""
        h, c = self.harvest, self.ceiling
        c_rate = steady_rate(c.items, c.run.wall, c.simulator_cpu)
        h_rate = steady_rate(h.items, h.h.run.wall, h.h.simulator_cpu)
        return h_rate / c_rate if c_rate else 0.0


def measure(world: list[str], profile: Path | None = None) -> Pair:
    """The harvest and then the ceiling on ``world``, every family on."""
    with tempfile.TemporaryDirectory(prefix="sgr-bench-families-") as tmp:
        work = Path(tmp)
        return Pair(harvest_all(world, work, profile), ceiling(world, work))


def _same(n: int, reference: int) -> str:
    return "same" if n == reference else f"world lists {reference:,}"


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def throughput_rows(p: Pair, world_plan: Plan, pairs: list[Pair]) -> list[Row]:
    """The rows of one harvest/ceiling pair, and the ratios of every pair run."""
    h, items, c = p.harvest.h, p.harvest.items, p.ceiling
    made = Counter({route: sum(v.values()) for route, v in h.stats["requests"].items()})
    del made["oauth"]
    fewest = world_plan.total_requests
    economy = h.requests / fewest if fewest else 0.0
    off = ", ".join(
        f"{route} {made[route]:,} vs {world_plan.fewest[route]:,}"
        for route in sorted(set(made) | set(world_plan.fewest))
        if made[route] != world_plan.fewest[route]
    )
    shares = [pair.share for pair in pairs]
    steady = [pair.steady_share for pair in pairs]
    listed = world_plan.total_items
    c_requests = "same" if c.requests == h.requests else f"harvest made {h.requests:,}"
    return [
        Row(
            NAME,
            "world: items (list entries) / users read / fewest requests",
            f"{listed:,} / {world_plan.users:,} / {fewest:,}",
        ),
        Row(
            NAME,
            "world: items by family (and the tracks in playlists)",
            _listing({k: world_plan.items[k] for k in FAMILIES})
            + f" ({world_plan.playlist_tracks:,})",
        ),
        Row(NAME, "harvest exit status, wall time", f"{h.run.returncode}, {h.run.wall:.1f} s"),
        Row(
            NAME,
            "harvest items/s",
            f"{fmt(h.rate(items))} ({items:,} items, {_same(items, listed)})",
        ),
        Row(NAME, "harvest requests/s", f"{fmt(h.rate(h.requests))} ({h.requests:,} requests)"),
        Row(NAME, "CPU of the harvest / of the simulator / wall", _cpu(h.run, h.simulator_cpu)),
        Row(
            NAME,
            "ceiling items/s (bare spider, json.loads)",
            f"{fmt(c.items / c.run.wall)} ({c.items:,} items, {_same(c.items, listed)}; "
            f"{c.requests:,} requests, {c_requests})",
        ),
        Row(NAME, "CPU of the ceiling / of the simulator / wall", _cpu(c.run, c.simulator_cpu)),
        Row(
            NAME,
            "peak RSS of the harvest / of the ceiling",
            f"{h.run.peak_rss_mb:.0f} MB / {c.run.peak_rss_mb:.0f} MB",
        ),
        Row(
            NAME,
            "harvest / ceiling (items/s)",
            median_of(shares),
            f">= {MIN_SHARE:.0%}",
            statistics.median(shares) >= MIN_SHARE,
        ),
        Row(
            NAME,
            "harvest / ceiling, each per simulator CPU second (the machine's drift taken out)",
            median_of(steady),
            f">= {MIN_SHARE:.0%}",
            statistics.median(steady) >= MIN_SHARE,
        ),
        Row(
            NAME,
            "requests made / fewest (truth.fewest_requests)",
            f"{economy:.3f} ({h.requests:,} / {fewest:,})" + (f"; differ: {off}" if off else ""),
            "1.00",
            round(economy, 2) == 1.0,
        ),
    ]


def _cpu(run: Run, simulator_cpu: float) -> str:
    return f"{run.cpu:.1f} s / {simulator_cpu:.1f} s / {run.wall:.1f} s"


def scale_rows(run: Harvest, quick: bool, small: Pair | None = None) -> list[Row]:
    """The rows of the scale harvest; ``small`` the throughput pair, when it ran."""
    name = f"{NAME}, scale"
    h, items, total = run.h, run.items, sum(run.tables.values())
    crawl = h.run.stats.get("elapsed_time_seconds", 0.0)
    vs = ""
    if small is not None:
        vs = f" = {run.items_rate / small.harvest.items_rate:.0%} of the throughput world's"
    return [
        Row(
            name,
            "rows after the harvest (all tables)",
            f"{total:,}",
            "" if quick else f">= {MIN_ROWS:,}",
            None if quick else total >= MIN_ROWS,
        ),
        Row(name, "rows by table", _listing(run.tables)),
        Row(
            name,
            "harvest exit status, wall time",
            f"{h.run.returncode}, {h.run.wall:.1f} s (crawl {crawl:.1f} s)",
        ),
        Row(
            name,
            "peak RSS of the harvest",
            f"{h.run.peak_rss_mb:.0f} MB",
            f"<= {MAX_RSS_MB} MB",
            h.run.peak_rss_mb <= MAX_RSS_MB,
        ),
        Row(name, "CPU of the harvest / of the simulator / wall", _cpu(h.run, h.simulator_cpu)),
        Row(name, "requests/s", f"{fmt(h.rate(h.requests))} ({h.requests:,} requests)"),
        Row(name, "items/s", f"{fmt(run.items_rate)} ({items:,} items){vs}"),
    ]


def run(
    quick: bool = False,
    cache: dict[str, Any] | None = None,
    repeat: int | None = None,
    parts: Sequence[str] = ("throughput", "scale"),
    profile: Path | None = None,
) -> list[Row]:
    """Benchmark 7: throughput against the ceiling and economy, then peak RSS at scale."""
    rows: list[Row] = []
    small: Pair | None = None
    if "throughput" in parts:
        world = QUICK_WORLD if quick else WORLD
        world_plan = plan(world)
        pairs = []
        for n in range(repeat or (1 if quick else REPEAT)):
            prof = None
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
                prof = (profile / f"harvest-families-{n}.prof").resolve()
            p = measure(world, prof)
            pairs.append(p)
            h, c = p.harvest.h, p.ceiling
            print(
                f"families  harvest {h.run.wall:5.1f} s ({p.harvest.items:,} items, "
                f"{h.requests:,} requests, exit {h.run.returncode}, CPU {h.run.cpu:.1f} s)  "
                f"ceiling {c.run.wall:5.1f} s ({c.items:,} items, {c.requests:,} requests, "
                f"CPU {c.run.cpu:.1f} s)  ratio {p.share:.3f}, steady {p.steady_share:.3f}",
                file=sys.stderr,
                flush=True,
            )
        # The other rows are those of the median pair (the lower one of an even count).
        small = sorted(pairs, key=lambda p: p.steady_share)[(len(pairs) - 1) // 2]
        rows += throughput_rows(small, world_plan, pairs)
    if "scale" in parts:
        with tempfile.TemporaryDirectory(prefix="sgr-bench-families-scale-") as tmp:
            big = harvest_all(QUICK_SCALE_WORLD if quick else SCALE_WORLD, Path(tmp))
        h = big.h
        print(
            f"families scale  harvest {h.run.wall:5.1f} s ({sum(big.tables.values()):,} rows, "
            f"{h.run.peak_rss_mb:.0f} MB, exit {h.run.returncode})",
            file=sys.stderr,
            flush=True,
        )
        rows += scale_rows(big, quick, small)
    return rows


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import render

    parser = argparse.ArgumentParser(
        prog="python -m bench.families", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small worlds (a smoke run)")
    parser.add_argument(
        "--repeat", type=int, help=f"harvest/ceiling pairs (default {REPEAT}, 1 with --quick)"
    )
    parser.add_argument("--only", choices=("throughput", "scale"), help="one part only")
    parser.add_argument("--profile", type=Path, help="write harvest-families-<n>.prof here")
    args = parser.parse_args(argv)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    parts = (args.only,) if args.only else ("throughput", "scale")
    rows = run(args.quick, None, args.repeat and max(1, args.repeat), parts, args.profile)
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
