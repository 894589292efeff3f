"""The list routes added with the families: shapes, cursor formats, paging and their quirks."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from sgr_scrapy.simulator.objects import PARTIAL_USER_KEYS
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.walk import Reply, Walker, fetch
from sgr_scrapy.simulator.world import World, WorldConfig

SMALL = ["--users", "300", "--tracks", "1000", "--likers", "60", "--reposters", "30"]
KNOBS = {"users": 300, "tracks": 1000, "likers": 60, "reposters": 30}
ALL = "access=playable,preview,blocked"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess(*SMALL) as running:
        yield running


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(**KNOBS))


def get(sim: SimulatorProcess, path: str) -> Reply:
    url = path if path.startswith("http") else sim.api_url + path
    return fetch(url, {"Authorization": f"OAuth {sim.access_token}"})


def walk_ids(sim: SimulatorProcess, path: str) -> list[int]:
    return [item["id"] for item in Walker(sim.info).walk(sim.api_url + path)]


def user_with(world: World, method: str, at_least: int) -> int:
    return next(
        world.user_id(i)
        for i in range(world.n_users)
        if len(getattr(world, method)(world.user_id(i))) >= at_least
    )


@pytest.mark.parametrize("route", ["followers", "followings"])
def test_follow_lists_are_envelopes_with_epoch_cursors(sim, world, route: str) -> None:
    uid = user_with(world, route, 5)
    page = get(sim, f"/users/soundcloud:users:{uid}/{route}?limit=2").json()
    assert isinstance(page, dict) and len(page["collection"]) == 2
    assert all("followers_count" in u for u in page["collection"])  # full users
    query = parse_qs(urlsplit(page["next_href"]).query)
    assert list(query) == ["cursor", "page_size"] and query["cursor"][0].isdigit()
    assert walk_ids(sim, f"/users/{uid}/{route}?limit=3") == getattr(world, route)(uid).ids


def test_followers_and_followings_agree(sim, world) -> None:
    uid = user_with(world, "followings", 5)
    for other in walk_ids(sim, f"/users/{uid}/followings?limit=50"):
        assert uid in walk_ids(sim, f"/users/{other}/followers?limit=200")


@pytest.mark.parametrize(
    ("route", "method"), [("tracks", "uploads"), ("reposts/tracks", "reposts")]
)
def test_user_tracks_and_reposts_use_the_tracks_cursor(sim, world, route, method) -> None:
    uid = user_with(world, method, 4)
    page = get(sim, f"/users/{uid}/{route}?limit=2&linked_partitioning=1&{ALL}").json()
    href = page["next_href"]
    assert re.search(r"\?cursor=[^&]+&linked_partitioning=1&page_size=2&access=", href)
    cursor = parse_qs(urlsplit(href).query)["cursor"][0]
    assert re.fullmatch(rf"{ISO},tracks,\d{{11}}", cursor)
    assert cursor.endswith(f",{page['collection'][-1]['id']:011d}")
    bare = get(sim, f"/users/{uid}/{route}?limit=2&{ALL}").json()
    assert isinstance(bare, list) and [t["id"] for t in bare] == getattr(world, method)(uid).ids[:2]
    assert (
        walk_ids(sim, f"/users/{uid}/{route}?limit=3&linked_partitioning=1&{ALL}")
        == getattr(world, method)(uid).ids
    )


def test_user_tracks_are_the_artists_own(sim, world) -> None:
    artist = get(sim, f"/tracks/{sim.seed_track_id}").json()["user"]["id"]
    url = f"{sim.api_url}/users/{artist}/tracks?limit=50&linked_partitioning=1&{ALL}"
    tracks = Walker(sim.info).walk(url)
    assert sim.seed_track_id in {t["id"] for t in tracks}
    assert {t["user"]["id"] for t in tracks} == {artist}
    assert len(tracks) == get(sim, f"/users/{artist}").json()["track_count"]


def test_related_pages_by_offset(sim, world) -> None:
    tid = next(
        world.track_id(i)
        for i in range(world.n_tracks)
        if len(world.related(world.track_id(i))) > 7
    )
    page = get(sim, f"/tracks/{tid}/related?limit=3&linked_partitioning=true&{ALL}").json()
    href = page["next_href"]
    assert urlsplit(href).path == f"/tracks/{tid}/related"
    assert urlsplit(href).query == f"limit=3&linked_partitioning=true&offset=3&{ALL}"
    second = get(sim, href).json()
    assert [t["id"] for t in page["collection"] + second["collection"]] == world.related(tid).ids[
        :6
    ]
    assert isinstance(get(sim, f"/tracks/{tid}/related?limit=3").json(), list)
    for bad in ("-1", "x", "1.5"):
        assert get(sim, f"/tracks/{tid}/related?linked_partitioning=1&offset={bad}").status == 400
    past = get(sim, f"/tracks/{tid}/related?linked_partitioning=1&offset=100000").json()
    assert past == {"collection": [], "next_href": None}
    assert walk_ids(sim, f"/tracks/{tid}/related?limit=2&linked_partitioning=1&{ALL}") == (
        world.related(tid).ids
    )


def test_playlists_carry_their_tracks_in_the_oas_shape(sim, world) -> None:
    uid = user_with(world, "playlists", 2)
    page = get(sim, f"/users/{uid}/playlists?limit=1&linked_partitioning=true&{ALL}").json()
    playlist = page["collection"][0]
    pid = world.playlists(uid).ids[0]
    assert playlist["kind"] == "playlist" and playlist["id"] == pid
    assert playlist["urn"] == f"soundcloud:playlists:{pid}"
    assert set(playlist["user"]) == set(PARTIAL_USER_KEYS) and playlist["user"]["id"] == uid
    assert playlist["uri"] == f"{sim.api_url}/playlists/soundcloud:playlists:{pid}"
    assert playlist["tracks_uri"] == playlist["uri"] + "/tracks"
    assert re.fullmatch(r"https://soundcloud\.com/[^/]+/sets/[^/]+", playlist["permalink_url"])
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \+0000", playlist["created_at"])
    tracks = world.playlist_tracks(pid)
    assert playlist["track_count"] == len(tracks)
    assert [t["id"] for t in playlist["tracks"]] == tracks[:50]
    cursor = parse_qs(urlsplit(page["next_href"]).query)["cursor"][0]
    assert re.fullmatch(rf"{ISO},playlists,{pid:011d}", cursor)
    assert walk_ids(sim, f"/users/{uid}/playlists?limit=1&linked_partitioning=1") == (
        world.playlists(uid).ids
    )


def test_long_playlists_are_cut_in_lists_and_whole_on_their_own(sim, world) -> None:
    uid, pid = next(
        (world.user_id(i), p)
        for i in range(world.n_users)
        for p in world.playlists(world.user_id(i)).ids
        if len(world.playlist_tracks(p)) > 60
    )
    items = Walker(sim.info).walk(f"{sim.api_url}/users/{uid}/playlists?{ALL}")
    cut = next(p for p in items if p["id"] == pid)
    tracks = world.playlist_tracks(pid)
    assert len(cut["tracks"]) == 50 < cut["track_count"] == len(tracks)
    whole = get(sim, f"/playlists/soundcloud:playlists:{pid}?{ALL}").json()
    assert [t["id"] for t in whole["tracks"]] == tracks
    assert {k: v for k, v in whole.items() if k != "tracks"} == {
        k: v for k, v in cut.items() if k != "tracks"
    }
    listed = get(sim, f"/playlists/{pid}/tracks?linked_partitioning=1&{ALL}").json()
    assert [t["id"] for t in listed["collection"]] == tracks and listed["next_href"] is None
    assert [t["id"] for t in get(sim, f"/playlists/{pid}/tracks?{ALL}").json()] == tracks
    bare = get(sim, f"/playlists/{pid}?show_tracks=false").json()
    assert "tracks" not in bare and bare["track_count"] == len(tracks)


def test_playlists_hold_repeated_tracks(sim, world) -> None:
    pid = next(
        p
        for i in range(world.n_users)
        for p in world.playlists(world.user_id(i)).ids
        if len(set(world.playlist_tracks(p))) < len(world.playlist_tracks(p)) <= 50
    )
    ids = [t["id"] for t in get(sim, f"/playlists/{pid}?{ALL}").json()["tracks"]]
    assert ids == world.playlist_tracks(pid) and len(set(ids)) < len(ids)


def test_playlist_tracks_drop_blocked_ones_unless_asked(simulator) -> None:
    sim = simulator(*SMALL, "--blocked-share", "0.5", "--playlist-tracks-limit", "0")
    world = World(WorldConfig(**KNOBS, blocked_share=0.5))
    uid = user_with(world, "playlists", 1)
    pid = max(world.playlists(uid).ids, key=lambda p: len(world.playlist_tracks(p)))
    asked = get(sim, f"/users/{uid}/playlists?linked_partitioning=1&{ALL}").json()
    default = get(sim, f"/users/{uid}/playlists?linked_partitioning=1").json()
    full = next(p for p in asked["collection"] if p["id"] == pid)
    short = next(p for p in default["collection"] if p["id"] == pid)
    assert len(full["tracks"]) == full["track_count"] == short["track_count"]
    assert all(t["access"] != "blocked" for t in short["tracks"])
    assert len(short["tracks"]) < len(full["tracks"])


@pytest.mark.parametrize(
    "path",
    [
        "/users/{u}/followers",
        "/users/{u}/followings",
        "/users/{u}/tracks",
        "/users/{u}/reposts/tracks",
        "/users/{u}/playlists",
        "/tracks/{t}/related",
        "/playlists/{p}",
        "/playlists/{p}/tracks",
    ],
)
def test_new_routes_take_urns_and_404_unknown_ids(sim, world, path: str) -> None:
    uid = user_with(world, "playlists", 1)
    pid = world.playlists(uid).ids[0]
    kind = path.split("/")[1]
    own = {"users": uid, "tracks": sim.seed_track_id, "playlists": pid}[kind]
    fill = {"u": "{id}", "t": "{id}", "p": "{id}"}
    template = path.format(**fill)
    assert get(sim, template.format(id=own)).status == 200
    assert get(sim, template.format(id=f"soundcloud:{kind}:{own}")).status == 200
    assert get(sim, template.format(id=f"soundcloud%3A{kind}%3A{own}")).status == 200
    other = "users" if kind != "users" else "tracks"
    assert get(sim, template.format(id=f"soundcloud:{other}:{own}")).status == 404
    assert get(sim, template.format(id=own + 1)).status == 404


def test_unknown_user_empty_covers_every_user_list(simulator) -> None:
    sim = simulator(*SMALL, "--unknown-user-empty")
    for route in ("followers", "followings", "tracks", "reposts/tracks", "playlists"):
        reply = get(sim, f"/users/5/{route}?linked_partitioning=1")
        assert reply.status == 200 and reply.json() == {"collection": [], "next_href": None}
    assert get(sim, "/tracks/5/related").status == 404


def test_stats_name_every_new_route_family(simulator) -> None:
    sim = simulator(*SMALL)
    world = World(WorldConfig(**KNOBS))
    uid = user_with(world, "playlists", 1)
    pid = world.playlists(uid).ids[0]
    paths = [
        f"/tracks/{sim.seed_track_id}/related",
        f"/users/{uid}/followers",
        f"/users/{uid}/followings",
        f"/users/{uid}/tracks",
        f"/users/{uid}/reposts/tracks",
        f"/users/{uid}/playlists",
        f"/playlists/{pid}",
        f"/playlists/{pid}/tracks",
    ]
    for path in paths:
        assert get(sim, path).status == 200
    families = "related followers followings tracks reposts playlists playlist playlist_tracks"
    assert sim.stats()["requests"] == {name: {"200": 1} for name in families.split()}
