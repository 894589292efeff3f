"""Planted taste: users who prefer one group of artists (``--taste-groups``, ``--taste-strength``).

Off by default (``taste_groups`` 0): the world then never touches this module, byte for byte.
With G groups and strength P:

- the artists, in the world's artist order, are cut into G blocks, and with them their
  tracks: an artist's uploads are a block of the keyed track order, so a group's tracks are one
  run of positions. Every track of group g has the genre ``TASTE_GENRES[g % 13]`` (a track
  whose genre is null stays null), so the groups show in harvested data;
- the users are cut into G blocks through a keyed permutation, so group g's members are
  numbered ``0..m-1`` without a table, and a user's group is one permutation away;
- a user's like events (``like_count``, unchanged) are split: ``floor(P * n + U)`` of them
  (U uniform, per user: P of them on average), at most a quarter of the group's tracks, go to
  the group's own ``EventGraph``, whose targets are the group's tracks in the global popularity
  order (a track popular worldwide is popular in its group too); the rest go to the global
  graph, drawn from the global popularity as without taste. Reposts are split the same way.

``TasteGraph`` is the union of the global graph and the G group graphs and answers
``out_list`` and ``in_list`` like one ``EventGraph``: the group graphs' times are in lane 1 and
the global graph's in lane 0 (``graph.py``), so times stay unique within every list, and a pair
met in both graphs keeps its latest time in both views (u is in ``favoriters(t)`` exactly when
t is in ``likes(u)``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable

from sgr_scrapy.simulator.graph import EventGraph, Perm
from sgr_scrapy.simulator.objects import GENRES, mix

TASTE_GENRES = [g for g in GENRES if g]
_GLOBAL_LANE, _GROUP_LANE = 0, 1


class TasteGroups:
    """Which group each user and each track is in (see the module docstring).

    ``starts[k]`` is the first track position of artist k (``starts[-1]`` = ``n_tracks``) and
    ``position(t)`` track t's position; track 0, the seed, is in no group's graph.
    """

    def __init__(
        self,
        n_groups: int,
        n_users: int,
        n_tracks: int,
        starts: array,
        position: Callable[[int], int],
        key: int,
    ) -> None:
        n_artists = len(starts) - 1
        self.n = max(1, min(n_groups, n_artists))
        self.n_users = n_users
        self.n_tracks = n_tracks
        self._position = position
        self._track_bounds = [starts[g * n_artists // self.n] for g in range(self.n)]
        self._track_bounds.append(n_tracks)
        self._user_bounds = [g * n_users // self.n for g in range(self.n + 1)]
        self._user_perm = Perm(n_users, key)
        self._seed_group = self.track_group(0)
        self._tracks: list[array] | None = None
        self._local: array | None = None

    def user_group(self, user: int) -> int:
        """Return the group of user index ``user``."""
        return bisect_right(self._user_bounds, self._user_perm(user)) - 1

    def member(self, user: int) -> tuple[int, int]:
        """Return (group, member number within the group) of user index ``user``."""
        p = self._user_perm(user)
        g = bisect_right(self._user_bounds, p) - 1
        return g, p - self._user_bounds[g]

    def user(self, group: int, j: int) -> int:
        """Return the user index of member ``j`` of ``group``."""
        return self._user_perm.inverse(self._user_bounds[group] + j)

    def members(self, group: int) -> int:
        """Return how many users ``group`` has."""
        return self._user_bounds[group + 1] - self._user_bounds[group]

    def track_group(self, track: int) -> int:
        """Return the group of track index ``track`` (the group of its artist)."""
        return bisect_right(self._track_bounds, self._position(track)) - 1

    def n_targets(self, group: int) -> int:
        """Return how many tracks ``group``'s graph holds (the seed track excluded)."""
        n = self._track_bounds[group + 1] - self._track_bounds[group]
        return n - (group == self._seed_group)

    def _build(self) -> tuple[list[array], array]:
        # One pass over the catalogue, on first use: each group's tracks in index order (the
        # global popularity order) and each track's rank within its group.
        if self._tracks is None or self._local is None:
            tracks = [array("q") for _ in range(self.n)]
            local = array("q", bytes(8 * self.n_tracks))
            for t in range(1, self.n_tracks):
                own = tracks[self.track_group(t)]
                local[t] = len(own)
                own.append(t)
            self._tracks, self._local = tracks, local
        return self._tracks, self._local

    def track(self, group: int, rank: int) -> int:
        """Return the track index of ``group``'s ``rank``-th most popular track."""
        return self._build()[0][group][rank]

    def track_rank(self, track: int) -> int:
        """Return the rank of track index ``track`` within its group."""
        return self._build()[1][track]


class TasteGraph:
    """Owners = users, targets = track ranks (track index - 1), like ``EventGraph``: the
    global graph and one graph per group, merged (see the module docstring)."""

    def __init__(
        self,
        groups: TasteGroups,
        counts: Callable[[int], int],
        strength: float,
        alpha: float,
        key: int,
    ) -> None:
        self._groups = groups
        self._counts = counts
        self._strength = strength
        self._key = key
        self._global = EventGraph(
            groups.n_users,
            groups.n_tracks - 1,
            self.global_count,
            alpha,
            mix(key, 0),
            lanes=2,
            lane=_GLOBAL_LANE,
        )
        self._graphs = [
            EventGraph(
                groups.members(g),
                groups.n_targets(g),
                lambda j, g=g: self.group_count(groups.user(g, j)),
                alpha,
                mix(key, 1, g),
                lanes=2,
                lane=_GROUP_LANE,
            )
            for g in range(groups.n)
        ]

    def group_count(self, user: int) -> int:
        """Return how many of user ``user``'s events go to their group's tracks."""
        n = self._counts(user)
        if n <= 0:
            return 0
        share = n * self._strength + mix(self._key, 2, user) / 2**64
        cap = self._groups.n_targets(self._groups.user_group(user)) // 4
        return min(int(share), cap)

    def global_count(self, user: int) -> int:
        """Return how many of user ``user``'s events are drawn from the global popularity."""
        return self._counts(user) - self.group_count(user)

    def out_list(self, owner: int) -> dict[int, int]:
        """Return ``{target rank: time}`` of user ``owner`` (latest event per target)."""
        out = self._global.out_list(owner)
        g, j = self._groups.member(owner)
        for q, t in self._graphs[g].out_list(j).items():
            r = self._groups.track(g, q) - 1
            if out.get(r, -1) < t:
                out[r] = t
        return out

    def in_list(self, rank: int) -> dict[int, int]:
        """Return ``{user index: time}`` of target rank ``rank`` (latest event per user)."""
        out = self._global.in_list(rank)
        g = self._groups.track_group(rank + 1)
        q = self._groups.track_rank(rank + 1)
        for j, t in self._graphs[g].in_list(q).items():
            u = self._groups.user(g, j)
            if out.get(u, -1) < t:
                out[u] = t
        return out
