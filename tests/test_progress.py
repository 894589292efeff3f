"""The progress bar fits the terminal: fitted line by line, and in a real terminal (tmux).

Without a terminal the harvest logs progress lines instead (tests/test_harvest.py checks them).
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from rich.console import Console

from sgr_scrapy.progress import ECHO_ROOM, ProgressLine, Snapshot, duration, fit
from tests.helpers import ROOT, crawl_command, harvest_env

SMALL = ["--users", "300", "--tracks", "1500", "--likers", "60", "--reposters", "30"]
SMALL += ["--likes-mean", "10", "--likes-max", "300"]
PHASES = ("seed", "social spill", "user depth", "stopping", "finished", "stopped")

CALM = Snapshot("user depth", 1320, 2489, 9731, 38215, 1047, 104.2, 0, 0, 1, 0, 0, 11)
STORMY = Snapshot(
    "social spill", 13200, 24890, 973100, 3821500, 104700, 1104.2, 12, 3, 1, 2, 0, 4e3
)


def test_duration_reads_as_a_person_would() -> None:
    assert [duration(s) for s in (None, 0, 42, 200, 7500)] == [
        "-",
        "0 s",
        "42 s",
        "3 min",
        "2 h 05 min",
    ]


@pytest.mark.parametrize("snapshot", [CALM, STORMY], ids=["calm", "stormy"])
@pytest.mark.parametrize("width", range(30, 260, 7))
def test_bar_line_fits_and_keeps_phase_and_eta(snapshot: Snapshot, width: int) -> None:
    line = fit(snapshot, width).plain()
    assert len(line) <= width, line
    assert line.startswith(snapshot.phase) and line.endswith(f"ETA {duration(snapshot.eta)}")


def test_less_important_fields_go_first() -> None:
    wide = fit(CALM, 300).plain()
    assert "token refreshes 1" in wide and "lists incomplete 0" in wide and "━" not in wide
    narrow = fit(CALM, 80).plain()
    assert "users 1,320/2,489" in narrow and "tracks 9,731" in narrow and "#" in narrow
    assert "token refreshes" not in narrow and "requests" not in narrow
    # Problems that happened outrank the counts; the ones that did not are the first to go.
    stormy = fit(STORMY, 80).plain()
    assert "429 waits 12" in stormy and "retries 3" in stormy and "tracks" not in stormy
    assert "lists incomplete" not in fit(STORMY, 190).plain()


@pytest.mark.parametrize("width", [20, 40, 80, 120, 200])
@pytest.mark.parametrize("color", ["truecolor", None])
def test_rendered_bar_is_one_line_within_the_width(width: int, color: str | None) -> None:
    console = Console(
        file=io.StringIO(), width=width, force_terminal=True, color_system=color, record=True
    )
    console.print(ProgressLine(STORMY))
    lines = console.export_text(styles=False).rstrip("\n").split("\n")
    assert len(lines) == 1, lines
    assert 10 < len(lines[0]) <= width - ECHO_ROOM, lines[0]
    assert lines[0].startswith("social spill") and (width < 30 or "ETA 67 min" in lines[0])


# --- In a real terminal -------------------------------------------------------------------


def _tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        pytest.skip(
            "TMUX IS NOT INSTALLED: the progress bar was NOT tested in a real terminal "
            "(.ci/run installs it with apt-get; or: apt-get install -y tmux)"
        )
    return path


@pytest.mark.parametrize(
    ("width", "extra"),
    [(80, ("-L", "INFO")), (200, ())],
    ids=["80-columns-with-INFO-logs", "200-columns"],
)
def test_bar_in_tmux_fits_redraws_in_place_and_shows_eta(
    simulator, tmp_path: Path, width: int, extra: tuple[str, ...]
) -> None:
    tmux = _tmux()
    sim = simulator(*SMALL, "--latency-ms", "700")
    db = tmp_path / "tracks.db"
    cmd = crawl_command(db, *extra, url=sim.info["seed_url"], settings={})
    env = harvest_env(sim)
    for name in ("TMUX", "COLUMNS", "LINES"):  # the width must come from the terminal itself
        env.pop(name, None)
    env["TERM"] = "screen"
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.isidentifier())
    script.write_text(
        f"{exports}cd {shlex.quote(str(tmp_path))}\n{shlex.join(cmd)}\n"
        f"echo $? > {shlex.quote(str(tmp_path / 'rc'))}\nsleep 600\n"
    )
    server = ["-L", f"sgr-progress-{os.getpid()}-{width}", "-f", "/dev/null"]
    subprocess.run(
        [tmux, *server, "new-session", "-d", "-x", str(width), "-y", "30", f"bash {script}"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    screens: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "rc").exists() and time.monotonic() < deadline:
            screens.append(_capture(tmux, server))
            time.sleep(0.4)
        time.sleep(0.5)
        final = _capture(tmux, server)
    finally:
        subprocess.run([tmux, *server, "kill-server"], check=False, capture_output=True)
    assert (tmp_path / "rc").read_text().strip() == "0", final
    for screen in [*screens, final]:
        bars = [line for line in screen.splitlines() if line.startswith(PHASES)]
        assert len(bars) <= 1, bars  # redrawn in place: never a stale copy above the bar
        # -J joins wrapped rows: a bar that wrapped would be longer than the terminal. (Log
        # lines may wrap: the terminal wraps them, so a copied URL stays whole.)
        assert all(len(bar) <= width for bar in bars), bars
    running = [b for s in screens for b in s.splitlines() if b.startswith("user depth")]
    assert any(" ETA " in b and not b.endswith("ETA -") for b in running), running
    bars = [line for line in final.splitlines() if line.startswith(PHASES)]
    assert len(bars) == 1 and bars[0].startswith("finished") and bars[0].endswith("ETA -"), bars
    after = final.split(bars[0], 1)[1]
    assert "DEEP HARVEST COMPLETE" in after  # the summary comes below the bar
    if extra:  # with -L INFO, Scrapy's lines are printed above the bar, never across it
        assert "[scrapy.core.engine] INFO: Spider opened" in final.split(bars[0], 1)[0]


def _capture(tmux: str, server: list[str]) -> str:
    return subprocess.run(
        [tmux, *server, "capture-pane", "-p", "-J", "-S", "-"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
