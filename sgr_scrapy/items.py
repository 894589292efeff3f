"""The records a harvest stores: one dataclass per row kind, field names equal to column names.

The spider yields `Page` items: everything one API response contributes, together with the
progress of the list it belongs to, so that the pipeline can commit both in one transaction
(a crash then loses whole pages, never half of one, and never advances a cursor past rows that
were not written).

Records (`TrackRecord`, `UserRecord`, `EngagementRecord`) are what feed exports receive: one per
row a run wrote, built from the database after the run's last commit (see feeds.py). Their
fields are `type` followed by the table's column names; `RECORD_KINDS` declares each kind once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# Bits of `Engagement.sources` and `Follow.sources`: which kind of list a row was read from.
# They let a resumed crawl rebuild, per list, the set of items already taken (for caps and
# dedupe) even when another list recorded the same row first.
FROM_TRACK_LIST = 1  # engagements: /tracks/{id}/favoriters or /tracks/{id}/reposters
FROM_USER_LIST = 2  # engagements: /users/{id}/likes/tracks or /users/{id}/reposts/tracks
FROM_FOLLOWINGS = 1  # follows: /users/{follower}/followings
FROM_FOLLOWERS = 2  # follows: /users/{followee}/followers

# List statuses. Only `done` and `capped` (at a cap no smaller than the one asked for) are final.
PENDING = "pending"  # not finished: `next_url` is the page to fetch (None: the first page)
DONE = "done"  # read to the end (next_href null or absent)
CAPPED = "capped"  # stopped at its cap; `next_url` is the page to re-read to go further
FAILED = "failed"  # a page failed after all retries; `next_url` is that page
INCOMPLETE = "incomplete"  # stopped for a reason a rerun may not fix (loop, foreign host)
RESUMABLE = (PENDING, FAILED, INCOMPLETE)  # what a rerun of the same command reads again


@dataclass(slots=True)
class Track:
    kind: ClassVar[str] = "tracks"
    track_id: int
    urn: str | None
    title: str | None
    artist_id: int | None
    artist_name: str | None
    genre: str | None
    tags: str  # JSON array of the user's tags
    machine_tags: str  # JSON object of machine tags, {"namespace:key": "value"}
    duration_ms: int | None
    playback_count: int | None
    like_count: int | None
    reposts_count: int | None
    comment_count: int | None
    permalink_url: str | None
    created_at: str | None  # ISO 8601, UTC
    raw_json: str  # the object without what the columns and its artist's row hold (api.py)


@dataclass(slots=True)
class User:
    kind: ClassVar[str] = "users"
    user_id: int
    urn: str | None
    username: str | None
    permalink_url: str | None
    followers_count: int | None
    followings_count: int | None
    track_count: int | None
    public_favorites_count: int | None
    city: str | None
    country: str | None
    created_at: str | None  # ISO 8601, UTC
    raw_json: str  # the object without what the columns hold (api.py)


@dataclass(slots=True)
class Engagement:
    kind: ClassVar[str] = "engagements"
    user_id: int
    track_id: int
    engagement_type: str  # "like" or "repost"
    sources: int  # FROM_TRACK_LIST | FROM_USER_LIST bits


@dataclass(slots=True)
class Follow:
    """A row of `user_follows`: `follower_id` follows `followee_id`."""

    kind: ClassVar[str] = "follows"
    follower_id: int
    followee_id: int
    sources: int  # FROM_FOLLOWINGS | FROM_FOLLOWERS bits


@dataclass(slots=True)
class Playlist:
    """A row of `playlists`; its tracks are `PlaylistTrack` rows."""

    kind: ClassVar[str] = "playlists"
    playlist_id: int
    urn: str | None
    title: str | None
    user_id: int | None  # the owner
    track_count: int | None  # as the API counts them (every track, whatever `tracks` held)
    duration_ms: int | None
    permalink_url: str | None
    created_at: str | None  # ISO 8601, UTC
    raw_json: str  # the object without `tracks` (rows of `playlist_tracks`) and its owner


@dataclass(slots=True)
class PlaylistTrack:
    """A row of `playlist_tracks`: the track at a 0-based position (a track may repeat)."""

    kind: ClassVar[str] = "playlist_tracks"
    playlist_id: int
    position: int
    track_id: int


@dataclass(slots=True)
class RelatedTrack:
    """A row of `related_tracks`: `source='api'` for /tracks/{id}/related (rank 1-based)."""

    kind: ClassVar[str] = "related_tracks"
    track_id: int
    related_track_id: int
    source: str
    rank: int | None
    score: float | None
    support: int | None


@dataclass(slots=True)
class ListItem:
    """An item a list took, for lists whose rows do not say which list read them (uploads)."""

    kind: ClassVar[str] = "list_items"
    list_key: str
    item_id: int


@dataclass(slots=True)
class ListProgress:
    """Where one paged list stands; stored in the same transaction as the page's rows."""

    list_key: str  # "<family>:<owner_id>": "favoriters:<track_id>", "likes:<user_id>", ...
    kind: str  # the list family's name (families.py)
    owner_id: int  # the track or user the list belongs to
    status: str = PENDING
    next_url: str | None = None
    pages: int = 0  # pages read into the database so far
    items: int = 0  # distinct items taken so far (what a cap counts)
    cap: int = 0  # the cap in force when the list stopped (0: none)
    error: str | None = None  # why a list is failed or incomplete


