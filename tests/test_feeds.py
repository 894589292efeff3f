"""Feed exports give records: the rows a run wrote, once each, exactly as the database has them."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from sgr_scrapy import settings as project_settings
from sgr_scrapy.families import FAMILIES
from sgr_scrapy.feeds import check_feeds
from sgr_scrapy.items import RECORD_KINDS
from sgr_scrapy.store import Store
from tests.helpers import run_harvest

# Half the users are artists: many users are first written nested in a track, then whole.
WORLD = ["--seed", "3", "--users", "300", "--tracks", "1500", "--likers", "40"]
WORLD += [
    "--reposters",
    "15",
    "--likes-mean",
    "15",
    "--artist-share",
    "0.5",
    "--artist-fans",
    "0.5",
]
JSON_COLUMNS = {(k.type, c) for k in RECORD_KINDS for c in k.json_columns}


def database_records(db: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every row of every record table, as the record it should be, by (type, key)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    out = {}
    try:
        for kind in RECORD_KINDS:
            for row in conn.execute(f'SELECT * FROM "{kind.table}"'):
                record = {"type": kind.type}
                for column in kind.columns:
                    value = row[column]
                    if (kind.type, column) in JSON_COLUMNS and value is not None:
                        value = json.loads(value)
                    record[column] = value
                out[(kind.type, *(row[c] for c in kind.key))] = record
    finally:
        conn.close()
    return out


def file_records(path: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = {k.type: k.key for k in RECORD_KINDS}
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        key = (record["type"], *(record[c] for c in keys[record["type"]]))
        assert key not in out, f"{key} exported twice"
        out[key] = record
    return out


@pytest.mark.parametrize("kind", RECORD_KINDS, ids=lambda k: k.type)
def test_record_fields_are_type_and_the_tables_columns(kind, tmp_path: Path) -> None:
    with Store.open(tmp_path / "x.db") as store:
        columns = [r[1] for r in store.conn.execute(f'PRAGMA table_info("{kind.table}")')]
    assert sorted(kind.columns) == sorted(columns)
    assert set(kind.key) <= set(kind.columns)


def test_jsonl_feed_holds_exactly_the_runs_records_and_a_rerun_exports_nothing(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    out = tmp_path / "out.jsonl"
    result = run_harvest(sim, db, "-O", str(out))
    assert result.returncode == 0, result.output
    exported = file_records(out)
    stored = database_records(db)
    assert exported.keys() == stored.keys()
    assert exported == stored
    assert {t for t, *_ in exported} == {"track", "user", "engagement"}
    track = next(r for (t, *_), r in exported.items() if t == "track" and r["tags"])
    assert isinstance(track["tags"], list) and isinstance(track["machine_tags"], dict)
    assert isinstance(track["raw_json"], dict)
    # Users first written as a track's artist and later whole: one record, the whole one.
    whole = [r for (t, *_), r in exported.items() if t == "user" and r["followers_count"]]
    assert whole
    # The internal Page batches never reach the feed.
    assert all(set(r) == {"type", *k.columns} for r in exported.values() for k in RECORD_KINDS
               if k.type == r["type"])  # fmt: skip

    rerun = run_harvest(sim, db, "-O", str(out))
    assert rerun.returncode == 0, rerun.output
    assert out.read_text() == ""


def test_csv_per_record_type_with_item_classes_and_xml(simulator, tmp_path: Path) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    feeds = {
        str(tmp_path / f"{kind.type}s.csv"): {
            "format": "csv",
            "item_classes": [f"sgr_scrapy.items.{kind.record.__name__}"],
        }
        for kind in RECORD_KINDS
    }
    feeds[str(tmp_path / "all.xml")] = {"format": "xml"}
    # Every family, so that every record type has rows.
    lists = "-a", f"lists={','.join(FAMILIES)}", "-a", "max_users=10"
    result = run_harvest(sim, db, *lists, settings={"FEEDS": json.dumps(feeds)})
    assert result.returncode == 0, result.output
    stored = database_records(db)
    for kind in RECORD_KINDS:
        with open(tmp_path / f"{kind.type}s.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["type", *kind.columns]
        want = [r for (t, *_), r in stored.items() if t == kind.type]
        assert len(rows) == len(want) > 0, kind.type
        for row in rows:
            assert row["type"] == kind.type
            for column in kind.json_columns:  # JSON text, never a Python repr
                assert row[column] == "" or json.loads(row[column]) is not None
        if kind.type == "track":
            by_id = {int(r["track_id"]): r for r in rows}
            for record in want:
                row = by_id[record["track_id"]]
                assert json.loads(row["tags"]) == record["tags"]
                assert json.loads(row["machine_tags"]) == record["machine_tags"]
                assert json.loads(row["raw_json"]) == record["raw_json"]
    xml = (tmp_path / "all.xml").read_text(encoding="utf-8")
    assert xml.count("<item>") == len(stored)
    assert "Page(" not in xml and "Track(" not in xml


def crawl_settings(**feeds: Any) -> Settings:
    settings = Settings()
    settings.setmodule(project_settings)
    settings.set("FEEDS", feeds, priority="cmdline")
    return settings


@pytest.mark.parametrize(
    "feeds",
    [
        {"x.csv": {"format": "csv"}},
        {"x.csv": {"format": "csv", "item_classes": ["sgr_scrapy.items.Page"]}},
        {"x.jsonl": {"format": "jsonl", "item_classes": ["sgr_scrapy.items.Track"]}},
        {
            "x.csv": {
                "format": "csv",
                "item_classes": ["sgr_scrapy.items.TrackRecord", "sgr_scrapy.items.UserRecord"],
            }
        },
        {"x.nope": {"format": "nope"}},
    ],
)
def test_check_feeds_refuses_in_one_line_what_cannot_hold_records(feeds: dict) -> None:
    with pytest.raises(ValueError) as raised:
        check_feeds(crawl_settings(**feeds))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "feeds",
    [
        {"x.jsonl": {"format": "jsonl"}},
        {"x.json": {"format": "json"}},
        {"x.xml": {"format": "xml"}},
        {"x.csv": {"format": "csv", "item_classes": ["sgr_scrapy.items.UserRecord"]}},
    ],
)
def test_check_feeds_accepts_feeds_of_records(feeds: dict) -> None:
    check_feeds(crawl_settings(**feeds))


def test_plain_csv_output_is_one_line_and_exit_2_before_any_request(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(*WORLD)
    db = tmp_path / "tracks.db"
    result = run_harvest(sim, db, "-o", str(tmp_path / "x.csv"))
    assert result.returncode == 2, result.output
    # The error is one line (Scrapy's start-up banner before it is issue 9 §3's business).
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: feed ") and "item_classes" in last, result.stderr
    assert "Traceback" not in result.output
    assert sum(sum(v.values()) for v in sim.stats()["requests"].values()) == 0
    assert not (tmp_path / "x.csv").exists()
