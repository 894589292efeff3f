"""Tests of the store package's interface: `HarvestStore`, its exports and its tunables."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from sgr_scrapy import store as store_module
from sgr_scrapy.store import HarvestStore, Store

ROOT = Path(__file__).resolve().parent.parent
TUNABLES = {
    "BUSY_TIMEOUT": "sgr_scrapy.store.base",
    "QUICK_CHECK_MAX_BYTES": "sgr_scrapy.store.base",
    "CLOSE_BUSY_TIMEOUT": "sgr_scrapy.store.runs",
    "MIGRATIONS": "sgr_scrapy.store.schema",
    "SCHEMA_VERSION": "sgr_scrapy.store.schema",
}


def members(protocol: type) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")
    }


@pytest.mark.parametrize("name", members(HarvestStore))
def test_store_implements_each_method_of_harvest_store(name: str) -> None:
    wanted = inspect.signature(getattr(HarvestStore, name))
    assert inspect.signature(getattr(Store, name)) == wanted


def test_store_has_the_attributes_of_harvest_store() -> None:
    for name in HarvestStore.__annotations__:
        assert hasattr(Store, name), name


def test_every_exported_name_resolves() -> None:
    for name in store_module.__all__:
        assert getattr(store_module, name) is not None, name


@pytest.mark.parametrize("name", TUNABLES)
def test_a_tunable_set_on_the_package_is_set_where_it_is_read(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = sys.modules[TUNABLES[name]]
    before = getattr(home, name)
    monkeypatch.setattr(store_module, name, "patched")
    assert getattr(home, name) == "patched" == getattr(store_module, name)
    monkeypatch.undo()
    assert getattr(home, name) == before == getattr(store_module, name)


def test_the_package_imports_without_scrapy() -> None:
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('scrapy', 'twisted'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import sgr_scrapy.store\n"
        "print(sgr_scrapy.store.Store.open(':memory:').table_counts()['tracks'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "0\n", "")
