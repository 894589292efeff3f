"""Tests of Store.taken_ids for every list family (families.py), built from its `Taken` spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sgr_scrapy.families import FAMILIES, Family
from sgr_scrapy.items import (
    FROM_FOLLOWERS,
    Follow,
    ListProgress,
    Page,
    RelatedTrack,
)
from sgr_scrapy.store import Store
from sgr_scrapy.store.reads import taken_query
from tests.test_store_rows import playlist

BIG = 2**40
OWNER, OTHER = BIG + 1, BIG + 2  # list owners
ITEMS = (BIG + 10, BIG + 11, BIG + 12)  # what the list under test took
ELSEWHERE = (BIG + 20, BIG + 21)  # items that other lists took


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "tracks.db") as opened:
        yield opened


def row(family: Family, owner: int, item: int, rank: int) -> Any:
    """The row a list of `family` writes when `owner`'s list yields `item` at `rank`."""
    if family.relation is None:  # playlists: the item's own row names its owner
        return playlist(item, user_id=owner)
    return family.relation(owner, item, rank)


def progress(family: Family, owner: int) -> ListProgress:
    return ListProgress(family.key(owner), family.name, owner)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES)
def test_taken_ids_are_the_items_this_list_took(store: Store, family: Family) -> None:
    store.write([Page(rows=[row(family, OWNER, item, rank) for rank, item in enumerate(ITEMS, 1)])])
    assert store.taken_ids(progress(family, OWNER)) == set(ITEMS)
    assert store.taken_ids(progress(family, OTHER)) == set()


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES)
def test_rows_recorded_by_other_lists_are_not_taken(store: Store, family: Family) -> None:
    # Every other family's rows around this list's owner, in both directions: the owner's
    # own lists of other families, and other owners' lists that yielded this owner.
    others = [f for f in FAMILIES.values() if f is not family]
    noise = [row(f, OWNER, item, 1) for f in others for item in ELSEWHERE]
    noise += [row(f, item, OWNER, 1) for f in others for item in ELSEWHERE]
    noise += [row(family, OTHER, item, 1) for item in ELSEWHERE]  # the same family, elsewhere
    store.write([Page(rows=noise)])
    assert store.taken_ids(progress(family, OWNER)) == set()
    store.write([Page(rows=[row(family, OWNER, item, 1) for item in ITEMS])])
    assert store.taken_ids(progress(family, OWNER)) == set(ITEMS)


def test_a_follow_read_from_followers_is_not_taken_by_followings(store: Store) -> None:
    u, v = BIG + 1, BIG + 2
    store.write([Page(rows=[Follow(v, u, FROM_FOLLOWERS)])])  # followers:u yielded v
    followings, followers = FAMILIES["followings"], FAMILIES["followers"]
    assert store.taken_ids(progress(followers, u)) == {v}
    assert store.taken_ids(progress(followings, v)) == set()


def test_related_tracks_of_another_source_are_not_taken(store: Store) -> None:
    store.write([Page(rows=[RelatedTrack(OWNER, ITEMS[0], "co_likes", None, 0.4, 12)])])
    assert store.taken_ids(progress(FAMILIES["related"], OWNER)) == set()


def test_an_unknown_family_is_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown list kind 'nonsense'"):
        store.taken_ids(ListProgress("nonsense:1", "nonsense", 1))


def test_the_query_is_built_once_per_family() -> None:
    taken_query.cache_clear()
    for name in FAMILIES:
        assert taken_query(name) is taken_query(name)
    assert taken_query.cache_info().misses == len(FAMILIES)
