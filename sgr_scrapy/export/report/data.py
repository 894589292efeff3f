"""What the report shows, read from the database in one snapshot (store/export_reads.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sgr_scrapy.store import Store

TOP_GENRES = 15
TOP_TAGS = 20
TOP_CO_LIKED = 15  # per seed
ARTIST_NEIGHBOURS = 12  # per seed artist


@dataclass
class ReportData:
    """Everything the page and its figures need; no database access after `read`."""

    database: str
    generated_at: str
    schema_version: int
    tables: dict[str, int]
    engagements: dict[str, int]
    seeds: list[tuple[Any, ...]]  # (url, track_id, title, artist_id, artist_name, likes, reposts)
    hops: list[tuple[int, int, int]]  # (hop, tracks, engagements)
    lists: list[tuple[str, str, int, int, int]]  # (family, status, lists, pages, items)
    runs: tuple[int, str | None, str | None, int]  # (runs, first start, last end, unfinished)
    likes_per_user: list[tuple[int, int]]  # (likes, users)
    likers_per_track: list[tuple[int, int]]  # (likers, tracks)
    genres: list[tuple[str, int]]
    tags: list[tuple[str, int]]
    analysis: dict[str, int]  # rows analyze wrote, by kind
    co_liked: list[tuple[Any, ...]] = field(default_factory=list)
    artists: tuple[dict[int, str], list[tuple[int, int, float]]] = ({}, [])

    @property
    def analyzed(self) -> bool:
        return any(self.analysis.values())

    @property
    def seed_artists(self) -> list[int]:
        return list(dict.fromkeys(s[3] for s in self.seeds if s[3] is not None))


def read(store: Store, database: str | Path) -> ReportData:
    """The report's data, every read in one snapshot of the database."""
    with store.read_snapshot():
        seeds = store.report_seeds()
        data = ReportData(
            database=str(database),
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            schema_version=store.schema_version(),
            tables=store.table_counts(),
            engagements=store.engagement_counts(),
            seeds=seeds,
            hops=store.report_hops(),
            lists=store.report_lists(),
            runs=store.report_runs(),
            likes_per_user=store.report_degrees("user_id"),
            likers_per_track=store.report_degrees("track_id"),
            genres=store.report_genres(TOP_GENRES),
            tags=store.report_tags(TOP_TAGS),
            analysis=store.report_analysis(),
        )
        if data.analysis.get("co_like"):
            data.co_liked = store.report_co_liked([s[1] for s in seeds], TOP_CO_LIKED)
        if data.analysis.get("co_liked_artists") and data.seed_artists:
            data.artists = store.report_artist_network(data.seed_artists, ARTIST_NEIGHBOURS)
    return data
