"""Benchmark: ``scrapy export`` to Parquet and to GraphML on 1M- and 2M-like databases.

The databases are bench/analyze.py's synthetic ones (``database(spec, dir)``: the project's
schema, Zipf-like likes, heavy users), then dressed as a harvest leaves them, so the export
converts what a real one holds: every engagement gets ``first_seen``/``last_seen`` (ISO text),
every track a genre, two tags, ``created_at``, timestamps and a small ``raw_json``, every user
``created_at`` and timestamps. A dressed database is a pure function of its spec and is reused
across runs with ``--keep``.

Per database, each export runs as a subprocess (``run_process``: wall time from spawn to exit,
peak RSS of the process, CPU time):

1. ``scrapy export --format parquet -o DIR`` (every table): rows/s over the command's wall
   time, and over the export's own time (its summary line, without Python's and Scrapy's
   start-up), and per CPU second with the start-up's CPU taken off (steadier when other work
   shares the two cores); goals (issue 12): >= 500,000 rows/s and <= 500 MB peak RSS, whatever
   the size (the 2M database shows whether RSS grows with it).
2. ``scrapy export --format graphml -o FILE`` (the engagements graph, built in memory with
   NetworkX and streamed out by its lxml writer): edges/s and peak RSS, for information.
3. ``scrapy export --help``: the RSS of the interpreter and the imports alone, the floor under
   both.

``python -m bench.exports [--quick] [--sizes 1m,2m] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analyze import QUICK_SPECS, SPECS, Spec, database
from bench.common import ROOT, Row, Run, fmt, machine, run_process

NAME = "9 exports"
GOAL_ROWS_PER_S = 500_000
GOAL_RSS_MB = 500
DRESSING = 1  # bump when the dressing changes: names the cached files

# What a harvest fills and the synthetic database leaves empty (strftime: SQLite's own clock
# format, as store/sql.py NOW writes it).
_DRESS = (
    """UPDATE "user_engagements" SET
        "first_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + "user_id" % 86400,
            'unixepoch'),
        "last_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700100000 + "track_id" % 86400,
            'unixepoch')""",
    """UPDATE "tracks" SET
        "genre" = CASE "track_id" % 6 WHEN 0 THEN 'House' WHEN 1 THEN 'Techno'
            WHEN 2 THEN 'Ambient' WHEN 3 THEN 'Drum & Bass' WHEN 4 THEN 'Hip-hop' ELSE NULL END,
        "tags" = json_array('tag ' || ("track_id" % 97), 'deep house'),
        "created_at" = strftime('%Y-%m-%dT%H:%M:%SZ', 1400000000 + "track_id" % 300000000,
            'unixepoch'),
        "first_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000, 'unixepoch'),
        "last_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000, 'unixepoch'),
        "duration_ms" = 60000 + "track_id" % 300000,
        "raw_json" = json_object('kind', 'track', 'bpm', 120.5, 'description',
            'a track of ' || "artist_id")""",
    """UPDATE "users" SET
        "created_at" = strftime('%Y-%m-%dT%H:%M:%SZ', 1300000000 + "user_id" % 300000000,
            'unixepoch'),
        "first_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000, 'unixepoch'),
        "last_seen" = strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000, 'unixepoch'),
        "country" = 'DE'""",
)


@dataclass
class Dressed:
    spec: Spec
    path: Path
    rows: dict[str, int]  # by table
    reused: bool

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 2**20


def dressed(spec: Spec, directory: Path) -> Dressed:
    """``spec``'s analyze database, dressed as a harvest leaves it; reused when complete."""
    path = directory / f"exports-{spec.name}-d{DRESSING}-{spec.file_name}"
    done = path.with_suffix(".done")
    reused = path.exists() and done.exists()
    if not reused:
        done.unlink(missing_ok=True)
        built = database(spec, directory)
        shutil.copyfile(built.path, path)
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")  # built once, never crashed into
            con.execute("BEGIN")
            for statement in _DRESS:
                con.execute(statement)
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
        done.write_text("{}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()
    return Dressed(spec, path, rows, reused)


def export_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    env.update(SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings", PYTHONPATH=str(ROOT))
    env["SGR_DB_PATH"] = str(db)
    return env


def export(db: Path, work: Path, name: str, *args: str) -> tuple[Run, float | None]:
    """``scrapy export <args>``: how the process went, and the export's own seconds."""
    log = work / f"{name}.log"
    run = run_process(
        [sys.executable, "-m", "scrapy.cmdline", "export", *args],
        env=export_env(db),
        cwd=work,
        log=log,
    )
    found = re.search(r"^exported .* in ([\d.]+) s$", log.read_text(errors="replace"), re.M)
    return run, float(found.group(1)) if found else None


def measure(d: Dressed, work: Path, start_cpu: float) -> list[Row]:
    label = f"{d.spec.name}:"
    total = sum(d.rows.values())
    likes = d.rows.get("user_engagements", 0)
    rows = [
        Row(
            NAME,
            f"{label} database: rows (engagements / tracks / users), size",
            f"{total:,} ({likes:,} / {d.rows.get('tracks', 0):,} / {d.rows.get('users', 0):,}), "
            f"{d.size_mb:.0f} MB{' (an earlier run)' if d.reused else ''}",
        )
    ]
    out = work / f"parquet-{d.spec.name}"
    run, own = export(d.path, work, f"parquet-{d.spec.name}", "--format", "parquet", "-o", str(out))
    shutil.rmtree(out, ignore_errors=True)
    ok = run.returncode == 0
    rate = total / run.wall if ok else 0.0
    own_rate = total / own if ok and own else 0.0
    rows += [
        Row(
            NAME,
            f"{label} parquet, every table: wall (exit status) / CPU",
            f"{run.wall:.1f} s ({run.returncode}) / {run.cpu:.1f} s"
            + ("" if ok else run.log_tail[-300:]),
        ),
        Row(
            NAME,
            f"{label} parquet rows/s (the command's wall; start-up included)",
            fmt(rate),
            f">= {GOAL_ROWS_PER_S:,}",
            ok and rate >= GOAL_ROWS_PER_S,
        ),
        Row(
            NAME,
            f"{label} parquet rows/s (the export's own time, its summary)",
            f"{fmt(own_rate)} ({own or 0:.1f} s)",
            f">= {GOAL_ROWS_PER_S:,}",
            ok and own_rate >= GOAL_ROWS_PER_S,
        ),
        Row(
            NAME,
            f"{label} parquet rows per CPU second (start-up's CPU taken off; steadier on a "
            "busy machine)",
            fmt(total / (run.cpu - start_cpu) if ok and run.cpu > start_cpu else 0.0),
        ),
        Row(
            NAME,
            f"{label} parquet peak RSS",
            f"{run.peak_rss_mb:.0f} MB",
            f"<= {GOAL_RSS_MB} MB",
            ok and run.peak_rss_mb <= GOAL_RSS_MB,
        ),
    ]
    graph = work / f"engagements-{d.spec.name}.graphml"
    run, own = export(
        d.path, work, f"graphml-{d.spec.name}", "--format", "graphml", "-o", str(graph)
    )
    size = graph.stat().st_size / 2**20 if graph.exists() else 0.0
    graph.unlink(missing_ok=True)
    ok = run.returncode == 0
    rows += [
        Row(
            NAME,
            f"{label} graphml, engagements graph: wall (exit status) / CPU / file",
            f"{run.wall:.1f} s ({run.returncode}) / {run.cpu:.1f} s / {size:.0f} MB",
        ),
        Row(
            NAME,
            f"{label} graphml engagements/s (wall; own time)",
            f"{fmt(likes / run.wall if ok else 0)}; {fmt(likes / own if ok and own else 0)}",
        ),
        Row(NAME, f"{label} graphml peak RSS (the graph in memory)", f"{run.peak_rss_mb:.0f} MB"),
    ]
    return rows


def floor(work: Path) -> tuple[Row, float]:
    """The command doing nothing (Python, Scrapy, the project's imports): its row, its CPU."""
    run = run_process(
        [sys.executable, "-m", "scrapy.cmdline", "export", "--help"],
        env=export_env(work / "none.db"),
        cwd=work,
        log=work / "help.log",
    )
    row = Row(
        NAME,
        "start-up alone (scrapy export --help): wall / CPU / peak RSS",
        f"{run.wall:.1f} s / {run.cpu:.1f} s / {run.peak_rss_mb:.0f} MB",
    )
    return row, run.cpu


def run(
    quick: bool = False,
    cache: dict[str, Any] | None = None,
    *,
    sizes: list[str] | None = None,
    keep: Path | None = None,
) -> list[Row]:
    """The benchmark (module docstring); ``cache`` is unused (nothing to share)."""
    specs = QUICK_SPECS if quick else SPECS
    names = sizes or (list(QUICK_SPECS) if quick else ["1m", "2m"])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sgr-bench-exports-") as tmp:
        work = Path(tmp)
        store = keep or work
        store.mkdir(parents=True, exist_ok=True)
        start, start_cpu = floor(work)
        rows.append(start)
        for name in names:
            print(f"  exports bench: database {name} ...", file=sys.stderr, flush=True)
            d = dressed(specs[name], store)
            print(f"  exports bench: exporting {name} ...", file=sys.stderr, flush=True)
            rows += measure(d, work, start_cpu)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.exports", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small databases (a smoke run)")
    parser.add_argument("--sizes", help=f"comma list among {','.join(SPECS)} (default 1m,2m)")
    parser.add_argument("--keep", type=Path, help="keep and reuse the built databases here")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",")] if args.sizes else None
    known = QUICK_SPECS if args.quick else SPECS
    if sizes and set(sizes) - set(known):
        parser.error(
            f"unknown size(s) {sorted(set(sizes) - set(known))}; choose from {list(known)}"
        )
    from bench.__main__ import render

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    rows = run(args.quick, sizes=sizes, keep=args.keep)
    print(render(rows))
    if args.json:
        doc = {"machine": info, "rows": [r.to_json() for r in rows]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
