"""The schema, versioned by `PRAGMA user_version`: one SQL script per version, never edited.

`MIGRATIONS` brings a database of any older version up to date, script by script, in one
transaction (sqlite.py); a new database runs them all, so a migrated file and a new one have
the same schema, statement for statement. A change of schema is a new script at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

_SCHEMA_V1 = """
CREATE TABLE "tracks" (
    "track_id" INTEGER PRIMARY KEY,
    "urn" TEXT,
    "title" TEXT,
    "artist_id" INTEGER,
    "artist_name" TEXT,
    "genre" TEXT,
    "tags" TEXT DEFAULT '[]',
    "duration_ms" INTEGER,
    "playback_count" INTEGER,
    "like_count" INTEGER,
    "reposts_count" INTEGER,
    "comment_count" INTEGER,
    "permalink_url" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);
CREATE INDEX "idx_tracks_artist_id" ON "tracks" ("artist_id");

CREATE TABLE "users" (
    "user_id" INTEGER PRIMARY KEY,
    "urn" TEXT,
    "username" TEXT,
    "permalink_url" TEXT,
    "followers_count" INTEGER,
    "followings_count" INTEGER,
    "track_count" INTEGER,
    "public_favorites_count" INTEGER,
    "city" TEXT,
    "country" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);

CREATE TABLE "user_engagements" (
    "user_id" INTEGER NOT NULL,
    "track_id" INTEGER NOT NULL,
    "engagement_type" TEXT NOT NULL CHECK ("engagement_type" IN ('like', 'repost')),
    "sources" INTEGER NOT NULL DEFAULT 0,
    "first_seen" TEXT,
    "last_seen" TEXT,
    PRIMARY KEY ("user_id", "track_id", "engagement_type")
) WITHOUT ROWID;
CREATE INDEX "idx_user_engagements_track" ON "user_engagements" ("track_id", "engagement_type");

CREATE TABLE "playlists" (
    "playlist_id" INTEGER PRIMARY KEY,
    "title" TEXT,
    "user_id" INTEGER,
    "track_count" INTEGER,
    "permalink_url" TEXT,
    "raw_json" TEXT
);
CREATE TABLE "playlist_tracks" (
    "playlist_id" INTEGER NOT NULL,
    "track_id" INTEGER NOT NULL,
    "position" INTEGER,
    PRIMARY KEY ("playlist_id", "track_id")
);
CREATE TABLE "related_tracks" (
    "track_id" INTEGER NOT NULL,
    "related_track_id" INTEGER NOT NULL,
    "score" REAL,
    PRIMARY KEY ("track_id", "related_track_id")
);
CREATE TABLE "user_similarity" (
    "user_id_1" INTEGER NOT NULL,
    "user_id_2" INTEGER NOT NULL,
    "similarity" REAL,
    PRIMARY KEY ("user_id_1", "user_id_2")
);
CREATE TABLE "artist_relationships" (
    "artist_id_1" INTEGER NOT NULL,
    "artist_id_2" INTEGER NOT NULL,
    "relationship_type" TEXT NOT NULL,
    "weight" REAL,
    PRIMARY KEY ("artist_id_1", "artist_id_2", "relationship_type")
);
CREATE TABLE "user_follows" (
    "follower_id" INTEGER NOT NULL,
    "followee_id" INTEGER NOT NULL,
    "first_seen" TEXT,
    PRIMARY KEY ("follower_id", "followee_id")
);

