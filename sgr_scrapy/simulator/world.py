"""The simulator's deterministic world: users, tracks, engagement lists and the ground truth.

A ``World`` is a pure function of ``WorldConfig``. Nothing big is materialised at start: ids,
objects and lists are derived on demand from per-item RNGs seeded by ``(seed, kind, index)``
and kept in bounded LRU caches, so a world of a million engagements starts instantly.

Lists are ordered newest first by engagement time (strictly decreasing milliseconds), which
makes every item's time a unique cursor position within its list. ``artist_fans`` draws part
of the seed's likers and reposters among artists; ``nested_user`` picks the user shape nested
in tracks; ``resolve`` accepts the URL spellings people paste, short links included.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from sgr_scrapy.simulator.objects import (
    NESTED_USER_SHAPES,
    WORLD_NOW_MS,
    finish_track,
    finish_user,
    mix,
    track_core,
    user_core,
)
from sgr_scrapy.simulator.shortlinks import SHORT_HOST, decode_short, encode_short

DEFAULT_ORIGIN = "https://api.soundcloud.com"
USER_BASE, USER_STRIDE = 2_150_000_000, 17
TRACK_BASE, TRACK_STRIDE = 2_246_000_000, 11
# A few ids just below 2**53: the largest integers a JavaScript or float64 client keeps exact.
BIG_USER_BASE, BIG_TRACK_BASE, BIG_COUNT, BIG_STEP = 2**53 - 10_000, 2**53 - 20_000, 2, 7
_TAG_ID, _TAG_FAV, _TAG_REP, _TAG_LIKES, _TAG_NLIKES, _TAG_ARTIST = 1, 2, 3, 4, 5, 6
_SPAN_MS = 8 * 365 * 86_400_000
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


@dataclass
class Truth:
    """What a correct harvest stores: track ids, user ids and (user, track, kind) engagements."""

    track_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)
    engagements: set[tuple[int, int, str]] = field(default_factory=set)

    def to_json(self) -> dict:
        """Return the ``/__truth`` JSON shape (sorted lists)."""
        return {
            "track_ids": sorted(self.track_ids),
            "user_ids": sorted(self.user_ids),
            "engagements": [list(e) for e in sorted(self.engagements)],
        }

    @classmethod
    def from_json(cls, data: dict) -> Truth:
        """Parse the ``/__truth`` JSON shape back into sets."""
        return cls(
            track_ids=set(data["track_ids"]),
            user_ids=set(data["user_ids"]),
            engagements={(int(u), int(t), str(k)) for u, t, k in data["engagements"]},
        )


class EngagementList:
    """One ordered list (``name`` favoriters, reposters or likes): ids with unique times."""

    __slots__ = ("_pos", "ids", "name", "owner_id", "times")

    def __init__(self, owner_id: int, ids: list[int], times: list[int], name: str = "") -> None:
        self.name = name
        self.owner_id = owner_id
        self.ids = ids
        self.times = times
        self._pos: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def position_of_time(self, ms: int) -> int | None:
        """Return the index after the item whose time is ``ms`` (a cursor), or None."""
        if self._pos is None:
            self._pos = {t: i for i, t in enumerate(self.times)}
        i = self._pos.get(ms)
        return None if i is None else i + 1


def _times(rng: random.Random, n: int) -> list[int]:
    t = WORLD_NOW_MS - rng.randint(0, 10**7)
    gap = max(2, 2 * _SPAN_MS // max(n, 1))
    out = []
    for _ in range(n):
        out.append(t)
        t -= rng.randint(1, gap)
    return out


class World:
    """A deterministic, lazily generated SoundCloud world (see module docstring)."""

    def __init__(self, config: WorldConfig | None = None, **knobs: object) -> None:
        cfg = config or WorldConfig(**knobs)  # type: ignore[arg-type]
        if cfg.nested_user not in NESTED_USER_SHAPES:
            raise ValueError(f"nested_user must be partial, mini or full, not {cfg.nested_user!r}")
        if not 0 <= cfg.artist_fans <= 1:
            raise ValueError(f"artist_fans must be between 0 and 1, not {cfg.artist_fans}")
        overlap = min(int(cfg.reposters * cfg.repost_overlap), cfg.likers)
        self.config = cfg
        self.n_users = max(cfg.users, cfg.likers + cfg.reposters - overlap + 10, 20)
        self.n_tracks = max(cfg.tracks, 20)
        self.seed = cfg.seed
        rng = random.Random(mix(cfg.seed, _TAG_ARTIST))
        n_artists = max(1, int(self.n_users * cfg.artist_share))
        self._artists = rng.sample(range(self.n_users), n_artists)
        self.seed_track_id = self.track_id(0)
        self.user = lru_cache(maxsize=50_000)(self.make_user)  # type: ignore[method-assign]
        self.track = lru_cache(maxsize=50_000)(self.make_track)  # type: ignore[method-assign]
        self.favoriters = lru_cache(maxsize=2048)(self._favoriters)  # type: ignore[method-assign]
        self.reposters = lru_cache(maxsize=2048)(self._reposters)  # type: ignore[method-assign]
        self.likes = lru_cache(maxsize=4096)(self._likes)  # type: ignore[method-assign]
        self._user_core = lru_cache(maxsize=100_000)(self._user_core_uncached)
        self._track_core = lru_cache(maxsize=100_000)(self._track_core_uncached)

    # -- ids -------------------------------------------------------------------------------
    def _id(self, index: int, n: int, base: int, stride: int, big: int, tag: int) -> int:
        if n > 10 and index >= n - BIG_COUNT:
            return big + (index - (n - BIG_COUNT)) * BIG_STEP
        return base + index * stride + mix(self.seed, _TAG_ID, tag, index) % stride

    def _index(self, id_: int, n: int, base: int, stride: int, big: int, tag: int) -> int | None:
        if n > 10 and big <= id_ < big + BIG_COUNT * BIG_STEP:
            k, r = divmod(id_ - big, BIG_STEP)
            return None if r else n - BIG_COUNT + k
        q, r = divmod(id_ - base, stride)
        limit = n - BIG_COUNT if n > 10 else n
        if 0 <= q < limit and r == mix(self.seed, _TAG_ID, tag, q) % stride:
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

    def artist_id(self, track_id: int) -> int:
        """Return the id of the artist (``track.user.id``) of ``track_id``."""
        index = self.track_index(track_id)
        assert index is not None, track_id
        return self.user_id(self._artist_index(index))

    def _artist_index(self, track_index: int) -> int:
        return self._artists[mix(self.seed, _TAG_ARTIST, track_index) % len(self._artists)]

    # -- objects ---------------------------------------------------------------------------
    def like_count(self, user_index: int) -> int:
        """Return how many tracks user ``user_index`` likes (heavy-tailed, 10% none)."""
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

    def _user_core_uncached(self, index: int) -> dict:
        return user_core(self.seed, index, self.user_id(index), self.like_count(index))

    def _track_core_uncached(self, index: int) -> dict:
        return track_core(self.seed, index, self.track_id(index), self.config.blocked_share)

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

    def track_access(self, track_id: int) -> str:
        """Return the ``access`` value of ``track_id`` (playable, preview or blocked)."""
        index = self.track_index(track_id)
        assert index is not None
        return self._track_core(index)["access"]

    # -- lists -----------------------------------------------------------------------------
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
                i = self._artist_index(int(self.n_tracks * rng.random() ** 3))
            else:
                i = rng.choice(self._artists)
            if i not in seen:
                seen.add(i)
                fans.append(i)
                left -= 1
        fans += self._sample_users(rng, n - len(fans), seen)
        rng.shuffle(fans)
        return fans

    def _seed_likers(self) -> list[int]:
        rng = random.Random(mix(self.seed, _TAG_FAV, 0))
        return self._sample_fans(rng, self.config.likers, set())

    def _list_size(self, track_index: int, tag: int) -> int:
        rng = random.Random(mix(self.seed, tag, track_index, 99))
        n = rng.randint(0, 30) + int(400 / (1 + track_index) ** 0.5)
        return n if tag == _TAG_FAV else n // 3

    def _favoriters(self, track_id: int) -> EngagementList | None:
        index = self.track_index(track_id)
        if index is None:
            return None
        rng = random.Random(mix(self.seed, _TAG_FAV, index))
        if index == 0:
            users = self._seed_likers()
        else:
            users = self._sample_users(rng, self._list_size(index, _TAG_FAV), set())
        ids = [self.user_id(i) for i in users]
        return EngagementList(track_id, ids, _times(rng, len(users)), "favoriters")

    def _reposters(self, track_id: int) -> EngagementList | None:
        index = self.track_index(track_id)
        if index is None:
            return None
        rng = random.Random(mix(self.seed, _TAG_REP, index))
        if index == 0:
            likers = self._seed_likers()
            n_over = min(int(self.config.reposters * self.config.repost_overlap), len(likers))
            users = rng.sample(likers, n_over)
            users += self._sample_fans(rng, self.config.reposters - n_over, set(likers))
            rng.shuffle(users)
        else:
            users = self._sample_users(rng, self._list_size(index, _TAG_REP), set())
        ids = [self.user_id(i) for i in users]
        return EngagementList(track_id, ids, _times(rng, len(users)), "reposters")

    def _likes(self, user_id: int) -> EngagementList | None:
        index = self.user_index(user_id)
        if index is None:
            return None
        n = self.like_count(index)
        rng = random.Random(mix(self.seed, _TAG_LIKES, index))
        chosen: list[int] = []
        seen: set[int] = set()
        tries = 0
        while len(chosen) < n:
            tries += 1
            # Zipf-ish: cubing a uniform draw piles picks on the first (popular) tracks, so the
            # same track shows up in many users' lists; fall back to uniform when saturated.
            r = rng.random()
            j = int(self.n_tracks * r**3) if tries < 4 * n else int(self.n_tracks * r)
            if j not in seen:
                seen.add(j)
                chosen.append(j)
        return EngagementList(user_id, [self.track_id(j) for j in chosen], _times(rng, n), "likes")

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
        self, max_users: int = 0, max_user_likes: int = 0, seeds: list[int] | None = None
    ) -> Truth:
        """Return what a correct harvest stores for these caps (0 = no cap)."""
        seeds = list(seeds) if seeds else [self.seed_track_id]
        truth = Truth(track_ids=set(seeds))
        cap_users = max_users or None
        cap_likes = max_user_likes or None
        for s in seeds:
            favs, reps = self.favoriters(s), self.reposters(s)
            if favs is None or reps is None:
                raise KeyError(f"unknown seed track {s}")
            for u in favs.ids[:cap_users]:
                truth.user_ids.add(u)
                truth.engagements.add((u, s, "like"))
            for u in reps.ids[:cap_users]:
                truth.user_ids.add(u)
                truth.engagements.add((u, s, "repost"))
        for u in list(truth.user_ids):
            likes = self.likes(u)
            assert likes is not None
            for t in likes.ids[:cap_likes]:
                truth.track_ids.add(t)
                truth.engagements.add((u, t, "like"))
        truth.user_ids.update(self.artist_id(t) for t in truth.track_ids)
        return truth


_SLUG_RE = re.compile(r"-([0-9a-z]+)$")


def _index_from_slug(s: str) -> int | None:
    m = _SLUG_RE.search(s)
    return int(m.group(1), 36) if m else None
