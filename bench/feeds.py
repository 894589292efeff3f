"""The cost of feed exports: benchmark 1's world harvested with no feed, then with `-O out.jsonl`.

With no feed configured the pipeline builds no record (feeds.py), so that run is the harvest as
benchmark 1 measures it. With `-O out.jsonl` every row the run wrote is read back after the last
commit and sent to the feed as one record; the difference in wall time is that export.

``python -m bench.feeds [--repeat N] [--quick]`` runs both N times, alternating, and prints each
run and the medians (the machine is shared and noisy: compare medians).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.common import Row
from bench.cpu import QUICK_WORLD, WORLD, Harvested, harvest


def feed_harvest(world: list[str], workdir: Path, feed: bool) -> tuple[Harvested, int]:
    """One harvest (with ``-O out.jsonl`` when ``feed``) and the records in its feed."""
    out = workdir / "out.jsonl"
    h = harvest(world, workdir, args=["-O", str(out)] if feed else ())
    if h.run.returncode != 0:
        raise SystemExit(f"harvest failed ({h.run.returncode}):\n{h.run.log_tail}")
    return h, sum(1 for _ in out.open("rb")) if feed else 0


def measure(repeat: int, quick: bool) -> dict[bool, list[tuple[Harvested, int]]]:
    world = QUICK_WORLD if quick else WORLD
    runs: dict[bool, list[tuple[Harvested, int]]] = {False: [], True: []}
    for n in range(repeat):
        for feed in (False, True):
            with tempfile.TemporaryDirectory(prefix="sgr-bench-feeds-") as tmp:
                h, records = feed_harvest(world, Path(tmp), feed)
            runs[feed].append((h, records))
            label = "-O out.jsonl" if feed else "no feed"
            print(
                f"{n + 1}/{repeat} {label:<13} {h.run.wall:6.1f} s wall, {h.run.cpu:6.1f} s CPU, "
                f"{h.requests:,} requests, {h.rows:,} rows, {records:,} records",
                flush=True,
            )
    return runs


def run(quick: bool = False, repeat: int = 3) -> list[Row]:
    """Rows for `make bench`: medians of both, and the export's share of the wall time."""
    runs = measure(repeat, quick)
    plain = statistics.median(h.run.wall for h, _ in runs[False])
    fed = statistics.median(h.run.wall for h, _ in runs[True])
    last, records = runs[True][-1]
    rows = last.rows
    name = "feeds"
    return [
        Row(name, "median wall, no feed", f"{plain:.1f} s ({repeat} runs)"),
        Row(name, "median wall, -O out.jsonl", f"{fed:.1f} s ({records:,} records)"),
        Row(
            name,
            "records = rows the run wrote",
            f"{records:,} / {rows:,}",
            "equal",
            records == rows,
        ),
        Row(name, "-O costs (wall)", f"{fed - plain:+.1f} s ({fed / plain - 1:+.0%})"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feeds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for row in run(args.quick, args.repeat):
        print(f"{row.figure:<32} {row.value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
