"""Rate limits, failures, token expiry, odd data: the database still equals the truth."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import (
    assert_matches_truth,
    client_env,
    list_requests,
    run_harvest,
    start_harvest,
    wait_for_rows,
)

SMALL = ["--users", "400", "--tracks", "2500", "--likers", "120", "--reposters", "50"]
SMALL += ["--likes-mean", "15", "--likes-max", "450"]
# Enough long lists that a next_href fault hits some of them.
PAGED = [*SMALL, "--heavy-share", "0.15", "--likes-max", "900"]
FAST_BACKOFF = {"SGR_BACKOFF_BASE": "0.02", "SGR_BACKOFF_MAX": "0.5"}


def summary_value(stdout: str, label: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith(label))
    return line.split(":", 1)[1].strip()


@pytest.mark.parametrize("body", ["json", "text", "gateway", "legacy"])
def test_429_in_every_body_form_waits_and_loses_no_page(simulator, tmp_path, body: str) -> None:
    sim = simulator(*SMALL, "--rate-limit", "40", "--rate-burst", "10", "--rate-limit-body", body)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-a", "max_user_likes=40", settings=FAST_BACKOFF)
    assert result.returncode == 0, result.output
    assert sim.stats()["rate_limited"] > 0
    assert int(summary_value(result.stdout, "Rate-limit waits").split()[0]) > 0
    # A 429 is a wait, never a spent retry.
    assert summary_value(result.stdout, "Retries") == "0"
    assert_matches_truth(db, sim.truth(max_user_likes=40))


def test_retry_after_header_is_honoured(simulator, tmp_path: Path) -> None:
    sim = simulator(
        *SMALL, "--rate-limit", "40", "--rate-burst", "10", "--rate-limit-body", "text",
        "--retry-after",
    )  # fmt: skip
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-a", "max_user_likes=40")
    assert result.returncode == 0, result.output
    assert sim.stats()["rate_limited"] > 0
    assert_matches_truth(db, sim.truth(max_user_likes=40))


def test_5xx_and_malformed_json_are_retried_with_back_off(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--error-rate", "0.1", "--malformed-rate", "0.05")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings=FAST_BACKOFF)
    assert result.returncode == 0, result.output
    assert int(summary_value(result.stdout, "Retries")) > 0
    assert "Traceback" not in result.output
    assert "internal meta keys" not in result.output
    assert_matches_truth(db, sim.truth())


def test_pages_that_still_fail_are_recorded_and_retried_by_the_next_run(
    simulator, tmp_path: Path
) -> None:
    flaky = simulator(*SMALL, "--fail-every", "7")
    db = tmp_path / "tracks.db"
    first = run_harvest(flaky, db, settings={"RETRY_TIMES": "0"})
    assert first.returncode == 3, first.output  # finished, but incomplete
    assert "page failed" in first.stderr
    conn = sqlite3.connect(db)
    failed = conn.execute("SELECT COUNT(*) FROM harvest_failed_pages").fetchone()[0]
    lists_failed = conn.execute(
        "SELECT COUNT(*) FROM harvest_lists WHERE status = 'failed'"
    ).fetchone()[0]
    conn.close()
    assert failed > 0 and lists_failed == failed
    assert f"{failed} pages failed" in first.stdout
    # The same world without faults: the rerun fetches only what is missing.
    healthy = simulator(*SMALL)
    second = run_harvest(healthy, db)
    assert second.returncode == 0, second.output
    assert_matches_truth(db, healthy.truth())
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM harvest_failed_pages").fetchone()[0] == 0
    conn.close()
    resumed = list_requests(healthy)
    assert run_harvest(healthy, tmp_path / "full.db").returncode == 0
    assert 0 < resumed < list_requests(healthy) - resumed


def test_token_revoked_mid_crawl_is_renewed_once_and_pages_replayed(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL, "--revoke-after", "60")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, env=client_env(sim))
    assert result.returncode == 0, result.output
    stats = sim.stats()
    # One client_credentials exchange to start, one refresh_token grant after the revocation,
    # however many requests were in flight when the token died.
    assert stats["requests"]["oauth"] == {"200": 2}, stats
    assert stats["refresh_grants"] == 1, stats
    assert summary_value(result.stdout, "Token refreshes") == "2"
    assert_matches_truth(db, sim.truth())


def test_short_lived_tokens_are_renewed_before_they_expire(simulator, tmp_path: Path) -> None:
    # The crawl must outlive its first token, however fast the CPU: its chains of pages (up to
    # 3 a list) take 100 ms a request.
    sim = simulator(*SMALL, "--token-ttl", "1", "--latency-ms", "100")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, env=client_env(sim))
    assert result.returncode == 0, result.output
    stats = sim.stats()
    assert stats["requests"]["oauth"]["200"] >= 2, stats["requests"]["oauth"]
    assert_matches_truth(db, sim.truth())


def test_rejected_token_without_client_credentials_stops_with_one_line(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL, "--revoke-after", "20")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    assert result.returncode == 4, result.output  # stopped after work was done: resumable
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors and "SOUNDCLOUD_CLIENT_ID" in errors[0]
    assert "DEEP HARVEST STOPPED" in result.stdout
    assert "the API refused the credentials" in result.stdout


def test_odd_data_is_cleaned_and_counted(simulator, tmp_path: Path) -> None:
    sim = simulator(
        *SMALL, "--null-item-rate", "0.3", "--omit-id-rate", "0.2", "--duplicate-rate", "0.3",
        "--empty-page-rate", "0.2", "--internal-host-rate", "0.3", "--resolve-no-location", "1",
        "--nested-user", "mini",
    )  # fmt: skip
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-a", "max_users=60", "-a", "max_user_likes=30")
    assert result.returncode == 0, result.output
    # Neither nulls nor duplicates count toward a cap: the first N distinct, exactly.
    assert_matches_truth(db, sim.truth(max_users=60, max_user_likes=30))
    conn = sqlite3.connect(db)
    null_ids = conn.execute("SELECT COUNT(*) FROM tracks WHERE track_id IS NULL").fetchone()[0]
    assert null_ids == 0
    conn.close()


def test_a_transient_repeating_next_href_is_asked_again_and_loses_nothing(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*PAGED, "--repeat-next-rate", "0.3")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings=FAST_BACKOFF, timeout=120)
    assert sim.stats()["faults"].get("repeat_next_href", 0) >= 1
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_a_next_href_that_always_repeats_stops_that_list_and_says_so(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*PAGED, "--repeat-next-rate", "1")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, settings=FAST_BACKOFF, timeout=120)
    assert result.returncode == 3, result.output
    assert "DEEP HARVEST INCOMPLETE" in result.stdout
    assert "next_href repeats" in result.stderr
    conn = sqlite3.connect(db)
    incomplete = conn.execute(
        "SELECT COUNT(*) FROM harvest_lists WHERE status = 'incomplete'"
    ).fetchone()[0]
    conn.close()
    assert incomplete > 0
    assert f"{incomplete} incomplete" in result.stdout


def test_a_cursor_the_api_forgot_restarts_its_list_from_the_first_page(
    simulator, tmp_path: Path
) -> None:
    # First run: a cap leaves long lists stopped with the cursor of their next page stored.
    sim = simulator(*PAGED)
    db = tmp_path / "tracks.db"
    first = run_harvest(sim, db, "-a", "max_user_likes=250")
    assert first.returncode == 0, first.output
    # The API restarted and forgot every cursor it handed out: each stored one is a 400.
    forgetful = simulator(*PAGED, "--forget-cursors")
    result = run_harvest(forgetful, db)
    assert result.returncode == 0, result.output
    assert "refused its cursor" in result.stderr
    assert_matches_truth(db, forgetful.truth())


def test_resolve_answering_200_with_the_track_itself_is_accepted(simulator, tmp_path: Path) -> None:
    sim = simulator(*SMALL, "--resolve-object-rate", "1")
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_chaos_everything_at_once_with_three_kills_ends_with_the_truth(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(
        *SMALL, "--likers", "300", "--latency-ms", "10", "--jitter-ms", "10",
        "--rate-limit", "150", "--rate-burst", "20", "--rate-limit-body", "mixed",
        "--error-rate", "0.05", "--malformed-rate", "0.03", "--null-item-rate", "0.2",
        "--duplicate-rate", "0.2", "--empty-page-rate", "0.1", "--internal-host-rate", "0.1",
        "--omit-id-rate", "0.05", "--revoke-every", "150", "--token-ttl", "20",
    )  # fmt: skip
    db = tmp_path / "tracks.db"
    env = client_env(sim)
    for rows in (300, 1500, 3000):
        proc = start_harvest(sim, db, env=env, settings=FAST_BACKOFF)
        try:
            wait_for_rows(db, "user_engagements", rows, timeout=180)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    result = run_harvest(sim, db, env=env, settings=FAST_BACKOFF, timeout=600)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, sim.truth())


def test_rate_limit_longer_than_allowed_stops_cleanly_and_resumes(
    simulator, tmp_path: Path
) -> None:
    limited = simulator(*SMALL, "--rate-limit", "5", "--rate-burst", "3")
    db = tmp_path / "tracks.db"
    first = run_harvest(limited, db, settings={"SGR_MAX_RATE_LIMIT_WAIT": "0.01"})
    assert first.returncode == 4, first.output
    assert "DEEP HARVEST STOPPED" in first.stdout
    assert "rate-limit wait longer than SGR_MAX_RATE_LIMIT_WAIT" in first.stdout
    assert "(0 pages failed)" in first.stdout
    assert "Traceback" not in first.output
    assert "Rerun the same command" in first.stderr
    result = run_harvest(simulator(*SMALL), db)
    assert result.returncode == 0, result.output
    assert_matches_truth(db, limited.truth())


def test_unreachable_token_endpoint_is_one_line_naming_the_setting(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*SMALL)
    env = client_env(sim)
    env["SOUNDCLOUD_TOKEN_URL"] = "http://127.0.0.1:9/oauth/token"  # discard port: refused
    result = run_harvest(sim, tmp_path / "tracks.db", env=env)
    assert result.returncode == 1, result.output
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1 and "SOUNDCLOUD_TOKEN_URL" in errors[0], errors
    assert "Traceback" not in result.output
