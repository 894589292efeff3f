"""Implicit-feedback ALS embeddings (Hu, Koren & Volinsky 2008), by implicit's CPU solver.

One fixed seed (`SEED`) and a fixed number of iterations: the same database and options give
the same vectors. BLAS is held to one thread while implicit solves: implicit runs its own
threads, and OpenBLAS's on top of them make it up to 10x slower (implicit warns of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from sgr_scrapy.analysis.matrix import Csr

SEED = 42
ITERATIONS = 15
REGULARIZATION = 0.05
ALPHA = 2.0  # confidence of an engagement (1 + ALPHA in Hu et al.'s terms, roughly)


@dataclass(frozen=True, slots=True)
class Factors:
    """A vector per user (rows of the matrix) and per item (its columns), float32."""

    users: np.ndarray
    items: np.ndarray


def fit(
    user_items: Csr,
    factors: int,
    threads: int,
    on_iteration: Callable[[int], None] | None = None,
) -> Factors:
    """ALS factors of a binary user x item matrix; `on_iteration(done)` after each iteration."""
    # Imported here: implicit takes 0.2 s to import, and only --factors needs it.
    from implicit.cpu.als import AlternatingLeastSquares

    if user_items.nnz == 0:  # nothing harvested yet: implicit cannot fit an empty matrix
        users, items = user_items.shape
        return Factors(
            np.zeros((users, factors), np.float32), np.zeros((items, factors), np.float32)
        )
    matrix = csr_matrix(
        (np.ones(user_items.nnz, np.float32), user_items.indices, user_items.indptr),
        shape=user_items.shape,
    )

    def callback(iteration: int, _elapsed: float, _loss: float | None) -> None:
        if on_iteration is not None:
            on_iteration(iteration + 1)

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=REGULARIZATION,
            alpha=ALPHA,
            iterations=ITERATIONS,
            num_threads=threads,
            random_state=SEED,
        )
        model.fit(matrix, show_progress=False, callback=callback)
    return Factors(np.asarray(model.user_factors), np.asarray(model.item_factors))


def parameters() -> dict[str, float | int]:
    """What, besides the number of factors, decides the vectors (for the run's record)."""
    return {
        "seed": SEED,
        "iterations": ITERATIONS,
        "regularization": REGULARIZATION,
        "alpha": ALPHA,
    }
