"""The harvest's SQLite database: schema, migrations, merging upserts, resume state, statistics.

No Scrapy import: the pipeline hands `Page` items (see `items.py`) to `Store.write`, and the spider
reads its resume state (`seeds`, `lists`, `taken_ids`, `failed_pages`) back on (re)start.

- One harvest per database: `Store.open` takes an exclusive `flock` on `<path>.lock`, the path
  resolved (a symlink to a database in use is refused), released by the kernel when the process
  exits, even by kill -9.
- What can be seen at open is refused at open, in one line: a file that cannot be written, a
  file that is not a database, and (up to QUICK_CHECK_MAX_BYTES) a damaged one.
- The schema is versioned by `PRAGMA user_version`; `MIGRATIONS` brings an older file up to date.
- Upserts merge and never erase: a later, poorer object (a nested mini user, a null count) never
  replaces a known value with NULL, and `raw_json` objects are merged key by key.
- `raw_json` holds what the columns do not (since schema 3): an API key whose value a column
  holds (`title`, `duration`, ...) and a track's nested `user` (a row of `users`) are left
  out; the views `tracks_full` and `users_full` put them back (README: The database).
- Every storage error (disk full, damaged file, another writer) is a StoreError of one line.
- A `Store` is not thread-safe; use it from one thread at a time (it may be a worker thread).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import orjson

from sgr_scrapy.api import (
    TRACK_COLUMN_KEYS,
    USER_COLUMN_KEYS,
    split_machine_tags,
    trim_object,
)
from sgr_scrapy.items import (
    FAILED,
    FAVORITERS,
    FROM_TRACK_LIST,
    FROM_USER_LIST,
    LIKES,
    REPOSTERS,
    Engagement,
    FailedPage,
    ListProgress,
    Page,
    Track,
    User,
)

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class StoreError(Exception):
    """Raised by Store for problems a user can fix; str() is one line saying what to do."""


BUSY_TIMEOUT = 5.0  # seconds a write waits for another writer
# end_run waits longer: the run's row is the record of how the run ended, and closing may block.
CLOSE_BUSY_TIMEOUT = 15.0
# PRAGMA quick_check reads the whole file: ~1.2 s per GB from the page cache, ~16 s per GB from
# a cold disk (README: The database). Larger files skip it at open; damage met later is still
# one line and a clean stop.
QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024
MESSAGE_MAX = 300  # characters of a StoreError at most

# ISO 8601 UTC with milliseconds, computed by SQLite so that executemany needs no extra parameter.
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

_SCHEMA_V1 = """
CREATE TABLE "tracks" (
    "track_id" INTEGER PRIMARY KEY,
    "urn" TEXT,
    "title" TEXT,
    "artist_id" INTEGER,
    "artist_name" TEXT,
    "genre" TEXT,
    "tags" TEXT DEFAULT '[]',
    "duration_ms" INTEGER,
    "playback_count" INTEGER,
    "like_count" INTEGER,
    "reposts_count" INTEGER,
    "comment_count" INTEGER,
    "permalink_url" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);
CREATE INDEX "idx_tracks_artist_id" ON "tracks" ("artist_id");

CREATE TABLE "users" (
    "user_id" INTEGER PRIMARY KEY,
    "urn" TEXT,
    "username" TEXT,
    "permalink_url" TEXT,
    "followers_count" INTEGER,
    "followings_count" INTEGER,
    "track_count" INTEGER,
    "public_favorites_count" INTEGER,
    "city" TEXT,
    "country" TEXT,
    "created_at" TEXT,
    "raw_json" TEXT,
    "first_seen" TEXT,
    "last_seen" TEXT
);

CREATE TABLE "user_engagements" (
    "user_id" INTEGER NOT NULL,
    "track_id" INTEGER NOT NULL,
    "engagement_type" TEXT NOT NULL CHECK ("engagement_type" IN ('like', 'repost')),
    "sources" INTEGER NOT NULL DEFAULT 0,
    "first_seen" TEXT,
    "last_seen" TEXT,
    PRIMARY KEY ("user_id", "track_id", "engagement_type")
) WITHOUT ROWID;
CREATE INDEX "idx_user_engagements_track" ON "user_engagements" ("track_id", "engagement_type");

