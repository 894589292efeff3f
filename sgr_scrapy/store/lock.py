"""One harvest per database: an exclusive `flock` on `<database>.lock`, naming its holder.

The kernel releases the lock when the process exits, even by kill -9, so a stale lock file is
harmless. The lock is taken on the resolved path: every alias (a symlink to the file or to its
folder) takes the same lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from sgr_scrapy.store.errors import StoreError


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def take_lock(path: Path, real: Path) -> int:
    """flock `<real>.lock`, where `real` is `path` resolved: every alias takes the same lock."""
    lock_file = lock_path(real)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            f"cannot create lock file {lock_file}: {exc.strerror.lower()}; "
            "choose a writable SGR_DB_PATH"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StoreError(
                f"cannot lock {lock_file}: {exc.strerror.lower()}; choose another SGR_DB_PATH"
            ) from exc
        raise StoreError(
            f"cannot open database {path}: it is locked by another harvest (pid {holder}); "
            "wait for it to finish or use -s SGR_DB_PATH=..."
        ) from exc
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def release_lock(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
