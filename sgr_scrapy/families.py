"""List families, declared once: what each paged list of the API is and what it writes.

A list family is one entry of `FAMILIES`: its endpoint and paging, its owner (a track or a
user), the kind of item it yields, the row that links owner and item, how the ids it already
took are found again on resume (`Taken`), and whether its items spawn lists of their own. The
spider, the store, caps, resume and the summary all read this registry: a new family is one
entry here (and a row kind in items.py if it writes a new one).

Names are an interface (`-a lists=`, `-a max_<family>=`, `harvest_lists.kind`): keep them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sgr_scrapy.items import (
    FROM_FOLLOWERS,
    FROM_FOLLOWINGS,
    FROM_TRACK_LIST,
    FROM_USER_LIST,
    Engagement,
    Follow,
    ListItem,
    Playlist,
    RelatedTrack,
)

PAGE_SIZE = 200  # the API's largest `limit`
# Without `access`, tracks that are not playable are silently left out of track lists (OAS).
ACCESS = "access=playable%2Cpreview%2Cblocked"
TRACK, USER, PLAYLIST = "track", "user", "playlist"  # owners and item kinds


@dataclass(frozen=True, slots=True)
class Taken:
    """Where the items a list took are recorded: rows of `row` whose `owner` field is the list's
    owner (or, for `owner="list_key"`, its key), with the `match` values and the `bit` set in
    their `sources`; `item` is the field holding the item's id. The store turns this into a
    query; the spider never sees SQL."""

    row: type
    item: str
    owner: str
    match: tuple[tuple[str, Any], ...] = ()
    bit: int = 0


# The row that links a list's owner to one of its items: (owner id, item id, 1-based rank).
Relation = Callable[[int, int, int], Any]


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    owner: str  # TRACK or USER: whose list it is
    path: str  # the first page's path, `{id}` the owner's id
    query: str  # the first page's query (page size, partitioning, access)
    paging: str  # "cursor" (next_href carries a cursor) or "offset" (an offset)
    item: str  # USER, TRACK or PLAYLIST: what the collection holds
    taken: Taken
    relation: Relation | None  # None: the item's own row records it (playlists)
    writes: tuple[str, ...]  # the tables its rows go to
    spawns_user_lists: bool = False  # its items are users whose own lists are read (a hop)
    count: str | None = None  # the owner's count of its items (`-a plan=1`)
    help: str = ""

    def first_page_url(self, api_url: str, owner_id: int) -> str:
        return f"{api_url}/{self.path.format(id=owner_id)}?{self.query}"

    def key(self, owner_id: int) -> str:
        return list_key(self.name, owner_id)

    @property
    def engagement_type(self) -> str | None:
        """`like` or `repost` for families whose rows are engagements, else None."""
        if self.taken.row is not Engagement:
            return None
        return dict(self.taken.match).get("engagement_type")


def list_key(name: str, owner_id: int) -> str:
    return f"{name}:{owner_id}"


_LINKED = f"limit={PAGE_SIZE}&linked_partitioning=true"


def _engagement(etype: str, bit: int, owner_is_user: bool) -> tuple[Taken, Relation]:
    if owner_is_user:
        taken = Taken(Engagement, "track_id", "user_id", (("engagement_type", etype),), bit)
        return taken, lambda owner, item, rank: Engagement(owner, item, etype, bit)
    taken = Taken(Engagement, "user_id", "track_id", (("engagement_type", etype),), bit)
    return taken, lambda owner, item, rank: Engagement(item, owner, etype, bit)


_FAVORITERS = _engagement("like", FROM_TRACK_LIST, owner_is_user=False)
_REPOSTERS = _engagement("repost", FROM_TRACK_LIST, owner_is_user=False)
_LIKES = _engagement("like", FROM_USER_LIST, owner_is_user=True)
_REPOSTS = _engagement("repost", FROM_USER_LIST, owner_is_user=True)

_ENGAGED_USERS = ("users", "user_engagements")
_ENGAGED_TRACKS = ("tracks", "users", "user_engagements")
_FOLLOWS = ("users", "user_follows")

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "favoriters", TRACK, "tracks/{id}/favoriters", _LINKED, "cursor", USER, *_FAVORITERS,
            _ENGAGED_USERS, spawns_user_lists=True, help="users who liked the seed track",
        ),
        Family(
            "reposters", TRACK, "tracks/{id}/reposters", _LINKED, "cursor", USER, *_REPOSTERS,
            _ENGAGED_USERS, spawns_user_lists=True, help="users who reposted the seed track",
        ),
        Family(
            "related", TRACK, "tracks/{id}/related", f"{_LINKED}&{ACCESS}", "offset", TRACK,
            Taken(RelatedTrack, "related_track_id", "track_id", (("source", "api"),)),
            lambda owner, item, rank: RelatedTrack(owner, item, "api", rank, None, None),
            ("tracks", "users", "related_tracks"),
            help="the API's related tracks of the seed track, ranked",
        ),
        Family(
            "likes", USER, "users/{id}/likes/tracks", f"{_LINKED}&{ACCESS}", "cursor", TRACK,
            *_LIKES, _ENGAGED_TRACKS, count="public_favorites_count",
            help="tracks each liker or reposter liked",
        ),
        Family(
            "reposts", USER, "users/{id}/reposts/tracks", f"{_LINKED}&{ACCESS}", "cursor", TRACK,
            *_REPOSTS, _ENGAGED_TRACKS, count="reposts_count",
            help="tracks each liker or reposter reposted",
        ),
        Family(
            "followings", USER, "users/{id}/followings", _LINKED, "cursor", USER,
            Taken(Follow, "followee_id", "follower_id", (), FROM_FOLLOWINGS),
            lambda owner, item, rank: Follow(owner, item, FROM_FOLLOWINGS),
            _FOLLOWS, count="followings_count", help="users each liker or reposter follows",
        ),
        Family(
            "followers", USER, "users/{id}/followers", _LINKED, "cursor", USER,
            Taken(Follow, "follower_id", "followee_id", (), FROM_FOLLOWERS),
            lambda owner, item, rank: Follow(item, owner, FROM_FOLLOWERS),
            _FOLLOWS, count="followers_count", help="users who follow each liker or reposter",
        ),
        Family(
            "playlists", USER, "users/{id}/playlists", f"{_LINKED}&{ACCESS}", "cursor", PLAYLIST,
            Taken(Playlist, "playlist_id", "user_id"), None,
            ("playlists", "playlist_tracks", "tracks", "users"),
            count="playlist_count",
            help="playlists of each liker or reposter, with their tracks in order",
        ),
        Family(
            "tracks", USER, "users/{id}/tracks", f"{_LINKED}&{ACCESS}", "cursor", TRACK,
            Taken(ListItem, "item_id", "list_key"),
            lambda owner, item, rank: ListItem(list_key("tracks", owner), item),
            ("tracks", "users", "harvest_list_items"),
            count="track_count", help="tracks each liker or reposter uploaded",
        ),
    )
}  # fmt: skip

DEFAULT_LISTS = ("favoriters", "reposters", "likes")
TRACK_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.owner == TRACK)
USER_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.owner == USER)
# Caps older than the families, kept as aliases: an explicit max_<family> wins over them.
CAP_ALIASES = {"max_users": ("favoriters", "reposters"), "max_user_likes": ("likes",)}


def parse_lists(value: str) -> tuple[str, ...]:
    """Family names of a comma-separated `-a lists=` value, in registry order; ValueError."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ValueError("names no list family")
    for name in names:
        if name not in FAMILIES:
            raise ValueError(f"names an unknown list family {name!r}")
    return tuple(name for name in FAMILIES if name in names)


def playlist_url(api_url: str, playlist_id: int) -> str:
    """A playlist with every one of its tracks (list responses may cut `tracks` short)."""
    return f"{api_url}/playlists/{playlist_id}?{ACCESS}"
