"""Lazy bipartite graphs the simulator reads in both directions: likes, reposts and follows.

An ``EventGraph`` is one source of truth for an edge list such as "user u likes track t", and
answers both ``out_list(owner)`` (a user's likes) and ``in_list(target)`` (a track's
favoriters) without ever materialising the edges:

- events ``e`` in ``[0, E)``; owner ``u`` holds the contiguous events ``[S[u], S[u+1])``
  (``S`` the prefix sums of the owners' event counts, one ``array`` built on first use);
- ``x = perm(e)`` is a keyed bijection of ``[0, E)`` (``Perm``), and target rank ``r`` owns
  the positions ``[B(r), B(r+1))`` with ``B(r) = floor(E * (r / M) ** alpha)``: rank 0 is the
  most popular (Zipf-like for alpha 1/3, the law of the old likes generator);
- an event's time is a bijection of ``x`` too, so every time is unique within the graph (even
  milliseconds; the seed's explicit lists use odd ones), and both views agree on it. Graphs
  whose lists are merged (``taste.py``) take one ``lane`` each out of ``lanes``: a time's
  ``(T0 - t) / 2 mod lanes`` is its lane, so their times never meet (one lane: the plain law).

``out_list`` walks the owner's events forward; ``in_list`` walks the rank's positions
backwards through ``perm.inverse`` and finds owners by bisection. Either way an (owner,
target) pair met twice keeps its latest event, so u is in ``in_list(t)`` exactly when t is in
``out_list(u)``, with the same time. Self-edges (follows) are dropped on both sides.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable

from sgr_scrapy.simulator.objects import WORLD_NOW_MS

SPAN_MS = 8 * 365 * 86_400_000
# Every event time is even and below this; explicit (seed) lists use odd times.
EVENT_T0 = WORLD_NOW_MS - 10_000_000


class Perm:
    """A keyed bijection of ``[0, n)`` with its inverse: multiply/xorshift rounds on the
    next power of two, cycle-walked back into range."""

    __slots__ = ("_a1", "_a2", "_c1", "_c2", "_i1", "_i2", "_mask", "_shift", "n")

    def __init__(self, n: int, key: int) -> None:
        self.n = n
        bits = max(2, (max(n, 1) - 1).bit_length())
        self._mask = (1 << bits) - 1
        self._shift = bits // 2 + 1  # >= bits/2: one xor undoes the xorshift
        rng = random.Random(key)
        self._a1, self._a2 = rng.getrandbits(bits) | 1, rng.getrandbits(bits) | 1
        self._c1, self._c2 = rng.getrandbits(bits), rng.getrandbits(bits)
        self._i1 = pow(self._a1, -1, 1 << bits)
        self._i2 = pow(self._a2, -1, 1 << bits)

    def __call__(self, x: int) -> int:
        m, s, n = self._mask, self._shift, self.n
        while True:
            x = (x * self._a1 + self._c1) & m
            x ^= x >> s
            x = (x * self._a2 + self._c2) & m
            x ^= x >> s
            if x < n:
                return x

    def inverse(self, y: int) -> int:
        """Return the ``x`` with ``self(x) == y``."""
        m, s, n = self._mask, self._shift, self.n
        while True:
            y ^= y >> s
            y = ((y - self._c2) * self._i2) & m
            y ^= y >> s
            y = ((y - self._c1) * self._i1) & m
            if y < n:
                return y


class EventGraph:
    """Edges from ``n_owners`` owners to ``n_targets`` target ranks (see module docstring).

    ``counts(i)`` is owner i's number of events; ``alpha`` the popularity law (1/3 or 1/2);
    ``key`` seeds the permutation. Indexes in and out are owner indexes and target ranks;
    the caller maps them to ids. ``self_rank(i)``, when given, is owner i's own rank: such
    events (a user following themself) are dropped in both directions. ``lane`` of ``lanes``
    keeps this graph's times apart from other graphs' (module docstring).
    """

    def __init__(
        self,
        n_owners: int,
        n_targets: int,
        counts: Callable[[int], int],
        alpha: float,
        key: int,
        self_rank: Callable[[int], int | None] | None = None,
        *,
        lanes: int = 1,
        lane: int = 0,
    ) -> None:
        self.n_owners = n_owners
        self.n_targets = n_targets
        self._counts = counts
        self._alpha = alpha
        self._key = key
        self._self_rank = self_rank
        self._lanes = lanes
        self._lane = lane
        self._starts: array | None = None
        self._perm: Perm | None = None
        self.n_events = 0
        self._mul = 1
        self._step = 1

    def _ready(self) -> array:
        if self._starts is None:
            starts = array("q", [0])
            total = 0
            for i in range(self.n_owners):
                total += self._counts(i) if self.n_targets else 0
                starts.append(total)
            self.n_events = total
            self._perm = Perm(total, self._key)
            # An affine bijection of positions to time slots, coprime multiplier.
            mul = max(1, int(total * 0.6180339887)) | 1
            while total and math.gcd(mul, total) != 1:
                mul += 2
            self._mul = mul
            self._step = max(1, SPAN_MS // (2 * self._lanes * max(total, 1)))
            self._starts = starts
        return self._starts

    def bound(self, rank: int) -> int:
        """Return the first position of target rank ``rank`` (``n_events`` for the end)."""
        if rank >= self.n_targets:
            return self.n_events
        share = rank / self.n_targets
        share = math.sqrt(share) if self._alpha == 0.5 else share**self._alpha
        return int(self.n_events * share)

    def rank_of(self, x: int) -> int:
        """Return the target rank owning position ``x``."""
        m = self.n_targets
        share = x / self.n_events
        share = share * share if self._alpha == 0.5 else share ** (1 / self._alpha)
        r = min(m - 1, int(m * share))
        while r + 1 < m and self.bound(r + 1) <= x:
            r += 1
        while r > 0 and self.bound(r) > x:
            r -= 1
        return r

    def time_of(self, x: int) -> int:
        """Return the (unique, even) epoch-ms time of the event at position ``x``."""
        slot = (x * self._mul) % self.n_events
        within = slot * self._step + (x * 2654435761) % self._step
        return EVENT_T0 - 2 * (within * self._lanes + self._lane)

    def owner_events(self, owner: int) -> int:
        """Return how many events owner ``owner`` holds (before dedupe)."""
        starts = self._ready()
        return starts[owner + 1] - starts[owner]

    def rank_events(self, rank: int) -> int:
        """Return how many events land on target rank ``rank`` (before dedupe)."""
        self._ready()
        return self.bound(rank + 1) - self.bound(rank)

    def out_list(self, owner: int) -> dict[int, int]:
        """Return ``{target rank: time}`` of owner ``owner`` (latest event per target)."""
        starts = self._ready()
        perm = self._perm
        assert perm is not None
        own = self._self_rank(owner) if self._self_rank else None
        out: dict[int, int] = {}
        for e in range(starts[owner], starts[owner + 1]):
            x = perm(e)
            r = self.rank_of(x)
            if r == own:
                continue
            t = self.time_of(x)
            if out.get(r, -1) < t:
                out[r] = t
        return out

    def in_list(self, rank: int) -> dict[int, int]:
        """Return ``{owner index: time}`` of target rank ``rank`` (latest event per owner)."""
        starts = self._ready()
        perm = self._perm
        assert perm is not None
        out: dict[int, int] = {}
        for x in range(self.bound(rank), self.bound(rank + 1)):
            owner = bisect_right(starts, perm.inverse(x)) - 1
            if self._self_rank and self._self_rank(owner) == rank:
                continue
            t = self.time_of(x)
            if out.get(owner, -1) < t:
                out[owner] = t
        return out
