"""Benchmark 8: ``scrapy analyze`` on synthetic databases of 1M and 2M likes, against implicit.

Each database is built in the project's own schema (``Store.open`` creates it, so the schema and
migrations are the real ones), filled with numpy and one ``executemany`` per table, and is a pure
function of its ``Spec`` (sizes and seed); 2m is 60,000 users, 200,000 tracks, 20,000 artists:

- users with ~33 likes on average: a Lomax tail (alpha ``TAIL``, up to ``ORDINARY_MAX``) and a
  few heavy users (``HEAVY_SHARE``: 6 of 60,000) with 1,000-5,000 likes each;
- Zipf-like track popularity (the rank-r track drawn with weight ``(r + 1) ** -ZIPF``), the
  ranks scattered over the catalogue; a (user, track) pair drawn twice is one like, and the
  draws are scaled up until the likes land within a percent of the spec's;
- tracks grouped under artists with heavy-tailed upload counts (every artist has one track at
  least); artists are users, as on SoundCloud.

Then, per size, two subprocesses in turn (``--repeat`` times; the median run is reported),
each timed by ``run_process`` (wall, peak RSS, CPU):

1. ``scrapy analyze`` (all three tables, default options) on a fresh copy of the database: the
   whole command, start-up, reading the likes and writing every row included. Its summary is
   parsed, leniently, for its own read, compute and write seconds; the rows it wrote are
   counted in the database afterwards. A warm-up run on a tiny database comes first, so that
   no measured run compiles numba's cache.
2. ``implicit``'s ``CosineRecommender(K=50).fit`` on the same three binary matrices (item-kNN
   over tracks, users and artists; an artist's audience is every user who liked one of its
   tracks), with the same number of threads (``NUMBA_NUM_THREADS`` for analyze,
   ``num_threads`` for implicit); only the fits are timed, not reading the database.

Goals (issue 11): analyze's wall time <= 2.5x implicit's three fits, peak RSS <= 4 GB. Both
are run on a shared machine: the 1-minute load before and after each size, and CPU seconds
beside wall seconds, tell how much other work weighed on a figure.

``python -m bench.analyze [--quick] [--sizes 1m,2m] [--big] [--repeat N] [--threads N]
[--keep DIR]``: ``--big`` adds the 10M-likes database (300,000 users, 1M tracks) when the
machine has the memory for it; ``--keep`` keeps the built databases in DIR and reuses them
next time (otherwise they live in a temporary directory for the run only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import ROOT, Row, Run, machine, run_process

if TYPE_CHECKING:
    import numpy as np

NAME = "8 analyze"
K = 50
GOAL_RATIO = 2.5
GOAL_RSS_MB = 4096
ZIPF = 0.7
HEAVY_SHARE = 0.0001  # a few users with thousands of likes: 6 of 60,000
TAIL = 2.0
HEAVY_LIKES = (1_000, 5_000)
ORDINARY_MAX = 1000
GENERATOR = 2  # bump when the generator changes: names the cached files
USER_BASE, TRACK_BASE = 100_000_000, 2_000_000_000


@dataclass(frozen=True)
class Spec:
    """One synthetic database: sizes and seed."""

    name: str
    likes: int
    users: int
    tracks: int
    artists: int
    seed: int = 8

    @property
    def file_name(self) -> str:
        from sgr_scrapy.store.schema import SCHEMA_VERSION

        # A kept file from another schema would be migrated inside the timed command.
        return f"analyze-{self.name}-g{GENERATOR}-s{self.seed}-v{SCHEMA_VERSION}.db"


SPECS = {
    "1m": Spec("1m", 1_000_000, 30_000, 100_000, 10_000),
    "2m": Spec("2m", 2_000_000, 60_000, 200_000, 20_000),
    "10m": Spec("10m", 10_000_000, 300_000, 1_000_000, 100_000),
}
QUICK_SPECS = {
    "50k": Spec("50k", 50_000, 1_500, 5_000, 500),
    "100k": Spec("100k", 100_000, 3_000, 10_000, 1_000),
}
WARM_UP = Spec("warm-up", 5_000, 300, 1_000, 100)
# The 10M database: analyze's goal is 4 GB at 2M; give the larger run 5x that, measured
# against MemAvailable before it starts.
BIG_NEEDS_MB = 5 * GOAL_RSS_MB


# -- the synthetic database ------------------------------------------------------------------


@dataclass
class Built:
    """A database on disk and what it holds."""

    spec: Spec
    path: Path
    likes: int
    users: int  # users with one like at least
    tracks: int  # tracks with one like at least
    max_user_likes: int
    max_track_likes: int
    seconds: float  # to build it
    reused: bool = False  # built by an earlier run (--keep)

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 2**20


def _like_counts(rng: np.random.Generator, spec: Spec, target: int) -> np.ndarray:
    import numpy as np

    n = spec.users
    top = spec.tracks // 4  # nobody likes more than a quarter of the catalogue
    cap = min(ORDINARY_MAX, top)
    heavy = np.zeros(n, dtype=bool)
    heavy[rng.choice(n, max(1, round(n * HEAVY_SHARE)), replace=False)] = True
    counts = np.zeros(n, dtype=np.int64)
    counts[heavy] = np.minimum(rng.integers(*HEAVY_LIKES, int(heavy.sum()), endpoint=True), top)
    tail = rng.pareto(TAIL, n)[~heavy]
    left = max(target - int(counts.sum()) - tail.size, 0)  # beyond the one like each has
    scale = left / tail.sum()
    for _ in range(6):  # the cap lowers the mean: correct the scale a few times
        scale *= left / max(np.minimum(np.floor(tail * scale), cap - 1).sum(), 1)
    counts[~heavy] = 1 + np.minimum(np.floor(tail * scale), cap - 1)
    return counts


def _draw_likes(spec: Spec, target: int, attempt: int) -> tuple[np.ndarray, np.ndarray]:
    """(user index, track index) pairs, distinct, sorted by user then track."""
    import numpy as np

    rng = np.random.default_rng([spec.seed, attempt])
    counts = _like_counts(rng, spec, target)
    weights = (np.arange(spec.tracks, dtype=np.float64) + 1) ** -ZIPF
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    rank_to_track = rng.permutation(spec.tracks)
    users = np.repeat(np.arange(spec.users, dtype=np.int64), counts)
    ranks = np.minimum(np.searchsorted(cdf, rng.random(users.size)), spec.tracks - 1)
    keys = np.sort(users * spec.tracks + rank_to_track[ranks])
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # np.unique, 20x faster
    return keys // spec.tracks, keys % spec.tracks


def _artists(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """(artist of each track index as an artist index, user index of each artist)."""
    import numpy as np

    rng = np.random.default_rng([spec.seed, 99])
    weights = np.minimum(rng.pareto(1.2, spec.artists) + 1, 200.0)
    spare = spec.tracks - spec.artists
    cuts = np.arange(1, spec.artists + 1) + np.floor(spare * np.cumsum(weights) / weights.sum())
    cuts[-1] = spec.tracks
    sizes = np.diff(np.concatenate(([0], cuts))).astype(np.int64)
    by_position = np.repeat(np.arange(spec.artists, dtype=np.int64), sizes)
    track_artist = by_position[rng.permutation(spec.tracks)]
    artist_user = rng.choice(spec.users, spec.artists, replace=False)
    return track_artist, artist_user


def build(spec: Spec, path: Path) -> Built:
    """Build ``spec``'s database at ``path`` (replacing any file there)."""
    import numpy as np

    from sgr_scrapy.store import Store

    t0 = time.perf_counter()
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    Store.open(path).close()
    target = spec.likes
    for attempt in range(5):  # duplicates dropped: draw again, scaled up, until within 1%
        users, tracks = _draw_likes(spec, target, attempt)
        if abs(users.size - spec.likes) <= 0.01 * spec.likes:
            break
        target = round(target * spec.likes / users.size)
    track_artist, artist_user = _artists(spec)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # Built once and never crashed into: no journal, no sync; WAL again at the end, as
        # Store.open left it. The engagements' second index is dropped and then created again
        # from its own SQL (sorting once beats 2M random inserts): the same schema, 3x faster.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        index_sql = con.execute(
            'SELECT "name", "sql" FROM "sqlite_master" WHERE "type" = \'index\' '
            'AND "tbl_name" = \'user_engagements\' AND "sql" IS NOT NULL'
        ).fetchall()
        con.execute("BEGIN")
        for name, _ in index_sql:
            con.execute(f'DROP INDEX "{name}"')
        con.executemany(
            'INSERT INTO "users" ("user_id", "username") VALUES (?, ?)',
            ((USER_BASE + u, f"user {u}") for u in range(spec.users)),
        )
        con.executemany(
            'INSERT INTO "tracks" ("track_id", "artist_id", "title") VALUES (?, ?, ?)',
            zip(
                (TRACK_BASE + np.arange(spec.tracks)).tolist(),
                (USER_BASE + artist_user[track_artist]).tolist(),
                (f"track {t}" for t in range(spec.tracks)),
                strict=False,
            ),
        )
        con.executemany(
            'INSERT INTO "user_engagements" ("user_id", "track_id", "engagement_type", "sources")'
            " VALUES (?, ?, 'like', 2)",
            zip((USER_BASE + users).tolist(), (TRACK_BASE + tracks).tolist(), strict=True),
        )
        for _, sql in index_sql:
            con.execute(sql)
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    return Built(
        spec,
        path,
        int(users.size),
        int(np.unique(users).size),
        int(np.unique(tracks).size),
        int(np.bincount(users).max()),
        int(np.bincount(tracks).max()),
        time.perf_counter() - t0,
    )


