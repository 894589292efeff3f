"""What each table, view and column of the harvest's database holds: Datasette's descriptions.

One `Table` per table or view: what a row is, where the rows come from, each column with its
unit, the facets a researcher starts from, and Datasette's `units` (pint names, shown beside
the values). Where the harvest's rows come from is read from the list families (families.py),
so a new family's table names its endpoint here without an edit.
tests/test_explore_metadata.py fails when a table or column of a new database has no entry here,
or when an entry names one that is gone: a change of schema (store/schema.py) comes here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sgr_scrapy.families import FAMILIES

UTC = "ISO 8601 UTC"
FIRST_SEEN = f"when a harvest first wrote this row ({UTC}, milliseconds)"
LAST_SEEN = f"when a harvest last wrote this row, i.e. the latest read that saw it ({UTC})"
COSINE = "cosine similarity, 0 to 1: s / sqrt(n_a * n_b)"


@dataclass(frozen=True, slots=True)
class Table:
    description: str
    source: str
    columns: dict[str, str]
    facets: tuple[str, ...] = ()
    units: dict[str, str] = field(default_factory=dict)  # column -> pint unit
    # The column a table opens sorted by. Tables keyed by an API id store their rows in arrival
    # order (schema 6), so Datasette, which would sort by that hidden rowid, is told the id.
    sort: str | None = None


def harvested(table: str, before: str = "") -> str:
    """`scrapy crawl harvest`, and the list families whose rows go to `table`."""
    lists = [f"{f.name} (GET /{f.path})" for f in FAMILIES.values() if table in f.writes]
    parts = [p for p in (before, "the lists: " + ", ".join(lists) if lists else "") if p]
    return "scrapy crawl harvest: " + "; ".join(parts)


SEEDS = "the seeds (GET /resolve, then /tracks/{id} and its artist's /users/{id})"
ANALYZE = "scrapy analyze, from user_engagements (cosine over who engaged what)"
BOOKKEEPING = "scrapy crawl harvest's own bookkeeping (resume, completeness, summary)"

TRACK_COLUMNS = {
    "track_id": "SoundCloud's numeric track id (the API's id, or from its urn)",
    "urn": "the API's urn, soundcloud:tracks:<id>",
    "title": "the track's title",
    "artist_id": "the uploader's user id (a row of users)",
    "artist_name": "the uploader's username when the track was read",
    "genre": "the genre the uploader typed (free text; empty when none)",
    "tags": 'the uploader\'s tags, a JSON array: electronic "deep house" -> '
    '["electronic", "deep house"] (machine tags are in machine_tags)',
    "duration_ms": "length, in milliseconds (the API's duration)",
    "playback_count": "plays, as the API counted them when the track was last read",
    "like_count": "likes, as the API counted them (favoritings_count) when last read",
    "reposts_count": "reposts, as the API counted them when last read",
    "comment_count": "comments, as the API counted them when last read",
    "permalink_url": "the track's page on soundcloud.com",
    "created_at": f"when it was uploaded ({UTC})",
    "raw_json": "the API object less the keys the columns hold and the nested user (JSON "
    "object; tracks_full puts them back); NULL for rows written with SGR_STORE_RAW_JSON=0",
    "first_seen": FIRST_SEEN,
    "last_seen": LAST_SEEN,
    "machine_tags": 'machine tags (namespace:key=value) as a JSON object: {"geo:lat": "52.52"}',
}
USER_COLUMNS = {
    "user_id": "SoundCloud's numeric user id (the API's id, or from its urn)",
    "urn": "the API's urn, soundcloud:users:<id>",
    "username": "the display name (not unique; permalink_url is)",
    "permalink_url": "the user's page on soundcloud.com",
    "followers_count": "followers, as the API counted them when last read (NULL: never sent)",
    "followings_count": "users followed, as the API counted them when last read",
    "track_count": "uploaded tracks, as the API counted them when last read",
    "public_favorites_count": "public likes, as the API counted them when last read",
    "city": "the city the user typed (free text)",
    "country": "the country the user chose, as a name (Germany, Brazil, ...)",
    "created_at": f"when the account was made ({UTC})",
    "raw_json": "the API object less the keys the columns hold (JSON object; users_full puts "
    "them back); NULL for rows written with SGR_STORE_RAW_JSON=0",
    "first_seen": FIRST_SEEN,
    "last_seen": LAST_SEEN,
}

TABLES: dict[str, Table] = {
    "tracks": Table(
        "One row per track met anywhere in the harvest: the seeds, what their audience liked "
        "or reposted, uploads, playlist and related tracks.",
        harvested("tracks", SEEDS),
        TRACK_COLUMNS,
        facets=("genre",),
        units={"duration_ms": "ms"},
        sort="track_id",
    ),
    "users": Table(
        "One row per user met: the seeds' artists, likers and reposters, followed and "
        "following users, the artists of every stored track, playlist owners.",
        harvested("users", SEEDS),
        USER_COLUMNS,
        facets=("country",),
        sort="user_id",
    ),
    "user_engagements": Table(
        "Who liked or reposted which track: one row per (user, track, engagement type).",
        harvested("user_engagements"),
        {
            "user_id": "the user who engaged (a row of users)",
            "track_id": "the track engaged with (a row of tracks)",
            "engagement_type": "like or repost",
            "sources": "which lists saw it, bits: 1 the track's favoriters/reposters, "
            "2 the user's likes/reposts",
            "first_seen": FIRST_SEEN,
            "last_seen": LAST_SEEN,
        },
        facets=("engagement_type",),
    ),
    "user_follows": Table(
        "The follow graph: follower_id follows followee_id.",
        harvested("user_follows"),
        {
            "follower_id": "the user who follows (a row of users)",
            "followee_id": "the user followed (a row of users)",
            "first_seen": FIRST_SEEN,
            "sources": "which lists saw it, bits: 1 the follower's followings, 2 the "
            "followee's followers; 0 a row from before schema 4",
            "last_seen": LAST_SEEN,
        },
    ),
    "playlists": Table(
        "One row per playlist of the users whose playlists were read.",
        harvested("playlists"),
        {
            "playlist_id": "SoundCloud's numeric playlist id",
            "title": "the playlist's title",
            "user_id": "its owner (a row of users)",
            "track_count": "tracks, as the API counts them",
            "permalink_url": "the playlist's page on soundcloud.com",
            "raw_json": "the API object without its tracks and owner (JSON object)",
            "urn": "the API's urn, soundcloud:playlists:<id>",
            "duration_ms": "total length, in milliseconds",
            "created_at": f"when it was made ({UTC})",
            "first_seen": FIRST_SEEN,
            "last_seen": LAST_SEEN,
        },
        units={"duration_ms": "ms"},
        sort="playlist_id",
    ),
    "playlist_tracks": Table(
        "The track at each position of each playlist; a track may repeat.",
        harvested("playlist_tracks"),
        {
            "playlist_id": "the playlist (a row of playlists)",
            "position": "0-based position in the whole playlist",
            "track_id": "the track there (a row of tracks)",
            "first_seen": FIRST_SEEN,
            "last_seen": LAST_SEEN,
        },
    ),
    "related_tracks": Table(
        "Tracks related to a track, by source: the API's related list, and the co-liked "
        "tracks scrapy analyze computes.",
        harvested("related_tracks") + f" (source 'api'); {ANALYZE} (source 'co_like')",
        {
            "track_id": "the track (a row of tracks)",
            "related_track_id": "a track related to it (a row of tracks)",
            "source": "api: the API's /tracks/{id}/related; co_like: scrapy analyze; legacy: "
            "a row from before schema 4, origin unknown",
            "rank": "1-based: the API's order (api), or by score then id (co_like)",
            "score": f"co_like: {COSINE}, s users engaged both, n_x engaged x; api: NULL",
            "support": "co_like: users who engaged both tracks (s, a count); api: NULL",
            "first_seen": FIRST_SEEN,
            "last_seen": LAST_SEEN,
        },
        facets=("source",),
    ),
    "user_similarity": Table(
        "Each user's most similar users (top k per user_id_1) by the tracks they liked.",
        ANALYZE,
        {
            "user_id_1": "the user (a row of users)",
            "user_id_2": "one of user_id_1's top-k most similar users",
            "similarity": f"{COSINE} over the two users' track sets",
            "shared": "tracks both users engaged (s, a count)",
            "rank": "1-based place in user_id_1's top k (similarity desc, then user_id_2)",
        },
    ),
    "artist_relationships": Table(
        "Artists related by a shared audience (top k per artist_id_1).",
        ANALYZE,
        {
            "artist_id_1": "the artist (a row of users)",
            "artist_id_2": "a related artist (a row of users)",
            "relationship_type": "co_liked: the users who engaged their tracks overlap",
            "weight": f"co_liked: {COSINE} over the artists' audiences",
            "support": "co_liked: users in both artists' audiences (s, a count)",
            "rank": "1-based place in artist_id_1's top k (weight desc, then artist_id_2)",
        },
        facets=("relationship_type",),
    ),
    "harvest_lists": Table(
        "One row per paged list the harvest read or will read: its progress and status.",
        BOOKKEEPING,
        {
            "list_key": "<family>:<owner id>, e.g. favoriters:<track>, likes:<user>",
            "kind": "the list family (favoriters, likes, followings, ...)",
            "owner_id": "the track or user whose list it is",
            "status": "pending, done (read to the end), capped (stopped at its cap), "
            "failed (a page failed after all retries), incomplete (a loop, a foreign host)",
            "next_url": "the next page to read (NULL: the first page, or none left)",
            "pages": "pages read (count)",
            "items": "items taken (count)",
            "cap": "items to take at most (0: no cap)",
            "error": "why it is failed or incomplete",
            "updated_at": f"when its row last changed ({UTC})",
        },
        facets=("kind", "status"),
    ),
    "harvest_failed_pages": Table(
        "Pages that failed after all retries; the next run retries them.",
        BOOKKEEPING,
        {
            "list_key": "the list the page belongs to (a row of harvest_lists)",
            "url": "the page's URL",
            "reason": "the last failure (HTTP status, timeout, malformed body, ...)",
            "attempts": "requests made for it (count)",
            "updated_at": f"when it last failed ({UTC})",
        },
    ),
    "harvest_seeds": Table(
        "The seed URLs and the tracks they resolved to.",
        BOOKKEEPING,
        {
            "url": "the seed's soundcloud.com URL, as given",
            "track_id": "the track it resolved to (a row of tracks)",
            "resolved_at": f"when it was resolved ({UTC})",
        },
    ),
    "harvest_runs": Table(
        "One row per run of scrapy crawl harvest.",
        BOOKKEEPING,
        {
            "run_id": "the run's number",
            "started_at": f"when it started ({UTC})",
            "finished_at": f"when it finished ({UTC}; NULL: still running or killed)",
            "finish_reason": "Scrapy's finish reason (finished, shutdown, ...)",
            "stats_json": "the run's Scrapy stats (sgr/... and the rest), a JSON object",
        },
        facets=("finish_reason",),
    ),
    "harvest_list_items": Table(
        "The tracks each uploads list (tracks:<user>) took, for resume.",
        harvested("harvest_list_items"),
        {
            "list_key": "the list (a row of harvest_lists)",
            "item_id": "a track it took (a row of tracks)",
        },
    ),
    "harvest_expansions": Table(
        "Which tracks seeded which hop (-a depth=), and why.",
        BOOKKEEPING,
        {
            "track_id": "the track chosen (a row of tracks)",
            "hop": "the hop it seeds (2, 3, ...)",
            "engagements": "its likes and reposts by the previous hop's users (count)",
            "run_id": "the run that chose it (a row of harvest_runs)",
            "expanded_at": f"when it was chosen ({UTC})",
        },
    ),
    "analysis_runs": Table(
        "One row per run of scrapy analyze: its parameters, what it read, what it wrote.",
        "scrapy analyze (written with its results, in the same transaction)",
        {
            "run_id": "the run's number",
            "started_at": f"when it started ({UTC})",
            "finished_at": f"when its results were committed ({UTC})",
            "parameters": "the options it ran with (top_k, min_support, with_reposts, "
            "factors), a JSON object",
            "users": "users in its input (count)",
            "tracks": "tracks in its input (count)",
            "artists": "artists in its input (count)",
            "engagements": "user-track pairs it read (count)",
            "rows": "rows written per table, a JSON object",
            "seconds": "seconds per step, a JSON object",
            "peak_memory_mb": "the process's peak resident memory, in MB",
            "evaluation": "with --factors: leave-one-out recall@10 of popularity, co-like kNN "
            "and ALS, a JSON object; NULL without",
        },
    ),
    "track_factors": Table(
        "Each track's ALS embedding (scrapy analyze --factors F): the latest run's only.",
        "scrapy analyze --factors F, implicit-feedback ALS over user_engagements",
        {
            "track_id": "the track (a row of tracks)",
            "run_id": "the run that computed it (a row of analysis_runs)",
            "factors": "F little-endian float32 values (numpy: frombuffer(factors, '<f4'))",
        },
    ),
    "user_factors": Table(
        "Each user's ALS embedding (scrapy analyze --factors F): the latest run's only.",
        "scrapy analyze --factors F, implicit-feedback ALS over user_engagements",
        {
            "user_id": "the user (a row of users)",
            "run_id": "the run that computed it (a row of analysis_runs)",
            "factors": "F little-endian float32 values (numpy: frombuffer(factors, '<f4'))",
        },
    ),
    "tracks_full": Table(
        "View: tracks with raw_json made whole again (column keys put back, the artist's "
        "users_full object as user), for queries written against the API's object.",
        "a view over tracks and users",
        {
            **TRACK_COLUMNS,
            "raw_json": "the whole API object: raw_json with the columns' keys "
            "and the artist's object as user put back (JSON object)",
        },
        facets=("genre",),
        units={"duration_ms": "ms"},
    ),
    "users_full": Table(
        "View: users with raw_json made whole again (column keys put back).",
        "a view over users",
        {
            **USER_COLUMNS,
            "raw_json": "the whole API object: raw_json with the columns' keys "
            "put back (JSON object)",
        },
        facets=("country",),
    ),
}
