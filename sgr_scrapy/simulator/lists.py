"""The lists of a ``World``: the seed's explicit ones, every other track and user list.

``WorldLists`` is the part of ``World`` that builds ``ItemList``s (mixed in, so the lists are
``world.favoriters(id)`` and so on): favoriters, reposters and related of tracks; likes,
reposts, followers, followings, uploads and playlists of users; the tracks of a playlist.
Engagements and follows come from the world's ``EventGraph``s, read from either end, plus
the events ``--epoch`` added (``epochs.py``), always newer: every list is newest first.
"""

from __future__ import annotations

import random

from sgr_scrapy.simulator.graph import SPAN_MS, EventGraph
from sgr_scrapy.simulator.objects import WORLD_NOW_MS, mix
from sgr_scrapy.simulator.taste import TasteGraph

# RNG stream tags of these lists (world.py holds the others).
_TAG_FAV, _TAG_REP, _TAG_PL, _TAG_REL = 2, 3, 12, 14
_GRAPH_OF = {"favoriters": "likes", "reposters": "reposts"}
PLAYLISTS_MAX = 60


class ItemList:
    """One ordered list of ids (newest first) with its sort keys ``times`` (epoch ms).

    ``name`` is the list family (favoriters, reposters, likes, reposts, followers,
    followings, uploads, playlists, related) and ``owner_id`` the track or user it belongs
    to; a cursor is only valid for the (name, owner) it came from.
    """

    __slots__ = ("_by_id", "_by_time", "ids", "name", "owner_id", "times")

    def __init__(self, owner_id: int, ids: list[int], times: list[int], name: str = "") -> None:
        self.name = name
        self.owner_id = owner_id
        self.ids = ids
        self.times = times
        self._by_time: dict[int, int] | None = None
        self._by_id: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def position_of_time(self, ms: int) -> int | None:
        """Return the index after the item whose time is ``ms`` (a cursor), or None."""
        if self._by_time is None:
            self._by_time = {t: i for i, t in enumerate(self.times)}
        i = self._by_time.get(ms)
        return None if i is None else i + 1

    def position_of_id(self, item_id: int) -> int | None:
        """Return the index after the item ``item_id``, or None when not in the list."""
        if self._by_id is None:
            self._by_id = {x: i for i, x in enumerate(self.ids)}
        i = self._by_id.get(item_id)
        return None if i is None else i + 1


def _newest_first(owner_id: int, pairs: list[tuple[int, int]], name: str) -> ItemList:
    pairs.sort(reverse=True)
    return ItemList(owner_id, [i for _, i in pairs], [t for t, _ in pairs], name)


