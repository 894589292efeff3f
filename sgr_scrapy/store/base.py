"""The Store's base: opening, checking, migrating and closing one SQLite file; errors in one line.

- `StoreBase.open` takes the harvest lock (lock.py) and refuses at open, in one line, what can
  be seen there: a file that cannot be written, a file that is not a database, and (up to
  QUICK_CHECK_MAX_BYTES) a damaged one. It then brings the schema up to date (schema.py).
- Every storage error (disk full, damaged file, another writer) is a StoreError of one line
  (`_raise`); anything else is a bug and keeps its traceback. Reads say so with `@reads`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Concatenate, NoReturn, ParamSpec, Self, TypeVar

from sgr_scrapy.store import schema
from sgr_scrapy.store.errors import ADVICE, StoreError, error_code, one_line
from sgr_scrapy.store.lock import release_lock, take_lock
from sgr_scrapy.store.merge import SQL_FUNCTIONS

logger = logging.getLogger("sgr_scrapy.store")
P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreBase")

BUSY_TIMEOUT = 5.0  # seconds a write waits for another writer
# PRAGMA quick_check reads the whole file: ~1.2 s per GB from the page cache, ~16 s per GB from
# a cold disk (README: The database). Larger files skip it at open; damage met later is still
# one line and a clean stop.
QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024


def reads(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A read's storage error (a damaged page, say) becomes a one-line StoreError."""

    @functools.wraps(method)
    def read(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            self._raise(exc, "cannot read")

    return read


class StoreBase:
    """One open database file; the jobs (writes, reads, runs, statistics) are mixins on it."""

    run_id: int | None = None  # the run begun by begin_run() on this Store, if any

    def __init__(
        self, conn: sqlite3.Connection, path: Path, lock_fd: int | None, real: Path | None = None
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path
        self.real_path = real or path  # `path` with symlinks resolved: where the -wal file is
        self._lock_fd = lock_fd
        # A transaction's end handed to the commit thread, and what to do once it holds.
        self._committing: tuple[Future[object], Callable[[], None]] | None = None
        self._committer: ThreadPoolExecutor | None = None
        # Why a batch committing behind was lost: no later batch may be written (its lists'
        # positions would pass pages that are not in the database).
        self._lost: BaseException | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, once a commit running behind has finished (sync())."""
        if self._committing is not None:
            self.sync()
        return self._conn  # type: ignore[return-value]

    # -- committing behind ----------------------------------------------------------------

    def commit_behind(self, commit: Callable[[], None], done: Callable[[], None]) -> None:
        """Run `commit` (the open transaction's last statements and its COMMIT) on a worker
        thread; `done()` runs once it holds.

        SQLite releases the GIL for each whole statement (upserts, the COMMIT writing the WAL,
        now and then a checkpoint), so the caller goes on parsing pages on the other core.
        `commit` should seldom call Python from SQL: each call waits for the GIL. Any use of
        `conn` first waits for it (sync()), so nothing else runs on the connection meanwhile.
        """
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="sgr-commit")
        self._committing = (self._committer.submit(commit), done)

    def sync(self) -> None:
        """Wait for a commit running behind; a one-line StoreError if it failed (its batch
        rolled back whole, so its pages are fetched again by the next run).

        Once a batch is lost, every later sync() and write() raises the same error: reads go
        on, but nothing written after it may reach the database."""
        committing, self._committing = self._committing, None
        if committing is None:
            if self._lost is not None:
                raise self._lost
            return
        future, done = committing
        try:
            future.result()
        except BaseException as exc:
            self._rollback()
            try:
                self._raise(exc, "cannot write to")
            except BaseException as raised:
                self._lost = raised
                raise
        done()

    # -- opening, migrating, closing ------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, lock: bool = True) -> Self:
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
        lock_fd = take_lock(path, real) if lock and not in_memory else None
        try:
            # SQLite follows symlinks itself (its -wal file sits beside the real file).
            conn = cls._connect(path)
        except BaseException:
            if lock_fd is not None:
                release_lock(lock_fd)
            raise
        store = cls(conn, path, lock_fd, real)
        try:
            if lock and not in_memory:
                store._check_writable()
                store._check_integrity()
            store._migrate()
            store._opened()
        except BaseException as exc:
            store.close()
            if isinstance(exc, sqlite3.Error):
                raise store._error(exc, "cannot open database") from exc
            raise
        return store

    def _opened(self) -> None:
        """Load what the jobs keep in memory, once the schema is current (mixins extend it)."""

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
            conn.execute("PRAGMA temp_store=MEMORY")  # a batch's stages (kinds.py): a few MB
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.DatabaseError as exc:
            conn.close()
            code = error_code(exc)
            if code is not None and code != "SQLITE_NOTADB" and code != "SQLITE_CORRUPT":
                wal = f"{path.name}-wal"
                advice = ADVICE[code].format(name=path.name, wal=wal)
                raise StoreError(one_line(f"cannot open database {path}: {exc}; {advice}")) from exc
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(
                    f"cannot open database {path}: {exc}; choose another SGR_DB_PATH"
                ) from exc
            raise StoreError(
                f"{path} is not a SQLite database ({exc}); "
                "move it away or choose another SGR_DB_PATH"
            ) from exc
        for name, (arity, function) in SQL_FUNCTIONS.items():
            conn.create_function(name, arity, function, deterministic=True)
        return conn

    def _raise(self, exc: BaseException, action: str, advice: str | None = None) -> NoReturn:
        """Re-raise `exc` as a one-line StoreError when it is a storage error (disk full,
        damaged file, another writer); anything else is a bug and keeps its traceback."""
        if error_code(exc) is None:
            raise exc
        raise self._error(exc, action, advice) from exc

    def _error(self, exc: BaseException, action: str, advice: str | None = None) -> StoreError:
        """One line for a storage error: what failed, SQLite's reason, what to do."""
        code = error_code(exc) or ""
        name = self.real_path.name
        advice = advice or ADVICE.get(code, "choose another SGR_DB_PATH")
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
            raise self._error(found, "cannot open database", ADVICE["SQLITE_CORRUPT"])

    def _version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        # schema.X, not a copy: a test may patch MIGRATIONS and SCHEMA_VERSION (see __init__).
        target = schema.SCHEMA_VERSION
        if self._version() > target:
            raise StoreError(
                f"{self.path} was written by a newer sgr-scrapy "
                f"(schema {self._version()} > {target}); upgrade sgr-scrapy"
            )
        if self._version() == target:
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
            if 0 < current < target:
                self._say_migrating(current, target)
            for version, script in schema.MIGRATIONS:
                if version > current:
                    for statement in schema.statements(script):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {int(version)}")
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite has already rolled back after some errors (a full disk): a second
            # ROLLBACK would only hide the real error behind "no transaction is active".
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                action = f"cannot bring the schema to version {target} in"
                raise self._error(exc, action) from exc
            raise

    def _say_migrating(self, current: int, target: int) -> None:
        """One line before a migration that may take a while: schema 6 rebuilds the three
        biggest tables, ~15 s per GB here, and nothing else is printed until it is done."""
        size = self.real_path.stat().st_size if self.real_path.exists() else 0
        logger.info(
            "Bringing %(path)s (%(mb)d MB) from schema %(old)d to %(new)d; "
            "a large file takes a while (about 15 s per GB)",
            {"path": self.path, "mb": size // 2**20, "old": current, "new": target},
        )

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            # If even this fails, closing the connection rolls back what is left.
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection and release the lock; calling it twice is harmless."""
        try:
            if self._conn is not None:
                unseen = self._committing is not None  # nobody has asked how it ended
                try:
                    self.sync()
                except Exception as exc:
                    if unseen:  # else said already, by whoever met it first
                        logger.error("%(error)s", {"error": exc})
                self._conn.close()
        finally:
            self._conn = None
            if self._committer is not None:
                self._committer.shutdown()
                self._committer = None
            if self._lock_fd is not None:
                release_lock(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def migrate_older(path: Path) -> bool:
    """Bring the harvest database at `path` up to date when its schema is older, as every
    command's open does, for a reader that otherwise never writes (`scrapy explore`). A
    current or newer file, a new (empty) one or one that is not a database is left untouched
    (the reader says what is wrong with it). True if it migrated; StoreError if it could not."""
    try:
        # Read-only: a missing file is an error here, not a new empty database.
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    if not 0 < version < schema.SCHEMA_VERSION:
        return False
    StoreBase.open(path, lock=False).close()
    return True
