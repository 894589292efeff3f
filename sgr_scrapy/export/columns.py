"""Each column's type in an exported file, and a batch of rows turned into an Arrow batch.

A column's type comes from its declared SQLite type (INTEGER: int64, REAL: float64, TEXT:
string, BLOB: binary), unless its name is declared in `NAMED` or is a timestamp by the schema's
naming (`*_at`, `first_seen`, `last_seen`): a new table gets the same treatment, no code here.

- timestamps: ISO 8601 text in the database, `timestamp[ms, UTC]` in the file;
- `tags`: a JSON array of strings in the database, `list<string>` in Parquet, the JSON text in
  CSV (a CSV cell holds no list);
- `machine_tags`, `raw_json`, `stats_json`: JSON text in both formats, as stored (their keys
  differ from row to row: a struct would need the whole table read first to know them);
- BLOB columns (`scrapy analyze`'s factors): binary in Parquet, hexadecimal text in CSV.

A batch is converted in two steps: the rows (tuples) become one Arrow struct array in C++, as
fetched (ints, floats, text, bytes), then each column is finished (timestamps parsed, tags
split). SQLite lets any column hold any value (a text in an INTEGER column, say): a batch that
does not convert so is converted again value by value, and a value that fits nowhere is left
empty and counted (`Column.bad`; the command warns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

INT, FLOAT, TEXT, BINARY = "int", "float", "text", "binary"
TIMESTAMP, STRING_LIST, JSON = "timestamp", "string_list", "json"
# Columns whose content is not what their declared type says.
NAMED: dict[str, str] = {
    "tags": STRING_LIST,
    "machine_tags": JSON,
    "raw_json": JSON,
    "stats_json": JSON,
    "first_seen": TIMESTAMP,
    "last_seen": TIMESTAMP,
}


def column_kind(name: str, declared: str) -> str:
    """The kind of a column, from its name and its declared SQLite type (affinity rules)."""
    if name in NAMED:
        return NAMED[name]
    if "INT" in declared:
        return INT
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return FLOAT
    if "BLOB" in declared:
        return BINARY
    if name.endswith("_at"):
        return TIMESTAMP
    return TEXT


@dataclass
class Column:
    """One exported column: its name, its kind, and values that would not convert."""

    name: str
    kind: str
    text_only: bool  # every cell text (CSV): lists as their JSON text, binary as hexadecimal
    bad: int = 0  # values left empty: not what the kind expects (a timestamp that is not one)

    def raw_type(self) -> pa.DataType:
        """The type of the values as SQLite gives them."""
        import pyarrow as pa

        return {INT: pa.int64(), FLOAT: pa.float64(), BINARY: pa.binary()}.get(
            self.kind, pa.string()
        )

    def arrow_type(self) -> pa.DataType:
        """The type in the file."""
        import pyarrow as pa

        if self.kind == TIMESTAMP:
            return pa.timestamp("ms", tz="UTC")
        if self.kind == STRING_LIST and not self.text_only:
            return pa.list_(pa.string())
        if self.kind == BINARY and self.text_only:
            return pa.string()
        return self.raw_type()

    def raw(self, values: Sequence[Any]) -> pa.Array:
        """`values` as `raw_type()`, value by value: those that fit nowhere left empty."""
        import pyarrow as pa

        fix = {INT: _int, FLOAT: _float, BINARY: _bytes}.get(self.kind, _text)
        return pa.array(self._each(values, fix), self.raw_type())

    def finish(self, array: pa.Array) -> pa.Array:
        """The raw array as it goes in the file."""
        import pyarrow as pa

        target = self.arrow_type()
        if array.type == target:
            return array
        if self.kind == TIMESTAMP:
            try:
                return array.cast(target)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return pa.array(self._each(array.to_pylist(), _timestamp), target)
        if self.kind == STRING_LIST:
            values = array.to_pylist()
            try:  # the usual case, a JSON array of strings each: parsed without checks
                return pa.array([None if v is None else orjson.loads(v) for v in values], target)
            except (orjson.JSONDecodeError, pa.ArrowInvalid, pa.ArrowTypeError):
                return pa.array(self._each(values, _string_list), target)
        return pa.array(self._each(array.to_pylist(), bytes.hex), target)  # binary in CSV

    def _each(self, values: Sequence[Any], fix: Callable[[Any], Any]) -> list[Any]:
        out = []
        for value in values:
            fixed = None if value is None else fix(value)
            if fixed is None and value is not None:
                self.bad += 1
            out.append(fixed)
        return out


def _timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _string_list(value: str) -> list[str] | None:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, list):
        return None
    return [item if isinstance(item, str) else orjson.dumps(item).decode() for item in parsed]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and -(2**63) <= value < 2**63 else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class Converter:
    """Batches of one table's rows to Arrow record batches of its exported schema."""

    def __init__(self, declared: Sequence[tuple[str, str]], *, text_only: bool) -> None:
        import pyarrow as pa

        self.columns = [Column(name, column_kind(name, d), text_only) for name, d in declared]
        self.schema = pa.schema([pa.field(c.name, c.arrow_type()) for c in self.columns])
        self._raw = pa.struct([pa.field(c.name, c.raw_type()) for c in self.columns])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def bad(self) -> dict[str, int]:
        """Values left empty so far, by column."""
        return {c.name: c.bad for c in self.columns if c.bad}

    def batch(self, rows: Sequence[tuple[Any, ...]]) -> pa.RecordBatch:
        import pyarrow as pa

        try:
            raw = pa.RecordBatch.from_struct_array(pa.array(rows, self._raw)).columns
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            by_column = list(zip(*rows, strict=True))
            raw = [c.raw(values) for c, values in zip(self.columns, by_column, strict=True)]
        arrays = [c.finish(a) for c, a in zip(self.columns, raw, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
