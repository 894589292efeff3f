"""Datasette's canned queries over the harvest's database: the one place their SQL is declared.

Each `Query` is a page of `scrapy explore` with a form for its parameters. Parameters reach
SQL as text; an empty one means the harvest's first seed (or what the description says).
tests/test_explore_metadata.py runs every query against a new database, so a renamed column
fails there, and against hand-made rows whose answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Query:
    title: str
    description: str
    sql: str
    params: tuple[str, ...] = ()


# :seed is a track id or a seed's URL; empty: the first seed the harvest resolved.
_SEED = """seed AS (
    SELECT CASE
        WHEN trim(:seed) = '' THEN (SELECT track_id FROM harvest_seeds ORDER BY rowid LIMIT 1)
        WHEN trim(:seed) NOT GLOB '*[^0-9]*' THEN CAST(trim(:seed) AS INTEGER)
        ELSE (SELECT track_id FROM harvest_seeds WHERE url = trim(:seed))
    END AS track_id
)"""


def _user(param: str, default: str) -> str:
    """The user id a `:param` names: an id, else a username (the smallest id of that name)."""
    return f"""CASE
        WHEN trim(:{param}) = '' THEN ({default})
        WHEN trim(:{param}) NOT GLOB '*[^0-9]*' THEN CAST(trim(:{param}) AS INTEGER)
        ELSE (SELECT user_id FROM users WHERE username = trim(:{param}) ORDER BY user_id LIMIT 1)
    END"""


_BUSIEST_FAN = """SELECT e.user_id FROM seed
        JOIN user_engagements AS e ON e.track_id = seed.track_id
        JOIN users AS u ON u.user_id = e.user_id
        ORDER BY u.public_favorites_count DESC, e.user_id LIMIT 1"""
_SEED_ARTIST = "SELECT t.artist_id FROM seed JOIN tracks AS t ON t.track_id = seed.track_id"

QUERIES: dict[str, Query] = {
    "top_co_liked": Query(
        "Top co-liked tracks of a seed",
        "The tracks most often liked by the same users as the seed (seed: a track id or a "
        "seed's URL; empty: the first seed), by cosine score. Filled by scrapy analyze "
        "(related_tracks, source 'co_like'); support is how many users liked both.",
        f"""WITH {_SEED}
SELECT r.rank, r.related_track_id AS track_id, t.title, t.artist_name, t.genre,
    r.score, r.support, t.like_count
FROM seed
JOIN related_tracks AS r ON r.track_id = seed.track_id AND r.source = 'co_like'
LEFT JOIN tracks AS t ON t.track_id = r.related_track_id
ORDER BY r.rank, r.related_track_id""",
        ("seed",),
    ),
    "user_neighbourhood": Query(
        "A user's neighbourhood",
        "The users whose liked tracks are most like this user's (user: an id or a username; "
        "empty: the liker or reposter of the seed with the most public likes), by cosine "
        "similarity, and whether they follow each other. Filled by scrapy analyze "
        "(user_similarity).",
        f"""WITH {_SEED},
me AS (SELECT {_user("user", _BUSIEST_FAN)} AS user_id)
SELECT me.user_id AS neighbour_of, s.rank, s.user_id_2 AS user_id, u.username, u.country,
    s.similarity, s.shared AS shared_tracks, u.public_favorites_count AS likes,
    EXISTS (SELECT 1 FROM user_follows AS f
        WHERE f.follower_id = me.user_id AND f.followee_id = s.user_id_2) AS follows,
    EXISTS (SELECT 1 FROM user_follows AS f
        WHERE f.follower_id = s.user_id_2 AND f.followee_id = me.user_id) AS followed_by
FROM me
JOIN user_similarity AS s ON s.user_id_1 = me.user_id
LEFT JOIN users AS u ON u.user_id = s.user_id_2
ORDER BY s.similarity DESC, s.user_id_2""",
        ("user", "seed"),
    ),
    "artist_network": Query(
        "An artist's network",
        "The artists whose audiences overlap most with this artist's (artist: a user id or "
        "a username; empty: the seed's artist), by cosine weight; support is how many users "
        "engaged both. Filled by scrapy analyze (artist_relationships, 'co_liked').",
        f"""WITH {_SEED},
artist AS (SELECT {_user("artist", _SEED_ARTIST)} AS artist_id)
SELECT artist.artist_id AS network_of, a.rank, a.artist_id_2 AS artist_id, u.username,
    a.weight, a.support, u.followers_count,
    (SELECT count(*) FROM tracks AS t WHERE t.artist_id = a.artist_id_2) AS tracks_harvested
FROM artist
JOIN artist_relationships AS a
    ON a.artist_id_1 = artist.artist_id AND a.relationship_type = 'co_liked'
LEFT JOIN users AS u ON u.user_id = a.artist_id_2
ORDER BY a.weight DESC, a.artist_id_2""",
        ("artist", "seed"),
    ),
    "seed_audience_genres": Query(
        "Genres of the seed's audience",
        "What the users who liked or reposted the seed (a track id or a seed's URL; empty: "
        "the first seed) like, by genre: likes of other tracks, how many of those users, "
        "and each genre's share.",
        f"""WITH {_SEED},
audience AS (
    SELECT DISTINCT e.user_id FROM seed JOIN user_engagements AS e ON e.track_id = seed.track_id
),
liked AS (
    SELECT e.user_id, e.track_id FROM seed, audience
    JOIN user_engagements AS e ON e.user_id = audience.user_id
    WHERE e.engagement_type = 'like' AND e.track_id != seed.track_id
)
SELECT coalesce(nullif(trim(t.genre), ''), '(none)') AS genre, count(*) AS likes,
    count(DISTINCT l.user_id) AS users,
    round(100.0 * count(*) / (SELECT count(*) FROM liked), 1) AS percent_of_likes,
    round(100.0 * count(DISTINCT l.user_id) / (SELECT count(*) FROM audience), 1)
        AS percent_of_audience
FROM liked AS l LEFT JOIN tracks AS t ON t.track_id = l.track_id
GROUP BY 1
ORDER BY likes DESC, genre""",
        ("seed",),
    ),
    "harvest_completeness": Query(
        "Completeness of the harvest",
        "Every list family's paged lists by status: done (read to the end) and capped "
        "(stopped at its cap) are finished; pending, failed and incomplete ones are read "
        "again by the next run of the same command. The last row is the whole harvest.",
        """WITH lists AS (
    SELECT kind, status, pages, items FROM harvest_lists
    UNION ALL
    SELECT '(all)', status, pages, items FROM harvest_lists
),
failed AS (SELECT substr(list_key, 1, instr(list_key, ':') - 1) AS kind FROM harvest_failed_pages)
SELECT kind AS family, count(*) AS lists,
    round(100.0 * sum(status IN ('done', 'capped')) / count(*), 1) AS percent_finished,
    sum(status = 'done') AS done, sum(status = 'capped') AS capped,
    sum(status = 'pending') AS pending, sum(status = 'failed') AS failed,
    sum(status = 'incomplete') AS incomplete, sum(pages) AS pages, sum(items) AS items,
    (SELECT count(*) FROM failed WHERE failed.kind = lists.kind OR lists.kind = '(all)')
        AS failed_pages
FROM lists
GROUP BY kind
ORDER BY kind = '(all)', kind""",
    ),
}