def describe(spec: Spec, path: Path, seconds: float) -> Built:
    """What an existing database of ``spec`` holds, read back (built in ``seconds``)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        q = "SELECT SUM(n), COUNT(*), MAX(n) FROM (SELECT {0}, COUNT(*) AS n FROM "
        q += '"user_engagements" WHERE "engagement_type" = \'like\' GROUP BY {0})'
        likes, users, max_user = con.execute(q.format('"user_id"')).fetchone()
        _, tracks, max_track = con.execute(q.format('"track_id"')).fetchone()
    finally:
        con.close()
    return Built(spec, path, likes, users, tracks, max_user, max_track, seconds, reused=True)


def database(spec: Spec, directory: Path) -> Built:
    """``spec``'s database in ``directory``: reused when a complete one is there, else built."""
    path = directory / spec.file_name
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return describe(spec, path, json.loads(done.read_text())["seconds"])
    done.unlink(missing_ok=True)
    built = build(spec, path)
    done.write_text(json.dumps({"seconds": built.seconds}))
    return built


# -- implicit, in its own process --------------------------------------------------------------


def matrices(db: Path) -> dict[str, Any]:
    """The three binary user x item matrices of ``db``'s likes, as implicit's ``fit`` takes them
    (rows: who engages; columns: what gets neighbours): tracks, users and artists."""
    import numpy as np
    import scipy.sparse as sp

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            'SELECT "user_id", "track_id" FROM "user_engagements" '
            "WHERE \"engagement_type\" = 'like'"
        ).fetchall()
        artists = dict(con.execute('SELECT "track_id", "artist_id" FROM "tracks"').fetchall())
    finally:
        con.close()
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    user_ids, u = np.unique(pairs[:, 0], return_inverse=True)
    track_ids, t = np.unique(pairs[:, 1], return_inverse=True)
    ones = np.ones(len(pairs), dtype=np.float32)
    user_track = sp.csr_matrix((ones, (u, t)), shape=(len(user_ids), len(track_ids)))
    # A track without an artist has no artist row; its likes join no audience.
    of_track = np.array([artists.get(int(x)) or -1 for x in track_ids], dtype=np.int64)
    has = of_track[t] >= 0
    artist_ids, a = np.unique(of_track[t][has], return_inverse=True)
    user_artist = sp.csr_matrix((ones[has], (u[has], a)), shape=(len(user_ids), len(artist_ids)))
    user_artist.data[:] = 1.0  # one like of the artist's or many: in the audience once
    return {
        "tracks": user_track,
        "users": user_track.T.tocsr(),
        "artists": user_artist,
    }


