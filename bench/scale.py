"""Benchmark 4: a harvest of about a million engagements; peak RSS and throughput.

Throughput is compared with benchmark 1 (run in the same invocation, or read from the cache
it fills); peak RSS is ``ru_maxrss`` of the harvest process alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import Row, fmt
from bench.cpu import Harvested, harvest

# ~1.01M listed engagements, 22,960 likes lists, 24,938 requests at least. The catalogue grows
# with the world (benchmark 1 has 20,000 tracks for 229k engagements), so tracks are not all
# liked a hundred times over and the database grows as a real harvest's would.
WORLD = ["--seed", "1", "--likers", "20500", "--reposters", "4100", "--tracks", "90000"]
QUICK_WORLD = ["--seed", "4", "--likers", "1000", "--reposters", "200"]


def run(quick: bool = False, cache: dict[str, Any] | None = None) -> list[Row]:
    world = QUICK_WORLD if quick else WORLD
    with tempfile.TemporaryDirectory(prefix="sgr-bench-scale-") as tmp:
        h = harvest(world, Path(tmp))
    name = "4 scale"
    rows = [
        Row(
            name,
            "world: listed engagements / likes lists",
            f"{h.plan.listed:,} / {h.plan.users:,}",
            ">= 1,000,000" if not quick else "",
            h.plan.listed >= 1_000_000 if not quick else None,
        ),
        Row(name, "harvest exit status, wall time", f"{h.run.returncode}, {h.run.wall:.1f} s"),
        Row(
            name,
            "peak RSS of the harvest",
            f"{h.run.peak_rss_mb:.0f} MB",
            "< 300 MB",
            h.run.peak_rss_mb < 300,
        ),
        Row(name, "tracks stored/s", f"{fmt(h.rate(h.tracks))} ({h.tracks:,} rows)"),
        Row(name, "rows upserted: tracks / users / engagements", h.rows_written()),
        Row(name, "requests/s", f"{fmt(h.rate(h.requests))} ({h.requests:,} requests)"),
    ]
    small: Harvested | None = (cache or {}).get("cpu")
    eps = h.rate(h.engagements)
    if small is None:
        rows.append(
            Row(
                name,
                "engagements stored/s",
                f"{fmt(eps)} ({h.engagements:,} rows)",
                "within 20% of benchmark 1 (not run)",
            )
        )
    else:
        ratio = eps / small.rate(small.engagements)
        rows.append(
            Row(
                name,
                "engagements stored/s vs benchmark 1",
                f"{fmt(eps)} ({h.engagements:,} rows) = {ratio:.0%}",
                ">= 80%",
                ratio >= 0.8,
            )
        )
    return rows