def _odd_times(rng: random.Random, n: int) -> list[int]:
    # Odd milliseconds: never equal to an EventGraph time (even), so merged lists stay unique.
    t = (WORLD_NOW_MS - rng.randint(0, 10**7)) | 1
    gap = max(1, SPAN_MS // max(n, 1))
    out = []
    for _ in range(n):
        out.append(t)
        t -= 2 * rng.randint(1, gap)
    return out


class WorldLists:
    """List builders of ``World`` (see the module docstring); ``World`` gives them ids,
    cores, counts and graphs (``user_id``, ``_track_core``, ``_likes_graph``, ...)."""

    def _added(self, graph: str, side: str, index: int) -> list[tuple[int, int]]:
        """``(time, other index)`` of the events epochs 1..E added (none at epoch 0)."""
        return [] if self.epochs is None else self.epochs.added(graph, side, index)

    # -- the seed's explicit lists ---------------------------------------------------------
    def _sample_users(self, rng: random.Random, n: int, exclude: set[int]) -> list[int]:
        out: list[int] = []
        seen = set(exclude)
        n = min(n, self.n_users - len(seen))
        while len(out) < n:
            i = rng.randrange(self.n_users)
            if i not in seen:
                seen.add(i)
                out.append(i)
        return out

    def _sample_fans(self, rng: random.Random, n: int, exclude: set[int]) -> list[int]:
        """Sample ``n`` users, ``round(n * artist_fans)`` of them artists (the rest anyone)."""
        n_artists = round(n * self.config.artist_fans)
        if n_artists <= 0:
            return self._sample_users(rng, n, exclude)
        fans: list[int] = []
        seen = set(exclude)
        left = len(set(self._artists) - seen)
        tries = 0
        while len(fans) < n_artists and left:
            tries += 1
            # Artists of popular tracks first (the likes' own Zipf-ish law), so a fan is
            # likely to be met as the nested artist of a track in another user's likes.
            if tries < 20 * n_artists:
                i = self._artist_index(self._zipf_track(rng))
            else:
                i = rng.choice(self._artists)
            if i not in seen:
                seen.add(i)
                fans.append(i)
                left -= 1
        fans += self._sample_users(rng, n - len(fans), seen)
        rng.shuffle(fans)
        return fans

    def _seed_list(self, name: str) -> tuple[list[int], list[int]]:
        """Return (user indexes, odd times) of the seed's ``favoriters`` or ``reposters``."""
        if name not in self._seed_lists:
            cfg = self.config
            if name == "favoriters":
                rng = random.Random(mix(self.seed, _TAG_FAV, 0))
                users = self._sample_fans(rng, cfg.likers, set())
                rng.seed(mix(self.seed, _TAG_FAV, 0))  # times from the stream's start: same worlds
            else:
                likers = self._seed_list("favoriters")[0]
                rng = random.Random(mix(self.seed, _TAG_REP, 0))
                n_over = min(int(cfg.reposters * cfg.repost_overlap), len(likers))
                users = rng.sample(likers, n_over)
                users += self._sample_fans(rng, cfg.reposters - n_over, set(likers))
                rng.shuffle(users)
            self._seed_lists[name] = (users, _odd_times(rng, len(users)))
        return self._seed_lists[name]

    def _seed_time(self, name: str, user_index: int) -> int | None:
        if name not in self._seed_times:
            users, times = self._seed_list(name)
            self._seed_times[name] = dict(zip(users, times, strict=True))
        return self._seed_times[name].get(user_index)

    # -- track lists -----------------------------------------------------------------------
    def _engagers(
        self, track_id: int, name: str, graph: EventGraph | TasteGraph
    ) -> ItemList | None:
        index = self.track_index(track_id)
        if index is None:
            return None
        if index == 0:
            users, times = self._seed_list(name)
            pairs = list(zip(times, (self.user_id(i) for i in users), strict=True))
        else:
            got = graph.in_list(index - 1)
            pairs = [(t, self.user_id(u)) for u, t in got.items()]
        added = self._added(_GRAPH_OF[name], "into", index)
        pairs += [(t, self.user_id(u)) for t, u in added]
        return _newest_first(track_id, pairs, name)

    def _favoriters(self, track_id: int) -> ItemList | None:
        return self._engagers(track_id, "favoriters", self._likes_graph)

    def _reposters(self, track_id: int) -> ItemList | None:
        return self._engagers(track_id, "reposters", self._reposts_graph)

    def _zipf_track(self, rng: random.Random) -> int:
        return int(self.n_tracks * rng.random() ** 3)

    def _related(self, track_id: int) -> ItemList | None:
        """Up to ``related_max`` other tracks: the artist's own first, then popular ones."""
        index = self.track_index(track_id)
        if index is None:
            return None
        rng = random.Random(mix(self.seed, _TAG_REL, index))
        n = min(rng.randint(0, self.config.related_max), self.n_tracks - 1)
        own = self.upload_indexes(self._artist_index(index))
        chosen = [j for j in rng.sample(own, min(len(own), 3)) if j != index][:n]
        seen = {index, *chosen}
        tries = 0
        while len(chosen) < n:
            tries += 1
            j = self._zipf_track(rng) if tries < 4 * n else rng.randrange(self.n_tracks)
            if j not in seen:
                seen.add(j)
                chosen.append(j)
        # No times: related is offset-paged, in the API's relevance order.
        return ItemList(track_id, [self.track_id(j) for j in chosen], [], "related")

    # -- user lists ------------------------------------------------------------------------
    def _engaged(
        self, user_id: int, name: str, seed_name: str, graph: EventGraph | TasteGraph
    ) -> ItemList | None:
        index = self.user_index(user_id)
        if index is None:
            return None
        pairs = [(t, self.track_id(r + 1)) for r, t in graph.out_list(index).items()]
        seed_time = self._seed_time(seed_name, index)
        if seed_time is not None:
            pairs.append((seed_time, self.seed_track_id))
        pairs += [(t, self.track_id(j)) for t, j in self._added(name, "out", index)]
        return _newest_first(user_id, pairs, name)

    def _likes(self, user_id: int) -> ItemList | None:
        return self._engaged(user_id, "likes", "favoriters", self._likes_graph)

    def _reposts(self, user_id: int) -> ItemList | None:
        return self._engaged(user_id, "reposts", "reposters", self._reposts_graph)

    def _followings(self, user_id: int) -> ItemList | None:
        index = self.user_index(user_id)
        if index is None:
            return None
        got = self._follow_graph.out_list(index)
        pairs = [(t, self.user_id(self._user_rank(r))) for r, t in got.items()]
        pairs += [(t, self.user_id(v)) for t, v in self._added("follows", "out", index)]
        return _newest_first(user_id, pairs, "followings")

    def _followers(self, user_id: int) -> ItemList | None:
        index = self.user_index(user_id)
        if index is None:
            return None
        got = self._follow_graph.in_list(self._user_rank.inverse(index))
        pairs = [(t, self.user_id(u)) for u, t in got.items()]
        pairs += [(t, self.user_id(v)) for t, v in self._added("follows", "into", index)]
        return _newest_first(user_id, pairs, "followers")

    def _uploads(self, user_id: int) -> ItemList | None:
        """The user's tracks, newest ``created_at`` first (whole seconds), then larger id."""
        index = self.user_index(user_id)
        if index is None:
            return None
        pairs = []
        for j in self.upload_indexes(index):
            core = self._track_core(j)
            pairs.append((core["created_ms"] // 1000 * 1000, core["id"]))
        return _newest_first(user_id, pairs, "uploads")

    def _playlist_created(self, j: int) -> int:
        rng = random.Random(mix(self.seed, _TAG_PL, j))
        return (WORLD_NOW_MS - rng.randint(10**8, 4 * 10**11)) // 1000 * 1000

    def _playlists(self, user_id: int) -> ItemList | None:
        """The user's playlists, newest ``created_at`` first, then larger id."""
        index = self.user_index(user_id)
        if index is None:
            return None
        pairs = []
        for k in range(self.playlist_count(index)):
            j = index * PLAYLISTS_MAX + k
            pairs.append((self._playlist_created(j), self.playlist_id(index, k)))
        return _newest_first(user_id, pairs, "playlists")

    def _playlist_tracks(self, playlist_id: int) -> list[int] | None:
        """The playlist's track ids in order; a track may come back (about 4% of places)."""
        found = self.playlist_owner(playlist_id)
        if found is None:
            return None
        user_index, k = found
        rng = random.Random(mix(self.seed, _TAG_PL, user_index * PLAYLISTS_MAX + k, 1))
        r = rng.random()
        mean = self.config.playlist_tracks_mean
        n = 0 if r < 0.04 else min(500, 1 + int(rng.paretovariate(1.5) * mean * 0.33))
        n = min(n, self.n_tracks // 2)
        own = self.upload_indexes(user_index)
        out: list[int] = []
        seen: set[int] = set()
        while len(out) < n:
            if out and rng.random() < 0.04:
                out.append(rng.choice(out))
                continue
            j = rng.choice(own) if own and rng.random() < 0.3 else self._zipf_track(rng)
            if j not in seen:
                seen.add(j)
                out.append(j)
            elif len(seen) >= self.n_tracks // 2:
                out.append(j)
        return [self.track_id(j) for j in out]