CREATE TABLE "playlists" (
    "playlist_id" INTEGER PRIMARY KEY,
    "title" TEXT,
    "user_id" INTEGER,
    "track_count" INTEGER,
    "permalink_url" TEXT,
    "raw_json" TEXT
);
CREATE TABLE "playlist_tracks" (
    "playlist_id" INTEGER NOT NULL,
    "track_id" INTEGER NOT NULL,
    "position" INTEGER,
    PRIMARY KEY ("playlist_id", "track_id")
);
CREATE TABLE "related_tracks" (
    "track_id" INTEGER NOT NULL,
    "related_track_id" INTEGER NOT NULL,
    "score" REAL,
    PRIMARY KEY ("track_id", "related_track_id")
);
CREATE TABLE "user_similarity" (
    "user_id_1" INTEGER NOT NULL,
    "user_id_2" INTEGER NOT NULL,
    "similarity" REAL,
    PRIMARY KEY ("user_id_1", "user_id_2")
);
CREATE TABLE "artist_relationships" (
    "artist_id_1" INTEGER NOT NULL,
    "artist_id_2" INTEGER NOT NULL,
    "relationship_type" TEXT NOT NULL,
    "weight" REAL,
    PRIMARY KEY ("artist_id_1", "artist_id_2", "relationship_type")
);
CREATE TABLE "user_follows" (
    "follower_id" INTEGER NOT NULL,
    "followee_id" INTEGER NOT NULL,
    "first_seen" TEXT,
    PRIMARY KEY ("follower_id", "followee_id")
);

CREATE TABLE "harvest_lists" (
    "list_key" TEXT PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "owner_id" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "next_url" TEXT,
    "pages" INTEGER NOT NULL DEFAULT 0,
    "items" INTEGER NOT NULL DEFAULT 0,
    "cap" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "updated_at" TEXT
);
CREATE INDEX "idx_harvest_lists_status" ON "harvest_lists" ("status");
CREATE TABLE "harvest_failed_pages" (
    "list_key" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "reason" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TEXT,
    PRIMARY KEY ("list_key", "url")
);
CREATE TABLE "harvest_seeds" (
    "url" TEXT PRIMARY KEY,
    "track_id" INTEGER NOT NULL,
    "resolved_at" TEXT
);
CREATE TABLE "harvest_runs" (
    "run_id" INTEGER PRIMARY KEY,
    "started_at" TEXT,
    "finished_at" TEXT,
    "finish_reason" TEXT,
    "stats_json" TEXT
);
"""

# Machine tags (`geo:lat=52.52`) move from `tags` to their own column; the split is
# api.split_machine_tags (registered as SQL functions by Store._connect). Only rows whose tags
# can hold one are rewritten.
_SCHEMA_V2 = """
ALTER TABLE "tracks" ADD COLUMN "machine_tags" TEXT DEFAULT '{}';
UPDATE "tracks" SET "machine_tags" = sgr_machine_tags("tags"), "tags" = sgr_user_tags("tags")
WHERE "tags" LIKE '%:%=%';
"""

# raw_json keeps what no column holds (see api.TRACK_COLUMN_KEYS); these views give each row's
# whole API object back in `raw_json`, the artist's row nested as `user`. Rows stored before
# schema 3 keep their whole object until written again: the views give the same answer.
_USERS_FULL_JSON = """json_set(COALESCE({u}."raw_json", '{{}}'), '$.id', {u}."user_id",
    '$.urn', {u}."urn", '$.username', {u}."username", '$.permalink_url', {u}."permalink_url",
    '$.followers_count', {u}."followers_count", '$.followings_count', {u}."followings_count",
    '$.track_count', {u}."track_count", '$.public_favorites_count', {u}."public_favorites_count",
    '$.city', {u}."city", '$.country', {u}."country")"""
_TRACKS_FULL_JSON = """json_set(COALESCE("t"."raw_json", '{}'), '$.id', "t"."track_id",
    '$.urn', "t"."urn", '$.title', "t"."title", '$.genre', "t"."genre",
    '$.duration', "t"."duration_ms", '$.playback_count', "t"."playback_count",
    '$.favoritings_count', "t"."like_count", '$.reposts_count', "t"."reposts_count",
    '$.comment_count', "t"."comment_count", '$.permalink_url', "t"."permalink_url")"""
_SCHEMA_V3 = f"""
CREATE VIEW "users_full" AS SELECT "user_id", "urn", "username", "permalink_url",
    "followers_count", "followings_count", "track_count", "public_favorites_count", "city",
    "country", "created_at", {_USERS_FULL_JSON.format(u='"users"')} AS "raw_json", "first_seen",
    "last_seen"
