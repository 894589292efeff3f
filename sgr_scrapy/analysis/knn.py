"""Exact cosine top-k between the rows of a binary matrix: the co-like, user and artist kNN.

For rows a and b (a track and another track, say, as sets of users), the support s is the
number of columns they share and the score is s / sqrt(n_a * n_b), in float64 exactly as that
formula reads, so that `ORDER BY score DESC, id` on the stored rows gives back their ranks.
Per row, the pairs with s >= min_support are kept, the best k by (score desc, other id asc).

Why hand-written: implicit's `all_pairs_knn` and `sparse_dot_topn` run the same row-wise
product but keep a top-k by a float score alone (float32 in implicit): neither has a minimum
support, and ties at the k-th place go to whichever the heap kept, so their lists cannot be
exact. `scipy` products are exact but materialise every pair (a user with 5,000 likes adds 25M
of them) and run on one core: 43 s where implicit takes 5.4 s (issue 11).

The algorithm is implicit's (Gustavson's row-by-row product): for row a, a dense counter over
all rows gets +1 for every row b sharing a column with a, a list remembers which counters were
touched, and a heap of k keeps the best, in the row's own output slots. Memory is bounded
whatever the heavy users do: per thread, a counter and a list as long as the matrix is tall
(the counter in uint16 when no row is 65,535 long: half the cache it takes); per block of
rows, k slots a row. Rows are processed in blocks (progress, and the writer stores
one block while the next is computed), each block by numba's threads, CHUNK_ROWS rows at a
time.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numba
import numpy as np
from numba import get_thread_id, njit, prange

from sgr_scrapy.analysis.matrix import Csr

BLOCKS = 32  # blocks per matrix: progress steps, and the writer's unit of work
# Rows a thread takes at a time. Threads take them as they go (dynamic scheduling), not a
# fixed share each: a thread slowed by the writer, or by a run of heavy rows, is not waited for.
CHUNK_ROWS = 64


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The top-k of a block of rows, in (row, other) order, as matrix indices."""

    row: np.ndarray  # int32
    other: np.ndarray  # int32
    score: np.ndarray  # float64
    support: np.ndarray  # int32
    rank: np.ndarray  # int32, 1 = best

    def __len__(self) -> int:
        return int(self.row.size)

    @classmethod
    def concatenate(cls, blocks: list[Neighbours]) -> Neighbours:
        if not blocks:
            none = np.zeros(0, np.int32)
            return cls(none, none, np.zeros(0, np.float64), none, none)
        fields = dataclasses.fields(cls)
        return cls(*(np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields))


@njit(nogil=True, cache=True, inline="always")
def _worse(score_1: float, id_1: int, score_2: float, id_2: int) -> bool:
    """(score_1, id_1) ranks after (score_2, id_2): lower score, or the same and a higher id."""
    return score_1 < score_2 or (score_1 == score_2 and id_1 > id_2)


@njit(nogil=True, cache=True)
def _sift_down(scores, others, supports, size, i):  # type: ignore[no-untyped-def]
    """Restore the heap (worst at the root) below i."""
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _worse(scores[right], others[right], scores[child], others[child]):
            child = right
        if not _worse(scores[child], others[child], scores[i], others[i]):
            return
        scores[i], scores[child] = scores[child], scores[i]
        others[i], others[child] = others[child], others[i]
        supports[i], supports[child] = supports[child], supports[i]
        i = child


@njit(nogil=True, cache=True)
def _sift_up(scores, others, supports, i):  # type: ignore[no-untyped-def]
    while i > 0:
        parent = (i - 1) // 2
        if not _worse(scores[i], others[i], scores[parent], others[parent]):
            return
        scores[i], scores[parent] = scores[parent], scores[i]
        others[i], others[parent] = others[parent], others[i]
        supports[i], supports[parent] = supports[parent], supports[i]
        i = parent


