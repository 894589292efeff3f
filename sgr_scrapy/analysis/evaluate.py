"""Leave-one-out evaluation: does each method find a like it was not shown? recall@10.

For each user with two items or more (a seeded sample of at most `MAX_USERS` of them), one of
its items, chosen with the same seed, is hidden; each method learns from the rest and ranks
the items the user has not engaged; a hit is the hidden item among the first 10 (ties broken
by item id, as in the kNN). recall@10 = hits / users evaluated. Users with one item are
skipped (hiding it would leave nothing to learn from) and counted.

- popularity: items by number of users, in the rest;
- co-like kNN: the same exact cosine top-k (`--top-k`, `--min-support`), on the rest; an
  item's score is the sum of its similarities to the user's items (implicit's item-item
  recommender); only items with a positive score are recommended;
- ALS: dot products of vectors fit on the rest with the stored vectors' parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from threadpoolctl import threadpool_limits

from sgr_scrapy.analysis import als, knn
from sgr_scrapy.analysis.matrix import Csr

SEED = 7
MAX_USERS = 10_000  # users evaluated at most: recall's standard error stays under 0.005
TOP = 10
ALS_BATCH = 256  # users scored at once against every item (256 x items float32)
METHODS = ("popularity", "co-like kNN", "ALS")


@dataclass(frozen=True, slots=True)
class Holdout:
    """The rest (hidden items removed) and, per evaluated user, the item hidden."""

    train: Csr  # user x item
    users: np.ndarray  # int32 row indices, increasing
    hidden: np.ndarray  # int32 item indices
    eligible: int  # users with two items or more
    skipped: int  # users with one item


@dataclass(frozen=True, slots=True)
class Evaluation:
    """recall@10 per method (METHODS order), on `users` users (none: no figures)."""

    users: int
    eligible: int
    skipped: int
    recall: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return {
            "users": self.users,
            "eligible": self.eligible,
            "skipped": self.skipped,
            "recall_at_10": self.recall,
        }


def hold_out(user_items: Csr, seed: int = SEED, max_users: int = MAX_USERS) -> Holdout:
    """Hide one item of each sampled user with two items or more."""
    lengths = user_items.lengths()
    eligible = np.flatnonzero(lengths >= 2)
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(eligible, size=min(max_users, eligible.size), replace=False))
    picked = user_items.indptr[users] + rng.integers(0, lengths[users])
    keep = np.ones(user_items.nnz, bool)
    keep[picked] = False
    train = Csr.from_sorted(
        user_items.row_of_each()[keep], user_items.indices[keep], user_items.shape
    )
    return Holdout(
        train,
        users.astype(np.int32),
        user_items.indices[picked].astype(np.int32),
        int(eligible.size),
        int(np.count_nonzero(lengths == 1)),
    )


def evaluate(
    user_items: Csr,
    *,
    top_k: int,
    min_support: int,
    factors: int,
    threads: int,
    on_progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """recall@10 of the three methods; `on_progress(done)` counts 3 + ALS iterations."""
    holdout = hold_out(user_items)
    if holdout.users.size == 0:  # no user with two items: nothing to hide
        return Evaluation(0, holdout.eligible, holdout.skipped, {})
    done = 0

    def advance(steps: int = 1) -> None:
        nonlocal done
        done += steps
        if on_progress is not None:
            on_progress(done)

    hits = {"popularity": popularity_hits(holdout)}
    advance()
    hits["co-like kNN"] = knn_hits(holdout, top_k, min_support, threads)
    advance()
    hits["ALS"] = als_hits(holdout, factors, threads, lambda _: advance())
    advance()
    n = int(holdout.users.size)
    return Evaluation(
        n,
        holdout.eligible,
        holdout.skipped,
        {m: float(np.count_nonzero(hits[m]) / n) for m in METHODS},
    )


def progress_steps() -> int:
    """The steps `evaluate` reports to `on_progress`."""
    return 3 + als.ITERATIONS


def _owned(train: Csr, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in `users`, item) of every item the evaluated users keep in `train`."""
    starts = train.indptr[users]
    lengths = train.indptr[users + 1] - starts
    owner = np.repeat(np.arange(users.size), lengths)
    offsets = np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owner, train.indices[np.repeat(starts, lengths) + offsets]


