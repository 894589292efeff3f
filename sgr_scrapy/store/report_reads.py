"""Reads for `scrapy report`: what was harvested, degree counts, the audience, analyze's rows.

Aggregates only, each one query (or one per seed): the report reads them inside the export's
`read_snapshot()` (export_reads.py, whose `ExportReads` adds this class to `Store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sgr_scrapy.store.base import StoreBase, reads
from sgr_scrapy.store.sql import q

# The audience: users who engaged with a seed track; with no seed recorded, every user.
_AUDIENCE = """
WITH "seed" AS (SELECT DISTINCT "track_id" FROM "harvest_seeds"),
"audience" AS (
    SELECT DISTINCT "user_id" FROM "user_engagements"
    WHERE "track_id" IN (SELECT "track_id" FROM "seed")
    UNION SELECT "user_id" FROM "users" WHERE NOT EXISTS (SELECT 1 FROM "seed")
),
"liked" AS (
    SELECT "e"."track_id" FROM "user_engagements" AS "e"
    WHERE "e"."engagement_type" = 'like'
      AND "e"."user_id" IN (SELECT "user_id" FROM "audience")
      AND "e"."track_id" NOT IN (SELECT "track_id" FROM "seed")
)
"""


class ReportReads(StoreBase):
    """The report's aggregates."""

    @reads
    def schema_version(self) -> int:
        """The database's schema version (PRAGMA user_version)."""
        return self._version()

    @reads
    def report_seeds(self) -> list[tuple[Any, ...]]:
        """(url, track_id, title, artist_id, artist_name, likes, reposts) of each seed."""
        return self.conn.execute(
            'SELECT "s"."url", "s"."track_id", "t"."title", "t"."artist_id", "t"."artist_name", '
            '(SELECT count(*) FROM "user_engagements" AS "e" WHERE "e"."track_id" = '
            '"s"."track_id" AND "e"."engagement_type" = \'like\'), '
            '(SELECT count(*) FROM "user_engagements" AS "e" WHERE "e"."track_id" = '
            '"s"."track_id" AND "e"."engagement_type" = \'repost\') '
            'FROM "harvest_seeds" AS "s" LEFT JOIN "tracks" AS "t" USING ("track_id") '
            'ORDER BY "s"."rowid"'
        ).fetchall()

    @reads
    def report_hops(self) -> list[tuple[int, int, int]]:
        """(hop, tracks that seeded it, their engagements) for each hop after the first."""
        return self.conn.execute(
            'SELECT "hop", count(*), sum("engagements") FROM "harvest_expansions" '
            'GROUP BY "hop" ORDER BY "hop"'
        ).fetchall()

    @reads
    def report_lists(self) -> list[tuple[str, str, int, int, int]]:
        """(family, status, lists, pages, items) of the harvest's lists."""
        return self.conn.execute(
            'SELECT "kind", "status", count(*), sum("pages"), sum("items") FROM "harvest_lists" '
            'GROUP BY "kind", "status" ORDER BY "kind", "status"'
        ).fetchall()

    @reads
    def report_runs(self) -> tuple[int, str | None, str | None, int]:
        """(runs, first start, last finish, runs not finished) of the harvest."""
        return self.conn.execute(
            'SELECT count(*), min("started_at"), max("finished_at"), '
            'sum("finished_at" IS NULL) FROM "harvest_runs"'
        ).fetchone()

    @reads
    def report_degrees(self, column: str, engagement_type: str = "like") -> list[tuple[int, int]]:
        """(degree, how many have it) over `column` (`user_id`: likes per user; `track_id`:
        likers per track), among those with one engagement of this type at least."""
        return self.conn.execute(
            f'SELECT "n", count(*) FROM (SELECT count(*) AS "n" FROM "user_engagements" '
            f'WHERE "engagement_type" = ? GROUP BY {q(column)}) GROUP BY "n" ORDER BY "n"',
            (engagement_type,),
        ).fetchall()

    @reads
    def report_genres(self, limit: int) -> list[tuple[str, int]]:
        """(genre, likes) of the tracks the seeds' audience likes, seeds left out; the genre
        lower-cased and trimmed, '' when none."""
        return self.conn.execute(
            _AUDIENCE + 'SELECT lower(trim(COALESCE("t"."genre", \'\'))) AS "g", count(*) AS "n" '
            'FROM "liked" JOIN "tracks" AS "t" USING ("track_id") '
            'GROUP BY "g" ORDER BY "n" DESC, "g" LIMIT ?',
            (limit,),
        ).fetchall()

    @reads
    def report_tags(self, limit: int) -> list[tuple[str, int]]:
        """(tag, likes) over the tags of the tracks the seeds' audience likes, lower-cased."""
        return self.conn.execute(
            _AUDIENCE + 'SELECT lower("j"."value") AS "tag", count(*) AS "n" '
            'FROM "liked" JOIN "tracks" AS "t" USING ("track_id"), '
            # A damaged `tags` value counts as no tag rather than failing the report.
            'json_each(CASE WHEN json_valid("t"."tags") THEN "t"."tags" ELSE \'[]\' END) AS "j" '
            'WHERE "j"."type" = \'text\' '
            'GROUP BY "tag" ORDER BY "n" DESC, "tag" LIMIT ?',
            (limit,),
        ).fetchall()

    @reads
    def report_co_liked(self, track_ids: Sequence[int], limit: int) -> list[tuple[Any, ...]]:
        """(track_id, related_track_id, title, artist_name, score, support) of the best
        `limit` co-liked tracks of each of `track_ids` (scrapy analyze's rows)."""
        out: list[tuple[Any, ...]] = []
        for track_id in track_ids:
            out += self.conn.execute(
                'SELECT "r"."track_id", "r"."related_track_id", "t"."title", "t"."artist_name", '
                '"r"."score", "r"."support" FROM "related_tracks" AS "r" '
                'LEFT JOIN "tracks" AS "t" ON "t"."track_id" = "r"."related_track_id" '
                'WHERE "r"."track_id" = ? AND "r"."source" = \'co_like\' '
                'ORDER BY "r"."score" DESC, "r"."related_track_id" LIMIT ?',
                (track_id, limit),
            ).fetchall()
        return out

    @reads
    def report_artist_network(
        self, artist_ids: Sequence[int], limit: int, relationship: str = "co_liked"
    ) -> tuple[dict[int, str], list[tuple[int, int, float]]]:
        """The artists of `artist_ids` and their `limit` strongest neighbours: ({artist id:
        name}, [(artist, artist, weight)] of every relationship among them)."""
        conn = self.conn
        chosen = dict.fromkeys(artist_ids)
        for artist_id in artist_ids:
            rows = conn.execute(
                'SELECT CASE WHEN "artist_id_1" = ?1 THEN "artist_id_2" ELSE "artist_id_1" END '
                'FROM "artist_relationships" WHERE "relationship_type" = ?2 '
                'AND ?1 IN ("artist_id_1", "artist_id_2") ORDER BY "weight" DESC LIMIT ?3',
                (artist_id, relationship, limit),
            )
            chosen.update(dict.fromkeys(row[0] for row in rows))
        ids = list(chosen)
        marks = ", ".join("?" for _ in ids)
        edges = conn.execute(
            'SELECT "artist_id_1", "artist_id_2", "weight" FROM "artist_relationships" '
            f'WHERE "relationship_type" = ? AND "artist_id_1" IN ({marks}) '
            f'AND "artist_id_2" IN ({marks})',
            (relationship, *ids, *ids),
        ).fetchall()
        names = dict.fromkeys(ids, "")
        for artist_id, name in conn.execute(
            'SELECT "user_id", "username" FROM "users" WHERE "user_id" IN '
            f'({marks}) AND "username" IS NOT NULL',
            ids,
        ):
            names[artist_id] = name
        return names, edges

    @reads
    def report_analysis(self) -> dict[str, int]:
        """Rows `scrapy analyze` wrote: co-liked track pairs, similar users, co-liked artists."""
        conn = self.conn
        return {
            "co_like": conn.execute(
                'SELECT count(*) FROM "related_tracks" WHERE "source" = \'co_like\''
            ).fetchone()[0],
            "user_similarity": conn.execute('SELECT count(*) FROM "user_similarity"').fetchone()[0],
            "co_liked_artists": conn.execute(
                'SELECT count(*) FROM "artist_relationships" '
                "WHERE \"relationship_type\" = 'co_liked'"
            ).fetchone()[0],
        }
