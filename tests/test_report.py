"""`scrapy report`: one self-contained page with every figure, opened in headless Chromium.

The harvest is test_export.py's (every list family, two hops), made once per session; the
`scrapy analyze` part reads a copy with rows shaped as analyze writes them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from sgr_scrapy.export.report.figures import ANALYSIS, FIGURES
from tests.helpers import CHROMIUM, CHROMIUM_FLAGS
from tests.test_export import ERROR_LINE, analyzed_copy, harvested_database, scrapy

HARVEST_FIGURES = [f.name for f in FIGURES if f.section != ANALYSIS]
# A reference to anything outside the page: a source, a link, a stylesheet, a font, a script.
OUTSIDE = re.compile(
    r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:|//)|url\(\s*["']?\s*(?:https?:|//)"""
    r"""|@import|<script|<link\b|<iframe|<object|<embed""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harvested_database(tmp_path_factory)


@pytest.fixture(scope="module")
def analyzed(db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_copy(db, tmp_path_factory.mktemp("analyzed"))


def report(db: Path, out: Path) -> str:
    proc = scrapy(db, out.parent, "report", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"wrote {out}" in proc.stdout
    return out.read_text(encoding="utf-8")


def figures_in(page: str) -> list[str]:
    return re.findall(r"<figure id='fig-([\w-]+)'><svg ", page)


def test_report_before_analyze_has_every_harvest_figure_and_says_to_run_analyze(
    db: Path, tmp_path: Path
) -> None:
    page = report(db, tmp_path / "report.html")
    assert figures_in(page) == HARVEST_FIGURES
    assert page.count("<svg") == len(HARVEST_FIGURES)
    assert page.count("run `scrapy analyze` to see") == len(FIGURES) - len(HARVEST_FIGURES)
    assert not OUTSIDE.search(page), OUTSIDE.search(page)
    for heading in ("Seeds", "Hops", "List families", "Lists read, by family and status"):
        assert f">{heading}<" in page
    assert "Likes per user" in page and "Likers per track" in page  # the two log-log panels
    assert page.count("<text") > 50  # text stays text (svg.fonttype none): no glyph paths


def test_report_after_analyze_has_every_figure(analyzed: Path, tmp_path: Path) -> None:
    page = report(analyzed, tmp_path / "report.html")
    assert figures_in(page) == [f.name for f in FIGURES]
    assert "run `scrapy analyze`" not in page
    assert ">Co-liked tracks of each seed<" in page
    assert not OUTSIDE.search(page), OUTSIDE.search(page)


def test_report_opens_in_headless_chromium_with_no_network(analyzed: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip(
            "!!! /usr/bin/chromium IS NOT INSTALLED: the report was NOT opened in a browser. "
            "Install it (apt-get install chromium; .ci/run does) to run this test !!!"
        )
    page = tmp_path / "report.html"
    report(analyzed, page)
    shot = tmp_path / "report.png"  # kept in the test's temporary directory as an artefact
    proc = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            # No network at all: every host unresolvable, every request through a dead proxy.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={tmp_path / 'chromium'}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text, bars and axes, not a blank page


def test_report_of_a_missing_database_is_one_line(tmp_path: Path) -> None:
    proc = scrapy(tmp_path / "none.db", tmp_path, "report", "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 2
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "none.db").exists()


def test_report_into_a_folder_is_one_line(db: Path, tmp_path: Path) -> None:
    proc = scrapy(db, tmp_path, "report", "-o", str(tmp_path))
    assert proc.returncode == 2
    assert ERROR_LINE.match(proc.stderr), proc.stderr
    assert "is a folder: -o takes the report's file name" in proc.stderr


def test_every_figure_is_declared_with_a_title_caption_and_reason_to_be_missing() -> None:
    names = [f.name for f in FIGURES]
    assert len(set(names)) == len(names)
    for spec in FIGURES:
        assert spec.title and spec.caption and callable(spec.missing) and callable(spec.draw)
