"""Statistics of a harvest database: tables and counts for the summary, and the harvested
graph as sets (`snapshot`), in the shapes of the simulator's ground truth (simulator/truth.py)."""

from __future__ import annotations

from typing import Any

from sgr_scrapy.store.base import StoreBase, reads
from sgr_scrapy.store.sql import q

# snapshot(): each set of the simulator's `Truth`, as the query that reads it back.
_SNAPSHOT: dict[str, str] = {
    "track_ids": 'SELECT "track_id" FROM "tracks"',
    "user_ids": 'SELECT "user_id" FROM "users"',
    "engagements": 'SELECT "user_id", "track_id", "engagement_type" FROM "user_engagements"',
    "follows": 'SELECT "follower_id", "followee_id" FROM "user_follows"',
    "playlists": 'SELECT "playlist_id", "user_id" FROM "playlists"',
    "playlist_tracks": 'SELECT "playlist_id", "position", "track_id" FROM "playlist_tracks"',
    # Only the API's ranking: other sources (legacy rows, computed relations) are not its truth.
    "related": 'SELECT "track_id", "related_track_id", "rank" FROM "related_tracks" '
    "WHERE \"source\" = 'api'",
    "expansions": 'SELECT "track_id", "hop", "engagements" FROM "harvest_expansions"',
}
_IDS = ("track_ids", "user_ids")  # sets of ids, not of rows


class Stats(StoreBase):
    """Counts for the summary and sets for comparing with a simulator's truth."""

    @reads
    def tables(self) -> list[str]:
        """Every table of the schema, in creation order."""
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        )
        return [row[0] for row in rows]

    @reads
    def table_counts(self) -> dict[str, int]:
        """Row count of every table, empty ones included."""
        return {
            name: self.conn.execute(f"SELECT count(*) FROM {q(name)}").fetchone()[0]
            for name in self.tables()
        }

    @reads
    def engagement_counts(self) -> dict[str, int]:
        """Engagements by type: {"like": n, "repost": m}."""
        # One scan of the narrowest index, no GROUP BY sort: the CHECK allows these two only.
        total, reposts = self.conn.execute(
            "SELECT count(*), coalesce(sum(\"engagement_type\" = 'repost'), 0) "
            'FROM "user_engagements"'
        ).fetchone()
        return {"like": total - reposts, "repost": reposts}

    @reads
    def list_summary(self) -> dict[str, int]:
        """Number of lists by status."""
        return dict(
            self.conn.execute('SELECT "status", count(*) FROM "harvest_lists" GROUP BY "status"')
        )

    @reads
    def snapshot(self) -> dict[str, set[Any]]:
        """The harvested graph as sets, to compare with a simulator's ground truth: ids for
        `track_ids` and `user_ids`, tuples of the `Truth` set of the same name for the rest."""
        conn = self.conn
        return {
            name: {row[0] for row in conn.execute(sql)} if name in _IDS else set(conn.execute(sql))
            for name, sql in _SNAPSHOT.items()
        }
