"""The Python runtime's tuning for a harvest process: the cyclic garbage collector.

A harvest allocates a few hundred thousand dicts and lists per second (every parsed page, its
rows) that die young, by reference count. At CPython's default threshold a collection starts
every 700 net allocations and keeps walking pages still being read: about a second of a wide
harvest's 10 s (bench/README.md). At 50,000 the young objects are gone before a collection
comes: a handful of collections per run, the same reclaimed memory.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 100)


def tune_gc() -> None:
    """Set the collector's thresholds for a harvest (the process's, once, before it starts)."""
    gc.set_threshold(*GC_THRESHOLD)
