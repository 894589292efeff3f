"""``python -m bench`` (``make bench``): the seven benchmarks of the harvest, one table.

1. cpu: no latency, no limit, two worlds (~229k engagements in short lists; a wide one shaped
   like the stricter simulator's); tracks, engagements and requests per
   second and peak RSS, against the ceiling (bench/ceiling.py: a bare spider, same requests);
   the median of three ceiling-harvest-ceiling triples, as measured and per simulator CPU
   second (the machine's drift taken out).
2. latency: 100 ms ± 20 ms, 20 requests/s per token, bursts of 20, of 1, and Retry-After as the
   only hint; wall time against the ideal, 429 share.
3. economy: requests made against the minimum (reuses benchmark 1's harvest when both run).
4. scale: ~1M engagements; peak RSS and throughput against benchmark 1.
5. resume: ``kill -9`` half-way, rerun; requests repeated against the requests in flight.
6. feeds: benchmark 1's world with no feed and with ``-O out.jsonl``: the export's cost, and
   records = rows written (``python -m bench.feeds --repeat 3`` for medians).
7. families: every list family on; items/s against the ceiling reading the same families,
   requests against the fewest (median of three pairs, as benchmark 1), and peak RSS at >= 1M
   rows (``python -m bench.families``).
9. refresh: ``-a plan=1``'s estimate against the requests the harvest then makes (several
   worlds and caps), and ``refresh=new`` against ``refresh=1`` after one ``--epoch`` of growth
   (``python -m bench.refresh``).
8. analyze: ``scrapy analyze`` on synthetic databases of 1M and 2M likes against implicit's
   three ``CosineRecommender(K=50).fit`` on the same matrices; wall time, peak RSS
   (``python -m bench.analyze``).
10. exports: Parquet and GraphML exports of 1M- and 2M-like databases: rows/s, peak RSS
   (``python -m bench.exports``).

Options: ``--only cpu,latency,...``, ``--quick`` (small worlds: a smoke run, not a measure),
``--json PATH`` (write the machine and the rows too). Every figure is printed beside its
goal; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import analyze, cpu, exports, families, feeds, latency, refresh, resume, scale
from bench.common import Row, machine

BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "cpu": cpu.run,
    "latency": latency.run,
    "economy": cpu.economy,
    "scale": scale.run,
    "resume": resume.run,
    "feeds": lambda quick, cache: feeds.run(quick=quick, repeat=1),
    "families": families.run,
    "refresh": refresh.run,
    "analyze": analyze.run,
    "exports": exports.run,
}


def render(rows: list[Row]) -> str:
    """The rows as one fixed-width table (also valid Markdown)."""
    head = ("benchmark", "figure", "value", "goal", "met")
    cells = [head] + [
        (
            r.benchmark,
            r.figure,
            r.value,
            r.goal,
            "" if r.met is None else ("yes" if r.met else "no"),
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def line(c: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma list of {','.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small worlds (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = set(names) - set(BENCHMARKS)
        if unknown:
            parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(BENCHMARKS)}")
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    if args.quick:
        print("--quick: small worlds, figures are not meaningful against the goals", flush=True)
    rows: list[Row] = []
    cache: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        rows += BENCHMARKS[name](quick=args.quick, cache=cache)
        timings[name] = time.perf_counter() - t0
        print(f"  {name} took {timings[name]:.0f} s", file=sys.stderr, flush=True)
    print(render(rows))
    if args.json:
        doc = {
            "machine": info,
            "quick": args.quick,
            "seconds": timings,
            "rows": [r.to_json() for r in rows],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
