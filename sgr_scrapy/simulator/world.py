"""The simulator's deterministic world: users, tracks, playlists and every list of the API.

A ``World`` is a pure function of ``WorldConfig``. Nothing big is materialised at start: ids,
objects and lists are derived on demand from per-item RNGs seeded by ``(seed, kind, index)``
and kept in bounded LRU caches, so a world of a million engagements starts instantly.

Likes, reposts and follows are each one ``EventGraph`` (``graph.py``) read from both ends, so
u is in ``favoriters(t)`` exactly when t is in ``likes(u)`` (reposters/reposts, followers/
followings likewise). The seed track (index 0) keeps explicit favoriters and reposters
(``--likers``, ``--reposters``, ``--artist-fans``), and exactly those users have it in their
likes or reposts. Tracks belong to artists through a keyed permutation cut into blocks, so an
artist's uploads are listed without a scan. Playlists are numbered per owner; related tracks
are drawn per track. ``--taste-groups`` (off by default) plants taste: users who like one
group of artists' tracks far above chance (``taste.py``). ``--epoch E`` (0 by default, today)
advances time: each epoch adds likes, reposts and follows at the head of lists (``epochs.py``),
and the counts users and tracks carry grow with them.

Every list is ordered newest first; ``ItemList.times`` are the sort keys behind its cursors.
``artist_fans`` draws part of the seed's likers and reposters among artists; ``nested_user``
picks the user shape nested in tracks and playlists; ``resolve`` accepts the URL spellings
people paste, short links included. The list builders are in ``lists.py``, the truth in
``truth.py``.
"""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from urllib.parse import unquote, urlsplit

from sgr_scrapy.simulator.epochs import Epochs
from sgr_scrapy.simulator.graph import EventGraph, Perm
from sgr_scrapy.simulator.lists import PLAYLISTS_MAX, ItemList, WorldLists
from sgr_scrapy.simulator.objects import (
    NESTED_USER_SHAPES,
    finish_playlist,
    finish_track,
    finish_user,
    mix,
    mix_step,
    playlist_core,
    track_core,
    user_core,
)
from sgr_scrapy.simulator.shortlinks import SHORT_HOST, decode_short, encode_short
from sgr_scrapy.simulator.taste import TASTE_GENRES, TasteGraph, TasteGroups
from sgr_scrapy.simulator.truth import Truth, WorldSource, harvest, parse_lists, resolve_caps

__all__ = ["ItemList", "Truth", "World", "WorldConfig"]

