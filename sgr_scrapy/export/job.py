"""One `scrapy export`: the options checked in one line each, then the tables or the graph.

Everything that can be refused is refused before a file is written: first the options (an
unknown format or graph, a missing -o, --graph with a table format, --tables with a graph
format), then the database (missing, unreadable or locked; an unknown table; a graph with no
edge, co_like before `scrapy analyze`), then the output (a file where a directory goes, or
the reverse; a place that cannot be written).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sgr_scrapy.export import graphs, tables
from sgr_scrapy.export.database import open_database, unfinished_runs
from sgr_scrapy.export.errors import ExportError
from sgr_scrapy.export.formats import FORMATS, GRAPH, TABLES, Format, names
from sgr_scrapy.export.graphs import GRAPHS, Graph
from sgr_scrapy.export.progress import ExportProgress
from sgr_scrapy.store import Store, StoreError

DEFAULT_GRAPH = "engagements"


def _choices(items: Sequence[str]) -> str:
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


@dataclass(frozen=True)
class ExportJob:
    format: Format
    output: Path
    tables: tuple[str, ...]  # empty: every table
    graph: Graph | None  # for a graph format

    @classmethod
    def parse(
        cls,
        format: str | None,
        output: str | None,
        tables: Sequence[str] | None,
        graph: str | None,
    ) -> ExportJob:
        """The job the options ask for; ExportError (one line) for options that cannot be."""
        if not format:
            raise ExportError(f"choose a format: --format {_choices(names())}")
        fmt = FORMATS.get(format.lower())
        if fmt is None:
            raise ExportError(f"unknown format {format!r}; choose {_choices(names())}")
        if not output:
            raise ExportError(
                "say where to write: -o PATH (a directory for "
                f"{_choices(names(TABLES))}, a file for {_choices(names(GRAPH))})"
            )
        asked = tuple(t.strip() for item in tables or () for t in item.split(",") if t.strip())
        if fmt.writes == TABLES:
            if graph:
                raise ExportError(
                    f"--graph is for {_choices(names(GRAPH))}; {fmt.name} writes tables "
                    "(choose them with --tables)"
                )
            return cls(fmt, Path(output), asked, None)
        if tables:
            raise ExportError(
                f"--tables is for {_choices(names(TABLES))}; {fmt.name} writes one graph "
                f"(choose it with --graph {_choices(list(GRAPHS))})"
            )
        spec = GRAPHS.get(graph or DEFAULT_GRAPH)
        if spec is None:
            raise ExportError(f"unknown graph {graph!r}; choose {_choices(list(GRAPHS))}")
        return cls(fmt, Path(output), (), spec)

    def run(self, db_path: str | Path, progress: ExportProgress) -> tuple[list[str], list[str]]:
        """Export; (summary lines, warnings). ExportError (one line) when it cannot."""
        started = time.monotonic()
        store = open_database(db_path)
        try:
            # What the database can refuse is refused before the output is touched.
            if self.graph is not None:
                graphs.check(store, self.graph)
                _prepare_file(self.output)
            else:
                chosen = tables.table_names(store, self.tables)
                tables.prepare_directory(self.output)
            warnings = []
            running = unfinished_runs(store)
            if running:
                warnings.append(
                    f"{running} harvest run(s) of {db_path} not finished (one may be writing "
                    "now): exporting what was committed when the export began"
                )
            if self.graph is not None:
                lines = self._graph(store, progress)
            else:
                lines, bad = self._tables(store, chosen, progress)
                warnings += bad
        except StoreError as exc:  # a read that failed half-way: a damaged page, say
            raise ExportError(str(exc), status=1) from None
        finally:
            store.close()
        lines[0] += f" in {time.monotonic() - started:.1f} s"
        return lines, warnings

    def _tables(
        self, store: Store, chosen: list[str], progress: ExportProgress
    ) -> tuple[list[str], list[str]]:
        with progress:
            written = tables.export_tables(store, self.format, self.output, chosen, progress)
        total = sum(w.rows for w in written)
        lines = [f"exported {len(written)} tables ({total:,} rows) to {self.output}"]
        lines[0] += f" as {self.format.name}"
        width = max(len(w.path.name) for w in written) if written else 0
        lines += [f"  {w.path.name:<{width}}  {w.rows:>12,} rows" for w in written]
        warnings = [
            f"{n:,} value(s) of {w.table}.{column} could not be read as its type: left empty"
            for w in written
            for column, n in w.bad.items()
        ]
        return lines, warnings

    def _graph(self, store: Store, progress: ExportProgress) -> list[str]:
        assert self.graph is not None and self.format.write_graph is not None
        partial = self.output.with_name(f".{self.output.name}.partial")
        with progress:
            built = graphs.build(store, self.graph, progress)
            step = progress.step(f"writing {self.format.name}", None)
            try:
                self.format.write_graph(built, partial)
                os.replace(partial, self.output)
            except OSError as exc:
                reason = (exc.strerror or str(exc)).splitlines()[0].lower()
                raise ExportError(
                    f"cannot write {self.output}: {reason}; free some space or choose another -o",
                    status=1,
                ) from None
            finally:
                with contextlib.suppress(OSError):
                    partial.unlink()
            step.done()
        kind = "directed" if self.graph.directed else "undirected"
        return [
            f"exported the {self.graph.name} graph ({built.number_of_nodes():,} nodes, "
            f"{built.number_of_edges():,} edges, {kind}) to {self.output} as {self.format.name}"
        ]


def _prepare_file(path: Path) -> None:
    """Check that the graph file can be written: its folder made, a file creatable in it."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder: -o takes a file for {_choices(names(GRAPH))}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(f".{path.name}.partial")
        probe.touch()
        probe.unlink()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot write {path}: {reason}; choose another -o") from None