def popularity_hits(holdout: Holdout) -> np.ndarray:
    train, users, hidden = holdout.train, holdout.users, holdout.hidden
    n_items = train.shape[1]
    count = np.bincount(train.indices, minlength=n_items)
    position = np.empty(n_items, np.int64)  # how many items rank before each, over all items
    position[np.lexsort((np.arange(n_items), -count))] = np.arange(n_items)
    owner, item = _owned(train, users)
    ahead_owned = np.bincount(
        owner, weights=position[item] < position[hidden[owner]], minlength=users.size
    )
    return position[hidden] - ahead_owned < TOP


def knn_hits(holdout: Holdout, top_k: int, min_support: int, threads: int) -> np.ndarray:
    train = holdout.train
    items = train.transpose()
    found = knn.Neighbours.concatenate(list(knn.top_k(items, train, top_k, min_support)))
    indptr = np.zeros(items.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(found.row, minlength=items.shape[0]), out=indptr[1:])
    return _knn_hits(
        train.indptr, train.indices, indptr, found.other, found.score,
        holdout.users, holdout.hidden, TOP, max(1, threads * 4),
    )  # fmt: skip


@njit(parallel=True, nogil=True, cache=True)
def _knn_hits(t_indptr, t_indices, nb_indptr, nb_other, nb_score, users, hidden, top, stripes):  # type: ignore[no-untyped-def]
    n_items = nb_indptr.size - 1
    hits = np.zeros(users.size, np.bool_)
    for stripe in prange(stripes):
        score = np.zeros(n_items, np.float64)
        owned = np.zeros(n_items, np.bool_)
        touched = np.empty(n_items, np.int32)
        for x in range(stripe, users.size, stripes):
            u = users[x]
            h = hidden[x]
            for p in range(t_indptr[u], t_indptr[u + 1]):
                owned[t_indices[p]] = True
            m = 0
            for p in range(t_indptr[u], t_indptr[u + 1]):
                j = t_indices[p]
                for q in range(nb_indptr[j], nb_indptr[j + 1]):
                    i = nb_other[q]
                    if score[i] == 0.0:  # similarities are positive: 0 means untouched
                        touched[m] = i
                        m += 1
                    score[i] += nb_score[q]
            target = score[h]
            ahead = 0
            for y in range(m):
                i = touched[y]
                if not owned[i] and (score[i] > target or (score[i] == target and i < h)):
                    ahead += 1
            hits[x] = target > 0.0 and ahead < top
            for y in range(m):
                score[touched[y]] = 0.0
            for p in range(t_indptr[u], t_indptr[u + 1]):
                owned[t_indices[p]] = False
    return hits


def als_hits(
    holdout: Holdout, factors: int, threads: int, on_iteration: Callable[[int], None]
) -> np.ndarray:
    train, users, hidden = holdout.train, holdout.users, holdout.hidden
    fitted = als.fit(train, factors, threads, on_iteration)
    owner, item = _owned(train, users)
    hits = np.zeros(users.size, bool)
    ids = np.arange(train.shape[1])
    with threadpool_limits(threads, "blas"):
        for start in range(0, users.size, ALS_BATCH):
            stop = min(start + ALS_BATCH, users.size)
            scores = fitted.users[users[start:stop]] @ fitted.items.T
            mine = slice(*np.searchsorted(owner, [start, stop]))  # owner is increasing
            scores[owner[mine] - start, item[mine]] = -np.inf
            target = scores[np.arange(stop - start), hidden[start:stop]][:, None]
            ahead = np.count_nonzero(scores > target, axis=1) + np.count_nonzero(
                (scores == target) & (ids[None, :] < hidden[start:stop, None]), axis=1
            )
            hits[start:stop] = ahead < TOP
    return hits