CREATE TABLE "harvest_lists" (
    "list_key" TEXT PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "owner_id" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "next_url" TEXT,
    "pages" INTEGER NOT NULL DEFAULT 0,
    "items" INTEGER NOT NULL DEFAULT 0,
    "cap" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "updated_at" TEXT
);
CREATE INDEX "idx_harvest_lists_status" ON "harvest_lists" ("status");
CREATE TABLE "harvest_failed_pages" (
    "list_key" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "reason" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TEXT,
    PRIMARY KEY ("list_key", "url")
);
CREATE TABLE "harvest_seeds" (
    "url" TEXT PRIMARY KEY,
    "track_id" INTEGER NOT NULL,
    "resolved_at" TEXT
);
CREATE TABLE "harvest_runs" (
    "run_id" INTEGER PRIMARY KEY,
    "started_at" TEXT,
    "finished_at" TEXT,
    "finish_reason" TEXT,
    "stats_json" TEXT
);
"""

# Machine tags (`geo:lat=52.52`) move from `tags` to their own column; the split is
# api.split_machine_tags (SQL functions of merge.SQL_FUNCTIONS). Only rows whose tags
# can hold one are rewritten.
_SCHEMA_V2 = """
ALTER TABLE "tracks" ADD COLUMN "machine_tags" TEXT DEFAULT '{}';
UPDATE "tracks" SET "machine_tags" = sgr_machine_tags("tags"), "tags" = sgr_user_tags("tags")
WHERE "tags" LIKE '%:%=%';
"""

# raw_json keeps what no column holds (see api.TRACK_COLUMN_KEYS); these views give each row's
# whole API object back in `raw_json`, the artist's row nested as `user`. Rows stored before
# schema 3 keep their whole object until written again: the views give the same answer.
_USERS_FULL_JSON = """json_set(COALESCE({u}."raw_json", '{{}}'), '$.id', {u}."user_id",
    '$.urn', {u}."urn", '$.username', {u}."username", '$.permalink_url', {u}."permalink_url",
    '$.followers_count', {u}."followers_count", '$.followings_count', {u}."followings_count",
    '$.track_count', {u}."track_count", '$.public_favorites_count', {u}."public_favorites_count",
    '$.city', {u}."city", '$.country', {u}."country")"""
_TRACKS_FULL_JSON = """json_set(COALESCE("t"."raw_json", '{}'), '$.id', "t"."track_id",
    '$.urn', "t"."urn", '$.title', "t"."title", '$.genre', "t"."genre",
    '$.duration', "t"."duration_ms", '$.playback_count', "t"."playback_count",
    '$.favoritings_count', "t"."like_count", '$.reposts_count', "t"."reposts_count",
    '$.comment_count', "t"."comment_count", '$.permalink_url', "t"."permalink_url")"""
_FULL_VIEWS = f"""
CREATE VIEW "users_full" AS SELECT "user_id", "urn", "username", "permalink_url",
    "followers_count", "followings_count", "track_count", "public_favorites_count", "city",
    "country", "created_at", {_USERS_FULL_JSON.format(u='"users"')} AS "raw_json", "first_seen",
    "last_seen"
FROM "users";
CREATE VIEW "tracks_full" AS SELECT "t"."track_id", "t"."urn", "t"."title", "t"."artist_id",
    "t"."artist_name", "t"."genre", "t"."tags", "t"."duration_ms", "t"."playback_count",
    "t"."like_count", "t"."reposts_count", "t"."comment_count", "t"."permalink_url",
    "t"."created_at",
    CASE WHEN "u"."user_id" IS NULL THEN {_TRACKS_FULL_JSON}
    ELSE json_set({_TRACKS_FULL_JSON}, '$.user', {_USERS_FULL_JSON.format(u='"u"')}) END
    AS "raw_json", "t"."first_seen", "t"."last_seen", "t"."machine_tags"
FROM "tracks" AS "t" LEFT JOIN "users" AS "u" ON "u"."user_id" = "t"."artist_id";
"""
_SCHEMA_V3 = _FULL_VIEWS


# Schema 4: the tables the list families write (families.py), each with `last_seen` so that
# feed exports find what a run wrote. Rows written before it are all kept:
# - `user_follows` gains source bits (old rows: 0, source unknown) and `last_seen`
#   (old rows: their `first_seen`);
# - `playlists` gains the columns a playlist object fills;
# - `playlist_tracks` is keyed by position, as a track may repeat in a playlist. An old row
#   without a position, or sharing one with another row of its playlist, goes after that
#   playlist's last position, in track id order;
# - `related_tracks` is keyed by source as well: 'api' for /tracks/{id}/related, 'legacy' for
#   rows from before schema 4 (origin unknown), which keep their score.
# `harvest_list_items` records what lists whose rows do not say which list read them took
# (uploads: a track's row names its artist, not the list); `harvest_expansions` the tracks
# chosen to seed a later hop.
_SCHEMA_V4 = """
ALTER TABLE "user_follows" ADD COLUMN "sources" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "user_follows" ADD COLUMN "last_seen" TEXT;
UPDATE "user_follows" SET "last_seen" = "first_seen";
CREATE INDEX "idx_user_follows_followee" ON "user_follows" ("followee_id");

ALTER TABLE "playlists" ADD COLUMN "urn" TEXT;
ALTER TABLE "playlists" ADD COLUMN "duration_ms" INTEGER;
ALTER TABLE "playlists" ADD COLUMN "created_at" TEXT;
ALTER TABLE "playlists" ADD COLUMN "first_seen" TEXT;
ALTER TABLE "playlists" ADD COLUMN "last_seen" TEXT;
CREATE INDEX "idx_playlists_user_id" ON "playlists" ("user_id");

