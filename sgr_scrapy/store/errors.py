"""Storage errors as one line: StoreError, and what to do for each SQLite result code."""

from __future__ import annotations

import sqlite3

MESSAGE_MAX = 300  # characters of a StoreError at most


class StoreError(Exception):
    """Raised by Store for problems a user can fix; str() is one line saying what to do."""


def one_line(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text` on one line of at most `limit` characters (a StoreError's message)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Errors of the storage itself, by SQLite's primary result code: what the user should do.
ADVICE = {
    "SQLITE_FULL": "free some disk space and rerun to resume; keep {wal} beside {name} until "
    "then: a copy of {name} alone is not the whole database",
    "SQLITE_BUSY": "another process is writing to it; stop it or choose another SGR_DB_PATH",
    "SQLITE_LOCKED": "another process is writing to it; stop it or choose another SGR_DB_PATH",
    "SQLITE_READONLY": "it is read-only (file mode, chattr +i or a read-only file system); "
    "make it writable or choose another SGR_DB_PATH",
    "SQLITE_CORRUPT": "the file is damaged; recover what it holds (sqlite3 {name} .recover) "
    "or choose another SGR_DB_PATH",
    "SQLITE_NOTADB": "it is not a SQLite database or is damaged; move it away "
    "or choose another SGR_DB_PATH",
    "SQLITE_IOERR": "the disk reported an error; check it, then rerun to resume",
    "SQLITE_CANTOPEN": "SQLite must create {wal} and {name}-shm beside it: make its folder "
    "writable or choose another SGR_DB_PATH",
    "SQLITE_NOMEM": "out of memory; rerun to resume",
}


def error_code(exc: BaseException) -> str | None:
    """The primary SQLite result code (SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT) of a storage error."""
    name = getattr(exc, "sqlite_errorname", None)
    if not isinstance(exc, sqlite3.Error) or not isinstance(name, str):
        return None
    for code in ADVICE:
        if name == code or name.startswith(code + "_"):
            return code
    return None
