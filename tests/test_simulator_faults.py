"""Every fault flag of the simulator, each on its own small world."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from sgr_scrapy.simulator.faults import INTERNAL_ORIGIN, LINK
from sgr_scrapy.simulator.objects import MINI_USER_KEYS
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.walk import Reply, Walker, fetch
from sgr_scrapy.simulator.world import World, WorldConfig

SMALL = ["--users", "300", "--tracks", "1000", "--likers", "60", "--reposters", "30"]


def get(sim: SimulatorProcess, url: str, token: str | None = None, **headers: str) -> Reply:
    url = url if url.startswith("http") else sim.api_url + url
    return fetch(url, {"Authorization": f"OAuth {token or sim.access_token}", **headers})


def favs(sim: SimulatorProcess, size: int = 10) -> str:
    return f"/tracks/{sim.seed_track_id}/favoriters?limit={size}"


def on_api(sim: SimulatorProcess, href: str) -> str:
    parts = urlsplit(href)
    return f"{sim.api_url}{parts.path}?{parts.query}"


def test_latency_overlaps_concurrent_requests(simulator) -> None:
    sim = simulator(*SMALL, "--latency-ms", "300", "--jitter-ms", "50")
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda _: get(sim, favs(sim)), range(10)))
    assert all(r.status == 200 for r in replies)
    assert sim.stats()["peak_concurrency"] >= 5


def test_rate_limit_answers_the_documented_json_429(simulator) -> None:
    sim = simulator(*SMALL, "--rate-limit", "0.1", "--rate-burst", "2")
    before = time.time()
    statuses = [get(sim, favs(sim)).status for _ in range(2)]
    limited = get(sim, favs(sim))
    assert statuses == [200, 200] and limited.status == 429
    assert "retry-after" not in limited.headers
    meta = limited.json()["errors"][0]["meta"]
    assert meta["rate_limit"] == {
        "group": "plays",
        "max_nr_of_requests": 15000,
        "time_window": "PT24H",
    }
    assert meta["remaining_requests"] == 0
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \+0000", meta["reset_time"])
    reset = time.mktime(time.strptime(meta["reset_time"], "%Y/%m/%d %H:%M:%S +0000"))
    reset -= time.timezone
    assert before + 5 <= reset <= time.time() + 11
    assert sim.stats()["rate_limited"] == 1
    other = fetch(
        sim.token_url,
        {"Content-Type": "application/x-www-form-urlencoded"},
        "POST",
        f"grant_type=client_credentials&client_id={sim.client_id}"
        f"&client_secret={sim.client_secret}".encode(),
    ).json()["access_token"]
    assert get(sim, favs(sim), token=other).status == 200  # buckets are per token


@pytest.mark.parametrize(
    ("variant", "ctype", "body"),
    [
        ("text", "text/plain", b"Please slow down."),
        ("gateway", "application/json; charset=utf-8", b'{"error": "Rate Limit Exceeded"}'),
        ("legacy", "application/json; charset=utf-8", b'"error_code":"rate_limit_exceeded"'),
    ],
)
def test_rate_limit_body_variants_and_retry_after(simulator, variant, ctype, body) -> None:
    sim = simulator(*SMALL, "--rate-limit", "0.2", "--rate-limit-body", variant, "--retry-after")
    get(sim, favs(sim))
    limited = get(sim, favs(sim))
    assert limited.status == 429 and limited.headers["content-type"] == ctype
    assert body in limited.body
    assert 1 <= int(limited.headers["retry-after"]) <= 5


def test_mixed_rate_limit_bodies_vary(simulator) -> None:
    sim = simulator(
        *SMALL, "--rate-limit", "0.01", "--rate-burst", "1", "--rate-limit-body", "mixed"
    )
    bodies = {get(sim, favs(sim)).body for _ in range(25)}
    assert len(bodies) >= 3


@pytest.mark.parametrize(
    ("kind", "status", "ctype", "needle"),
    [
        ("500", 500, "application/json; charset=utf-8", b'"code":500'),
        ("502", 502, "text/plain", b""),
        ("503", 503, "text/plain", b"upstream"),
        ("504", 504, "text/plain", b"upstream request timeout"),
        ("504-html", 504, "text/html", b"CloudFront"),
    ],
)
def test_fail_every_sends_each_server_error(simulator, kind, status, ctype, needle) -> None:
    sim = simulator(*SMALL, "--fail-every", "2", "--error-kinds", kind)
    assert get(sim, favs(sim)).status == 200
    failed = get(sim, favs(sim))
    assert failed.status == status and failed.headers["content-type"] == ctype
    assert needle in failed.body
    if kind == "502":
        assert failed.body == b""
    assert get(sim, favs(sim)).status == 200
    assert sim.stats()["faults"] == {f"error-{kind}": 1}


def test_error_rate_is_transient_and_reproducible(simulator) -> None:
    args = [*SMALL, "--error-rate", "0.4", "--fault-seed", "9"]
    runs = []
    for _ in range(2):
        sim = simulator(*args)
        runs.append([get(sim, favs(sim)).status for _ in range(40)])
    assert runs[0] == runs[1]
    assert 200 in runs[0] and len(set(runs[0])) >= 3


def test_malformed_json_on_a_200(simulator) -> None:
    sim = simulator(*SMALL, "--malformed-rate", "0.5")
    replies = [get(sim, favs(sim)) for _ in range(20)]
    assert all(r.status == 200 for r in replies)
    good = bad = 0
    for reply in replies:
        try:
            reply.json()
            good += 1
        except ValueError:
            bad += 1
    assert good and bad


def test_null_items(simulator) -> None:
    sim = simulator(*SMALL, "--null-item-rate", "1")
    page = get(sim, favs(sim)).json()
    assert page["collection"].count(None) == 1 and len(page["collection"]) == 11


def test_duplicates_across_page_boundaries(simulator) -> None:
    sim = simulator(*SMALL, "--duplicate-rate", "1")
    first = get(sim, favs(sim)).json()
    second = get(sim, first["next_href"]).json()
    ids1 = [u["id"] for u in first["collection"]]
    ids2 = [u["id"] for u in second["collection"]]
    k = len(ids2) - 10
    assert 1 <= k <= 3 and ids2[:k] == ids1[-k:]


def test_empty_pages_carry_a_fresh_next_href(simulator) -> None:
    sim = simulator(*SMALL, "--empty-page-rate", "0.5")
    url, seen, ids, empties = favs(sim), set(), [], 0
    while url:
        page = get(sim, url).json()
        empties += not page["collection"]
        ids += [u["id"] for u in page["collection"]]
        url = page["next_href"]
        assert url not in seen
        seen.add(url)
    assert empties >= 1 and len(ids) == len(set(ids)) == 60


def test_internal_host_next_href_works_when_moved_back(simulator) -> None:
    sim = simulator(*SMALL, "--internal-host-rate", "1")
    first = get(sim, favs(sim)).json()
    assert first["next_href"].startswith(INTERNAL_ORIGIN + f"/tracks/{sim.seed_track_id}/")
    second = get(sim, on_api(sim, first["next_href"])).json()
    plain = simulator(*SMALL)
    expected = get(plain, get(plain, favs(plain)).json()["next_href"]).json()
    assert [u["id"] for u in second["collection"]] == [u["id"] for u in expected["collection"]]


def test_repeated_next_href(simulator) -> None:
    sim = simulator(*SMALL, "--repeat-next-rate", "1")
    first = get(sim, favs(sim)).json()
    second = get(sim, first["next_href"]).json()
    assert second["next_href"] == first["next_href"]


def test_a_repeated_next_href_is_transient(simulator) -> None:
    # Each answer draws anew: re-asking the same URL a bounded number of times gets the real
    # next page, and the pages a client collects equal a fault-free walk's.
    sim = simulator(*SMALL, "--repeat-next-rate", "0.5", "--fault-seed", "3")
    plain = simulator(*SMALL)
    url, ids, repeats = favs(sim, 7), [], 0
    while url:
        page = get(sim, url).json()
        ids += [u["id"] for u in page["collection"] if u["id"] not in ids]
        nxt = page["next_href"]
        if nxt == url or (nxt and urlsplit(nxt).query == urlsplit(url).query):
            repeats += 1
            assert repeats < 20
            continue
        url = nxt
    expected = [u["id"] for u in get(plain, favs(plain, 200)).json()["collection"]]
    assert ids == expected and sim.stats()["faults"]["repeat_next_href"] >= 2


def test_foreign_next_href_keeps_the_list_path_and_query(simulator) -> None:
    sim = simulator(*SMALL, "--foreign-next-href-rate", "1")
    plain = simulator(*SMALL)
    uid = get(plain, favs(plain, 1)).json()["collection"][0]["id"]
    for path in (favs(sim, 3), f"/users/{uid}/likes/tracks?limit=1&access=playable,preview"):
        href = get(sim, path + "&linked_partitioning=1").json()["next_href"]
        expected = get(plain, path + "&linked_partitioning=1").json()["next_href"]
        assert href.startswith(sim.foreign_url + "/")
        assert urlsplit(href)[2:] == urlsplit(expected)[2:]
        moved = get(sim, on_api(sim, href)).json()["collection"]
        wanted = get(plain, on_api(plain, expected)).json()["collection"]
        assert [x["id"] for x in moved] == [x["id"] for x in wanted]
    assert sim.stats()["foreign_requests"] == 0


def test_foreign_next_href_and_authorization_leaks_are_counted(simulator) -> None:
    sim = simulator(*SMALL, "--foreign-next-href-rate", "1")
    href = get(sim, favs(sim)).json()["next_href"]
    assert href.startswith(sim.foreign_url + "/")
    assert get(sim, href).status == 200  # a client that follows it leaks the token
    get(sim, favs(sim), Host="evil.example:80")
    stats = sim.stats()
    assert stats["foreign_requests"] == 1
    assert stats["foreign_authorization_headers"] == 2


def test_urn_only_objects(simulator) -> None:
    sim = simulator(*SMALL, "--omit-id-rate", "1")
    track = get(sim, f"/tracks/{sim.seed_track_id}").json()
    assert "id" not in track and track["urn"] == f"soundcloud:tracks:{sim.seed_track_id}"
    assert "id" not in track["user"] and track["user"]["urn"].startswith("soundcloud:users:")
    assert all("id" not in u for u in get(sim, favs(sim)).json()["collection"])


@pytest.mark.parametrize("url_of", ["track", "user", "short"])
def test_resolve_can_answer_200_with_the_object(simulator, url_of: str) -> None:
    sim = simulator(*SMALL, "--resolve-object-rate", "1")
    track = get(sim, f"/tracks/{sim.seed_track_id}")
    url = {
        "track": sim.seed_url,
        "user": sim.seed_url.rsplit("/", 1)[0],
        "short": sim.seed_short_url + "?si=x",
    }[url_of]
    reply = get(sim, "/resolve?url=" + quote(url, safe=""))
    assert reply.status == 200 and "location" not in reply.headers
    expected = track if url_of != "user" else get(sim, f"/users/{track.json()['user']['id']}")
    assert reply.body == expected.body
    assert sim.stats()["faults"] == {"resolve_object": 1}


def test_resolve_object_rate_mixes_200s_and_302s(simulator) -> None:
    sim = simulator(*SMALL, "--resolve-object-rate", "0.5")
    statuses = {get(sim, "/resolve?url=" + quote(sim.seed_url, safe="")).status for _ in range(30)}
    assert statuses == {200, 302}


def test_resolve_without_location(simulator) -> None:
    sim = simulator(*SMALL, "--resolve-no-location", "1")
    reply = get(sim, "/resolve?url=" + sim.seed_url)
    assert reply.status == 302 and "location" not in reply.headers
    assert reply.json()["location"] == f"{sim.api_url}/tracks/{sim.seed_track_id}"


def test_revoke_after_invalidates_tokens_but_refresh_works(simulator) -> None:
    sim = simulator(*SMALL, "--revoke-after", "3")
    assert [get(sim, favs(sim)).status for _ in range(4)] == [200, 200, 200, 401]
    form = (
        f"grant_type=refresh_token&refresh_token={sim.refresh_token}"
        f"&client_id={sim.client_id}&client_secret={sim.client_secret}"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    token = fetch(sim.token_url, headers, "POST", form.encode()).json()["access_token"]
    assert [get(sim, favs(sim), token=token).status for _ in range(3)] == [200, 200, 200]


def test_revoke_every(simulator) -> None:
    sim = simulator(*SMALL, "--revoke-every", "2")
    assert [get(sim, favs(sim)).status for _ in range(3)] == [200, 200, 401]


def test_legacy_arrays_can_be_turned_off(simulator) -> None:
    sim = simulator(*SMALL, "--no-legacy-arrays")
    uid = get(sim, favs(sim, 1)).json()["collection"][0]["id"]
    assert isinstance(get(sim, f"/users/{uid}/likes/tracks").json(), dict)


def test_last_page_can_omit_next_href(simulator) -> None:
    sim = simulator(*SMALL, "--omit-null-next-href")
    page = get(sim, favs(sim, 200)).json()
    assert len(page["collection"]) == 60 and "next_href" not in page


def test_unknown_user_lists_can_be_empty_200s(simulator) -> None:
    sim = simulator(*SMALL, "--unknown-user-empty")
    reply = get(sim, "/users/5/likes/tracks?linked_partitioning=1")
    assert reply.status == 200 and reply.json() == {"collection": [], "next_href": None}
    assert get(sim, "/users/5").status == 404


def test_mini_users_is_an_alias_of_nested_user_mini(simulator) -> None:
    sim = simulator(*SMALL, "--mini-users")
    user = get(sim, f"/tracks/{sim.seed_track_id}").json()["user"]
    assert set(user) == {*MINI_USER_KEYS, "uri"}


def forgetful_pair(simulator) -> tuple[SimulatorProcess, SimulatorProcess]:
    """The same world twice: a first server, and a restarted one that forgot its cursors."""
    return simulator(*SMALL), simulator(*SMALL, "--forget-cursors")


def test_forgotten_cursors_are_400_and_a_restart_gets_every_item(simulator) -> None:
    before, after = forgetful_pair(simulator)
    href = get(before, favs(before)).json()["next_href"]
    refused = get(after, on_api(after, href))
    assert refused.status == 400
    body = refused.json()
    assert body == {"code": 400, "message": body["message"], "link": LINK}
    assert "cursor" in body["message"]
    url, ids = favs(after), []
    while url:  # from the first page: every cursor is the server's own
        page = get(after, url).json()
        ids += [u["id"] for u in page["collection"]]
        url = page["next_href"]
    expected = World(WorldConfig(users=300, tracks=1000, likers=60, reposters=30))
    assert ids == expected.favoriters(expected.seed_track_id).ids
    assert get(after, on_api(after, href)).status == 200  # issued by this process now


def test_forgotten_cursors_hold_per_list_and_for_likes(simulator) -> None:
    before, after = forgetful_pair(simulator)
    uid = get(after, favs(after, 1)).json()["collection"][0]["id"]
    q = "limit=1&linked_partitioning=true&access=playable,preview,blocked"
    old = get(before, f"/users/{uid}/likes/tracks?{q}").json()["next_href"]
    assert get(after, on_api(after, old)).status == 400
    new = get(after, f"/users/{uid}/likes/tracks?{q}").json()["next_href"]
    assert parse_qs(urlsplit(new).query) == parse_qs(urlsplit(old).query)
    assert get(after, on_api(after, new)).status == 200
    assert get(after, on_api(after, new).replace("/likes/tracks?", "/favorites?")).status == 200
    cursor = parse_qs(urlsplit(get(after, favs(after)).json()["next_href"]).query)["cursor"][0]
    reposters = f"/tracks/{after.seed_track_id}/reposters?cursor={cursor}"
    assert get(after, reposters).status == 400  # a cursor is only good for its own list


def test_a_walker_restarts_a_list_whose_cursor_was_forgotten(simulator) -> None:
    before, after = forgetful_pair(simulator)
    href = get(before, favs(before, 7)).json()["next_href"]
    walker = Walker(after.info, page_size=7)
    users = walker.walk(on_api(after, href))
    expected = World(WorldConfig(users=300, tracks=1000, likers=60, reposters=30))
    assert [u["id"] for u in users] == expected.favoriters(expected.seed_track_id).ids
    assert after.stats()["requests"]["favoriters"]["400"] == 1


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--nested-user", "tiny", "--nested-user must be partial, mini or full"),
        ("--artist-fans", "2", "--artist-fans must be between 0 and 1"),
    ],
)
def test_bad_world_flags_are_one_line_errors(flag: str, value: str, message: str) -> None:
    cmd = [sys.executable, "-m", "sgr_scrapy.simulator", flag, value]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and done.stderr.strip() == message and not done.stdout