ALTER TABLE "playlist_tracks" RENAME TO "playlist_tracks_v3";
CREATE TABLE "playlist_tracks" (
    "playlist_id" INTEGER NOT NULL,
    "position" INTEGER NOT NULL,
    "track_id" INTEGER NOT NULL,
    "first_seen" TEXT,
    "last_seen" TEXT,
    PRIMARY KEY ("playlist_id", "position")
) WITHOUT ROWID;
WITH "old" AS (
    SELECT "playlist_id", "track_id", "position",
        "position" IS NOT NULL AND row_number() OVER (
            PARTITION BY "playlist_id", "position" ORDER BY "track_id"
        ) = 1 AS "kept",
        max("position") OVER (PARTITION BY "playlist_id") AS "last"
    FROM "playlist_tracks_v3"
)
INSERT INTO "playlist_tracks" ("playlist_id", "position", "track_id")
SELECT "playlist_id",
    CASE WHEN "kept" THEN "position" ELSE COALESCE("last", -1) + row_number() OVER (
        PARTITION BY "playlist_id", "kept" ORDER BY "track_id"
    ) END,
    "track_id"
FROM "old";
DROP TABLE "playlist_tracks_v3";
CREATE INDEX "idx_playlist_tracks_track" ON "playlist_tracks" ("track_id");

ALTER TABLE "related_tracks" RENAME TO "related_tracks_v3";
CREATE TABLE "related_tracks" (
    "track_id" INTEGER NOT NULL,
    "related_track_id" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "rank" INTEGER,
    "score" REAL,
    "support" INTEGER,
    "first_seen" TEXT,
    "last_seen" TEXT,
    PRIMARY KEY ("track_id", "related_track_id", "source")
) WITHOUT ROWID;
INSERT INTO "related_tracks" ("track_id", "related_track_id", "source", "score")
SELECT "track_id", "related_track_id", 'legacy', "score" FROM "related_tracks_v3";
DROP TABLE "related_tracks_v3";
CREATE INDEX "idx_related_tracks_related" ON "related_tracks" ("related_track_id");

CREATE TABLE "harvest_list_items" (
    "list_key" TEXT NOT NULL,
    "item_id" INTEGER NOT NULL,
    PRIMARY KEY ("list_key", "item_id")
) WITHOUT ROWID;
CREATE TABLE "harvest_expansions" (
    "track_id" INTEGER PRIMARY KEY,
    "hop" INTEGER NOT NULL,
    "engagements" INTEGER NOT NULL,
    "run_id" INTEGER,
    "expanded_at" TEXT
);
"""

# Schema 5: what `scrapy analyze` writes (sgr_scrapy/analysis/). `user_similarity` and
# `artist_relationships`, never written before, are rebuilt WITHOUT ROWID (one B-tree instead
# of a table and its key's index: half the work for the millions of rows a run writes), with
# the pair's count (`shared`, `support`) and its `rank` in the first id's top-k. Old rows
# are kept. Each run is one row of `analysis_runs`; `--factors` stores one float32 vector
# per track and per user (`factors`: little-endian float32s, as numpy's `tobytes()`).
_SCHEMA_V5 = """
ALTER TABLE "user_similarity" RENAME TO "user_similarity_v4";
CREATE TABLE "user_similarity" (
    "user_id_1" INTEGER NOT NULL,
    "user_id_2" INTEGER NOT NULL,
    "similarity" REAL,
    "shared" INTEGER,
    "rank" INTEGER,
    PRIMARY KEY ("user_id_1", "user_id_2")
) WITHOUT ROWID;
INSERT INTO "user_similarity" ("user_id_1", "user_id_2", "similarity")
SELECT "user_id_1", "user_id_2", "similarity" FROM "user_similarity_v4";
DROP TABLE "user_similarity_v4";

ALTER TABLE "artist_relationships" RENAME TO "artist_relationships_v4";
CREATE TABLE "artist_relationships" (
    "artist_id_1" INTEGER NOT NULL,
    "artist_id_2" INTEGER NOT NULL,
    "relationship_type" TEXT NOT NULL,
    "weight" REAL,
    "support" INTEGER,
    "rank" INTEGER,
    PRIMARY KEY ("artist_id_1", "artist_id_2", "relationship_type")
) WITHOUT ROWID;
INSERT INTO "artist_relationships" ("artist_id_1", "artist_id_2", "relationship_type", "weight")
SELECT "artist_id_1", "artist_id_2", "relationship_type", "weight"
FROM "artist_relationships_v4";
DROP TABLE "artist_relationships_v4";

