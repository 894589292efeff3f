"""analyze's three tables against two independent computations of the same cosine:

- the brute-force reference in plain Python sets (tests/test_analyze_world.py): the same rows,
  supports and ranks, scores within 1e-9, on random worlds with a heavy user, users with no
  likes, tracks liked once, tracks without an artist and tracks without a row;
- implicit's CosineRecommender on the same binary matrix. implicit has no minimum support, so
  analyze runs with --min-support 1; implicit scores in float32 and breaks ties its own way, so
  its list is taken whole (K = every row) and cut at 10 here: the scores must agree within
  1e-5, and the neighbours too, except among those tied with the 10th.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from tests.test_analyze_world import (
    TABLES,
    assert_matches,
    random_world,
    reference,
    run_analyze,
    sets,
    stored,
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize(
    ("top_k", "min_support", "with_reposts"),
    [(5, 2, False), (3, 1, True), (50, 1, False), (10, 3, True)],
)
def test_random_worlds_match_the_reference(
    tmp_path: Path, seed: int, top_k: int, min_support: int, with_reposts: bool
) -> None:
    world = random_world(seed)
    db = world.write(tmp_path / "world.db")
    report = run_analyze(db, top_k=top_k, min_support=min_support, with_reposts=with_reposts)
    for kind in TABLES:
        want = reference(world, kind, top_k, min_support, with_reposts)
        assert_matches(stored(db, kind), want)
        assert report.rows[TABLES[kind][0]] == len(want)
    engaged = world.engaged(with_reposts)
    assert report.inputs == {
        "users": len({u for u, _ in engaged}),
        "tracks": len({t for _, t in engaged}),
        "artists": len(sets(world, "artists", with_reposts)),
        "engagements": len(engaged),
    }


def test_a_liked_and_reposted_track_counts_once(tmp_path: Path) -> None:
    world = random_world(5)
    world.reposts |= set(list(world.likes)[:30])  # both liked and reposted
    db = world.write(tmp_path / "world.db")
    run_analyze(db, top_k=10, min_support=1, with_reposts=True)
    for kind in TABLES:
        assert_matches(stored(db, kind), reference(world, kind, 10, 1, with_reposts=True))


def implicit_neighbours(groups: dict[int, set[int]]) -> dict[int, list[tuple[float, int]]]:
    """Each row's whole neighbour list by implicit's CosineRecommender, best first."""
    from implicit.nearest_neighbours import CosineRecommender

    ids = sorted(groups)
    columns = sorted({c for members in groups.values() for c in members})
    col = {c: i for i, c in enumerate(columns)}
    pairs = [(col[c], i) for i, r in enumerate(ids) for c in groups[r]]
    rows, cols = zip(*pairs, strict=True)
    # implicit fits on (users x items): here (columns x rows).
    matrix = csr_matrix(
        (np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(columns), len(ids))
    )
    model = CosineRecommender(K=len(ids) + 1, num_threads=1)
    model.fit(matrix, show_progress=False)
    similarity = model.similarity.tocsr()
    out = {}
    for i, r in enumerate(ids):
        row = similarity[i]
        found = [(float(s), ids[j]) for j, s in zip(row.indices, row.data, strict=True) if j != i]
        out[r] = sorted(found, key=lambda f: (-f[0], f[1]))
    return out


# implicit's own normalisation hands its kNN a COO matrix, and implicit warns about it.
@pytest.mark.filterwarnings("ignore:Method expects CSR input")
@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("kind", list(TABLES))
def test_top_10_agrees_with_implicits_cosine_recommender(
    tmp_path: Path, seed: int, kind: str
) -> None:
    world = random_world(seed, users=60, tracks=80, artists=20)
    db = world.write(tmp_path / "world.db")
    run_analyze(db, top_k=10, min_support=1)
    ours: dict[int, list[tuple[float, int]]] = {}
    for (a, b), (score, _, _) in sorted(stored(db, kind).items(), key=lambda r: r[1][2]):
        ours.setdefault(a, []).append((score, b))
    theirs = implicit_neighbours(sets(world, kind, with_reposts=False))
    compared = 0
    for row, listed in theirs.items():
        top = listed[:10]
        mine = ours.get(row, [])
        assert len(mine) == len(top), row
        for (s1, _), (s2, _) in zip(mine, top, strict=True):
            assert abs(s1 - s2) <= 1e-5, row
        if top:
            tenth = top[-1][0]
            differ = {b for _, b in mine} ^ {b for _, b in top}
            scores = dict((b, s) for s, b in listed)
            assert all(abs(scores[b] - tenth) <= 1e-5 for b in differ), row
        compared += len(top)
    assert compared > 150


def test_counts_beyond_65535_are_exact() -> None:
    """Pairs are counted in uint16 while every row is shorter than 65,535, in int32 beyond."""
    from sgr_scrapy.analysis import knn
    from sgr_scrapy.analysis.matrix import Csr

    users = 70_000
    # Track 0 and 1: liked by every user; track 2: by the first 10.
    pairs = [(0, u) for u in range(users)] + [(1, u) for u in range(users)]
    pairs += [(2, u) for u in range(10)]
    rows = Csr.from_sorted(
        np.array([t for t, _ in pairs]), np.array([u for _, u in pairs]), (3, users)
    )
    found = knn.Neighbours.concatenate(list(knn.top_k(rows, rows.transpose(), 5, 1)))
    got = {
        (int(a), int(b)): (float(s), int(c), int(r))
        for a, b, s, c, r in zip(
            found.row, found.other, found.score, found.support, found.rank, strict=True
        )
    }
    assert got == {
        (0, 1): (1.0, users, 1),
        (0, 2): (10 / np.sqrt(users * 10), 10, 2),
        (1, 0): (1.0, users, 1),
        (1, 2): (10 / np.sqrt(users * 10), 10, 2),
        (2, 0): (10 / np.sqrt(users * 10), 10, 1),
        (2, 1): (10 / np.sqrt(users * 10), 10, 2),
    }