FROM "users";
CREATE VIEW "tracks_full" AS SELECT "t"."track_id", "t"."urn", "t"."title", "t"."artist_id",
    "t"."artist_name", "t"."genre", "t"."tags", "t"."duration_ms", "t"."playback_count",
    "t"."like_count", "t"."reposts_count", "t"."comment_count", "t"."permalink_url",
    "t"."created_at",
    CASE WHEN "u"."user_id" IS NULL THEN {_TRACKS_FULL_JSON}
    ELSE json_set({_TRACKS_FULL_JSON}, '$.user', {_USERS_FULL_JSON.format(u='"u"')}) END
    AS "raw_json", "t"."first_seen", "t"."last_seen", "t"."machine_tags"
FROM "tracks" AS "t" LEFT JOIN "users" AS "u" ON "u"."user_id" = "t"."artist_id";
"""

# (version, SQL script): each script brings a database from version - 1 to version.
MIGRATIONS: list[tuple[int, str]] = [(1, _SCHEMA_V1), (2, _SCHEMA_V2), (3, _SCHEMA_V3)]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _merge_objects(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        if value is None:
            old.setdefault(key, None)
            continue
        known = old.get(key)
        if isinstance(value, dict) and isinstance(known, dict):
            old[key] = _merge_objects(known, value)
        else:
            old[key] = value
    return old


def merge_json(old: str | None, new: str | None) -> str | None:
    """Merge two JSON objects: `new`'s keys applied to `old`, a new null never erasing a value.

    Nested objects merge recursively; lists and scalars from `new` replace. When either side is
    not an object, `new` wins unless it is null. Invalid JSON on one side yields the other side.
    """
    if old == new or new is None:
        return old
    if old is None:
        return new
    try:
        merged_new = orjson.loads(new)
    except orjson.JSONDecodeError:
        return old
    if merged_new is None:
        return old
    try:
        merged_old = orjson.loads(old)
    except orjson.JSONDecodeError:
        return new
    if not (isinstance(merged_old, dict) and isinstance(merged_new, dict)):
        return new
    return orjson.dumps(_merge_objects(merged_old, merged_new)).decode()


def _markers(column_keys: dict[str, type]) -> tuple[str, ...]:
    return tuple(f'"{key}":' for key in column_keys)


# `"key":` of each column key: when none is in a raw JSON string, trimming has nothing to do, so
# rows that api.track_rows / api.user_row already trimmed are not parsed again.
_TRACK_MARKERS = _markers(TRACK_COLUMN_KEYS)
_USER_MARKERS = _markers(USER_COLUMN_KEYS)


def trim_json(
    raw: str | None,
    column_keys: dict[str, type],
    markers: tuple[str, ...],
    artist: bool = False,
) -> str | None:
    """`raw` without what the row's columns hold (api.trim_object); else unchanged."""
    if raw is None:
        return None
    if not any(m in raw for m in markers) and not (artist and '"user":' in raw):
        return raw
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(obj, dict):
        return raw
    trim_object(obj, column_keys, artist)
    return orjson.dumps(obj).decode()


def trim_track_json(raw: str | None) -> str | None:
    return trim_json(raw, TRACK_COLUMN_KEYS, _TRACK_MARKERS, artist=True)


def trim_user_json(raw: str | None) -> str | None:
    return trim_json(raw, USER_COLUMN_KEYS, _USER_MARKERS)


def _merge_trimmed(
    old: str | None, new: str | None, trim: Callable[[str | None], str | None]
) -> str | None:
    """merge_json, then trimmed: a row stored whole before schema 3 loses its column keys."""
    merged = merge_json(old, new)
    if merged is old or merged is new:
        return merged  # nothing merged: `new` is trimmed already, `old` untouched
    return trim(merged)


def merge_track_json(old: str | None, new: str | None) -> str | None:
    """SQL sgr_merge_track: merge_json of two track objects, without what columns hold."""
    return _merge_trimmed(old, new, trim_track_json)


def merge_user_json(old: str | None, new: str | None) -> str | None:
    """SQL sgr_merge_user: merge_json of two user objects, without what columns hold."""
    return _merge_trimmed(old, new, trim_user_json)


def _stored_tags(tags: str | None) -> list[str] | None:
    try:
        parsed = orjson.loads(tags) if tags is not None else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and all(isinstance(t, str) for t in parsed):
        return parsed
    return None


def user_tags_sql(tags: str | None) -> str | None:
    """SQL sgr_user_tags: a stored `tags` array without its machine tags (else unchanged)."""
    parsed = _stored_tags(tags)
    return tags if parsed is None else orjson.dumps(split_machine_tags(parsed)[0]).decode()


