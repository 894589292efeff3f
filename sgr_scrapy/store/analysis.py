"""What `scrapy analyze` reads and writes: engagements in bulk, and its results in one transaction.

Reads give numpy arrays straight from the cursor (no list of tuples in between). Writes run in
one transaction, begun by `begin_analysis` and ended by `finish_analysis` (or undone by
`abort_analysis`): the three relation tables are replaced together with the run's row, so a
reader sees the previous run's rows or this one's, never a mix, and a failure leaves them as
they were. Rows of other origins (`related_tracks` from the API, other relationship types) are
never touched.

Bulk writing is tuned, measured on 2M likes (7.4M rows):
- the rows come in key order, so that each insert appends to its B-tree;
- `ROWS_PER_STATEMENT` rows go in one INSERT (a multi-row VALUES): 40% less CPU than
  `executemany` of one row at a time (64 rows: 30%);
- a relation table's indexes are dropped before its rows are written and rebuilt after: one
  sort instead of millions of random inserts (25 s down to 9 s for 5M rows);
- the page cache is made smaller, not larger, for the transaction: SQLite sizes its sorter by
  it, and CREATE INDEX over 4.5M rows takes 2.1 s of CPU with 16 MiB, 3.0 s with the store's
  64 MiB and 5 s with 512 MiB (inserts do not care).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from sgr_scrapy.store.base import StoreBase, reads
from sgr_scrapy.store.sql import NOW, q

if TYPE_CHECKING:
    import numpy as np

ANALYSIS_CACHE_KIB = 16 * 1024  # page cache during analyze's transaction (see above)
ROWS_PER_STATEMENT = 256  # 1,280 parameters a statement; SQLite allows 32,766


@dataclass(frozen=True, slots=True)
class Relation:
    """A table analyze fills with each row's top-k, and how its own rows are told apart."""

    table: str
    columns: tuple[str, str, str, str, str]  # id 1, id 2, score, count, rank
    marker: tuple[str, str] | None = None  # (column, value) of analyze's rows; None: all rows

    def where(self) -> str:
        if self.marker is None:
            return ""
        column, value = self.marker
        return f" WHERE {q(column)} = {literal(value)}"

    def insert_sql(self, rows: int) -> str:
        """INSERT of `rows` rows, their five columns as parameters, row after row."""
        names = list(self.columns)
        values = ["?"] * len(names)
        if self.marker is not None:
            names.append(self.marker[0])
            values.append(literal(self.marker[1]))
        one = f"({', '.join(values)})"
        return (
            f"INSERT INTO {q(self.table)} ({', '.join(q(n) for n in names)}) "
            f"VALUES {', '.join([one] * rows)}"
        )


def literal(value: str) -> str:
    """A declared constant as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


# The three kinds analyze computes (sgr_scrapy/analysis/), by the name of the rows related.
RELATIONS: dict[str, Relation] = {
    "tracks": Relation(
        "related_tracks",
        ("track_id", "related_track_id", "score", "support", "rank"),
        ("source", "co_like"),
    ),
    "users": Relation(
        "user_similarity", ("user_id_1", "user_id_2", "similarity", "shared", "rank")
    ),
    "artists": Relation(
        "artist_relationships",
        ("artist_id_1", "artist_id_2", "weight", "support", "rank"),
        ("relationship_type", "co_liked"),
    ),
}
# --factors: one vector per track and per user.
FACTOR_TABLES = {"tracks": ("track_factors", "track_id"), "users": ("user_factors", "user_id")}


def _pairs(rows: Iterable[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Two int64 columns from a cursor, with no list of tuples in between."""
    # Imported here: every harvest imports the store, and only analyze needs numpy.
    import numpy as np

    pairs = np.fromiter(rows, dtype=[("first", np.int64), ("second", np.int64)])
    return pairs["first"].copy(), pairs["second"].copy()


