"""Time in the simulated world (``--epoch E``): new likes, reposts and follows, newest first.

Epoch 0 is today's world and never touches this module, byte for byte. Epoch E's world is
epoch E-1's plus epoch E's new events, drawn from ``(seed, E)`` given epoch E-1's lists, so
epoch 0 ⊂ 1 ⊂ 2 as sets of events and every epoch is deterministic from ``--seed``. Epoch k:

- the seed track gains ``max(2, SEED_GROWTH * likers)`` favoriters and
  ``max(1, SEED_GROWTH * reposters)`` reposters: up to half of them engaged it the other way
  already (a reposter who now likes it), the rest are brand-new users who neither liked nor
  reposted it before, so a refresh reads their own lists in full;
- for each of likes, reposts and follows, ``USER_SHARE`` of the users (drawn anew) add
  ``1 + GROWTH * (their list's length)`` events, popular tracks (or users) first, as the
  event graphs draw them;
- only pairs never met before: a new event never moves an old item, so epoch E-1's list is
  epoch E's list minus the new items at its head.

Each new event has one time in epoch k's week (``WORLD_NOW_MS`` + k-1 weeks, + k weeks),
unique and later than every time of epoch k-1, and is read from both ends like the graph's
own: u's likes and t's favoriters, u's followings and v's followers. A cursor is the sort key
of its item, so a cursor issued at epoch E-1 points at the same item at epoch E.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sgr_scrapy.simulator.objects import WORLD_NOW_MS, mix

if TYPE_CHECKING:
    from sgr_scrapy.simulator.world import World

EPOCH_MS = 7 * 86_400_000
SEED_GROWTH = 0.05  # new favoriters (reposters) of the seed per epoch, share of --likers
USER_SHARE = 0.05  # share of the users who add likes (reposts, follows) in an epoch
GROWTH = 0.05  # such a user adds 1 + GROWTH x their list's length
GRAPHS = ("likes", "reposts", "follows")
_SEED_LIST = {"likes": "favoriters", "reposts": "reposters"}
_TAG_EPOCH = 17  # RNG stream tag (world.py and lists.py hold the others)

Pairs = dict[int, list[tuple[int, int]]]  # index -> [(time, other index)]


class Epochs:
    """The events epochs 1..E add to a world's likes, reposts and follows graphs.

    ``added(graph, side, index)`` lists ``(time, other index)`` of the events added to an
    owner's list (``side`` ``out``: a user's likes, reposts or followings) or a target's
    (``into``: a track's favoriters or reposters, the seed being track 0; a user's
    followers). Indexes are the world's user and track indexes. Built on first use.
    """

    def __init__(self, world: World, epoch: int) -> None:
        self.world = world
        self.epoch = epoch
        self._added: dict[tuple[str, str], Pairs] | None = None

    def added(self, graph: str, side: str, index: int) -> list[tuple[int, int]]:
        """Return ``(time, other index)`` of the events epochs 1..E added at ``index``."""
        if self._added is None:
            self._added = {(g, s): {} for g in GRAPHS for s in ("out", "into")}
            for k in range(1, self.epoch + 1):
                self._grow(k)
        return self._added[graph, side].get(index, [])

    def _add(self, graph: str, owner: int, target: int, time: int) -> None:
        assert self._added is not None
        self._added[graph, "out"].setdefault(owner, []).append((time, target))
        self._added[graph, "into"].setdefault(target, []).append((time, owner))

    def _grow(self, k: int) -> None:
        """Add epoch ``k``'s events, given the world as epochs 0..k-1 left it."""
        w, cfg = self.world, self.world.config
        rng = random.Random(mix(w.seed, _TAG_EPOCH, k))
        likers, reposters = self._seed_engagers("likes"), self._seed_engagers("reposts")
        fans = likers | reposters
        new_likers = self._seed_fans(rng, max(2, round(cfg.likers * SEED_GROWTH)),
                                     reposters - likers, fans)  # fmt: skip
        new_reposters = self._seed_fans(rng, max(1, round(cfg.reposters * SEED_GROWTH)),
                                        likers - reposters, fans | set(new_likers))  # fmt: skip
        events = [("likes", u, 0) for u in new_likers]
        events += [("reposts", u, 0) for u in new_reposters]
        n_users = max(1, round(w.n_users * USER_SHARE))
        for graph in GRAPHS:
            for u in rng.sample(range(w.n_users), n_users):
                have = self._targets(graph, u)
                events += [(graph, u, t) for t in self._draw(rng, graph, u, have)]
        # Distinct times in epoch k's week, after every time of epoch k-1 (at most
        # WORLD_NOW_MS + 1 at epoch 0), in no particular relation to the events' order.
        start = WORLD_NOW_MS + (k - 1) * EPOCH_MS + 2
        offsets = rng.sample(range(EPOCH_MS - 2), len(events))
        for (graph, owner, target), dt in zip(events, offsets, strict=True):
            self._add(graph, owner, target, start + dt)

    def _seed_engagers(self, graph: str) -> set[int]:
        """Users who liked (``likes``) or reposted (``reposts``) the seed so far."""
        users = set(self.world._seed_list(_SEED_LIST[graph])[0])
        assert self._added is not None
        return users | {u for _, u in self._added[graph, "into"].get(0, [])}

    def _seed_fans(self, rng: random.Random, n: int, old: set[int], exclude: set[int]) -> list[int]:
        """Up to half of ``n`` from ``old``, the rest users outside ``exclude`` (brand new)."""
        picks = rng.sample(sorted(old), min(len(old), n // 2))
        seen = exclude | set(picks)
        n_users = self.world.n_users
        while len(picks) < n and len(seen) < n_users:
            u = rng.randrange(n_users)
            if u not in seen:
                seen.add(u)
                picks.append(u)
        return picks

    def _targets(self, graph: str, u: int) -> set[int]:
        """Track (or, for follows, user) indexes user ``u``'s list holds so far."""
        w = self.world
        if graph == "follows":
            have = {w._user_rank(r) for r in w._follow_graph.out_list(u)}
        else:
            source = w._likes_graph if graph == "likes" else w._reposts_graph
            have = {r + 1 for r in source.out_list(u)}
            if w._seed_time(_SEED_LIST[graph], u) is not None:
                have.add(0)
        assert self._added is not None
        return have | {t for _, t in self._added[graph, "out"].get(u, [])}

    def _draw(self, rng: random.Random, graph: str, u: int, have: set[int]) -> list[int]:
        """New targets for ``u``: popular first (the graphs' laws), never ones it has."""
        w = self.world
        if graph == "follows":
            n, taken = w.n_users, {*have, u}
        else:
            n, taken = w.n_tracks, {*have, 0}  # the seed's new fans are drawn apart
        count = min(1 + int(len(have) * GROWTH), n - len(taken))
        out: list[int] = []
        tries = 0
        while len(out) < count:
            tries += 1
            if tries > 20 * count:
                j = rng.randrange(n)
            elif graph == "follows":
                j = w._user_rank(int(n * rng.random() ** 2))
            else:
                j = 1 + int((n - 1) * rng.random() ** 3)
            if j not in taken:
                taken.add(j)
                out.append(j)
        return out
