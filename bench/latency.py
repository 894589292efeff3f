"""Benchmark 2: latency-bound, 100 ms ± 20 ms a request and 20 requests/s per token.

The ideal is the fewest requests a complete harvest needs (``Plan.min_requests``) at the
rate limit: nothing can finish sooner. The harvest's wall time (process start to exit, so
Python and Scrapy start-up are included) is set against it, and the simulator's count of
429 answers against every request it answered.

Three variants of the same token bucket, each a fresh simulator and a fresh harvest:

- ``burst 20``: a bucket of 20 (one second of requests); the 429 body carries ``reset_time``.
- ``burst 1``: no slack at all, so every early send is a 429 and a wait cannot be caught up.
- ``Retry-After``: burst 20, a text body, so the header is the only hint the server gives.

``python -m bench.latency [--variant NAME] [--repeat N]`` runs them alone (one line each).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import Row, plan
from bench.cpu import harvest

RATE = 20.0  # requests per second per token
FAULTS = ["--latency-ms", "100", "--jitter-ms", "20", "--rate-limit", str(int(RATE))]
VARIANTS: dict[str, list[str]] = {
    "burst 20": ["--rate-burst", "20"],
    "burst 1": ["--rate-burst", "1"],
    "Retry-After": ["--rate-burst", "20", "--retry-after", "--rate-limit-body", "text"],
}
# ~1,480 requests at least: an ideal of ~74 s.
WORLD = ["--seed", "2", "--likers", "1250", "--reposters", "250"]
QUICK_WORLD = ["--seed", "2", "--likers", "120", "--reposters", "25"]
MAX_SHARE = 0.02  # of requests answered 429
MAX_RATIO = 1.10  # wall time over the ideal


@dataclass
class Limited:
    """One harvest against one rate-limited simulator, measured."""

    variant: str
    returncode: int
    wall: float
    ideal: float
    requests: int
    limited: int
    peak_concurrency: str
    blocked: float  # the harvest's own sgr/rate_limit/blocked_seconds
    pace: float  # the harvest's own sgr/throttle/rate at the end (0: never paced)

    @property
    def share(self) -> float:
        return self.limited / self.requests if self.requests else 0.0

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    def line(self) -> str:
        return (
            f"{self.variant:<12} exit {self.returncode}  wall {self.wall:6.1f} s  "
            f"ratio {self.ratio:.3f}x  429 {self.share:6.2%} ({self.limited} of "
            f"{self.requests})  blocked {self.blocked:.1f} s  pace {self.pace:.2f}/s"
        )


def measure(variant: str, quick: bool = False) -> Limited:
    world = QUICK_WORLD if quick else WORLD
    with tempfile.TemporaryDirectory(prefix="sgr-bench-latency-") as tmp:
        h = harvest([*world, *FAULTS, *VARIANTS[variant]], Path(tmp))
    return Limited(
        variant,
        h.run.returncode,
        h.run.wall,
        h.plan.min_requests / RATE,
        h.requests,
        int(h.stats["rate_limited"]),
        str(h.stats.get("peak_concurrency", "?")),
        h.run.stats.get("sgr/rate_limit/blocked_seconds", 0.0),
        h.run.stats.get("sgr/throttle/rate", 0.0),
    )


def run(quick: bool = False, cache: dict | None = None) -> list[Row]:
    world_plan = plan(QUICK_WORLD if quick else WORLD)
    name = "2 latency-bound"
    rows = [
        Row(
            name,
            "minimum requests / ideal wall time at 20/s",
            f"{world_plan.min_requests:,} / {world_plan.min_requests / RATE:.1f} s",
        )
    ]
    for variant in VARIANTS:
        m = measure(variant, quick)
        rows += [
            Row(
                name,
                f"{variant}: exit status, wall time, 429 wait",
                f"{m.returncode}, {m.wall:.1f} s, blocked {m.blocked:.1f} s, "
                f"pace at the end {m.pace:.1f}/s, peak concurrency {m.peak_concurrency}",
            ),
            Row(
                name,
                f"{variant}: wall / ideal",
                f"{m.ratio:.2f}x",
                f"<= {MAX_RATIO:.2f}x",
                m.ratio <= MAX_RATIO,
            ),
            Row(
                name,
                f"{variant}: requests answered 429",
                f"{m.share:.2%} ({m.limited:,} of {m.requests:,})",
                f"< {MAX_SHARE:.0%}",
                m.share < MAX_SHARE,
            ),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, list[Limited]] = {}
    for _ in range(args.repeat):
        for variant in args.variant or list(VARIANTS):
            m = measure(variant, args.quick)
            results.setdefault(variant, []).append(m)
            print(m.line(), flush=True)
    for variant, ms in results.items():
        print(
            f"{variant:<12} median of {len(ms)}: ratio "
            f"{statistics.median(m.ratio for m in ms):.3f}x, 429 "
            f"{statistics.median(m.share for m in ms):.2%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
