"""The ground truth: what a correct harvest stores, for any list families, caps and hops.

The list families are declared once here (``FAMILIES``, issue 10 §2) and one algorithm,
``harvest``, defines the truth over a ``Source`` of lists: ``WorldSource`` reads the world
directly (``World.truth``, ``/__truth``, ``--truth``), and ``walk.Walker`` reads the HTTP
routes through every fault. Tests compare the two.

Hops (issue 10 §3): hop 1 reads the track families of the seeds, then the user families of
the hop's users (those first yielded by its favoriters and reposters lists and not read by
an earlier hop). Before hop h+1, the ``expand`` tracks with the most engagement rows
(user, track, kind) from hop-h users become its seeds: ties to the smaller track id, tracks
already expanded (seeds included) and tracks without engagements never picked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sgr_scrapy.simulator.world import ItemList, World

TRACK_FAMILIES = ("favoriters", "reposters", "related")
USER_FAMILIES = ("likes", "reposts", "followings", "followers", "playlists", "tracks")
FAMILIES = TRACK_FAMILIES + USER_FAMILIES
DEFAULT_LISTS = ("favoriters", "reposters", "likes")
# Families whose items are users (the rest yield tracks, playlists for ``playlists``).
USER_ITEM_FAMILIES = frozenset({"favoriters", "reposters", "followings", "followers"})
ENGAGEMENT_KIND = {
    "favoriters": "like",
    "reposters": "repost",
    "likes": "like",
    "reposts": "repost",
}

Track = tuple[int, int]  # (track id, artist id)


class UnknownIdError(KeyError):
    """Raised by ``WorldSource`` for a seed track or list owner the world does not have."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument; callers print this as one line.
        return str(self.args[0])


@dataclass
class Truth:
    """What a correct harvest stores (every set holds ids or rows of ids).

    ``engagements`` (user, track, like|repost); ``follows`` (follower, followee);
    ``playlists`` (playlist, owner); ``playlist_tracks`` (playlist, 0-based position,
    track); ``related`` (track, related track, 1-based rank); ``expansions`` (track, the
    hop it seeds, its engagement count).
    """

    track_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)
    engagements: set[tuple[int, int, str]] = field(default_factory=set)
    follows: set[tuple[int, int]] = field(default_factory=set)
    playlists: set[tuple[int, int]] = field(default_factory=set)
    playlist_tracks: set[tuple[int, int, int]] = field(default_factory=set)
    related: set[tuple[int, int, int]] = field(default_factory=set)
    expansions: set[tuple[int, int, int]] = field(default_factory=set)

    def to_json(self) -> dict:
        """Return the ``/__truth`` JSON shape (sorted lists; rows as lists)."""
        return {
            "track_ids": sorted(self.track_ids),
            "user_ids": sorted(self.user_ids),
            "engagements": [list(e) for e in sorted(self.engagements)],
            "follows": [list(r) for r in sorted(self.follows)],
            "playlists": [list(r) for r in sorted(self.playlists)],
            "playlist_tracks": [list(r) for r in sorted(self.playlist_tracks)],
            "related": [list(r) for r in sorted(self.related)],
            "expansions": [list(r) for r in sorted(self.expansions)],
        }

    @classmethod
    def from_json(cls, data: dict) -> Truth:
        """Parse the ``/__truth`` JSON shape back into sets (newer keys may be absent)."""

        def rows(key: str) -> set[tuple[int, ...]]:
            return {tuple(int(x) for x in r) for r in data.get(key, ())}

        return cls(
            track_ids=set(data["track_ids"]),
            user_ids=set(data["user_ids"]),
            engagements={(int(u), int(t), str(k)) for u, t, k in data["engagements"]},
            follows=rows("follows"),  # type: ignore[arg-type]
            playlists=rows("playlists"),  # type: ignore[arg-type]
            playlist_tracks=rows("playlist_tracks"),  # type: ignore[arg-type]
            related=rows("related"),  # type: ignore[arg-type]
            expansions=rows("expansions"),  # type: ignore[arg-type]
        )


