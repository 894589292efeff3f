"""The options of `scrapy analyze`, apart from everything heavy: Scrapy imports every
command to list them, and `scrapy crawl` must not pay for numpy and numba."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Options:
    """What a run is asked to do (`scrapy analyze --help`)."""

    top_k: int = 50
    min_support: int = 2
    with_reposts: bool = False
    factors: int = 0

    @property
    def engagement_types(self) -> tuple[str, ...]:
        return ("like", "repost") if self.with_reposts else ("like",)

    def parameters(self) -> dict[str, Any]:
        """The run's parameters, as recorded in analysis_runs.parameters."""
        return {
            "top_k": self.top_k,
            "min_support": self.min_support,
            "with_reposts": self.with_reposts,
            "factors": self.factors,
        }
