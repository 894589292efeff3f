"""``SimulatorProcess``: start ``python -m sgr_scrapy.simulator`` as a subprocess (stdlib only).

Used by the test fixtures, the demo and the benchmarks::

    with SimulatorProcess("--seed", "3", "--likers", "40") as sim:
        sim.api_url, sim.access_token, sim.truth(max_users=10), sim.stats()
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlencode

from sgr_scrapy.simulator.world import Truth

_ROOT = str(Path(__file__).resolve().parents[2])


class SimulatorStartError(RuntimeError):
    """Raised by ``SimulatorProcess.start`` when the simulator dies or stays silent."""


class SimulatorProcess:
    """A running simulator subprocess; a context manager that stops it on exit."""

    def __init__(self, *args: str, host: str = "127.0.0.1", timeout: float = 20.0) -> None:
        self.args = [str(a) for a in args]
        self.host = host
        self.timeout = timeout
        self.info: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SimulatorProcess:
        """Start the process and read its startup line."""
        cmd = [sys.executable, "-m", "sgr_scrapy.simulator", "--host", self.host, "--port", "0"]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        # The package must import in the child whatever the caller's working directory.
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [*cmd, *self.args], stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        line: list[bytes] = []
        assert self.proc.stdout is not None
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(self.timeout)
        if not line or not line[0].strip():
            self.stop()
            raise SimulatorStartError(
                f"simulator did not start within {self.timeout}s: {self.stderr_text()}"
            )
        self.info = json.loads(line[0])
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM, wait, kill after ``timeout``; return the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def stderr_text(self) -> str:
        """Return what the process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.stop()
        if self._stderr is not None:
            self._stderr.close()

    # -- info ------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # .api_url, .token_url, .seed_url, .access_token, ... straight from the startup line.
        info = self.__dict__.get("info") or {}
        if name in info:
            return info[name]
        raise AttributeError(name)

    # -- control routes --------------------------------------------------------------------
    def _get(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(self.info["api_url"] + path, method=method)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def truth(
        self,
        max_users: int = 0,
        max_user_likes: int = 0,
        seeds: list[int] | None = None,
        *,
        lists: str | Sequence[str] | None = None,
        depth: int = 1,
        expand: int = 50,
        **caps: int,
    ) -> Truth:
        """Return the ground truth (via ``/__truth``); arguments as ``World.truth``."""
        params: list[tuple[str, object]] = [
            ("max_users", max_users),
            ("max_user_likes", max_user_likes),
            ("depth", depth),
            ("expand", expand),
        ]
        params += [("seed", s) for s in seeds or ()]
        params += sorted(caps.items())
        if lists is not None:
            params.append(("lists", lists if isinstance(lists, str) else ",".join(lists)))
        return Truth.from_json(self._get("/__truth?" + urlencode(params)))

    def stats(self) -> dict[str, Any]:
        """Return the ``/__stats`` counters."""
        return self._get("/__stats")

    def reset_stats(self) -> None:
        """Zero the counters (``POST /__reset_stats``)."""
        self._get("/__reset_stats", method="POST")
