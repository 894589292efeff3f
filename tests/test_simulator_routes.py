"""Routes, pagination, cursors and auth of the running simulator (default world, no faults)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from sgr_scrapy.simulator.faults import LINK, MISSING_AUTH
from sgr_scrapy.simulator.objects import PARTIAL_USER_KEYS
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.walk import Reply, fetch

JSON_TYPE = "application/json; charset=utf-8"
NOT_FOUND = {
    "code": 404,
    "message": "404 - Not Found",
    "link": LINK,
    "status": "404 - Not Found",
    "errors": [{"error_message": "404 - Not Found"}],
    "error": None,
}
BAD_TOKEN = {
    "code": 401,
    "message": "",
    "link": LINK,
    "status": "401 - Unauthorized",
    "errors": [],
    "error": None,
}
SMALL = ["--users", "300", "--tracks", "1000", "--likers", "60", "--reposters", "30"]


def get(sim: SimulatorProcess, path: str, token: str | None = "", scheme: str = "OAuth") -> Reply:
    """GET ``path`` on the API with the startup token (``token=None``: no header)."""
    headers = {} if token is None else {"Authorization": f"{scheme} {token or sim.access_token}"}
    url = path if path.startswith("http") else sim.api_url + path
    return fetch(url, headers)


def post_token(sim: SimulatorProcess, form: dict, basic: tuple[str, str] | None = None) -> Reply:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    return fetch(sim.token_url, headers, "POST", urlencode(form).encode())


def a_user_with_likes(sim: SimulatorProcess, at_least: int) -> int:
    page = get(sim, f"/tracks/{sim.seed_track_id}/favoriters?limit=200").json()
    for user in page["collection"]:
        if user["likes_count"] >= at_least:
            return user["id"]
    raise AssertionError("no such user")


# -- resolve -------------------------------------------------------------------------------
def test_resolve_redirects_on_the_request_origin(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    reply = get(sim, "/resolve?url=" + quote(sim.seed_url, safe=""))
    location = f"{sim.api_url}/tracks/{sim.seed_track_id}"
    assert reply.status == 302
    assert reply.headers["location"] == location
    assert reply.headers["content-type"] == JSON_TYPE
    assert reply.json() == {"status": "302 - Found", "location": location}
    assert get(sim, location).json()["id"] == sim.seed_track_id


def test_resolve_maps_a_user_url_to_the_user(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    user_url = sim.seed_url.rsplit("/", 1)[0]
    reply = get(sim, "/resolve?url=" + quote(user_url + "/", safe=""))
    assert reply.status == 302 and "/users/" in reply.headers["location"]
    assert get(sim, reply.headers["location"]).json()["permalink_url"] == user_url


@pytest.mark.parametrize(
    "spell",
    [
        lambda u: u.replace("https://", "http://"),
        lambda u: u.replace("https://", "https://www."),
        lambda u: u.replace("https://", "http://m."),
        lambda u: u + "/",
        lambda u: u + "?si=0123456789abcdef&utm_source=clipboard&utm_medium=text",
        lambda u: u + "/?utm_campaign=social_sharing#t=1:02",
        lambda u: u.replace("https://soundcloud.com", "HTTPS://SoundCloud.COM"),
    ],
)
def test_resolve_accepts_every_spelling_of_a_track_url(
    default_simulator: SimulatorProcess, spell
) -> None:
    sim = default_simulator
    reply = get(sim, "/resolve?url=" + quote(spell(sim.seed_url), safe=""))
    assert reply.status == 302
    assert reply.headers["location"] == f"{sim.api_url}/tracks/{sim.seed_track_id}"


@pytest.mark.parametrize("tail", ["", "/", "?si=abc&utm_source=clipboard"])
def test_resolve_follows_on_soundcloud_short_links(
    default_simulator: SimulatorProcess, tail: str
) -> None:
    sim = default_simulator
    short = sim.seed_short_url
    assert short.startswith("https://on.soundcloud.com/") and len(short.rsplit("/", 1)[1]) == 8
    for url in (short + tail, short.replace("https://", "http://") + tail):
        reply = get(sim, "/resolve?url=" + quote(url, safe=""))
        assert reply.status == 302
        assert reply.headers["location"] == f"{sim.api_url}/tracks/{sim.seed_track_id}"


def test_resolve_refuses_forged_short_links(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    code = sim.seed_short_url.rsplit("/", 1)[1]
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (forged, code.lower() if code.lower() != code else code.upper(), code + "x", ""):
        url = "https://on.soundcloud.com/" + bad
        assert get(sim, "/resolve?url=" + quote(url, safe="")).json() == NOT_FOUND


def test_resolve_of_an_unknown_url_is_404(default_simulator: SimulatorProcess) -> None:
    reply = get(default_simulator, "/resolve?url=https%3A%2F%2Fsoundcloud.com%2Fno%2Fsuch")
    assert reply.status == 404 and reply.json() == NOT_FOUND


# -- objects -------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["{id}", "soundcloud:tracks:{id}", "soundcloud%3Atracks%3A{id}"])
def test_track_accepts_numeric_ids_and_urns(default_simulator: SimulatorProcess, form) -> None:
    sim = default_simulator
    reply = get(sim, "/tracks/" + form.format(id=sim.seed_track_id))
    track = reply.json()
    assert reply.status == 200 and reply.headers["content-type"] == JSON_TYPE
    assert track["id"] == sim.seed_track_id and track["urn"].endswith(str(sim.seed_track_id))
    assert track["uri"] == f"{sim.api_url}/tracks/soundcloud:tracks:{sim.seed_track_id}"
    assert track["user"]["kind"] == "user" and set(track["user"]) == set(PARTIAL_USER_KEYS)


def test_user_by_urn_and_404s(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    artist = get(sim, f"/tracks/{sim.seed_track_id}").json()["user"]
    full = get(sim, f"/users/{artist['urn']}").json()
    assert {k: full[k] for k in artist} == artist and "followers_count" in full
    assert get(sim, f"/users/{artist['id'] + 1}").json() == NOT_FOUND
    assert get(sim, f"/users/soundcloud:tracks:{artist['id']}").status == 404
    assert get(sim, "/tracks/12").status == 404
    assert get(sim, "/nothing/here").json() == NOT_FOUND


# -- lists ---------------------------------------------------------------------------------
def test_favoriters_use_epoch_cursors_and_end_with_null(
    default_simulator: SimulatorProcess,
) -> None:
    sim = default_simulator
    url = f"{sim.api_url}/tracks/{sim.seed_track_id}/favoriters?limit=200&client_id=x"
    ids, pages = [], 0
    while url:
        page = get(sim, url).json()
        ids += [u["id"] for u in page["collection"]]
        pages += 1
        url = page["next_href"]
        if url:
            parts = urlsplit(url)
            assert url.startswith(sim.api_url + f"/tracks/{sim.seed_track_id}/favoriters?")
            assert list(parse_qs(parts.query)) == ["cursor", "page_size"]
            assert parse_qs(parts.query)["cursor"][0].isdigit()
            assert parse_qs(parts.query)["page_size"] == ["200"]
    assert pages == 8 and len(ids) == len(set(ids)) == 1500
    assert "next_href" in page and page["next_href"] is None


def test_reposters_page_through(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    first = get(sim, f"/tracks/{sim.seed_track_id}/reposters?page_size=100").json()
    second = get(sim, first["next_href"]).json()
    assert len(first["collection"]) == len(second["collection"]) == 100
    assert not {u["id"] for u in first["collection"]} & {u["id"] for u in second["collection"]}


def test_likes_use_the_likes_cursor_format(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    uid = a_user_with_likes(sim, 5)
    q = "limit=2&linked_partitioning=true&access=playable,preview,blocked"
    page = get(sim, f"/users/{uid}/likes/tracks?{q}").json()
    query = urlsplit(page["next_href"]).query
    assert query.startswith("cursor=") and "%2Cuser-track-likes%2C000-" in query
    assert "&linked_partitioning=true&page_size=2" in query
    cursor = parse_qs(query)["cursor"][0]
    assert cursor.endswith(f"-{uid:020d}-{page['collection'][-1]['id']:020d}")
    nxt = get(sim, page["next_href"]).json()
    assert len(nxt["collection"]) == 2
    favorites = get(sim, f"/users/{uid}/favorites?{q}").json()
    assert favorites["collection"] == page["collection"]
    assert favorites["next_href"] == page["next_href"].replace("/likes/tracks?", "/favorites?")


def test_likes_without_linked_partitioning_are_a_bare_array(
    default_simulator: SimulatorProcess,
) -> None:
    sim = default_simulator
    uid = a_user_with_likes(sim, 5)
    body = get(sim, f"/users/{uid}/likes/tracks?limit=3&access=playable,preview,blocked").json()
    assert isinstance(body, list) and len(body) == 3


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("0", 1), ("-5", 1), ("abc", 50), ("", 50), ("1", 1), ("200", 200), ("500", 200)],
)
def test_limit_is_clamped(default_simulator: SimulatorProcess, limit: str, expected: int) -> None:
    sim = default_simulator
    page = get(sim, f"/tracks/{sim.seed_track_id}/favoriters?limit={limit}").json()
    assert len(page["collection"]) == expected
    assert f"page_size={expected}" in page["next_href"]


def test_page_size_wins_over_limit_and_extra_params_are_ignored(
    default_simulator: SimulatorProcess,
) -> None:
    sim = default_simulator
    q = "limit=7&page_size=3&linked_partitioning=1&linked_partitioning=true&client_id=abc"
    page = get(sim, f"/tracks/{sim.seed_track_id}/favoriters?{q}").json()
    assert len(page["collection"]) == 3


def test_forged_and_foreign_cursors_are_400(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    favs = f"/tracks/{sim.seed_track_id}/favoriters"
    good = get(sim, f"{favs}?limit=5").json()["next_href"]
    cursor = parse_qs(urlsplit(good).query)["cursor"][0]
    reposters = get(sim, f"/tracks/{sim.seed_track_id}/reposters?cursor={cursor}")
    assert reposters.status == 400
    body = reposters.json()
    assert body["code"] == 400 and body["link"] == LINK and body["message"]
    for forged in (str(int(cursor) - 1), "abc", "2024-01-01T00%3A00%3A00.000Z"):
        assert get(sim, f"{favs}?cursor={forged}").status == 400
    uid = a_user_with_likes(sim, 3)
    q = "limit=1&linked_partitioning=true"
    likes_next = get(sim, f"/users/{uid}/likes/tracks?{q}").json()["next_href"]
    other = next(
        u["id"] for u in get(sim, f"{favs}?limit=50").json()["collection"] if u["id"] != uid
    )
    assert get(sim, likes_next.replace(f"/users/{uid}/", f"/users/{other}/")).status == 400
    assert get(sim, likes_next.replace("user-track-likes", "tracks")).status == 400


def test_blocked_tracks_are_filtered_after_paging_unless_asked(simulator) -> None:
    sim = simulator(*SMALL, "--blocked-share", "0.5", "--likes-mean", "60")
    uid = a_user_with_likes(sim, 20)
    asked = get(
        sim,
        f"/users/{uid}/likes/tracks?limit=10&linked_partitioning=1&access=playable,preview,blocked",
    ).json()
    default = get(sim, f"/users/{uid}/likes/tracks?limit=10&linked_partitioning=1").json()
    assert len(asked["collection"]) == 10
    assert len(default["collection"]) < 10
    assert all(t["access"] != "blocked" for t in default["collection"])
    assert default["next_href"] and "access=" not in default["next_href"]
    assert "access=playable,preview,blocked" in asked["next_href"]


# -- auth ----------------------------------------------------------------------------------
def test_oauth_and_bearer_headers_are_accepted(default_simulator: SimulatorProcess) -> None:
    sim = default_simulator
    path = f"/tracks/{sim.seed_track_id}"
    assert get(sim, path, scheme="OAuth").status == 200
    assert get(sim, path, scheme="Bearer").status == 200


def test_missing_and_bad_tokens_get_the_documented_401s(
    default_simulator: SimulatorProcess,
) -> None:
    sim = default_simulator
    path = f"/tracks/{sim.seed_track_id}/favoriters?client_id={sim.client_id}"
    missing = get(sim, path, token=None)
    assert missing.status == 401
    assert missing.json() == {
        "code": 401,
        "message": MISSING_AUTH,
        "link": LINK,
        "status": "401 - Unauthorized",
        "errors": [{"error_message": MISSING_AUTH}],
        "error": None,
    }
    bad = get(sim, path, token="nope")
    assert bad.status == 401 and bad.json() == BAD_TOKEN


def test_client_credentials_by_basic_auth_and_by_form(simulator) -> None:
    sim = simulator(*SMALL)
    creds = {"client_id": sim.client_id, "client_secret": sim.client_secret}
    for reply in (
        post_token(sim, {"grant_type": "client_credentials"}, (sim.client_id, sim.client_secret)),
        post_token(sim, {"grant_type": "client_credentials", **creds}),
    ):
        grant = reply.json()
        assert reply.status == 200 and reply.headers["content-type"] == JSON_TYPE
        assert set(grant) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
        assert grant["token_type"] == "bearer" and grant["expires_in"] == 3599
        assert get(sim, f"/tracks/{sim.seed_track_id}", grant["access_token"]).status == 200
    legacy = fetch(
        sim.api_url + "/oauth2/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "POST",
        urlencode({"grant_type": "client_credentials", **creds}).encode(),
    )
    assert legacy.status == 200
    assert sim.stats()["tokens_issued"] == 4


def test_refresh_tokens_are_single_use(simulator) -> None:
    sim = simulator(*SMALL)
    creds = {"client_id": sim.client_id, "client_secret": sim.client_secret}
    form = {"grant_type": "refresh_token", "refresh_token": sim.refresh_token, **creds}
    first = post_token(sim, form)
    assert first.status == 200 and first.json()["refresh_token"] != sim.refresh_token
    again = post_token(sim, form)
    assert again.status == 400 and again.json() == {"error": "invalid_grant"}
    assert get(sim, f"/tracks/{sim.seed_track_id}").status == 401  # the old token is gone
    assert get(sim, f"/tracks/{sim.seed_track_id}", first.json()["access_token"]).status == 200
    assert sim.stats()["refresh_grants"] == 1


def test_token_endpoint_errors(simulator) -> None:
    sim = simulator(*SMALL)
    bad = post_token(sim, {"grant_type": "client_credentials"}, (sim.client_id, "wrong"))
    assert bad.status == 401 and bad.json() == {"error": "invalid_client"}
    creds = {"client_id": sim.client_id, "client_secret": sim.client_secret}
    unsupported = post_token(sim, {"grant_type": "password", **creds})
    assert unsupported.status == 400 and unsupported.json() == {"error": "unsupported_grant_type"}
    assert post_token(sim, {"grant_type": "refresh_token", **creds}).status == 400


def test_tokens_expire_after_token_ttl(simulator) -> None:
    sim = simulator(*SMALL, "--token-ttl", "1")
    path = f"/tracks/{sim.seed_track_id}"
    assert get(sim, path).status == 200
    time.sleep(1.3)
    expired = get(sim, path)
    assert expired.status == 401 and expired.json() == BAD_TOKEN


# -- control routes ------------------------------------------------------------------------
def test_stats_count_routes_and_statuses(simulator) -> None:
    sim = simulator(*SMALL)
    get(sim, f"/tracks/{sim.seed_track_id}/favoriters")
    get(sim, f"/tracks/{sim.seed_track_id}/reposters", token=None)
    get(sim, "/tracks/1")
    stats = sim.stats()
    assert stats["requests"] == {
        "favoriters": {"200": 1},
        "reposters": {"401": 1},
        "track": {"404": 1},
    }
    assert stats["total_requests"] == 3 and stats["rate_limited"] == 0
    assert stats["peak_concurrency"] >= 1 and stats["foreign_requests"] == 0
    sim.reset_stats()
    assert sim.stats()["total_requests"] == 0


def test_truth_route_matches_the_cli_flag(simulator) -> None:
    sim = simulator(*SMALL)
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--truth", "--max-users", "7"]
    cmd += ["--max-user-likes", "3", *SMALL]
    printed = json.loads(subprocess.run(cmd, capture_output=True, check=True).stdout)
    assert sim.truth(max_users=7, max_user_likes=3).to_json() == printed
    assert get(sim, "/__truth?seed=123").status == 400


def test_non_loopback_host_is_refused() -> None:
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--host", "0.0.0.0"]
    done = subprocess.run(cmd, capture_output=True, timeout=30)
    assert done.returncode == 2 and b"loopback" in done.stderr and not done.stdout
