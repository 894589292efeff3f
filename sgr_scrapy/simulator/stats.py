"""Request counters of the simulator, served at ``/__stats``."""

from __future__ import annotations

from collections import defaultdict


class Stats:
    """Requests per route family and status, plus the security and fault counters."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter (peak concurrency is kept by the server and reset with it)."""
        self.requests: defaultdict[str, defaultdict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self.total_requests = 0
        self.rate_limited = 0
        self.foreign_requests = 0
        self.foreign_authorization_headers = 0
        self.faults: defaultdict[str, int] = defaultdict(int)

    def count(self, family: str, status: int) -> None:
        """Count one answered request."""
        self.requests[family][str(status)] += 1
        self.total_requests += 1

    def to_json(self, **extra: object) -> dict:
        """Return the ``/__stats`` JSON object."""
        return {
            "requests": {k: dict(v) for k, v in self.requests.items()},
            "total_requests": self.total_requests,
            "rate_limited": self.rate_limited,
            "foreign_requests": self.foreign_requests,
            "foreign_authorization_headers": self.foreign_authorization_headers,
            "faults": dict(self.faults),
            **extra,
        }
