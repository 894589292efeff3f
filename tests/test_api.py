"""api.py: URL checks, envelopes, ids and urns, tags, dates, rows, next_href classification."""

from __future__ import annotations

import orjson
import pytest

from sgr_scrapy import api
from sgr_scrapy.args import ArgumentError, HarvestArgs
from sgr_scrapy.families import FAMILIES

API = "https://api.soundcloud.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://soundcloud.com/artist/track",
        "http://soundcloud.com/artist/track/",
        "https://m.soundcloud.com/artist/track",
        "soundcloud.com/artist/track",
        "https://on.soundcloud.com/AbC123",
    ],
)
def test_check_seed_url_accepts_track_urls(url: str) -> None:
    assert api.check_seed_url(url)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://example.com/artist/track", "not a soundcloud.com URL"),
        ("https://soundcloud.com/artist", "user URL"),
        ("https://soundcloud.com/artist/sets/my-playlist", "playlist URL"),
        ("ftp://soundcloud.com/a/b", "not a soundcloud.com URL"),
        ("https://soundcloud.com/discover/sets", "page URL"),
    ],
)
def test_check_seed_url_refuses_other_urls_with_one_line(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        api.check_seed_url(url)
    assert "\n" not in str(info.value)


def test_first_page_urls_ask_for_200_items_and_every_access_level() -> None:
    likes = FAMILIES["likes"].first_page_url(API, 5)
    assert likes.startswith(f"{API}/users/5/likes/tracks?")
    assert "limit=200" in likes and "linked_partitioning=true" in likes
    assert "access=playable%2Cpreview%2Cblocked" in likes
    assert FAMILIES["favoriters"].first_page_url(API, 7) == (
        f"{API}/tracks/7/favoriters?limit=200&linked_partitioning=true"
    )


def test_parse_page_reads_envelope_and_bare_array() -> None:
    body = orjson.dumps({"collection": [{"id": 1}, None], "next_href": "x"})
    assert api.parse_page(body) == ([{"id": 1}, None], "x")
    assert api.parse_page(b"[]") == ([], None)
    assert api.parse_page(b'{"collection": []}') == ([], None)


@pytest.mark.parametrize("body", [b"{not json", b'{"error": "x"}', b'"text"', b""])
def test_parse_page_refuses_malformed_bodies(body: bytes) -> None:
    with pytest.raises(api.ApiError):
        api.parse_page(body)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"id": 2246814242, "urn": "soundcloud:tracks:2246814242"}, 2246814242),
        ({"urn": "soundcloud:tracks:2246814242"}, 2246814242),
        ({"id": None, "urn": "soundcloud:users:9"}, 9),
        ({"id": "77"}, 77),
        ({"id": True}, None),
        ({"urn": "soundcloud:tracks:abc"}, None),
        ({}, None),
        (None, None),
        ("text", None),
    ],
)
def test_object_id_prefers_id_then_urn(obj: object, expected: int | None) -> None:
    assert api.object_id(obj) == expected


@pytest.mark.parametrize(
    ("tag_list", "tags"),
    [
        ('electronic "deep house"', ["electronic", "deep house"]),
        (
            '"heavy metal" "instrumental rock" post-rock epic',
            ["heavy metal", "instrumental rock", "post-rock", "epic"],
        ),
        ("soundcloud:source=iphone-record", ["soundcloud:source=iphone-record"]),
        (" Jazz", ["Jazz"]),
        ("", []),
        (None, []),
        ('a ""  b', ["a", "b"]),
    ],
)
def test_parse_tags_keeps_quoted_multiword_tags_whole(tag_list: object, tags: list[str]) -> None:
    assert api.parse_tags(tag_list) == tags


def test_parse_date_reads_v1_and_iso_forms() -> None:
    assert api.parse_date("2019/01/15 15:40:49 +0000") == "2019-01-15T15:40:49Z"
    assert api.parse_date("2019/01/15 17:40:49 +0200") == "2019-01-15T15:40:49Z"
    assert api.parse_date("2018-12-12T16:09:59Z") == "2018-12-12T16:09:59Z"
    assert api.parse_date("yesterday") is None
    assert api.parse_date(None) is None


