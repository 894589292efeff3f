"""The paging state machine without Scrapy: cap, loop guard, foreign host, end, never-downgrade."""

from __future__ import annotations

import pytest

from sgr_scrapy.items import CAPPED, DONE, INCOMPLETE, PENDING, ListProgress
from sgr_scrapy.paging import REPEAT, Step, complete, covers, next_step, settle

API = "https://api.soundcloud.com"
PAGE = f"{API}/users/5/likes/tracks?limit=200"
NEXT = f"{API}/users/5/likes/tracks?cursor=abc&limit=200"


def step(next_href: object, *, taken: int = 10, cap: int = 0, cut_short: bool = False, visited=()):
    return next_step(
        next_href,
        api_url=API,
        page_url=PAGE,
        visited=set(visited),
        taken=taken,
        cap=cap,
        cut_short=cut_short,
    )


@pytest.mark.parametrize("end", [None, "", "   ", 0, ["x"], {"a": 1}])
def test_a_missing_or_odd_next_href_ends_the_list(end: object) -> None:
    assert step(end) == Step(DONE, None)


def test_a_next_href_on_the_api_is_followed() -> None:
    assert step(NEXT) == Step(PENDING, NEXT)


def test_an_internal_host_next_href_is_moved_onto_the_api_origin() -> None:
    internal = NEXT.replace(API, "https://http.api.prod.api-public.srv.db.s-cloud.net")
    assert step(internal) == Step(PENDING, NEXT, moved=True)


def test_a_foreign_host_with_another_path_stops_the_list_where_it_is() -> None:
    got = step("https://evil.example/steal?cursor=1")
    assert (got.status, got.next_url, got.foreign) == (INCOMPLETE, PAGE, True)
    assert "foreign host" in (got.error or "")


def test_a_next_href_already_followed_or_naming_this_page_is_a_repeat() -> None:
    assert step(NEXT, visited=[NEXT]).status == REPEAT
    assert step(PAGE).status == REPEAT
    assert step(PAGE).next_url == PAGE


def test_the_cap_stops_at_the_next_page_or_re_reads_a_page_it_cut() -> None:
    assert step(NEXT, taken=5, cap=5) == Step(CAPPED, NEXT)
    assert step(NEXT, taken=5, cap=5, cut_short=True) == Step(CAPPED, PAGE)
    # The end of the list wins over a cap reached on its last page.
    assert step(None, taken=5, cap=5) == Step(DONE, None)
    # A foreign next_href at the cap: the list is capped where it is, not incomplete.
    assert step("https://evil.example/x", taken=5, cap=5) == Step(CAPPED, PAGE)


def progress(status: str = PENDING, items: int = 0, next_url: str | None = None) -> ListProgress:
    return ListProgress("likes:5", "likes", 5, status, next_url, 1, items, 0)


def test_complete_and_covers_follow_the_cap() -> None:
    assert complete(progress(DONE), 0) and complete(progress(DONE), 3)
    assert complete(progress(CAPPED, 5), 5) and not complete(progress(CAPPED, 5), 6)
    assert not complete(progress(CAPPED, 5), 0)  # no cap: a capped list is not enough
    assert not complete(progress(PENDING), 1)
    assert covers(progress(DONE), 10**6) and covers(progress(CAPPED, 5), 5)
    assert not covers(progress(CAPPED, 5), 6) and not covers(None, 0)


def test_settle_never_downgrades_a_list_read_further() -> None:
    stored = progress(DONE)
    live = progress()
    settle(live, Step(CAPPED, NEXT), stored, taken=3, cap=3)
    assert (live.status, live.next_url) == (DONE, None)
    live = progress()
    settle(live, Step(CAPPED, NEXT), progress(CAPPED, 2, PAGE), taken=3, cap=3)
    assert (live.status, live.next_url, live.items, live.cap) == (CAPPED, NEXT, 3, 3)
    live = progress()
    settle(live, Step(INCOMPLETE, PAGE, "why"), None, taken=3, cap=0)
    assert (live.status, live.error) == (INCOMPLETE, "why")