def implicit_fits(db: Path, threads: int) -> dict[str, float]:
    """Seconds of ``CosineRecommender(K=50).fit`` on each matrix of ``db`` (this process)."""
    import warnings

    from implicit.nearest_neighbours import CosineRecommender

    # implicit warns that its own normalize() handed it a COO matrix: noise in the log.
    warnings.filterwarnings("ignore", message="Method expects CSR input")
    t0 = time.perf_counter()
    mats = matrices(db)
    out = {"load": time.perf_counter() - t0}
    for name, m in mats.items():
        model = CosineRecommender(K=K, num_threads=threads)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(m, show_progress=False)
        out[name] = time.perf_counter() - t0
        out[f"{name}_cpu"] = time.process_time() - c0  # every thread's
        out[f"{name}_pairs"] = float(model.similarity.nnz)
    return out


@dataclass
class Implicit:
    run: Run
    seconds: dict[str, float]

    @property
    def three(self) -> float:
        return self.seconds["tracks"] + self.seconds["users"] + self.seconds["artists"]

    @property
    def three_cpu(self) -> float:
        return sum(self.seconds[f"{k}_cpu"] for k in ("tracks", "users", "artists"))


def time_implicit(db: Path, threads: int, work: Path) -> Implicit:
    cmd = [sys.executable, "-m", "bench.analyze", "--implicit-fit", str(db)]
    cmd += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = run_process(cmd, env=env, cwd=ROOT, log=work / f"implicit-{db.stem}.log")
    found = re.findall(r"^IMPLICIT (\{.*\})$", run.log_tail, re.MULTILINE)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"implicit fit failed ({run.returncode}):\n{run.log_tail}")
    return Implicit(run, json.loads(found[-1]))