class Analysis(StoreBase):
    """Bulk reads of the engagements, and analyze's one-transaction replacement of its rows."""

    _dropped_indexes: dict[str, list[str]]
    _usual_cache: int | None = None  # PRAGMA cache_size before begin_analysis

    @reads
    def engagement_pairs(self, types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(user_id, track_id) of every engagement of one of `types` ('like', 'repost'), by
        user: two int64 arrays. A track both liked and reposted comes twice."""
        import numpy as np

        marks = ", ".join("?" for _ in types)
        # One row per user, its tracks as a JSON array parsed by orjson: half the time of a
        # row per engagement (0.5 s instead of 1.05 s for 2M).
        cursor = self.conn.execute(
            'SELECT "user_id", count(*), json_group_array("track_id") FROM "user_engagements" '
            f'WHERE "engagement_type" IN ({marks}) GROUP BY "user_id" ORDER BY "user_id"',
            tuple(types),
        )
        rows = cursor.fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        users, counts, tracks = zip(*rows, strict=True)
        track_id = np.array(orjson.loads("[" + ",".join(t[1:-1] for t in tracks) + "]"), np.int64)
        return np.repeat(np.array(users, np.int64), counts), track_id

    @reads
    def track_artists(self) -> tuple[np.ndarray, np.ndarray]:
        """(track_id, artist_id) of every track with an artist, ordered by track."""
        cursor = self.conn.execute(
            'SELECT "track_id", "artist_id" FROM "tracks" WHERE "artist_id" IS NOT NULL '
            'ORDER BY "track_id"'
        )
        return _pairs(cursor)

    # -- the one transaction ---------------------------------------------------------------

    def begin_analysis(self, parameters: Mapping[str, Any]) -> int:
        """Begin the transaction and the run's row; returns its run_id."""
        conn = self.conn
        self._dropped_indexes = {}
        try:
            (self._usual_cache,) = conn.execute("PRAGMA cache_size").fetchone()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"PRAGMA cache_size = {-ANALYSIS_CACHE_KIB}")
            cursor = conn.execute(
                f'INSERT INTO "analysis_runs" ("started_at", "parameters") VALUES ({NOW}, ?)',
                (orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS).decode(),),
            )
        except sqlite3.Error as exc:
            self.abort_analysis()
            self._raise(exc, "cannot write to")
        return int(cursor.lastrowid or 0)

    def clear_relation(self, kind: str) -> None:
        """Delete the previous run's rows of `kind` and set its table's indexes aside."""
        relation = RELATIONS[kind]
        conn = self.conn
        try:
            indexes = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (relation.table,),
            ).fetchall()
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {q(name)}")
            self._dropped_indexes[kind] = [sql for _, sql in indexes]
            conn.execute(f"DELETE FROM {q(relation.table)}{relation.where()}")
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")

    def write_relation(
        self,
        kind: str,
        first: np.ndarray,
        second: np.ndarray,
        score: np.ndarray,
        count: np.ndarray,
        rank: np.ndarray,
    ) -> int:
        """Insert rows of `kind` (ids, score, count, rank as arrays, in key order)."""
        relation, n = RELATIONS[kind], int(first.size)
        columns = (first, second, score, count, rank)
        flat: list[Any] = [None] * (len(columns) * n)  # row after row, as the VALUES list
        for i, column in enumerate(columns):
            flat[i :: len(columns)] = column.tolist()
        step = len(columns) * ROWS_PER_STATEMENT
        whole = n - n % ROWS_PER_STATEMENT
        try:
            self.conn.executemany(
                relation.insert_sql(ROWS_PER_STATEMENT),
                (flat[i : i + step] for i in range(0, len(columns) * whole, step)),
            )
            if whole < n:
                self.conn.execute(relation.insert_sql(n - whole), flat[len(columns) * whole :])
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        return n

    def finish_relation(self, kind: str) -> None:
        """Rebuild the indexes `clear_relation` set aside."""
        try:
            for sql in self._dropped_indexes.pop(kind, []):
                self.conn.execute(sql)
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")

    def write_factors(self, kind: str, ids: np.ndarray, factors: np.ndarray, run_id: int) -> int:
        """Replace every vector of `kind` ('tracks', 'users') with this run's: one float32
        BLOB (little-endian, numpy's tobytes) a row."""
        table, key = FACTOR_TABLES[kind]
        blobs = (row.astype("<f4").tobytes() for row in factors)
        try:
            self.conn.execute(f"DELETE FROM {q(table)}")
            self.conn.executemany(
                f'INSERT INTO {q(table)} ({q(key)}, "run_id", "factors") VALUES (?, ?, ?)',
                zip(ids.tolist(), [run_id] * len(ids), blobs, strict=True),
            )
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        return int(ids.size)

    def finish_analysis(self, run_id: int, record: Mapping[str, Any]) -> None:
        """Complete the run's row (`record`: its columns; dicts stored as JSON) and commit."""
        columns = list(record)
        values = [
            orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() if isinstance(v, dict) else v
            for v in record.values()
        ]
        sets = "".join(f", {q(c)} = ?" for c in columns)
        try:
            self.conn.execute(
                f'UPDATE "analysis_runs" SET "finished_at" = {NOW}{sets} WHERE "run_id" = ?',
                (*values, run_id),
            )
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.abort_analysis()
            self._raise(exc, "cannot write to")
        finally:
            self._restore_cache()

    def abort_analysis(self) -> None:
        """Undo everything since begin_analysis; harmless when nothing was begun."""
        self._rollback()
        self._restore_cache()

    def _restore_cache(self) -> None:
        usual, self._usual_cache = self._usual_cache, None
        if usual is not None and self.conn is not None:
            with contextlib.suppress(sqlite3.Error):  # the connection is closing anyway
                self.conn.execute(f"PRAGMA cache_size = {int(usual)}")

    @reads
    def analysis_runs(self) -> list[dict[str, Any]]:
        """Every finished run, oldest first, as dicts (JSON columns decoded)."""
        cursor = self.conn.execute(
            'SELECT * FROM "analysis_runs" WHERE "finished_at" IS NOT NULL ORDER BY "run_id"'
        )
        names = [d[0] for d in cursor.description]
        runs = []
        for row in cursor:
            run = dict(zip(names, row, strict=True))
            for key in ("parameters", "rows", "seconds", "evaluation"):
                if run[key] is not None:
                    run[key] = orjson.loads(run[key])
            runs.append(run)
        return runs
