"""The engagements as binary sparse matrices: tracks x users, users x tracks, artists x users.

Indices follow increasing ids, so that an index order is an id order: the kNN breaks ties by
index and gets the id order for free. Only what has an engagement is in a matrix: a user with
no like has no row, a track no one liked no column, an artist none of whose tracks was liked
no row. Everything is sorted, never hashed: numpy's hash-based `unique` is 4x slower here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, increasing."""
    ordered = np.sort(values)
    new = np.ones(ordered.size, bool)
    new[1:] = ordered[1:] != ordered[:-1]
    return ordered[new]


@dataclass(frozen=True, slots=True)
class Csr:
    """A binary CSR matrix's structure (its values are all 1): int64 indptr, int32 indices."""

    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def from_sorted(cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Csr:
        """From distinct (row, col) index pairs ordered by row."""
        indptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int32), shape)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row_of_each(self) -> np.ndarray:
        """The row index of each stored entry."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int32), self.lengths())

    def transpose(self) -> Csr:
        order = np.argsort(self.indices, kind="stable")
        rows = self.row_of_each()[order]
        return Csr.from_sorted(self.indices[order], rows, (self.shape[1], self.shape[0]))


@dataclass(frozen=True, slots=True)
class Matrices:
    """Ids (increasing) and the three binary matrices whose rows analyze relates."""

    user_ids: np.ndarray
    track_ids: np.ndarray
    artist_ids: np.ndarray
    users: Csr  # user x track
    tracks: Csr  # track x user
    artists: Csr  # artist x user: the users who engaged at least one of its tracks

    @classmethod
    def build(
        cls,
        user_id: np.ndarray,
        track_id: np.ndarray,
        artist_track_id: np.ndarray,
        artist_id: np.ndarray,
    ) -> Matrices:
        """From (user_id, track_id) engagements ordered by user (a pair may repeat), and
        (track_id, artist_id) of the tracks with an artist, ordered by track; a track without
        an artist counts for no artist."""
        new_user = np.ones(user_id.size, bool)
        new_user[1:] = user_id[1:] != user_id[:-1]
        user_ids = user_id[new_user]
        u = np.cumsum(new_user) - 1
        track_ids = distinct(track_id)
        t = np.searchsorted(track_ids, track_id)
        key = u * max(track_ids.size, 1) + t
        if key.size and not (key[1:] > key[:-1]).all():  # repeats, or tracks out of order
            key = distinct(key)
            u, t = key // track_ids.size, key % track_ids.size
        users = Csr.from_sorted(u, t, (user_ids.size, track_ids.size))
        artist_ids, audience = _audiences(users, track_ids, artist_track_id, artist_id)
        return cls(user_ids, track_ids, artist_ids, users, users.transpose(), audience)

    @property
    def engagements(self) -> int:
        return self.users.nnz


def _audiences(
    users: Csr, track_ids: np.ndarray, artist_track_id: np.ndarray, artist_id: np.ndarray
) -> tuple[np.ndarray, Csr]:
    """The artists of the liked tracks, and each one's audience as an artist x user matrix."""
    at = np.minimum(np.searchsorted(artist_track_id, track_ids), max(artist_track_id.size - 1, 0))
    has = artist_track_id[at] == track_ids if artist_track_id.size else np.zeros(0, bool)
    if not has.any():
        return np.zeros(0, np.int64), Csr.from_sorted(
            np.zeros(0, np.int64), np.zeros(0, np.int64), (0, users.shape[0])
        )
    artist_ids = distinct(artist_id[at[has]])
    artist_of = np.full(track_ids.size, -1, np.int64)
    artist_of[has] = np.searchsorted(artist_ids, artist_id[at[has]])
    a = artist_of[users.indices]
    keep = a >= 0
    n_users = users.shape[0]
    pairs = distinct(a[keep] * n_users + users.row_of_each()[keep])
    shape = (artist_ids.size, n_users)
    return artist_ids, Csr.from_sorted(pairs // n_users, pairs % n_users, shape)