# -- scrapy analyze -----------------------------------------------------------------------------

# (table, where) of the rows analyze writes.
OUTPUTS = {
    "related_tracks": "\"source\" = 'co_like'",
    "user_similarity": "1",
    "artist_relationships": "\"relationship_type\" = 'co_liked'",
}


@dataclass
class Analyzed:
    run: Run
    rows: dict[str, int]
    steps: dict[str, float]  # seconds per step the summary printed (compute, write, ...)


def analyze_env(db: Path, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    threads_s = str(threads)
    env.update(
        SCRAPY_SETTINGS_MODULE="sgr_scrapy.settings",
        PYTHONPATH=str(ROOT),
        SGR_DB_PATH=str(db),
        # The same thread count as implicit's fits, for whichever pool the command uses.
        OMP_NUM_THREADS=threads_s,
        OPENBLAS_NUM_THREADS=threads_s,
        MKL_NUM_THREADS=threads_s,
        NUMBA_NUM_THREADS=threads_s,
    )
    return env


def analyze_command(args: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "scrapy.cmdline", "analyze", *(args or [])]


_SECONDS = re.compile(
    r"(?P<label>[A-Za-z][\w /&()-]*?)\s*[:=]?\s*(?P<value>\d[\d,]*(?:\.\d+)?)\s*"
    r"(?:s|sec|seconds)\b"
)


def parse_steps(text: str) -> dict[str, float]:
    """Seconds per step from the command's summary: every ``<label> ... <number> s`` on a line
    whose label says compute/write/read/total (lenient: the summary's exact shape may change)."""
    steps: dict[str, float] = {}
    for line in text.splitlines():
        for m in _SECONDS.finditer(line):
            label = m.group("label").strip().lower()
            for key in ("compute", "write", "read", "total", "load", "als", "evaluat"):
                if key in label:
                    steps.setdefault(label, float(m.group("value").replace(",", "")))
    return steps


def step_rows(
    label: str, steps: dict[str, float], wall: float, fits: dict[str, float]
) -> list[Row]:
    """analyze's own seconds (its summary), beside implicit's fit of the same kind."""
    if not steps:
        return [Row(NAME, f"{label} analyze's own seconds", "none found in its summary")]

    def get(*keys: str) -> str:
        return " / ".join(f"{steps[k]:.2f} s" if k in steps else "?" for k in keys)

    rows = [
        Row(
            NAME,
            f"{label} analyze's own: read / compute / write (a thread, beside) / its wall",
            get("read", "compute total", "write total", "total (wall)"),
        ),
        Row(
            NAME,
            f"{label} analyze compute vs implicit fit: tracks / users / artists",
            " / ".join(
                f"{steps[f'compute {k}']:.2f} s vs {fits[k]:.2f} s"
                if f"compute {k}" in steps
                else "?"
                for k in ("tracks", "users", "artists")
            ),
        ),
        Row(
            NAME,
            f"{label} analyze write: " + " / ".join(t for t in OUTPUTS) + " / commit",
            get(*(f"write {t}" for t in OUTPUTS), "write commit"),
        ),
    ]
    if "total (wall)" in steps:
        rows.append(
            Row(
                NAME,
                f"{label} process start and exit (wall - its own wall)",
                f"{wall - steps['total (wall)']:.2f} s",
            )
        )
    return rows


def count_outputs(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for table, where in OUTPUTS.items():
            try:
                out[table] = con.execute(
                    f'SELECT COUNT(*) FROM "{table}" WHERE {where}'
                ).fetchone()[0]
            except sqlite3.Error:
                out[table] = -1
        return out
    finally:
        con.close()


def run_analyze(built: Built, threads: int, work: Path, args: list[str] | None = None) -> Analyzed:
    """``scrapy analyze`` on a fresh copy of ``built``'s database (a rerun would also delete)."""
    db = work / f"run-{built.path.name}"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    shutil.copyfile(built.path, db)
    run = run_process(
        analyze_command(args),
        env=analyze_env(db, threads),
        cwd=ROOT,
        log=work / f"analyze-{built.spec.name}.log",
    )
    rows = count_outputs(db)
    text = (work / f"analyze-{built.spec.name}.log").read_text(errors="replace")
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.lock")):
        p.unlink(missing_ok=True)
    return Analyzed(run, rows, parse_steps(text))


def analyze_available() -> bool:
    return (ROOT / "sgr_scrapy" / "commands" / "analyze.py").exists()


# -- the benchmark ---------------------------------------------------------------------------


def available_mb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _median(runs: list[Any], key: Callable[[Any], float]) -> Any:
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def measure(
    built: Built, threads: int, work: Path, repeat: int = 1
) -> tuple[list[Row], float | None]:
    """The rows of one database, and analyze's wall time (None when it did not run).

    implicit and analyze run in turn ``repeat`` times; each figure is the median run's."""
    s = built.spec
    label = f"{s.name}:"
    rows = [
        Row(
            NAME,
            f"{label} likes / users / tracks / artists",
            f"{built.likes:,} / {built.users:,} / {built.tracks:,} / {s.artists:,}",
        ),
        Row(
            NAME,
            f"{label} most likes of a user / of a track",
            f"{built.max_user_likes:,} / {built.max_track_likes:,}",
        ),
        Row(
            NAME,
            f"{label} database build, size",
            f"{built.seconds:.1f} s{' (an earlier run)' if built.reused else ''}, "
            f"{built.size_mb:.0f} MB",
        ),
    ]
    load0 = os.getloadavg()[0]
    imps: list[Implicit] = []
    analyzed: list[Analyzed] = []
    for _ in range(repeat):
        imps.append(time_implicit(built.path, threads, work))
        if analyze_available():
            analyzed.append(run_analyze(built, threads, work))
    # Other work on the machine slows both alike: the load before and after, to judge by.
    of = f" (median of {repeat})" if repeat > 1 else ""
    rows.append(
        Row(
            NAME, f"{label} 1-minute load before / after", f"{load0:.2f} / {os.getloadavg()[0]:.2f}"
        )
    )
    imp = _median(imps, lambda i: i.three)
    sec = imp.seconds
    rows.append(
        Row(
            NAME,
            f"{label} implicit CosineRecommender(K={K}).fit, {threads} threads{of}: "
            "tracks / users / artists",
            f"{sec['tracks']:.2f} s / {sec['users']:.2f} s / {sec['artists']:.2f} s",
        )
    )
    rows.append(
        Row(
            NAME,
            f"{label} implicit, three fits (tracks alone)",
            f"{imp.three:.2f} s ({sec['tracks']:.2f} s), CPU {imp.three_cpu:.1f} s; "
            f"peak RSS {imp.run.peak_rss_mb:,.0f} MB"
            + (f"; best {min(i.three for i in imps):.2f} s" if repeat > 1 else ""),
        )
    )
    if not analyzed:
        rows.append(
            Row(NAME, f"{label} scrapy analyze", "not run: no sgr_scrapy/commands/analyze.py")
        )
        return rows, None
    a = _median(analyzed, lambda r: r.run.wall if r.run.returncode == 0 else math.inf)
    status = f"exit {a.run.returncode}"
    rows.append(
        Row(
            NAME,
            f"{label} scrapy analyze wall ({status}){of}",
            f"{a.run.wall:.2f} s (CPU {a.run.cpu:.1f} s)"
            + (f"; best {min(r.run.wall for r in analyzed):.2f} s" if repeat > 1 else ""),
        )
    )
    rows.append(
        Row(
            NAME,
            f"{label} scrapy analyze peak RSS",
            f"{a.run.peak_rss_mb:,.0f} MB",
            f"<= {GOAL_RSS_MB:,} MB",
            a.run.returncode == 0 and max(r.run.peak_rss_mb for r in analyzed) <= GOAL_RSS_MB,
        )
    )
    ratio = a.run.wall / imp.three if imp.three else math.inf
    best = min(r.run.wall for r in analyzed) / min(i.three for i in imps)
    rows.append(
        Row(
            NAME,
            f"{label} analyze / implicit's three fits{of}",
            f"{ratio:.2f}x" + (f" (best / best {best:.2f}x)" if repeat > 1 else ""),
            f"<= {GOAL_RATIO}x",
            a.run.returncode == 0 and ratio <= GOAL_RATIO,
        )
    )
    # CPU seconds suffer less than wall time from other work on the machine: a cross-check.
    rows.append(
        Row(
            NAME,
            f"{label} CPU: analyze (whole process) / implicit's three fits",
            f"{a.run.cpu:.1f} s / {imp.three_cpu:.1f} s = {a.run.cpu / imp.three_cpu:.2f}x",
        )
    )
    written = " / ".join(f"{n:,}" for n in a.rows.values())
    rows.append(Row(NAME, f"{label} rows written: " + " / ".join(a.rows), written))
    rows += step_rows(label, a.steps, a.run.wall, sec)
    if a.run.returncode != 0:
        last = [line for line in a.run.log_tail.splitlines() if line.strip()][-1:] or [""]
        rows.append(Row(NAME, f"{label} analyze's last line", last[0][:160]))
    return rows, a.run.wall if a.run.returncode == 0 else None


def growth(walls: list[tuple[Built, float]]) -> list[Row]:
    """How analyze's wall time grows with the likes: b in wall ~ likes**b, size to size."""
    out = []
    for (small, w0), (big, w1) in pairwise(walls):
        b = math.log(w1 / w0) / math.log(big.likes / small.likes)
        out.append(
            Row(
                NAME,
                f"growth {small.spec.name} -> {big.spec.name}: wall ~ likes^b",
                f"b = {b:.2f} ({w0:.1f} s -> {w1:.1f} s)",
            )
        )
    return out


def warm_up(threads: int, work: Path) -> Row:
    """One untimed-for-the-goal run on a tiny database: numba compiles the command's kernels
    on first use and caches them (``cache=True``), so no measured run pays for compiling."""
    built = build(WARM_UP, work / WARM_UP.file_name)
    a = run_analyze(built, threads, work)
    return Row(
        NAME,
        "warm-up run on 5,000 likes (compiles numba's cache when stale)",
        f"exit {a.run.returncode}, {a.run.wall:.2f} s",
    )


def run(
    quick: bool = False,
    cache: dict[str, Any] | None = None,
    *,
    sizes: list[str] | None = None,
    big: bool = False,
    threads: int = 0,
    keep: Path | None = None,
    repeat: int = 1,
) -> list[Row]:
    """Benchmark 8 (see the module docstring); ``cache`` is unused (nothing to share)."""
    specs = QUICK_SPECS if quick else SPECS
    names = sizes or (list(QUICK_SPECS) if quick else ["1m", "2m"])
    if big and not quick and "10m" not in names:
        names.append("10m")
    threads = threads or os.cpu_count() or 1
    rows: list[Row] = []
    walls: list[tuple[Built, float]] = []
    with tempfile.TemporaryDirectory(prefix="sgr-bench-analyze-") as tmp:
        work = Path(tmp)
        store = keep or work
        store.mkdir(parents=True, exist_ok=True)
        if analyze_available():
            rows.append(warm_up(threads, work))
        for name in names:
            spec = specs[name]
            if spec.likes >= 10_000_000:
                free = available_mb()
                if free < BIG_NEEDS_MB:
                    rows.append(
                        Row(
                            NAME, f"{name}: skipped", f"{free:,.0f} MB available < {BIG_NEEDS_MB:,}"
                        )
                    )
                    continue
            print(f"  analyze bench: database {name} ...", file=sys.stderr, flush=True)
            built = database(spec, store)
            print(f"  analyze bench: measuring {name} ...", file=sys.stderr, flush=True)
            got, wall = measure(built, threads, work, repeat)
            rows += got
            if wall is not None:
                walls.append((built, wall))
    return rows + growth(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.analyze", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small databases (a smoke run)")
    parser.add_argument("--sizes", help=f"comma list among {','.join(SPECS)} (default 1m,2m)")
    parser.add_argument("--big", action="store_true", help="add 10m when memory allows")
    parser.add_argument("--threads", type=int, default=0, help="threads for both (0 = cores)")
    parser.add_argument("--keep", type=Path, help="keep and reuse the built databases here")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians reported")
    parser.add_argument("--implicit-fit", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.implicit_fit:
        # The child of time_implicit: fit, print one line, exit.
        seconds = implicit_fits(args.implicit_fit, args.threads or os.cpu_count() or 1)
        print("IMPLICIT " + json.dumps(seconds), flush=True)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",")] if args.sizes else None
    known = QUICK_SPECS if args.quick else SPECS
    if sizes and set(sizes) - set(known):
        parser.error(
            f"unknown size(s) {sorted(set(sizes) - set(known))}; choose from {list(known)}"
        )
    from bench.__main__ import render

    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    rows = run(
        args.quick,
        sizes=sizes,
        big=args.big,
        threads=args.threads,
        keep=args.keep,
        repeat=max(1, args.repeat),
    )
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