DEFAULT_ORIGIN = "https://api.soundcloud.com"
USER_BASE, USER_STRIDE = 2_150_000_000, 17
TRACK_BASE, TRACK_STRIDE = 2_246_000_000, 11
PLAYLIST_BASE, PLAYLIST_STRIDE = 1_900_000_000, 3
# A few ids just below 2**53: the largest integers a JavaScript or float64 client keeps exact.
BIG_USER_BASE, BIG_TRACK_BASE, BIG_COUNT, BIG_STEP = 2**53 - 10_000, 2**53 - 20_000, 2, 7
# RNG stream tags (2, 3, 12 and 14 are in lists.py).
_TAG_ID, _TAG_LIKES, _TAG_NLIKES, _TAG_ARTIST = 1, 4, 5, 6
_TAG_REPOSTS, _TAG_NREPOSTS, _TAG_FOLLOW, _TAG_NFOLLOW, _TAG_UPLOAD = 7, 8, 9, 10, 11
_TAG_NPL, _TAG_RANK, _TAG_TASTE = 13, 15, 16
SOUNDCLOUD_HOSTS = frozenset({"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com"})


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and shape of a world; every field is a CLI flag of the simulator."""

    seed: int = 1
    users: int = 5000
    tracks: int = 20000
    likers: int = 1500
    reposters: int = 600
    repost_overlap: float = 0.4
    likes_mean: float = 40.0
    likes_max: int = 5000
    zero_likes_share: float = 0.1
    heavy_share: float = 0.003
    artist_share: float = 0.2
    blocked_share: float = 0.03
    artist_fans: float = 0.0
    nested_user: str = "partial"
    reposts_mean: float = 8.0
    followings_mean: float = 25.0
    playlists_mean: float = 1.5
    playlist_tracks_mean: float = 15.0
    related_max: int = 60
    taste_groups: int = 0
    taste_strength: float = 0.9
    epoch: int = 0


class World(WorldLists):
    """A deterministic, lazily generated SoundCloud world (see module docstring)."""

    def __init__(self, config: WorldConfig | None = None, **knobs: object) -> None:
        cfg = config or WorldConfig(**knobs)  # type: ignore[arg-type]
        if cfg.nested_user not in NESTED_USER_SHAPES:
            raise ValueError(f"nested_user must be partial, mini or full, not {cfg.nested_user!r}")
        if not 0 <= cfg.artist_fans <= 1:
            raise ValueError(f"artist_fans must be between 0 and 1, not {cfg.artist_fans}")
        if cfg.taste_groups < 0:
            raise ValueError(f"taste_groups must be 0 (off) or more, not {cfg.taste_groups}")
        if not 0 <= cfg.taste_strength <= 1:
            raise ValueError(f"taste_strength must be between 0 and 1, not {cfg.taste_strength}")
        if cfg.epoch < 0:
            raise ValueError(f"epoch must be 0 (today) or more, not {cfg.epoch}")
        overlap = min(int(cfg.reposters * cfg.repost_overlap), cfg.likers)
        self.config = cfg
        self.n_users = max(cfg.users, cfg.likers + cfg.reposters - overlap + 10, 20)
        self.n_tracks = max(cfg.tracks, 20)
        self.seed = cfg.seed
        # mix(seed, _TAG_ID, tag, index) == mix_step(self._id_hash[tag], index), 4x cheaper.
        self._id_hash = [mix(cfg.seed, _TAG_ID, tag) for tag in range(3)]
        rng = random.Random(mix(cfg.seed, _TAG_ARTIST))
        n_artists = max(1, int(self.n_users * cfg.artist_share))
        self._artists = rng.sample(range(self.n_users), n_artists)
        self._artist_pos = {u: k for k, u in enumerate(self._artists)}
        self._uploads_start = self._upload_blocks(rng)
        self._track_perm = Perm(self.n_tracks, mix(cfg.seed, _TAG_UPLOAD))
        self._user_rank = Perm(self.n_users, mix(cfg.seed, _TAG_RANK))
        n = self.n_tracks - 1  # the seed (track index 0) has explicit lists instead
        self.taste: TasteGroups | None = None
        self._likes_graph: EventGraph | TasteGraph
        self._reposts_graph: EventGraph | TasteGraph
        if cfg.taste_groups:
            self.taste = TasteGroups(
                cfg.taste_groups,
                self.n_users,
                self.n_tracks,
                self._uploads_start,
                self._track_perm,
                mix(cfg.seed, _TAG_TASTE),
            )
            p = cfg.taste_strength
            key = mix(cfg.seed, _TAG_TASTE, _TAG_LIKES)
            self._likes_graph = TasteGraph(self.taste, self.like_count, p, 1 / 3, key)
            key = mix(cfg.seed, _TAG_TASTE, _TAG_REPOSTS)
            self._reposts_graph = TasteGraph(self.taste, self.repost_count, p, 1 / 3, key)
        else:
            self._likes_graph = EventGraph(
                self.n_users, n, self.like_count, 1 / 3, mix(cfg.seed, _TAG_LIKES)
            )
            self._reposts_graph = EventGraph(
                self.n_users, n, self.repost_count, 1 / 3, mix(cfg.seed, _TAG_REPOSTS)
            )
        self._follow_graph = EventGraph(
            self.n_users,
            self.n_users,
            self.following_count,
            0.5,
            mix(cfg.seed, _TAG_FOLLOW),
            self_rank=self._user_rank.inverse,
        )
        self._seed_lists: dict[str, tuple[list[int], list[int]]] = {}
        self._seed_times: dict[str, dict[int, int]] = {}
        self.epochs = Epochs(self, cfg.epoch) if cfg.epoch else None
        self.seed_track_id = self.track_id(0)
        self.user = lru_cache(maxsize=50_000)(self.make_user)  # type: ignore[method-assign]
        self.track = lru_cache(maxsize=50_000)(self.make_track)  # type: ignore[method-assign]
        for name in ("favoriters", "reposters", "related", "followers", "followings"):
            setattr(self, name, lru_cache(maxsize=2048)(getattr(self, f"_{name}")))
        for name in ("likes", "reposts", "uploads", "playlists"):
            setattr(self, name, lru_cache(maxsize=4096)(getattr(self, f"_{name}")))
        self.playlist_tracks = lru_cache(maxsize=8192)(self._playlist_tracks)  # type: ignore[method-assign]
        self._user_core = lru_cache(maxsize=100_000)(self._user_core_uncached)
        self._track_core = lru_cache(maxsize=100_000)(self._track_core_uncached)

    # -- ids -------------------------------------------------------------------------------
    def _id(self, index: int, n: int, base: int, stride: int, big: int, tag: int) -> int:
        if n > 10 and index >= n - BIG_COUNT:
            return big + (index - (n - BIG_COUNT)) * BIG_STEP
        return base + index * stride + mix_step(self._id_hash[tag], index) % stride

    def _index(self, id_: int, n: int, base: int, stride: int, big: int, tag: int) -> int | None:
        if n > 10 and big <= id_ < big + BIG_COUNT * BIG_STEP:
            k, r = divmod(id_ - big, BIG_STEP)
            return None if r else n - BIG_COUNT + k
        q, r = divmod(id_ - base, stride)
        limit = n - BIG_COUNT if n > 10 else n
        if 0 <= q < limit and r == mix_step(self._id_hash[tag], q) % stride:
            return q
        return None

    def user_id(self, index: int) -> int:
        """Return the id of user ``index``."""
        return self._id(index, self.n_users, USER_BASE, USER_STRIDE, BIG_USER_BASE, 0)

    def user_index(self, user_id: int) -> int | None:
        """Return the index of ``user_id``, or None when no such user exists."""
        return self._index(user_id, self.n_users, USER_BASE, USER_STRIDE, BIG_USER_BASE, 0)

    def track_id(self, index: int) -> int:
        """Return the id of track ``index``."""
        return self._id(index, self.n_tracks, TRACK_BASE, TRACK_STRIDE, BIG_TRACK_BASE, 1)

    def track_index(self, track_id: int) -> int | None:
        """Return the index of ``track_id``, or None when no such track exists."""
        return self._index(track_id, self.n_tracks, TRACK_BASE, TRACK_STRIDE, BIG_TRACK_BASE, 1)

    def playlist_id(self, user_index: int, k: int) -> int:
        """Return the id of the ``k``-th playlist of user ``user_index``."""
        j = user_index * PLAYLISTS_MAX + k
        return PLAYLIST_BASE + j * PLAYLIST_STRIDE + mix_step(self._id_hash[2], j) % PLAYLIST_STRIDE

    def playlist_owner(self, playlist_id: int) -> tuple[int, int] | None:
        """Return (owner user index, k) of ``playlist_id``, or None when it does not exist."""
        j, r = divmod(playlist_id - PLAYLIST_BASE, PLAYLIST_STRIDE)
        if j < 0 or r != mix_step(self._id_hash[2], j) % PLAYLIST_STRIDE:
            return None
        user_index, k = divmod(j, PLAYLISTS_MAX)
        if user_index >= self.n_users or k >= self.playlist_count(user_index):
            return None
        return user_index, k

    # -- artists and uploads ----------------------------------------------------------------
    def _upload_blocks(self, rng: random.Random) -> array:
        # Heavy-tailed upload counts summing to n_tracks; one track at least per artist when
        # there are enough tracks, so every artist is some track's user.
        weights = [min(200.0, rng.paretovariate(1.2)) for _ in self._artists]
        total = sum(weights)
        base = 1 if self.n_tracks >= len(weights) else 0
        spare = self.n_tracks - base * len(weights)
        starts = array("q", [0])
        for k, acc in enumerate(accumulate(weights), 1):
            starts.append(base * k + int(spare * acc / total))
        starts[-1] = self.n_tracks
        return starts

    def _artist_index(self, track_index: int) -> int:
        k = bisect_right(self._uploads_start, self._track_perm(track_index)) - 1
        return self._artists[k]

    def artist_id(self, track_id: int) -> int:
        """Return the id of the artist (``track.user.id``) of ``track_id``."""
        index = self.track_index(track_id)
        assert index is not None, track_id
        return self.user_id(self._artist_index(index))

    def upload_indexes(self, user_index: int) -> list[int]:
        """Return the track indexes user ``user_index`` uploaded (none unless an artist)."""
        k = self._artist_pos.get(user_index)
        if k is None:
            return []
        inv = self._track_perm.inverse
        return [inv(p) for p in range(self._uploads_start[k], self._uploads_start[k + 1])]

    # -- per-user counts -------------------------------------------------------------------
    def like_count(self, user_index: int) -> int:
        """Return how many like events user ``user_index`` has (heavy-tailed, 10% none).

        The likes list can be a little shorter: a track liked twice is listed once.
        """
        cfg = self.config
        rng = random.Random(mix(self.seed, _TAG_NLIKES, user_index))
        r = rng.random()
        if r < cfg.zero_likes_share:
            n = 0
        elif r < cfg.zero_likes_share + cfg.heavy_share:
            n = rng.randint(cfg.likes_max // 2, cfg.likes_max)
        else:
            n = 1 + int(rng.paretovariate(1.6) * cfg.likes_mean * 0.33)
        return min(n, cfg.likes_max, self.n_tracks // 4)

    def repost_count(self, user_index: int) -> int:
        """Return how many repost events user ``user_index`` has (30% none)."""
        rng = random.Random(mix(self.seed, _TAG_NREPOSTS, user_index))
        if rng.random() < 0.3 or self.config.reposts_mean <= 0:
            return 0
        n = 1 + int(rng.paretovariate(1.6) * self.config.reposts_mean * 0.33)
        return min(n, self.config.likes_max // 4 + 1, self.n_tracks // 4)

    def following_count(self, user_index: int) -> int:
        """Return how many follow events user ``user_index`` has (15% none)."""
        rng = random.Random(mix(self.seed, _TAG_NFOLLOW, user_index))
        if rng.random() < 0.15 or self.config.followings_mean <= 0:
            return 0
        n = 1 + int(rng.paretovariate(1.6) * self.config.followings_mean * 0.33)
        return min(n, 2000, self.n_users // 2)

    def playlist_count(self, user_index: int) -> int:
        """Return how many playlists user ``user_index`` has (about half none)."""
        mean = self.config.playlists_mean
        if mean <= 0:
            return 0
        rng = random.Random(mix(self.seed, _TAG_NPL, user_index))
        return min(PLAYLISTS_MAX, int(rng.expovariate(1 / mean)))

    # -- objects ---------------------------------------------------------------------------
    def _user_core_uncached(self, index: int) -> dict:
        core = user_core(self.seed, index, self.user_id(index), self.like_count(index))
        # Counts of events, as the API counts them: lists can be a little shorter (#59, #408).
        core["track_count"] = len(self.upload_indexes(index))
        core["reposts_count"] = self.repost_count(index)
        core["followings_count"] = self._follow_graph.owner_events(index)
        core["followers_count"] = self._follow_graph.rank_events(self._user_rank.inverse(index))
        core["playlist_count"] = self.playlist_count(index)
        if self.epochs is not None:
            likes = len(self._added("likes", "out", index))
            core["public_favorites_count"] += likes
            core["likes_count"] += likes
            core["reposts_count"] += len(self._added("reposts", "out", index))
            core["followings_count"] += len(self._added("follows", "out", index))
            core["followers_count"] += len(self._added("follows", "into", index))
        return core

    def _track_core_uncached(self, index: int) -> dict:
        core = track_core(self.seed, index, self.track_id(index), self.config.blocked_share)
        if self.taste is not None and core["genre"] is not None:
            core["genre"] = TASTE_GENRES[self.taste.track_group(index) % len(TASTE_GENRES)]
        if self.epochs is not None:
            for key, graph in (("favoritings_count", "likes"), ("reposts_count", "reposts")):
                if core[key] is not None:
                    core[key] += len(self._added(graph, "into", index))
        return core

    def make_user(self, user_id: int, origin: str = DEFAULT_ORIGIN) -> dict | None:
        """Build the API user ``user_id`` with URLs on ``origin`` (None when unknown).

        ``world.user(...)`` is the same, cached; treat its result as read-only.
        """
        index = self.user_index(user_id)
        return None if index is None else finish_user(self._user_core(index), origin)

    def make_track(self, track_id: int, origin: str = DEFAULT_ORIGIN) -> dict | None:
        """Build the API track ``track_id`` with URLs on ``origin`` (None when unknown).

        ``world.track(...)`` is the same, cached; treat its result as read-only.
        """
        index = self.track_index(track_id)
        if index is None:
            return None
        artist = finish_user(
            self._user_core(self._artist_index(index)), origin, self.config.nested_user
        )
        return finish_track(self._track_core(index), artist, origin)

    def make_playlist(self, playlist_id: int, origin: str = DEFAULT_ORIGIN) -> dict | None:
        """Build the API playlist ``playlist_id`` *without* ``tracks`` (None when unknown).

        ``track_count`` and ``duration`` cover every track; ``playlist_tracks(id)`` lists them.
        """
        found = self.playlist_owner(playlist_id)
        if found is None:
            return None
        user_index, k = found
        tracks = self.playlist_tracks(playlist_id)
        duration = sum(self._track_core(self.track_index(t))["duration"] for t in tracks)  # type: ignore[arg-type]
        owner = finish_user(self._user_core(user_index), origin, self.config.nested_user)
        j = user_index * PLAYLISTS_MAX + k
        core = playlist_core(self.seed, j, playlist_id, self._playlist_created(j))
        return finish_playlist(core, owner, origin, len(tracks), duration)

    def track_access(self, track_id: int) -> str:
        """Return the ``access`` value of ``track_id`` (playable, preview or blocked)."""
        index = self.track_index(track_id)
        assert index is not None
        return self._track_core(index)["access"]

    # -- resolve ---------------------------------------------------------------------------
    def short_url(self, track_id: int) -> str:
        """Return the ``https://on.soundcloud.com/<code>`` short link of ``track_id``."""
        index = self.track_index(track_id)
        if index is None:
            raise KeyError(f"unknown track {track_id}")
        return f"https://{SHORT_HOST}/{encode_short(self.seed, index)}"

    def resolve(self, url: str) -> tuple[str, int] | None:
        """Map a soundcloud.com URL to ``("tracks"|"users", id)``, or None when unknown.

        Accepts http and https, ``www.`` and ``m.`` hosts, a trailing slash, any query string
        or fragment, and ``on.soundcloud.com/<code>`` short links (see ``short_url``).
        """
        parts = urlsplit(url.strip())
        host = parts.netloc.lower()
        if parts.scheme not in ("http", "https"):
            return None
        segs = [unquote(s) for s in parts.path.split("/") if s]
        if host == SHORT_HOST:
            index = decode_short(self.seed, segs[0], self.n_tracks) if len(segs) == 1 else None
            return None if index is None else ("tracks", self.track_id(index))
        if host not in SOUNDCLOUD_HOSTS:
            return None
        if not segs or len(segs) > 2:
            return None
        user_index = _index_from_slug(segs[0])
        if user_index is None or user_index >= self.n_users:
            return None
        user = self._user_core(user_index)
        if user["permalink"] != segs[0]:
            return None
        if len(segs) == 1:
            return "users", user["id"]
        track_index = _index_from_slug(segs[1])
        if track_index is None or track_index >= self.n_tracks:
            return None
        track = self._track_core(track_index)
        if track["slug"] != segs[1] or self._artist_index(track_index) != user_index:
            return None
        return "tracks", track["id"]

    @property
    def seed_url(self) -> str:
        """The soundcloud.com URL of the seed track."""
        return self.track(self.seed_track_id)["permalink_url"]  # type: ignore[index]

    # -- truth -----------------------------------------------------------------------------
    def truth(
        self,
        max_users: int = 0,
        max_user_likes: int = 0,
        seeds: list[int] | None = None,
        *,
        lists: str | Sequence[str] | None = None,
        depth: int = 1,
        expand: int = 50,
        **caps: int,
    ) -> Truth:
        """Return what a correct harvest stores (README, "Ground truth"; ``truth.py``).

        ``caps`` are ``max_<family>=N`` (0 = no cap); ``max_users`` sets favoriters and
        reposters, ``max_user_likes`` likes, and an explicit ``max_<family>`` wins.
        """
        return harvest(
            WorldSource(self),
            seeds or [self.seed_track_id],
            parse_lists(lists),
            resolve_caps(max_users, max_user_likes, **caps),
            depth,
            expand,
        )


_SLUG_RE = re.compile(r"-([0-9a-z]+)$")


def _index_from_slug(s: str) -> int | None:
    m = _SLUG_RE.search(s)
    return int(m.group(1), 36) if m else None
