"""Machine tags (`namespace:key=value`) are kept apart from the user's tags."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from sgr_scrapy import api
from sgr_scrapy.items import Page
from sgr_scrapy.store import Store


@pytest.mark.parametrize(
    ("tag_list", "tags", "machine_tags"),
    [
        (
            "electronic soundcloud:source=iphone-record",
            ["electronic"],
            {"soundcloud:source": "iphone-record"},
        ),
        (
            'geo:lat=52.52 "deep house" geo:lon=13.40',
            ["deep house"],
            {"geo:lat": "52.52", "geo:lon": "13.40"},
        ),
        # A repeated key: the last value wins (raw_json's tag_list keeps every one).
        ("geo:lat=52.52 geo:lat=48.85", [], {"geo:lat": "48.85"}),
        # Without `=` it is not a machine tag: a user may well tag "dj:mix".
        ("dj:mix house", ["dj:mix", "house"], {}),
        # The value is everything after the first `=`, spaces included when quoted.
        ('"geo:place=New York" upload:a=1=2', [], {"geo:place": "New York", "upload:a": "1=2"}),
        # An empty namespace, key or value, or a key with `/`: a user tag, kept verbatim.
        (
            ":x=1 ns:=v a:b= http://example.com/a=b",
            [":x=1", "ns:=v", "a:b=", "http://example.com/a=b"],
            {},
        ),
        ("", [], {}),
        (None, [], {}),
    ],
)
def test_machine_tags_are_split_from_user_tags(
    tag_list: object, tags: list[str], machine_tags: dict[str, str]
) -> None:
    assert api.split_machine_tags(api.parse_tags(tag_list)) == (tags, machine_tags)
    track, _ = api.track_rows({"id": 1, "tag_list": tag_list}, 1)
    assert orjson.loads(track.tags) == tags
    assert orjson.loads(track.machine_tags) == machine_tags


def test_empty_machine_tags_never_erase_known_ones(tmp_path: Path) -> None:
    rich, _ = api.track_rows({"id": 1, "tag_list": "house geo:lat=52.52"}, 1)
    mini, _ = api.track_rows({"id": 1, "title": "t"}, 1)  # a mini track: no tag_list
    newer, _ = api.track_rows({"id": 1, "tag_list": "techno geo:lat=48.85"}, 1)
    with Store.open(tmp_path / "t.db") as store:
        read = 'SELECT "tags", "machine_tags" FROM "tracks"'
        store.write([Page(rows=[rich])])
        store.write([Page(rows=[mini])])
        ((tags, machine_tags),) = store.conn.execute(read).fetchall()
        assert (json.loads(tags), json.loads(machine_tags)) == (["house"], {"geo:lat": "52.52"})
        store.write([Page(rows=[newer])])
        ((tags, machine_tags),) = store.conn.execute(read).fetchall()
        assert (json.loads(tags), json.loads(machine_tags)) == (["techno"], {"geo:lat": "48.85"})
