"""Shared fixtures: the local SoundCloud API simulator as a subprocess on 127.0.0.1.

- ``simulator``: a factory, ``sim = simulator("--seed", "3", "--likers", "40")`` returns a
  started ``SimulatorProcess``; every simulator it started is stopped at teardown.
- ``default_simulator``: one default world without faults, shared by the session; read-only
  tests only (do not reset its stats or rely on its counters).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from sgr_scrapy.simulator.process import SimulatorProcess
from tests.helpers import ResolveStub

SimulatorFactory = Callable[..., SimulatorProcess]


@pytest.fixture
def simulator() -> Iterator[SimulatorFactory]:
    """Start simulators on demand (``simulator(*cli_args, timeout=20.0)``); stop them after."""
    with contextlib.ExitStack() as stack:

        def start(*args: str, timeout: float = 20.0) -> SimulatorProcess:
            return stack.enter_context(SimulatorProcess(*args, timeout=timeout))

        yield start


@pytest.fixture(scope="session")
def default_simulator() -> Iterator[SimulatorProcess]:
    """The default world, no faults, shared by the whole session."""
    with SimulatorProcess() as sim:
        yield sim


@pytest.fixture
def resolve_stub() -> Iterator[Callable[[str], ResolveStub]]:
    """Stub APIs whose /resolve answers a 302 to a given location; stopped at teardown."""
    stubs: list[ResolveStub] = []

    def start(location: str) -> ResolveStub:
        stubs.append(ResolveStub(location))
        return stubs[-1]

    yield start
    for stub in stubs:
        stub.close()
