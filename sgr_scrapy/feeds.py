"""Feed exports (`-o`, `-O`, FEEDS) of records: the rows a run wrote, once each, as committed.

Settings read: FEEDS (and the deprecated FEED_URI), FEED_EXPORTERS.

The spider's `Page` items are internal batches: `RecordFeedExporter` (Scrapy's FeedExporter, in
its place in EXTENSIONS) never writes them. After the run's last commit the pipeline reads back
every row the run wrote (`last_seen` at or after the run's start) and sends each as a record
(`items.TrackRecord`, ...) with Scrapy's `item_scraped` signal, so every feed, item filter and
`item_classes` option works as Scrapy documents. A row written twice in a run (a richer object
arrived later) is one record with its final, merged values; a batch that was rolled back was
never in the database and is never exported. With no feed configured nothing here runs.

CSV holds one record type per file (`check_feeds` refuses anything else before the crawl), and
the CSV and XML exporters write lists and objects as JSON text, never Python reprs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from scrapy.exporters import CsvItemExporter, XmlItemExporter
from scrapy.extensions.feedexport import FeedExporter
from scrapy.utils.misc import load_object

from sgr_scrapy.items import RECORD_KINDS

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.settings import BaseSettings

    from sgr_scrapy.store import Store

RECORD_CLASSES: tuple[type, ...] = tuple(kind.record for kind in RECORD_KINDS)


def feeds_configured(settings: BaseSettings) -> bool:
    """Whether any feed export is configured (`-o`, `-O`, FEEDS)."""
    return bool(settings.getdict("FEEDS") or settings.get("FEED_URI"))


def records(store: Store, since: str) -> Iterator[Any]:
    """Every row written at or after `since`, as records, kind by kind in key order."""
    loads = orjson.loads
    for kind in RECORD_KINDS:
        make, tag = kind.record, kind.type
        json_at = [kind.columns.index(c) for c in kind.json_columns]
        for row in store.rows_seen_since(kind.table, kind.columns, kind.key, since):
            if json_at:
                values = list(row)
                for i in json_at:
                    if values[i] is not None:
                        values[i] = loads(values[i])
                row = values
            yield make(tag, *row)


def check_feeds(settings: BaseSettings) -> None:
    """Raise ValueError (one line) for a feed that cannot hold the harvest's records.

    A CSV feed must take exactly one record class (FEEDS `item_classes`), and `item_classes`
    may only name record classes: the harvest exports nothing else.
    """
    exporters = settings.getwithbase("FEED_EXPORTERS")
    names = ", ".join(f"{c.__module__}.{c.__name__}" for c in RECORD_CLASSES)
    for uri, options in settings.getdict("FEEDS").items():
        options = options or {}
        fmt = options.get("format") or str(uri).rpartition(".")[2]
        if fmt not in exporters:
            raise ValueError(
                f"feed {uri}: unknown format {fmt!r}; use one of " + ", ".join(sorted(exporters))
            )
        classes = []
        for path in options.get("item_classes") or ():
            try:
                cls = load_object(path) if isinstance(path, str) else path
            except (ImportError, NameError, ValueError, AttributeError):
                cls = None
            if cls not in RECORD_CLASSES:
                raise ValueError(f"feed {uri}: {path!r} is not a record class: {names}")
            classes.append(cls)
        exporter = load_object(exporters[fmt])
        if (
            isinstance(exporter, type)
            and issubclass(exporter, CsvItemExporter)
            and len(classes) != 1
            and not options.get("item_filter")
        ):
            raise ValueError(
                f"feed {uri}: a CSV file holds one record type; use -O out.jsonl, or one CSV "
                "per type with FEEDS item_classes (README: Exporting)"
            )


class RecordFeedExporter(FeedExporter):
    """Scrapy's FeedExporter, fed records only: the spider's internal `Page` items stay out."""

    def item_scraped(self, item: Any, spider: Spider) -> None:
        if isinstance(item, RECORD_CLASSES):
            super().item_scraped(item, spider)


def _json_text(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value).decode()
    return value


class RecordCsvItemExporter(CsvItemExporter):
    """CSV with lists and objects (`tags`, `machine_tags`, `raw_json`) as JSON text."""

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        if "serializer" in field:
            return super().serialize_field(field, name, value)
        return _json_text(value)


class RecordXmlItemExporter(XmlItemExporter):
    """XML with objects as JSON text: keys such as `geo:lat` are not XML element names."""

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        if isinstance(value, dict) and "serializer" not in field:
            return _json_text(value)
        return super().serialize_field(field, name, value)
