"""--factors: ALS vectors stored per track and user, and the leave-one-out evaluation.

The world has planted taste: each user belongs to one of 8 groups and takes most of its likes
from its group's tracks, so what a user liked says what it will like. kNN and ALS must then
beat popularity clearly; on a world without structure none of them could.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
import orjson

from sgr_scrapy.analysis import evaluate
from sgr_scrapy.analysis.matrix import Csr
from tests.test_analyze_world import World, run_analyze

FACTORS = 16


def planted_world(seed: int = 3, users: int = 800, tracks: int = 600, groups: int = 8) -> World:
    rng = random.Random(seed)
    group_of = {t: rng.randrange(groups) for t in range(tracks)}
    weight = [1 / (rank + 1) ** 0.8 for rank in range(tracks)]
    rng.shuffle(weight)
    world = World()
    for user in range(users):
        group = rng.randrange(groups)
        own = [t for t in range(tracks) if group_of[t] == group]
        count = 1 if user % 50 == 0 else rng.randint(5, 30)  # some users with one like
        for _ in range(count):
            pool = own if rng.random() < 0.8 else range(tracks)
            track = rng.choices(pool, weights=[weight[t] for t in pool])[0]
            world.likes.add((10 + user, 100_000 + track))
    world.artist = {100_000 + t: 900_000 + group_of[t] * 10 + t % 10 for t in range(tracks)}
    return world


def factor_rows(db: Path, table: str) -> dict[int, tuple[int, bytes]]:
    conn = sqlite3.connect(db)
    try:
        return {row[0]: (row[1], row[2]) for row in conn.execute(f'SELECT * FROM "{table}"')}
    finally:
        conn.close()


def test_factors_are_stored_and_knn_and_als_beat_popularity(tmp_path: Path) -> None:
    world = planted_world()
    db = world.write(tmp_path / "planted.db")
    report = run_analyze(db, factors=FACTORS)
    tracks = factor_rows(db, "track_factors")
    users = factor_rows(db, "user_factors")
    assert set(tracks) == {t for _, t in world.likes}
    assert set(users) == {u for u, _ in world.likes}
    for run_id, blob in [*tracks.values(), *users.values()]:
        assert run_id == report.run_id
        vector = np.frombuffer(blob, dtype="<f4")
        assert vector.shape == (FACTORS,) and np.isfinite(vector).all()
    assert report.rows["track_factors"] == len(tracks)

    e = report.evaluation
    assert e is not None
    single = sum(1 for n in np.unique([u for u, _ in world.likes], return_counts=True)[1] if n == 1)
    assert (e.skipped, e.eligible, e.users) == (single, 800 - single, 800 - single)
    recall = e.recall
    assert recall["co-like kNN"] > recall["popularity"] + 0.1, recall
    assert recall["ALS"] > recall["popularity"] + 0.1, recall

    conn = sqlite3.connect(db)
    (stored,) = conn.execute('SELECT "evaluation" FROM "analysis_runs"').fetchone()
    conn.close()
    assert orjson.loads(stored)["recall_at_10"] == recall


def test_the_same_database_gives_the_same_vectors_and_figures(tmp_path: Path) -> None:
    world = planted_world(seed=4, users=300, tracks=200)
    first = run_analyze(world.write(tmp_path / "a.db"), factors=8)
    second = run_analyze(world.write(tmp_path / "b.db"), factors=8)
    assert first.evaluation == second.evaluation
    assert factor_rows(tmp_path / "a.db", "track_factors") == factor_rows(
        tmp_path / "b.db", "track_factors"
    )


def test_a_rerun_without_factors_keeps_the_previous_vectors(tmp_path: Path) -> None:
    db = planted_world(users=200, tracks=150).write(tmp_path / "p.db")
    with_factors = run_analyze(db, factors=8)
    before = factor_rows(db, "user_factors")
    again = run_analyze(db)
    assert again.evaluation is None and "user_factors" not in again.rows
    assert factor_rows(db, "user_factors") == before
    assert {run_id for run_id, _ in before.values()} == {with_factors.run_id}


def test_hold_out_hides_one_item_of_each_user_with_two_or_more() -> None:
    # users: 0 has 3 items, 1 has 1, 2 has 2
    users = Csr.from_sorted(np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 2, 0, 1, 3]), (3, 4))
    holdout = evaluate.hold_out(users, seed=1)
    assert holdout.users.tolist() == [0, 2]
    assert (holdout.eligible, holdout.skipped) == (2, 1)
    assert holdout.train.nnz == users.nnz - 2
    for user, hidden in zip(holdout.users, holdout.hidden, strict=True):
        kept = holdout.train.indices[holdout.train.indptr[user] : holdout.train.indptr[user + 1]]
        everything = users.indices[users.indptr[user] : users.indptr[user + 1]]
        assert sorted([*kept, hidden]) == sorted(everything)