def test_track_rows_map_fields_and_nested_artist() -> None:
    obj = {
        "id": 13158665,
        "urn": "soundcloud:tracks:13158665",
        "title": "Munching at Tiannas house 🎧 ليلة",
        "genre": None,
        "tag_list": 'a "b c"',
        "duration": 18109,
        "playback_count": 17316,
        "favoritings_count": 8,
        "reposts_count": None,
        "permalink_url": "https://soundcloud.com/alex/munching",
        "created_at": "2011/04/06 15:37:43 +0000",
        "user": {"id": 3699101, "username": "Alex", "kind": "user"},
    }
    track, artist = api.track_rows(obj, 13158665)
    assert track.artist_id == 3699101 and track.artist_name == "Alex"
    assert track.like_count == 8 and track.duration_ms == 18109
    assert track.genre is None and track.reposts_count is None
    assert orjson.loads(track.tags) == ["a", "b c"]
    # raw_json keeps what no column holds; the artist is a row of users (schema 3).
    rest = {k: v for k, v in obj.items() if k != "user"}
    for key, kind in api.TRACK_COLUMN_KEYS.items():
        if key in rest and (rest[key] is None or type(rest[key]) is kind):
            del rest[key]
    assert orjson.loads(track.raw_json) == rest
    assert "user" in obj and "title" in obj  # the API's object itself is left as it was
    assert artist is not None and artist.user_id == 3699101 and artist.followers_count is None


def test_track_rows_fall_back_to_likes_count_and_legacy_user_id() -> None:
    track, artist = api.track_rows({"id": 1, "likes_count": 3, "user_id": 9}, 1)
    assert track.like_count == 3 and track.artist_id == 9 and artist is None


def test_classify_next_follows_the_api_and_moves_the_lists_own_path_onto_it() -> None:
    assert api.classify_next(None, API) == ("end", None)
    assert api.classify_next("", API) == ("end", None)
    assert api.classify_next(f"{API}/x?cursor=1", API) == ("follow", f"{API}/x?cursor=1")
    internal = "https://http.api.prod.api-public.srv.db.s-cloud.net/tracks/1/favoriters?cursor=5"
    assert api.classify_next(internal, API) == ("moved", f"{API}/tracks/1/favoriters?cursor=5")
    assert api.classify_next("https://evil.example/x", API)[0] == "foreign"
    # Same host, other port: another origin, so the token must not go there.
    local = "http://127.0.0.1:8000"
    assert api.classify_next("http://127.0.0.1:9000/x", local)[0] == "foreign"
    # Another host but the list's own path: the same path and query, asked of the API origin.
    page = f"{API}/tracks/1/favoriters?limit=200&linked_partitioning=true"
    moved = api.classify_next("https://other.example/tracks/1/favoriters?cursor=9", API, page)
    assert moved == ("moved", f"{API}/tracks/1/favoriters?cursor=9")
    other_path = api.classify_next("https://other.example/tracks/2/favoriters?cursor=9", API, page)
    assert other_path[0] == "foreign"
    assert api.classify_next("ftp://other.example/tracks/1/favoriters", API, page)[0] == "foreign"


def test_resolve_location_prefers_header_then_body() -> None:
    body = orjson.dumps({"status": "302 - Found", "location": f"{API}/tracks/5"})
    assert api.resolve_location(b"https://h/tracks/1", body) == "https://h/tracks/1"
    assert api.resolve_location(None, body) == f"{API}/tracks/5"
    assert api.resolve_location(None, b"oops") is None
    assert api.resolved_kind(f"{API}/tracks/soundcloud:tracks:42") == ("tracks", 42)
    assert api.resolved_kind(f"{API}/users/42") == ("users", 42)


def test_harvest_args_validate_once_with_one_line_errors(tmp_path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# mine\nhttps://soundcloud.com/a/b\n\nhttps://soundcloud.com/c/d\n")
    args = HarvestArgs.parse(
        url="https://soundcloud.com/a/b,https://soundcloud.com/e/f", urls_file=str(seeds)
    )
    assert args.urls == (
        "https://soundcloud.com/a/b",
        "https://soundcloud.com/e/f",
        "https://soundcloud.com/c/d",
    )
    for bad in (
        {"url": ""},
        {"url": "https://soundcloud.com/a/b", "max_users": "-1"},
        {"url": "https://soundcloud.com/a/b", "max_user_likes": "many"},
        {"url": "https://soundcloud.com/a/b", "refresh": "maybe"},
        {"urls_file": str(tmp_path / "missing.txt")},
    ):
        with pytest.raises(ArgumentError) as info:
            HarvestArgs.parse(**bad)
        assert "\n" not in str(info.value)
