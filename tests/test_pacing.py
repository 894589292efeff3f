"""The 429 pacer's model of the server: a token bucket fitted to which requests it admitted."""

from __future__ import annotations

import random

import pytest

from sgr_scrapy.middlewares import _Pace, fit_bucket
from sgr_scrapy.simulator.auth import RateLimiter


def answers_of(rate: float, burst: int, sends: list[float]) -> list[tuple[float, bool]]:
    """What the simulator's bucket of `rate` and `burst`, full at first, answers to `sends`."""
    limiter = RateLimiter(rate, burst, clock=iter(sends).__next__)
    return [(at, limiter.take("token") == 0.0) for at in sends]


def start_up_then_busy(rate: float, n: int = 200) -> list[float]:
    """Three requests 100 ms apart, a pause, then `n` sends about 30% faster than `rate`."""
    rng = random.Random(1)
    sends, at = [0.0, 0.1, 0.2], 1.3
    for _ in range(n):
        sends.append(at)
        at += rng.uniform(0.2, 1.8) / (1.3 * rate)
    return sends


@pytest.mark.parametrize(("rate", "burst"), [(20.0, 20), (20.0, 1), (20.0, 5), (50.0, 8)])
def test_fit_bucket_finds_the_rate_a_saturated_server_admits(rate: float, burst: int) -> None:
    fitted_rate, fitted_burst, _ = fit_bucket(answers_of(rate, burst, start_up_then_busy(rate)))
    assert rate * 0.85 <= fitted_rate <= rate * 1.05
    assert fitted_burst // 2 <= burst  # the pacer lets go half the fitted burst at most


def test_a_429_blocks_the_slot_until_the_servers_time_then_paces_below_the_limit() -> None:
    pace = _Pace()
    for at, admitted in answers_of(20.0, 20, start_up_then_busy(20.0)):
        if not admitted:
            blocked = pace.limited(at + 0.1, 0.8, at)
            break
        pace.admitted(at)
    assert blocked == pytest.approx(0.8)
    assert pace.blocked_until == pytest.approx(at + 0.9)
    assert 0 < pace.rate < 20.0 * 1.5
    # Nothing is sent before the server's time, however many requests ask.
    assert pace.reserve(at + 0.2) == pytest.approx(0.7)
    assert pace.reserve(at + 0.2) >= 0.7
