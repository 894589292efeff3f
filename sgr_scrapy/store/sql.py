"""What every statement shares: identifier quoting and the clock of `first_seen`/`last_seen`."""

from __future__ import annotations

# ISO 8601 UTC with milliseconds, computed by SQLite so that executemany needs no extra parameter.
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def q(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
