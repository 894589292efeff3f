"""`scrapy explore`: the harvest's database in Datasette, read-only, on 127.0.0.1.

The database is opened as Datasette opens a file that may change (not `--immutable`): every
query runs on a `mode=ro` connection, so nothing served can write, and in WAL mode each query
sees what a running harvest has committed so far. No lock is taken: the harvest's lock
(store/lock.py) keeps writers apart, and a reader needs none. The port is bound before
Datasette starts, so a taken port is one line, and `--port 0` picks a free one (the URL
printed says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sgr_scrapy.explore.metadata import metadata
from sgr_scrapy.store import StoreError, migrate_older
from sgr_scrapy.store.errors import ADVICE, error_code, one_line

if TYPE_CHECKING:
    from datasette.app import Datasette

# Datasette and uvicorn are imported where they are used: Scrapy imports every project command
# to list them, and `scrapy crawl` should not pay ~0.45 s for a server it never starts.

HOST = "127.0.0.1"  # never another interface: the database is served without authentication
DEFAULT_PORT = 8001  # Datasette's own default
NAME = "harvest"  # the database's name in every URL (/harvest/tracks), whatever the file's name
# A harvest's tables reach millions of rows: Datasette's defaults (1 s a query, 0.2 s a facet)
# would cut the canned queries and the facets short.
SETTINGS = {"sql_time_limit_ms": 20_000, "facet_time_limit_ms": 2_000}
# Datasette opens `file:<path>?mode=ro` as a URI, where these characters mean something else.
URI_CHARACTERS = "?#%"
NO_DATABASE = "harvest first (scrapy crawl harvest -a url=...) or set SGR_DB_PATH"


class ExploreError(Exception):
    """Raised by `scrapy explore` for a problem the user can fix; str() is one line."""


def parse_port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ExploreError(f"--port {value!r} is not a port: give 1 to 65535 (0: any free port)")
    return port


def check_path(path: Path) -> None:
    """Refuse, before Datasette starts, a database that is not there or that it cannot open."""
    if not path.exists():
        raise ExploreError(f"no database at {path}: {NO_DATABASE}")
    if not path.is_file():
        raise ExploreError(f"{path} is not a database file: set SGR_DB_PATH to one")
    if any(c in str(path.absolute()) for c in URI_CHARACTERS):
        raise ExploreError(
            f"Datasette cannot open a path with any of {' '.join(URI_CHARACTERS)} in it: "
            f"link {path} from a path without them and set SGR_DB_PATH to the link"
        )


def listen(port: int) -> socket.socket:
    """A socket listening on HOST:port; ExploreError (one line) when it cannot be had."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port just left in TIME_WAIT
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ExploreError(
                f"port {port} on {HOST} is taken (another scrapy explore?): "
                "choose another with --port N (0: any free port)"
            ) from None
        reason = (exc.strerror or str(exc)).lower()
        raise ExploreError(
            f"cannot listen on {HOST}:{port}: {reason}; choose another --port"
        ) from None
    return sock


def datasette(path: Path) -> Datasette:
    """Datasette over `path`, named NAME, with the harvest's metadata."""
    from datasette.app import Datasette
    from datasette.database import Database

    ds = Datasette(metadata=metadata(NAME, path), settings=SETTINGS)
    if "_memory" in ds.databases:  # added when Datasette is given no file
        ds.remove_database("_memory")
    # is_mutable: `mode=ro` connections that see new commits (immutable would not).
    ds.add_database(Database(ds, path=str(path.absolute()), is_mutable=True), name=NAME)
    return ds


async def check_database(ds: Datasette, path: Path) -> None:
    """Open the file as Datasette will; refuse a file that is not a harvest's database."""
    from datasette.utils import ConnectionProblem, check_connection

    db = ds.databases[NAME]
    try:
        await db.execute_fn(check_connection)
        harvest = await db.table_exists("tracks")
    except (sqlite3.Error, ConnectionProblem) as exc:
        cause = exc.args[0] if isinstance(exc, ConnectionProblem) else exc
        advice = ADVICE.get(error_code(cause) or "", "set SGR_DB_PATH to the harvest's database")
        advice = advice.format(name=path.name, wal=f"{path.name}-wal")
        raise ExploreError(one_line(f"cannot read {path}: {exc}; {advice}")) from None
    if not harvest:
        raise ExploreError(f"{path} holds no harvest (no tracks table): {NO_DATABASE}")


async def _serve(ds: Datasette, path: Path, port: int, announce: Callable[[str], None]) -> None:
    import uvicorn

    await check_database(ds, path)
    sock = listen(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/{NAME}"
    config = uvicorn.Config(ds.app(), log_level="warning", access_log=False)
    announce(url)
    await uvicorn.Server(config).serve(sockets=[sock])


def serve(path: Path, port: int, out: TextIO = sys.stdout) -> None:
    """Serve `path` until Ctrl-C or SIGTERM; ExploreError before serving when it cannot.

    A file of an older schema is first brought up to date (the store says so in one line), as
    every other command does on open: served as it was, it would lack the columns, views and
    tables that the metadata and the canned queries name. Only then is it read-only."""
    check_path(path)
    try:
        migrate_older(path)
    except StoreError as exc:
        raise ExploreError(str(exc)) from None
    ds = datasette(path)

    def announce(url: str) -> None:
        out.write(f"Serving {path} read-only at {url} (Ctrl-C to stop)\n")
        out.flush()

    # uvicorn stops gracefully on Ctrl-C, then raises the KeyboardInterrupt it held back.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(ds, path, port, announce))
