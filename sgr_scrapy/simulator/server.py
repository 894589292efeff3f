"""Run the simulator: bind the API and foreign listeners on loopback, print the startup line.

The startup line is one JSON object on stdout (flushed); nothing else goes to stdout. The
process serves until SIGINT or SIGTERM and then exits with status 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys

import orjson

from sgr_scrapy.simulator.app import SimulatorApp
from sgr_scrapy.simulator.http import HttpProtocol

logger = logging.getLogger(__name__)


class NotLoopbackError(ValueError):
    """Raised by ``check_loopback`` when asked to bind anything but a loopback address."""


def check_loopback(host: str) -> None:
    """Refuse any host that is not a loopback address (the simulator never leaves the box)."""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise NotLoopbackError(f"--host must be a loopback address such as 127.0.0.1, not {host}")


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(app: SimulatorApp, host: str, port: int, foreign_port: int) -> None:
    """Listen, print the startup line, serve until a stop signal."""
    check_loopback(host)
    loop = asyncio.get_running_loop()
    origins = {"api": "", "foreign": ""}

    def factory(listener: str) -> HttpProtocol:
        return HttpProtocol(app.state, listener, origins[listener])

    api = await loop.create_server(lambda: factory("api"), host, port, reuse_address=True)
    foreign = await loop.create_server(lambda: factory("foreign"), host, foreign_port)
    origins["api"] = api_url = _origin(host, api.sockets[0].getsockname()[1])
    origins["foreign"] = _origin(host, foreign.sockets[0].getsockname()[1])
    app.api_host = api_url.removeprefix("http://")
    app.foreign_origin = origins["foreign"]
    grant = app.tokens.issue()
    world = app.world
    info = {
        "api_url": api_url,
        "token_url": f"{api_url}/oauth/token",
        "seed_url": world.seed_url,
        "seed_short_url": world.short_url(world.seed_track_id),
        "seed_track_id": world.seed_track_id,
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "expires_in": round(app.cfg.token_ttl),
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "foreign_url": origins["foreign"],
        "truth_url": f"{api_url}/__truth",
        "stats_url": f"{api_url}/__stats",
        "pid": os.getpid(),
        "users": world.n_users,
        "tracks": world.n_tracks,
    }
    sys.stdout.write(orjson.dumps(info).decode() + "\n")
    sys.stdout.flush()
    logger.info("simulator listening on %(url)s", {"url": api_url})
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        api.close()
        foreign.close()