def machine_tags_sql(tags: str | None) -> str:
    """SQL sgr_machine_tags: the machine tags of a stored `tags` array as a JSON object."""
    parsed = _stored_tags(tags)
    return "{}" if parsed is None else orjson.dumps(split_machine_tags(parsed)[1]).decode()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _upsert_sql(table: str, columns: Sequence[str], merge: dict[str, str]) -> str:
    """INSERT ... ON CONFLICT(pk) DO UPDATE for a table keyed by its first column.

    Data columns take COALESCE(new, old) unless `merge` names another expression for them;
    `first_seen` is set once and `last_seen` on every write.
    """
    table_q = _q(table)
    names = ", ".join(_q(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    sets = []
    for column in columns[1:]:
        expr = merge.get(column, "COALESCE(excluded.{c}, {t}.{c})")
        sets.append(f"{_q(column)} = " + expr.format(c=_q(column), t=table_q))
    sets.append('"last_seen" = excluded."last_seen"')
    return (
        f'INSERT INTO {table_q} ({names}, "first_seen", "last_seen") '
        f"VALUES ({marks}, {_NOW}, {_NOW}) "
        f"ON CONFLICT ({_q(columns[0])}) DO UPDATE SET {', '.join(sets)}"
    )


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_TRACK_FIELDS = _fields(Track)
_USER_FIELDS = _fields(User)
_ENGAGEMENT_FIELDS = _fields(Engagement)
_LIST_FIELDS = _fields(ListProgress)

_TRACK_SQL = _upsert_sql(
    "tracks",
    _TRACK_FIELDS,
    # A mini track carries no tags: "[]" and "{}" are treated as unknown so they cannot erase
    # known tags.
    {
        "raw_json": "sgr_merge_track({t}.{c}, excluded.{c})",
        "tags": "COALESCE(NULLIF(excluded.{c}, '[]'), {t}.{c})",
        "machine_tags": "COALESCE(NULLIF(excluded.{c}, '{{}}'), {t}.{c})",
    },
)
_USER_SQL = _upsert_sql(
    "users", _USER_FIELDS, {"raw_json": "sgr_merge_user({t}.{c}, excluded.{c})"}
)
_ENGAGEMENT_SQL = (
    'INSERT INTO "user_engagements" '
    '("user_id", "track_id", "engagement_type", "sources", "first_seen", "last_seen") '
    f"VALUES (?, ?, ?, ?, {_NOW}, {_NOW}) "
    'ON CONFLICT ("user_id", "track_id", "engagement_type") DO UPDATE SET '
    '"sources" = "user_engagements"."sources" | excluded."sources", '
    '"last_seen" = excluded."last_seen"'
)
_LIST_COLUMNS = ", ".join(_q(c) for c in _LIST_FIELDS)
_LIST_PROGRESS_SQL = (
    f'INSERT INTO "harvest_lists" ({_LIST_COLUMNS}, "updated_at") '
    f"VALUES ({', '.join('?' for _ in _LIST_FIELDS)}, {_NOW}) "
    'ON CONFLICT ("list_key") DO UPDATE SET '
    + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in (*_LIST_FIELDS[1:], "updated_at"))
)
_NEW_LIST_SQL = (
    f'INSERT OR IGNORE INTO "harvest_lists" ({_LIST_COLUMNS}, "updated_at") '
    f"VALUES ({', '.join('?' for _ in _LIST_FIELDS)}, {_NOW})"
)
_CLEAR_FAILED_SQL = 'DELETE FROM "harvest_failed_pages" WHERE "list_key" = ?'
_FAILED_LISTS_SQL = 'SELECT DISTINCT "list_key" FROM "harvest_failed_pages"'
_FAILED_SQL = (
    'INSERT INTO "harvest_failed_pages" ("list_key", "url", "reason", "attempts", "updated_at") '
    f"VALUES (?, ?, ?, 1, {_NOW}) "
    'ON CONFLICT ("list_key", "url") DO UPDATE SET "reason" = excluded."reason", '
    '"attempts" = "harvest_failed_pages"."attempts" + 1, "updated_at" = excluded."updated_at"'
)
_SEED_SQL = (
    'INSERT INTO "harvest_seeds" ("url", "track_id", "resolved_at") '
    f"VALUES (?, ?, {_NOW}) "
    'ON CONFLICT ("url") DO UPDATE SET "track_id" = excluded."track_id", '
    '"resolved_at" = excluded."resolved_at"'
)

# How taken_ids() finds a list's items: (id column, owner column, engagement type, source bit).
_TAKEN = {
    FAVORITERS: ("user_id", "track_id", "like", FROM_TRACK_LIST),
    REPOSTERS: ("user_id", "track_id", "repost", FROM_TRACK_LIST),
    LIKES: ("track_id", "user_id", "like", FROM_USER_LIST),
}

_get_track = attrgetter(*_TRACK_FIELDS)
_get_user = attrgetter(*_USER_FIELDS)
_get_engagement = attrgetter(*_ENGAGEMENT_FIELDS)
_get_list = attrgetter(*_LIST_FIELDS)


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (execute() runs one at a time)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _take_lock(path: Path, real: Path) -> int:
    """flock `<real>.lock`, where `real` is `path` resolved: every alias takes the same lock."""
    lock_path = _lock_path(real)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            f"cannot create lock file {lock_path}: {exc.strerror.lower()}; "
            "choose a writable SGR_DB_PATH"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StoreError(
                f"cannot lock {lock_path}: {exc.strerror.lower()}; choose another SGR_DB_PATH"
            ) from exc
        raise StoreError(
            f"cannot open database {path}: it is locked by another harvest (pid {holder}); "
            "wait for it to finish or use -s SGR_DB_PATH=..."
        ) from exc
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release_lock(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def one_line(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text` on one line of at most `limit` characters (a StoreError's message)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Errors of the storage itself, by SQLite's primary result code: what the user should do.
_ADVICE = {
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


def _reads(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """A read's storage error (a damaged page, say) becomes a one-line StoreError."""

    @functools.wraps(method)
    def read(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            self._raise(exc, "cannot read")

    return read


def _error_code(exc: BaseException) -> str | None:
    """The primary SQLite result code (SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT) of a storage error."""
    name = getattr(exc, "sqlite_errorname", None)
    if not isinstance(exc, sqlite3.Error) or not isinstance(name, str):
        return None
    for code in _ADVICE:
        if name == code or name.startswith(code + "_"):
            return code
    return None


class Store:
    """One harvest database; build it with `Store.open(path)`."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, lock_fd: int | None, real: Path | None = None
    ) -> None:
        self.conn = conn
        self.path = path
        self.real_path = real or path  # `path` with symlinks resolved: where the -wal file is
        self._lock_fd = lock_fd
        self.dropped = 0  # rows refused by write() because their key was None
        self.store_raw_json = True  # False (SGR_STORE_RAW_JSON=0): new rows get no raw_json
        # Lists with a row in harvest_failed_pages: only those need clearing when they advance,
        # so the common page costs no DELETE.
        self._failed_lists: set[str] = set()

    # -- opening, migrating, closing ------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, lock: bool = True) -> Store:
        """Open the database at `path`, creating or migrating it; StoreError if it cannot.

        With `lock` (a harvest), also refuse at once a file that cannot be written or, up to
        QUICK_CHECK_MAX_BYTES, a damaged one. Without it (a reader beside a harvest), only read.
        """
        path = Path(path)
        in_memory = str(path) == ":memory:"
        real = path
        if not in_memory:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except PermissionError as exc:
                raise StoreError(
                    f"cannot create {path.parent}: permission denied; choose a writable SGR_DB_PATH"
                ) from exc
            except OSError as exc:
                raise StoreError(
                    f"cannot create {path.parent}: {exc.strerror.lower()}; "
                    "choose another SGR_DB_PATH"
                ) from exc
            real = path.resolve()
        lock_fd = _take_lock(path, real) if lock and not in_memory else None
        try:
            # SQLite follows symlinks itself (its -wal file sits beside the real file).
            conn = cls._connect(path)
        except BaseException:
            if lock_fd is not None:
                _release_lock(lock_fd)
            raise
        store = cls(conn, path, lock_fd, real)
        try:
            if lock and not in_memory:
                store._check_writable()
                store._check_integrity()
            store._migrate()
            store._failed_lists = {row[0] for row in conn.execute(_FAILED_LISTS_SQL)}
        except BaseException as exc:
            store.close()
            if isinstance(exc, sqlite3.Error):
                raise store._error(exc, "cannot open database") from exc
            raise
        return store

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            # check_same_thread=False: the pipeline may hand writes to a worker thread.
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}; choose a writable SGR_DB_PATH"
            ) from exc
        try:
            # Read before any PRAGMA that writes, so a foreign file is reported and left untouched.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # A bigger page cache (64 MiB) and rarer checkpoints: ~12% less harvest CPU on a
            # world where most tracks are seen once (bench: the wide CPU world).
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA wal_autocheckpoint=8192")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.DatabaseError as exc:
            conn.close()
            code = _error_code(exc)
            if code is not None and code != "SQLITE_NOTADB" and code != "SQLITE_CORRUPT":
                wal = f"{path.name}-wal"
                advice = _ADVICE[code].format(name=path.name, wal=wal)
                raise StoreError(one_line(f"cannot open database {path}: {exc}; {advice}")) from exc
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(
                    f"cannot open database {path}: {exc}; choose another SGR_DB_PATH"
                ) from exc
            raise StoreError(
                f"{path} is not a SQLite database ({exc}); "
                "move it away or choose another SGR_DB_PATH"
            ) from exc
        conn.create_function("sgr_merge_track", 2, merge_track_json, deterministic=True)
        conn.create_function("sgr_merge_user", 2, merge_user_json, deterministic=True)
        conn.create_function("sgr_user_tags", 1, user_tags_sql, deterministic=True)
        conn.create_function("sgr_machine_tags", 1, machine_tags_sql, deterministic=True)
        return conn

    def _raise(self, exc: BaseException, action: str, advice: str | None = None) -> NoReturn:
        """Re-raise `exc` as a one-line StoreError when it is a storage error (disk full,
        damaged file, another writer); anything else is a bug and keeps its traceback."""
        if _error_code(exc) is None:
            raise exc
        raise self._error(exc, action, advice) from exc

    def _error(self, exc: BaseException, action: str, advice: str | None = None) -> StoreError:
        """One line for a storage error: what failed, SQLite's reason, what to do."""
        code = _error_code(exc) or ""
        name = self.real_path.name
        advice = advice or _ADVICE.get(code, "choose another SGR_DB_PATH")
        reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        advice = advice.format(name=name, wal=f"{name}-wal")
        return StoreError(one_line(f"{action} {self.path}: {reason}; {advice}"))

    def _check_writable(self) -> None:
        """Write without committing: SQLite opens a file it may not write read-only, silently."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"PRAGMA user_version = {int(self._version())}")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._error(exc, "cannot write to") from exc

    def _check_integrity(self) -> None:
        """PRAGMA quick_check when the file is small enough for it to be quick."""
        size = sum(
            p.stat().st_size for p in (self.real_path, Path(f"{self.real_path}-wal")) if p.exists()
        )
        if size > QUICK_CHECK_MAX_BYTES:
            logger.info(
                "%(path)s is %(mb)d MB: not checked at open (run sqlite3 %(path)s "
                '"PRAGMA quick_check" to check it)',
                {"path": self.path, "mb": size // 2**20},
            )
            return
        try:
            (result,) = self.conn.execute("PRAGMA quick_check(1)").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "cannot open database") from exc
        if result != "ok":
            # "*** in database main ***\nPage 472: btreeInitPage() returns error code 11"
            first = [line for line in str(result).splitlines() if not line.startswith("***")]
            found = StoreError(f"quick_check found damage ({(first or [''])[0][:80]})")
            raise self._error(found, "cannot open database", _ADVICE["SQLITE_CORRUPT"])

    def _version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        if self._version() > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer sgr-scrapy "
                f"(schema {self._version()} > {SCHEMA_VERSION}); upgrade sgr-scrapy"
            )
        if self._version() == SCHEMA_VERSION:
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"cannot migrate database {self.path}: {exc}; "
                "wait for the other writer to finish or choose another SGR_DB_PATH"
            ) from exc
        try:
            # Read again inside the transaction: another process may have migrated meanwhile.
            current = self._version()
            for version, script in MIGRATIONS:
                if version > current:
                    for statement in _statements(script):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {int(version)}")
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite has already rolled back after some errors (a full disk): a second
            # ROLLBACK would only hide the real error behind "no transaction is active".
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                action = f"cannot bring the schema to version {SCHEMA_VERSION} in"
                raise self._error(exc, action) from exc
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            # If even this fails, closing the connection rolls back what is left.
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection and release the lock; calling it twice is harmless."""
        try:
            if self.conn is not None:
                self.conn.close()
        finally:
            self.conn = None  # type: ignore[assignment]
            if self._lock_fd is not None:
                _release_lock(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def write(self, pages: Iterable[Page]) -> None:
        """Store every page in one transaction: all of them, or on error none of them.

        A storage error (disk full, damaged file, another writer) is a one-line StoreError;
        the batch is rolled back, so its pages are simply fetched again by the next run.
        """
        pages = list(pages)
        tracks = [t for p in pages for t in p.tracks]
        users = [u for p in pages for u in p.users]
        engagements = [e for p in pages for e in p.engagements]
        kept_tracks = [t for t in tracks if t.track_id is not None]
        kept_users = [u for u in users if u.user_id is not None]
        kept_engagements = [
            e
            for e in engagements
            if e.user_id is not None and e.track_id is not None and e.engagement_type is not None
        ]
        dropped = (
            len(tracks) - len(kept_tracks)
            + len(users) - len(kept_users)
            + len(engagements) - len(kept_engagements)
        )  # fmt: skip
        conn = self.conn
        cleared: set[str] = set()
        added: set[str] = set()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        try:
            conn.executemany(_TRACK_SQL, self._with_raw(kept_tracks, _get_track, trim_track_json))
            conn.executemany(_USER_SQL, self._with_raw(kept_users, _get_user, trim_user_json))
            conn.executemany(_ENGAGEMENT_SQL, map(_get_engagement, kept_engagements))
            for page in pages:
                progress = page.progress
                if progress is not None:
                    conn.execute(_LIST_PROGRESS_SQL, _get_list(progress))
                    # A list that advanced past its failed page has no failed page any more.
                    if progress.status != FAILED and progress.list_key in self._failed_lists:
                        conn.execute(_CLEAR_FAILED_SQL, (progress.list_key,))
                        cleared.add(progress.list_key)
                if page.failed is not None:
                    failed = page.failed
                    conn.execute(_FAILED_SQL, (failed.list_key, failed.url, failed.reason))
                    added.add(failed.list_key)
                if page.new_lists:
                    conn.executemany(_NEW_LIST_SQL, map(_get_list, page.new_lists))
                if page.seed is not None:
                    conn.execute(_SEED_SQL, (page.seed.url, page.seed.track_id))
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            self._raise(exc, "cannot write to")
        self.dropped += dropped
        self._failed_lists = (self._failed_lists - cleared) | added

    def _with_raw(
        self,
        rows: list[Any],
        get: Callable[[Any], tuple[Any, ...]],
        trim: Callable[[str | None], str | None],
    ) -> Iterator[tuple[Any, ...]]:
        """Upsert parameters, `raw_json` (the last) trimmed, or None without SGR_STORE_RAW_JSON."""
        if self.store_raw_json:
            for row in map(get, rows):
                yield (*row[:-1], trim(row[-1]))
        else:
            for row in map(get, rows):
                yield (*row[:-1], None)

    # -- harvest runs ---------------------------------------------------------------------

    def begin_run(self) -> int:
        """Record the start of a run; returns its run_id."""
        try:
            cursor = self.conn.execute(f'INSERT INTO "harvest_runs" ("started_at") VALUES ({_NOW})')
        except sqlite3.Error as exc:
            self._raise(exc, "cannot write to")
        return int(cursor.lastrowid or 0)

    def end_run(
        self, run_id: int, finish_reason: str, stats: dict[str, Any], *, wait: float | None = None
    ) -> bool:
        """Record how a run ended, with its stats as JSON (non-JSON values stored as text).

        Only the first end of a run is recorded: True if this call recorded it, False if the
        run had already ended. Another writer is waited for up to `wait` seconds
        (CLOSE_BUSY_TIMEOUT by default), longer than a page write waits; StoreError after that.
        """
        stats_json = orjson.dumps(
            stats, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
        ).decode()
        timeout = CLOSE_BUSY_TIMEOUT if wait is None else wait
        conn = self.conn
        (usual,) = conn.execute("PRAGMA busy_timeout").fetchone()
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            cursor = conn.execute(
                f'UPDATE "harvest_runs" SET "finished_at" = {_NOW}, "finish_reason" = ?, '
                '"stats_json" = ? WHERE "run_id" = ? AND "finished_at" IS NULL',
                (finish_reason, stats_json, run_id),
            )
        except sqlite3.Error as exc:
            advice = None
            if _error_code(exc) in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                advice = (
                    f"another process kept it locked for {timeout:g} s; the run stays unfinished"
                )
            self._raise(exc, f"cannot record the end of run {run_id} in", advice)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(usual)}")
        return cursor.rowcount == 1

    @_reads
    def run_started_at(self, run_id: int) -> str | None:
        """When a run began, in the clock and format of every `last_seen`."""
        row = self.conn.execute(
            'SELECT "started_at" FROM "harvest_runs" WHERE "run_id" = ?', (run_id,)
        ).fetchone()
        return row[0] if row else None

    def rows_seen_since(
        self, table: str, columns: Sequence[str], key: Sequence[str], since: str
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of `table` written at or after `since` (their `last_seen`), ordered by `key`.

        Each row once, with the values it has now: what a run wrote, merged, as committed.
        """
        sql = (
            f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table)} "
            f'WHERE "last_seen" >= ? ORDER BY {", ".join(_q(c) for c in key)}'
        )
        try:
            yield from self.conn.execute(sql, (since,))
        except sqlite3.Error as exc:
            self._raise(exc, "cannot read")

    @_reads
    def unfinished_runs(self) -> list[int]:
        """Runs whose end was never recorded (killed, or closed while the file was locked)."""
        rows = self.conn.execute(
            'SELECT "run_id" FROM "harvest_runs" WHERE "finished_at" IS NULL ORDER BY "run_id"'
        )
        return [row[0] for row in rows]

    # -- reads for (re)start --------------------------------------------------------------

    @_reads
    def seeds(self) -> dict[str, int]:
        """Seed URLs already resolved, to their track ids."""
        return dict(self.conn.execute('SELECT "url", "track_id" FROM "harvest_seeds"'))

    @_reads
    def lists(self, statuses: Iterable[str] | None = None) -> list[ListProgress]:
        """All lists in the order they were first recorded, or only those with these statuses."""
        sql = f'SELECT {_LIST_COLUMNS} FROM "harvest_lists"'
        params: tuple[str, ...] = ()
        if statuses is not None:
            params = tuple(statuses)
            if not params:
                return []
            sql += f' WHERE "status" IN ({", ".join("?" for _ in params)})'
        sql += ' ORDER BY "rowid"'
        return [ListProgress(*row) for row in self.conn.execute(sql, params)]

    @_reads
    def list_progress(self, list_key: str) -> ListProgress | None:
        """Where one list stands, or None if it is unknown."""
        row = self.conn.execute(
            f'SELECT {_LIST_COLUMNS} FROM "harvest_lists" WHERE "list_key" = ?', (list_key,)
        ).fetchone()
        return ListProgress(*row) if row else None

    @_reads
    def taken_ids(self, progress: ListProgress) -> set[int]:
        """Ids this list has already taken: users for favoriters/reposters, tracks for likes."""
        try:
            id_column, owner_column, engagement_type, bit = _TAKEN[progress.kind]
        except KeyError:
            raise ValueError(f"unknown list kind {progress.kind!r}") from None
        rows = self.conn.execute(
            f'SELECT {_q(id_column)} FROM "user_engagements" WHERE {_q(owner_column)} = ? '
            'AND "engagement_type" = ? AND "sources" & ? != 0',
            (progress.owner_id, engagement_type, bit),
        )
        return {row[0] for row in rows}

    @_reads
    def failed_pages(self) -> list[FailedPage]:
        """Pages that failed after every retry, in the order they first failed."""
        rows = self.conn.execute(
            'SELECT "list_key", "url", "reason" FROM "harvest_failed_pages" ORDER BY "rowid"'
        )
        return [FailedPage(*row) for row in rows]

    # -- statistics ---------------------------------------------------------------------------

    @_reads
    def tables(self) -> list[str]:
        """Every table of the schema, in creation order."""
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        )
        return [row[0] for row in rows]

    @_reads
    def table_counts(self) -> dict[str, int]:
        """Row count of every table, empty ones included."""
        return {
            name: self.conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
            for name in self.tables()
        }

    @_reads
    def engagement_counts(self) -> dict[str, int]:
        """Engagements by type: {"like": n, "repost": m}."""
        counts = {"like": 0, "repost": 0}
        counts.update(
            self.conn.execute(
                'SELECT "engagement_type", count(*) FROM "user_engagements" '
                'GROUP BY "engagement_type"'
            )
        )
        return counts

    @_reads
    def list_summary(self) -> dict[str, int]:
        """Number of lists by status."""
        return dict(
            self.conn.execute('SELECT "status", count(*) FROM "harvest_lists" GROUP BY "status"')
        )

    @_reads
    def snapshot(self) -> dict[str, set[Any]]:
        """The harvested graph as sets, to compare with a simulator's ground truth."""
        conn = self.conn
        return {
            "track_ids": {r[0] for r in conn.execute('SELECT "track_id" FROM "tracks"')},
            "user_ids": {r[0] for r in conn.execute('SELECT "user_id" FROM "users"')},
            "engagements": set(
                conn.execute(
                    'SELECT "user_id", "track_id", "engagement_type" FROM "user_engagements"'
                )
            ),
        }