def parse_lists(lists: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return the family names of ``lists`` (comma-separated or a sequence), validated."""
    if lists is None:
        return DEFAULT_LISTS
    names = lists.split(",") if isinstance(lists, str) else list(lists)
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in FAMILIES:
            raise ValueError(f"unknown list family {name!r}; use {','.join(FAMILIES)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def resolve_caps(max_users: int = 0, max_user_likes: int = 0, **caps: int) -> dict[str, int]:
    """Return ``{family: cap}`` (0 = no cap) from ``max_users``, ``max_user_likes`` and
    explicit ``max_<family>`` values, which win."""
    out = dict.fromkeys(FAMILIES, 0)
    out["favoriters"] = out["reposters"] = max_users
    out["likes"] = max_user_likes
    for key, value in caps.items():
        family = key.removeprefix("max_")
        if not key.startswith("max_") or family not in FAMILIES:
            names = ",".join(FAMILIES)
            raise ValueError(f"unknown cap {key!r}; use max_<family>, family one of {names}")
        out[family] = value
    for family, value in out.items():
        if int(value) < 0:
            raise ValueError(f"max_{family} must be 0 (no cap) or more, not {value}")
        out[family] = int(value)
    return out


class Source(Protocol):
    """Where ``harvest`` reads lists: the world itself, or the HTTP routes (``walk.py``)."""

    def artist(self, track_id: int) -> int:
        """Return the artist (``user.id``) of a track; raise KeyError for an unknown seed."""
        ...

    def users(self, family: str, owner_id: int, cap: int) -> list[int]:
        """Return the first ``cap`` (0 = all) distinct user ids of a users list."""
        ...

    def tracks(self, family: str, owner_id: int, cap: int) -> list[Track]:
        """Return the first ``cap`` distinct (track id, artist id) of a tracks list."""
        ...

    def playlists(self, owner_id: int, cap: int) -> list[tuple[int, list[Track]]]:
        """Return the first ``cap`` distinct playlists: (id, every track in order)."""
        ...


def harvest(
    source: Source,
    seeds: Sequence[int],
    lists: Sequence[str],
    caps: dict[str, int],
    depth: int = 1,
    expand: int = 50,
) -> Truth:
    """Return the truth of reading ``lists`` from ``seeds`` over ``depth`` hops (see module)."""
    if depth < 1 or expand < 0:
        raise ValueError(f"depth must be 1 or more and expand 0 or more, not {depth}, {expand}")
    truth = Truth(track_ids=set(seeds))
    artists: dict[int, int] = {}
    read: set[int] = set()
    expanded = set(seeds)
    hop_seeds = list(dict.fromkeys(seeds))
    for hop in range(1, depth + 1):
        hop_users: list[int] = []
        fresh: set[int] = set()
        for s in hop_seeds:
            artists[s] = source.artist(s)
            for family in ("favoriters", "reposters"):
                if family not in lists:
                    continue
                for u in source.users(family, s, caps[family]):
                    truth.user_ids.add(u)
                    truth.engagements.add((u, s, ENGAGEMENT_KIND[family]))
                    if u not in read and u not in fresh:
                        fresh.add(u)
                        hop_users.append(u)
            if "related" in lists:
                for rank, (t, a) in enumerate(source.tracks("related", s, caps["related"]), 1):
                    artists[t] = a
                    truth.related.add((s, t, rank))
        for u in hop_users:
            _read_user(source, u, lists, caps, truth, artists)
        read |= fresh
        if hop == depth:
            break
        counts = Counter(t for u, t, _ in truth.engagements if u in fresh)
        picks = sorted((-c, t) for t, c in counts.items() if t not in expanded)[:expand]
        if not picks:
            break
        hop_seeds = [t for _, t in picks]
        truth.expansions |= {(t, hop + 1, -c) for c, t in picks}
        expanded.update(hop_seeds)
    truth.track_ids.update(artists)
    truth.user_ids.update(artists.values())
    return truth


def _read_user(
    source: Source,
    u: int,
    lists: Sequence[str],
    caps: dict[str, int],
    truth: Truth,
    artists: dict[int, int],
) -> None:
    for family in ("likes", "reposts"):
        if family in lists:
            for t, a in source.tracks(family, u, caps[family]):
                artists[t] = a
                truth.engagements.add((u, t, ENGAGEMENT_KIND[family]))
    if "tracks" in lists:
        for t, a in source.tracks("tracks", u, caps["tracks"]):
            artists[t] = a
    if "followings" in lists:
        for v in source.users("followings", u, caps["followings"]):
            truth.user_ids.add(v)
            truth.follows.add((u, v))
    if "followers" in lists:
        for v in source.users("followers", u, caps["followers"]):
            truth.user_ids.add(v)
            truth.follows.add((v, u))
    if "playlists" in lists:
        for p, tracks in source.playlists(u, caps["playlists"]):
            truth.playlists.add((p, u))
            for position, (t, a) in enumerate(tracks):
                artists[t] = a
                truth.playlist_tracks.add((p, position, t))


class WorldSource:
    """``Source`` over the world's own lists (no HTTP)."""

    GETTERS = {"tracks": "uploads"}  # family -> World method, when the names differ

    def __init__(self, world: World) -> None:
        self.world = world

    def _list(self, family: str, owner_id: int) -> ItemList:
        lst = getattr(self.world, self.GETTERS.get(family, family))(owner_id)
        if lst is None:
            raise UnknownIdError(f"unknown owner {owner_id} of a {family} list")
        return lst

    def artist(self, track_id: int) -> int:
        if self.world.track_index(track_id) is None:
            raise UnknownIdError(f"unknown seed track {track_id}")
        return self.world.artist_id(track_id)

    def users(self, family: str, owner_id: int, cap: int) -> list[int]:
        return self._list(family, owner_id).ids[: cap or None]

    def tracks(self, family: str, owner_id: int, cap: int) -> list[Track]:
        ids = self._list(family, owner_id).ids[: cap or None]
        return [(t, self.world.artist_id(t)) for t in ids]

    def playlists(self, owner_id: int, cap: int) -> list[tuple[int, list[Track]]]:
        out = []
        for p in self._list("playlists", owner_id).ids[: cap or None]:
            tracks = self.world.playlist_tracks(p) or []
            out.append((p, [(t, self.world.artist_id(t)) for t in tracks]))
        return out


class CountingSource(WorldSource):
    """``WorldSource`` that also counts the fewest requests a harvester needs, per route family.

    A list of ``n`` items capped at ``c`` costs ``max(1, ceil(min(n, c or n) / page_size))``
    pages; a seed track its ``resolve``, ``track`` and artist's ``user`` (hop 1 only: later
    hops' seeds are tracks already stored); a playlist whose list response carries fewer tracks
    than it has (``playlist_tracks_limit``) one ``playlist`` request to read it whole.
    ``requests`` is keyed by the simulator's route families (``/__stats``).
    """

    def __init__(self, world: World, page_size: int = 200, playlist_tracks_limit: int = 50) -> None:
        super().__init__(world)
        self.page_size = page_size
        self.playlist_tracks_limit = playlist_tracks_limit
        self.requests: Counter[str] = Counter()

    def _count(self, family: str, n: int, cap: int) -> None:
        taken = min(n, cap) if cap else n
        self.requests[family] += max(1, -(-taken // self.page_size))

    def users(self, family: str, owner_id: int, cap: int) -> list[int]:
        self._count(family, len(self._list(family, owner_id).ids), cap)
        return super().users(family, owner_id, cap)

    def tracks(self, family: str, owner_id: int, cap: int) -> list[Track]:
        self._count(family, len(self._list(family, owner_id).ids), cap)
        return super().tracks(family, owner_id, cap)

    def playlists(self, owner_id: int, cap: int) -> list[tuple[int, list[Track]]]:
        self._count("playlists", len(self._list("playlists", owner_id).ids), cap)
        out = super().playlists(owner_id, cap)
        limit = self.playlist_tracks_limit
        self.requests["playlist"] += sum(1 for _, tracks in out if limit and len(tracks) > limit)
        return out


def fewest_requests(
    world: World,
    seeds: Sequence[int],
    lists: Sequence[str],
    caps: dict[str, int],
    depth: int = 1,
    expand: int = 50,
    playlist_tracks_limit: int = 50,
) -> Counter[str]:
    """Return the fewest requests, per route family, of the harvest ``harvest`` defines."""
    source = CountingSource(world, playlist_tracks_limit=playlist_tracks_limit)
    harvest(source, seeds, lists, caps, depth, expand)
    source.requests.update(resolve=len(seeds), track=len(seeds), user=len(seeds))
    return source.requests