@njit(parallel=True, nogil=True, cache=True)
def _block(
    indptr, indices, t_indptr, t_indices, length, start, stop, k, min_support, counters, touches
):  # type: ignore[no-untyped-def]
    """Top-k of rows start..stop-1: (count, other, score, support, rank), k slots a row, each
    row's slots in other-index order (the table's key order). `scratch` holds each thread's
    counters (all zero between rows) and touched list, 2 x n int32 a thread."""
    rows = stop - start
    count = np.zeros(rows, np.int32)
    other = np.empty(rows * k, np.int32)
    score = np.empty(rows * k, np.float64)
    support = np.empty(rows * k, np.int32)
    rank = np.empty(rows * k, np.int32)
    for a in prange(start, stop):
        counter = counters[get_thread_id()]
        touched = touches[get_thread_id()]
        base = (a - start) * k
        h_score = score[base : base + k]  # the heap lives in the row's own slots
        h_other = other[base : base + k]
        h_support = support[base : base + k]
        m = 0
        for p in range(indptr[a], indptr[a + 1]):
            u = indices[p]
            for q in range(t_indptr[u], t_indptr[u + 1]):
                b = t_indices[q]
                # Branch-free: a new counter is remembered, an old one overwritten next.
                touched[m] = b
                m += counter[b] == 0
                counter[b] += 1
        n_a = np.int64(length[a])
        size = 0
        for i in range(m):
            b = touched[i]
            s = counter[b]
            counter[b] = 0
            if s < min_support or b == a:
                continue
            value = s / np.sqrt(np.float64(n_a * length[b]))
            if size < k:
                h_score[size] = value
                h_other[size] = b
                h_support[size] = s
                _sift_up(h_score, h_other, h_support, size)
                size += 1
            elif _worse(h_score[0], h_other[0], value, b):
                h_score[0] = value
                h_other[0] = b
                h_support[0] = s
                _sift_down(h_score, h_other, h_support, size, 0)
        count[a - start] = size
        # Rank by popping the worst: it goes to rank `size`, the heap shrinks by one, and
        # the slot it frees, the heap's last, gets its rank.
        h_rank = rank[base : base + k]
        for r in range(size, 0, -1):
            worst_score, worst_other, worst_support = h_score[0], h_other[0], h_support[0]
            last = r - 1
            h_score[0] = h_score[last]
            h_other[0] = h_other[last]
            h_support[0] = h_support[last]
            _sift_down(h_score, h_other, h_support, last, 0)
            h_score[last] = worst_score
            h_other[last] = worst_other
            h_support[last] = worst_support
            h_rank[last] = r
        # Then into other-index order (insertion sort: k is small).
        for i in range(1, size):
            o, sc, su, rk = h_other[i], h_score[i], h_support[i], h_rank[i]
            j = i - 1
            while j >= 0 and h_other[j] > o:
                h_other[j + 1] = h_other[j]
                h_score[j + 1] = h_score[j]
                h_support[j + 1] = h_support[j]
                h_rank[j + 1] = h_rank[j]
                j -= 1
            h_other[j + 1], h_score[j + 1], h_support[j + 1], h_rank[j + 1] = o, sc, su, rk
    return count, other, score, support, rank


def top_k(
    rows: Csr,
    columns: Csr,
    k: int,
    min_support: int,
    on_block: Callable[[int], None] | None = None,
    threads: Callable[[], int] | None = None,
) -> Iterator[Neighbours]:
    """Each row's top-k among the other rows, block by block in row order.

    `rows` is the binary matrix (a row per track, say, a column per user) and `columns` its
    transpose. `on_block(rows_done)` is called after each block; `threads()`, if given, before
    each, says how many of numba's threads (at most as many as now) may compute it.
    """
    n = rows.shape[0]
    full = numba.get_num_threads()
    edges = np.linspace(0, n, min(BLOCKS, n) + 1).astype(np.int64)
    slots = np.arange(k, dtype=np.int32)
    length = rows.lengths().astype(np.int32)
    # The smallest counter that holds any pair's count: less memory for the cache to hold.
    small = length.max(initial=0) < np.iinfo(np.uint16).max
    counters = np.zeros((full, n), np.uint16 if small else np.int32)
    touches = np.zeros((full, n), np.int32)
    try:
        for start, stop in itertools.pairwise(edges.tolist()):
            numba.set_num_threads(min(full, threads()) if threads is not None else full)
            with numba.parallel_chunksize(CHUNK_ROWS):
                count, other, score, support, rank = _block(
                    rows.indptr, rows.indices, columns.indptr, columns.indices, length,
                    start, stop, k, min_support, counters, touches,
                )  # fmt: skip
            kept = (slots[None, :] < count[:, None]).ravel()
            row = np.repeat(np.arange(start, stop, dtype=np.int32), count)
            yield Neighbours(row, other[kept], score[kept], support[kept], rank[kept])
            if on_block is not None:
                on_block(stop)
    finally:
        numba.set_num_threads(full)
