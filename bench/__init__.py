"""Benchmark scripts; each prints a table (never timed assertions in tests)."""

from __future__ import annotations