@dataclass(slots=True)
class FailedPage:
    """A page that still failed after every retry; the next run retries exactly it."""

    list_key: str
    url: str
    reason: str


@dataclass(slots=True)
class Seed:
    """A seed URL and the track it resolved to, so a rerun need not resolve it again."""

    url: str
    track_id: int


@dataclass(slots=True)
class Expansion:
    """A track chosen to seed a hop (`-a depth`): which hop, and its engagement count."""

    track_id: int
    hop: int
    engagements: int


@dataclass(slots=True)
class Page:
    """Everything one API response contributes, written in one transaction.

    `rows` holds row records of any kind (Track, User, Engagement, Follow, ...) in the order
    they were read; the store groups them by kind.
    """

    rows: list[Any] = field(default_factory=list)
    progress: ListProgress | None = None  # the list this page advanced, if any
    new_lists: list[ListProgress] = field(default_factory=list)  # lists it discovered
    failed: FailedPage | None = None
    seed: Seed | None = None
    expansions: list[Expansion] = field(default_factory=list)  # a hop's chosen seeds
    dropped: int = 0  # items without an id, or null, dropped from this page


# --- Records: rows as feed exports see them (see feeds.py) ---


@dataclass(slots=True)
class TrackRecord:
    """A row of `tracks`; `tags` a list, `machine_tags` and `raw_json` objects."""

    type: str  # "track"
    track_id: int
    urn: str | None
    title: str | None
    artist_id: int | None
    artist_name: str | None
    genre: str | None
    tags: list[str]
    machine_tags: dict[str, str]
    duration_ms: int | None
    playback_count: int | None
    like_count: int | None
    reposts_count: int | None
    comment_count: int | None
    permalink_url: str | None
    created_at: str | None
    raw_json: dict[str, Any] | None
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class UserRecord:
    """A row of `users`; `raw_json` an object."""

    type: str  # "user"
    user_id: int
    urn: str | None
    username: str | None
    permalink_url: str | None
    followers_count: int | None
    followings_count: int | None
    track_count: int | None
    public_favorites_count: int | None
    city: str | None
    country: str | None
    created_at: str | None
    raw_json: dict[str, Any] | None
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class EngagementRecord:
    """A row of `user_engagements`."""

    type: str  # "engagement"
    user_id: int
    track_id: int
    engagement_type: str
    sources: int
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class FollowRecord:
    """A row of `user_follows`."""

    type: str  # "follow"
    follower_id: int
    followee_id: int
    sources: int
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class PlaylistRecord:
    """A row of `playlists`; `raw_json` an object."""

    type: str  # "playlist"
    playlist_id: int
    urn: str | None
    title: str | None
    user_id: int | None
    track_count: int | None
    duration_ms: int | None
    permalink_url: str | None
    created_at: str | None
    raw_json: dict[str, Any] | None
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class PlaylistTrackRecord:
    """A row of `playlist_tracks`."""

    type: str  # "playlist_track"
    playlist_id: int
    position: int
    track_id: int
    first_seen: str | None
    last_seen: str | None


@dataclass(slots=True)
class RelatedTrackRecord:
    """A row of `related_tracks`."""

    type: str  # "related_track"
    track_id: int
    related_track_id: int
    source: str
    rank: int | None
    score: float | None
    support: int | None
    first_seen: str | None
    last_seen: str | None


@dataclass(frozen=True, slots=True)
class RecordKind:
    """One kind of record: its `type`, its table, its item class and its JSON columns.

    The record's fields after `type` are the table's columns it exports; `json_columns` are
    stored as JSON text and exported as lists or objects. The table's key orders the export.
    """

    type: str
    table: str
    record: type
    key: tuple[str, ...]
    json_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.record))[1:]


# Every kind of record a harvest exports, declared once: a new row kind is one entry here and
# one record class above.
RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("track", "tracks", TrackRecord, ("track_id",), ("tags", "machine_tags", "raw_json")),
    RecordKind("user", "users", UserRecord, ("user_id",), ("raw_json",)),
    RecordKind(
        "engagement",
        "user_engagements",
        EngagementRecord,
        ("user_id", "track_id", "engagement_type"),
    ),
    RecordKind("follow", "user_follows", FollowRecord, ("follower_id", "followee_id")),
    RecordKind("playlist", "playlists", PlaylistRecord, ("playlist_id",), ("raw_json",)),
    RecordKind(
        "playlist_track", "playlist_tracks", PlaylistTrackRecord, ("playlist_id", "position")
    ),
    RecordKind(
        "related_track",
        "related_tracks",
        RelatedTrackRecord,
        ("track_id", "related_track_id", "source"),
    ),
)
