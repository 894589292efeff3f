"""Every fault flag of the simulator, each on its own small world."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from sgr_scrapy.simulator.faults import INTERNAL_ORIGIN
from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.walk import Reply, fetch

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


def test_mini_users_flag(simulator) -> None:
    sim = simulator(*SMALL, "--mini-users")
    user = get(sim, f"/tracks/{sim.seed_track_id}").json()["user"]
    assert "followers_count" not in user and {"id", "urn", "username"} <= user.keys()
