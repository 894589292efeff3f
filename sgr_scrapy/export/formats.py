"""Export formats, declared once: what `--format` takes and what each writes.

A format is one entry of `FORMATS`. A table format writes a directory with one file per table
(`open_table`: a writer of Arrow batches); a graph format writes one file (`write_graph`: a
NetworkX writer). The command, the help and the tests loop over this registry; nothing else
asks which format it is. pyarrow and networkx are imported when a file is written, not when
`scrapy` lists its commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

TABLES, GRAPH = "tables", "graph"  # what a format writes: a directory of tables, one graph file
PARQUET_COMPRESSION = "zstd"  # every current reader (pandas, polars, DuckDB, Spark) reads it


class BatchWriter(Protocol):
    def write_batch(self, batch: Any) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    writes: str  # TABLES or GRAPH
    suffix: str  # of each table's file, or of the graph file
    description: str
    text_only: bool = False  # every cell text: lists (`tags`) as JSON, binary as hexadecimal
    open_table: Callable[[Path, Any], BatchWriter] | None = None  # (path, Arrow schema)
    write_graph: Callable[[Any, Path], None] | None = None  # (NetworkX graph, path)


def _parquet(path: Path, schema: Any) -> BatchWriter:
    import pyarrow.parquet as pq

    # One row group per batch (batches are bounded in bytes: columns.py, tables.py).
    return pq.ParquetWriter(path, schema, compression=PARQUET_COMPRESSION)


def _csv(path: Path, schema: Any) -> BatchWriter:
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)


def _graphml(graph: Any, path: Path) -> None:
    import networkx as nx

    # With lxml (a Scrapy dependency) NetworkX streams the XML out as it walks the graph.
    nx.write_graphml(graph, path)


def _gexf(graph: Any, path: Path) -> None:
    import networkx as nx

    nx.write_gexf(graph, path)


FORMATS: dict[str, Format] = {
    "parquet": Format(
        "parquet",
        TABLES,
        ".parquet",
        "one Parquet file per table, typed (ids int64, timestamps, tags a list)",
        open_table=_parquet,
    ),
    "csv": Format(
        "csv",
        TABLES,
        ".csv",
        "one CSV file per table, with a header (tags as JSON text)",
        text_only=True,
        open_table=_csv,
    ),
    "graphml": Format(
        "graphml", GRAPH, ".graphml", "one GraphML file of --graph", write_graph=_graphml
    ),
    "gexf": Format("gexf", GRAPH, ".gexf", "one GEXF 1.2 file of --graph", write_graph=_gexf),
}


def names(writes: str | None = None) -> list[str]:
    """The formats' names, all or those that write `writes`."""
    return [f.name for f in FORMATS.values() if writes is None or f.writes == writes]