CREATE TABLE "analysis_runs" (
    "run_id" INTEGER PRIMARY KEY,
    "started_at" TEXT NOT NULL,
    "finished_at" TEXT,
    "parameters" TEXT NOT NULL,
    "users" INTEGER,
    "tracks" INTEGER,
    "artists" INTEGER,
    "engagements" INTEGER,
    "rows" TEXT,
    "seconds" TEXT,
    "peak_memory_mb" INTEGER,
    "evaluation" TEXT
);
CREATE TABLE "track_factors" (
    "track_id" INTEGER PRIMARY KEY,
    "run_id" INTEGER NOT NULL,
    "factors" BLOB NOT NULL
);
CREATE TABLE "user_factors" (
    "user_id" INTEGER PRIMARY KEY,
    "run_id" INTEGER NOT NULL,
    "factors" BLOB NOT NULL
);
"""

# Schema 6: `tracks`, `users` and `playlists` keep their rows in the order they first came, with
# their id a UNIQUE column instead of the rowid. Ids come in no order (a track liked by a user
# is anywhere in the catalogue), so each batch of rows keyed by id landed on as many pages as
# it had rows, and every page a commit touches is written again to the WAL and by the next
# checkpoint: 1.3 GB written for a 118 MB database (bench/README.md, session 6). Appended,
# the wide rows share pages and only the ids' index takes the scattered writes: 0.55 GB
# (replayed; a harvest of that world: 1.31 GB, then 0.53 GB).
# Lookups by id go through that index; every column, row and view stays as it was.
_REKEY_V6 = """
DROP VIEW "tracks_full";
DROP VIEW "users_full";

ALTER TABLE "tracks" RENAME TO "tracks_v5";
CREATE TABLE "tracks" (
    "track_id" INTEGER NOT NULL UNIQUE,
    "urn" TEXT,
    "title" TEXT,
    "artist_id" INTEGER,
    "artist_name" TEXT,
    "genre" TEXT,
    "tags" TEXT DEFAULT '[]',
    "duration_ms" INTEGER,
    "playback_count" INTEGER,
    "like_count" INTEGER,
    "reposts_count" INTEGER,
    "comment_count" INTEGER,
    "permalink_url" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT,
    "machine_tags" TEXT DEFAULT '{}'
);
INSERT INTO "tracks" SELECT * FROM "tracks_v5" ORDER BY "track_id";
DROP TABLE "tracks_v5";
CREATE INDEX "idx_tracks_artist_id" ON "tracks" ("artist_id");

ALTER TABLE "users" RENAME TO "users_v5";
CREATE TABLE "users" (
    "user_id" INTEGER NOT NULL UNIQUE,
    "urn" TEXT,
    "username" TEXT,
    "permalink_url" TEXT,
    "followers_count" INTEGER,
    "followings_count" INTEGER,
    "track_count" INTEGER,
    "public_favorites_count" INTEGER,
    "city" TEXT,
    "country" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);
INSERT INTO "users" SELECT * FROM "users_v5" ORDER BY "user_id";
DROP TABLE "users_v5";

ALTER TABLE "playlists" RENAME TO "playlists_v5";
CREATE TABLE "playlists" (
    "playlist_id" INTEGER NOT NULL UNIQUE,
    "title" TEXT,
    "user_id" INTEGER,
    "track_count" INTEGER,
    "permalink_url" TEXT,
    "raw_json" TEXT,
    "urn" TEXT,
    "duration_ms" INTEGER,
    "created_at" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);
INSERT INTO "playlists" SELECT * FROM "playlists_v5" ORDER BY "playlist_id";
DROP TABLE "playlists_v5";
CREATE INDEX "idx_playlists_user_id" ON "playlists" ("user_id");
"""
_SCHEMA_V6 = _REKEY_V6 + _FULL_VIEWS  # the views, dropped to rebuild their tables, as they were

# (version, SQL script): each script brings a database from version - 1 to version.
MIGRATIONS: list[tuple[int, str]] = [
    (1, _SCHEMA_V1),
    (2, _SCHEMA_V2),
    (3, _SCHEMA_V3),
    (4, _SCHEMA_V4),
    (5, _SCHEMA_V5),
    (6, _SCHEMA_V6),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (execute() runs one at a time)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")
