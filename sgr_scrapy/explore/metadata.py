"""Datasette's metadata for the harvest's database: tables.py and queries.py in its shape.

Datasette shows a table's `description`, `source` and `columns` above its rows, renders
`units` beside the values, opens a table sorted by its `sort` with its `facets`, and lists the
`queries` on the database's page, each with a form for its parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sgr_scrapy.explore.queries import QUERIES, Query
from sgr_scrapy.explore.tables import TABLES, Table

TITLE = "sgr-scrapy harvest"
ABOUT = (
    "A SoundCloud harvest: tracks, users, who liked or reposted what, follows, playlists and "
    "related tracks (scrapy crawl harvest), and what scrapy analyze computes from them. "
    "Read-only: nothing here changes the database."
)


def table_metadata(table: Table) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "description": table.description,
        "source": table.source,
        "columns": dict(table.columns),
    }
    if table.facets:
        shown["facets"] = list(table.facets)
    if table.units:
        shown["units"] = dict(table.units)
    if table.sort:
        shown["sort"] = table.sort
    return shown


def query_metadata(query: Query) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "title": query.title,
        "description": query.description,
        "sql": query.sql,
    }
    if query.params:
        shown["params"] = list(query.params)
    return shown


def metadata(database: str, path: Path) -> dict[str, Any]:
    """Datasette's metadata for the database it names `database`, read from `path`."""
    return {
        "title": TITLE,
        "description": ABOUT,
        "databases": {
            database: {
                "title": f"Harvest {path.name}",
                "description": f"The harvest's database, {path}, as it is now (reload to see "
                "what a running harvest has committed since).",
                "tables": {name: table_metadata(table) for name, table in TABLES.items()},
                "queries": {name: query_metadata(query) for name, query in QUERIES.items()},
            }
        },
    }
