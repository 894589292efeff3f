"""`scrapy crawl harvest --help` and the README say the same as the one declaration.

The `-a` arguments are declared once (sgr_scrapy/args.py) and the settings' help once
(sgr_scrapy/usage.py): an argument or setting missing from the help or from the README, or a
default that disagrees with settings.py, fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sgr_scrapy.args import ARGUMENTS, KNOWN_ARGUMENTS, ArgumentError, HarvestArgs
from sgr_scrapy.families import FAMILIES
from sgr_scrapy.usage import SETTINGS, argument_rows, project_setting_names, setting_rows
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BENCH_README = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")


def run_help(tmp_path: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy.cmdline", "crawl", "harvest", "--help"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no banner, no log line
    return proc.stdout


def test_help_lists_every_argument_setting_and_the_database_after_scrapys_options(
    tmp_path: Path,
) -> None:
    secrets = {"SOUNDCLOUD_CLIENT_SECRET": "s3cret-value", "SOUNDCLOUD_ACCESS_TOKEN": "t0ken"}
    out = run_help(tmp_path, SGR_DB_PATH="elsewhere/my.db", **secrets)
    generic = out.index("Global Options")
    harvest = out.index("Harvest Arguments")
    assert generic < harvest < out.index("Harvest Settings") < out.index("Where The Database Goes")
    section = out[harvest:]
    flat = " ".join(section.split())  # as wrapped to the terminal's width
    for argument in ARGUMENTS:
        line = re.search(rf"^  -a {argument.name}=\S+ .*$", section, re.MULTILINE)
        assert line, argument.name
        if argument.default:
            assert f"(default: {argument.default})" in flat
    for name in project_setting_names():
        assert re.search(rf"^  {name}\b", section, re.MULTILINE), name
    assert "(default: data/cache/tracks.db; now elsewhere/my.db)" in flat
    assert f"that is {ROOT / 'elsewhere' / 'my.db'} from here" in flat
    for value in secrets.values():
        assert value not in out
    assert re.search(r"SOUNDCLOUD_CLIENT_SECRET [^(]*\(set\)", flat)
    assert re.search(r"SOUNDCLOUD_CLIENT_ID [^(]*\(not set\)", flat)


def test_every_setting_of_settings_py_is_declared_with_its_true_default(tmp_path: Path) -> None:
    declared = {s.name: s.default for s in SETTINGS}
    names = project_setting_names()
    assert sorted(declared) == sorted(names), "declare each setting once in sgr_scrapy/usage.py"
    # The defaults as settings.py has them: imported with no environment and no .env.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOUNDCLOUD_", "SGR_"))}
    code = (
        "import json, sgr_scrapy.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    actual = json.loads(proc.stdout)
    for name, value in actual.items():
        shown = str(int(value)) if isinstance(value, bool) else str(value)
        assert declared[name] == shown, (name, declared[name], shown)


def test_readme_tables_are_the_declarations() -> None:
    missing = [row for row in [*argument_rows(), *setting_rows()] if row not in README]
    assert not missing, "README.md's tables differ from the declarations:\n" + "\n".join(missing)


def test_arguments_parse_from_the_declaration() -> None:
    url = "https://soundcloud.com/a/b"
    parsed = HarvestArgs.parse(url=url)
    defaults = {a.name: a.convert(a.name, a.default) for a in ARGUMENTS if a.name not in ("url",)}
    assert defaults["max_users"] == defaults["max_user_likes"] == 0
    assert parsed.caps == dict.fromkeys(FAMILIES, 0) == {f: defaults[f"max_{f}"] for f in FAMILIES}
    assert parsed.lists == defaults["lists"] == ("favoriters", "reposters", "likes")
    assert (parsed.depth, parsed.expand) == (defaults["depth"], defaults["expand"]) == (1, 50)
    assert parsed.refresh == defaults["refresh"] == "0"
    assert parsed.plan is defaults["plan"] is False
    assert KNOWN_ARGUMENTS[:5] == ("url", "urls_file", "lists", "max_users", "max_user_likes")
    assert KNOWN_ARGUMENTS[-4:] == ("depth", "expand", "refresh", "plan")
    with pytest.raises(ArgumentError, match="unknown argument -a max_user; the harvest takes"):
        HarvestArgs.parse(url=url, max_user="3")


def test_benchmark_duration_agrees_between_readmes_and_the_last_run() -> None:
    said = {
        "README.md": re.findall(r"benchmarks \(about (\d+) minutes", README),
        "bench/README.md": re.findall(r"about (\d+) minutes", BENCH_README),
    }
    minutes = {int(m) for found in said.values() for m in found}
    assert all(said.values()) and len(minutes) == 1, said
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    if results.get("quick"):
        pytest.skip("bench/results.json is a --quick run")
    measured = sum(results["seconds"].values()) / 60
    stated = minutes.pop()
    assert abs(stated - measured) <= max(1.0, 0.25 * measured), (stated, measured)
