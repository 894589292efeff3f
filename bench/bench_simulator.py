"""Benchmark the simulator: 200-item pages per second over keep-alive connections.

Starts ``python -m sgr_scrapy.simulator`` in a subprocess (its own core), then walks
favoriters and likes/tracks chains from this process over several concurrent keep-alive
connections (asyncio streams, no JSON parsing: the client must not be the bottleneck), and
prints pages/s, items/s, MB/s and the server's CPU use. Run: ``python -m bench.bench_simulator``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from urllib.parse import urlsplit

from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.world import World, WorldConfig

WORLD_ARGS = ["--likers", "20000", "--reposters", "2000", "--heavy-share", "0.01"]


def server_cpu_seconds(pid: int) -> float:
    """Return user+system CPU seconds of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def chain(
    host: str, port: int, start: str, token: str, deadline: float, kind: bytes, totals: list[int]
) -> None:
    """Walk ``start``'s next_href chain again and again on one connection until ``deadline``."""
    reader, writer = await asyncio.open_connection(host, port)
    head = f"Host: {host}:{port}\r\nAuthorization: OAuth {token}\r\n\r\n".encode()
    target = start
    marker = b'"next_href":'
    while time.perf_counter() < deadline:
        writer.write(b"GET " + target.encode() + b" HTTP/1.1\r\n" + head)
        headers = await reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        i = headers.lower().index(b"content-length:") + 15
        body = await reader.readexactly(int(headers[i : headers.index(b"\r\n", i)]))
        assert status == 200, (status, body[:200])
        totals[0] += 1
        totals[1] += body.count(kind)
        totals[2] += len(body) + len(headers)
        j = body.rfind(marker) + len(marker)
        if body[j : j + 4] == b"null":
            target = start
        else:
            url = body[j + 1 : body.index(b'"', j + 1)].decode()
            parts = urlsplit(url)
            target = f"{parts.path}?{parts.query}"
    writer.close()


async def run(info: dict, starts: list[str], kind: bytes, seconds: float, conns: int) -> tuple:
    """Run ``conns`` chains for ``seconds``; return (pages, items, bytes, wall, server cpu)."""
    parts = urlsplit(info["api_url"])
    totals = [0, 0, 0]
    cpu0, t0 = server_cpu_seconds(info["pid"]), time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(
        *(
            chain(
                parts.hostname,
                parts.port,
                starts[i % len(starts)],
                info["access_token"],
                deadline,
                kind,
                totals,
            )
            for i in range(conns)
        )
    )
    wall = time.perf_counter() - t0
    return (*totals, wall, server_cpu_seconds(info["pid"]) - cpu0)


def main() -> None:
    """Parse flags, start the simulator, print the table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--mini-users", action="store_true", help="embed mini users in tracks")
    args = p.parse_args()
    world_args = WORLD_ARGS + (["--mini-users"] if args.mini_users else [])
    world = World(WorldConfig(likers=20000, reposters=2000, heavy_share=0.01))
    heavy = [world.user_id(i) for i in range(world.n_users) if world.like_count(i) >= 1000][:32]
    seed = world.seed_track_id
    likes_q = "limit=200&linked_partitioning=true&access=playable,preview,blocked"
    cases = [
        ("favoriters", b'"kind":"user"', [f"/tracks/{seed}/favoriters?limit=200"]),
        ("likes/tracks", b'"kind":"track"', [f"/users/{u}/likes/tracks?{likes_q}" for u in heavy]),
    ]
    note = " (mini users)" if args.mini_users else ""
    print(
        f"simulator benchmark: {args.connections} keep-alive connections, "
        f"{args.seconds:.0f} s per case, 200-item pages{note}"
    )
    print(f"{'route':<14}{'pages/s':>10}{'items/s':>12}{'MB/s':>9}{'KB/page':>9}{'server CPU':>12}")
    with SimulatorProcess(*world_args) as sim:
        for name, kind, starts in cases:
            asyncio.run(run(sim.info, starts, kind, 1.5, args.connections))  # warm the caches
            pages, items, nbytes, wall, cpu = asyncio.run(
                run(sim.info, starts, kind, args.seconds, args.connections)
            )
            print(
                f"{name:<14}{pages / wall:>10.0f}{items / wall:>12.0f}"
                f"{nbytes / wall / 1e6:>9.1f}{nbytes / pages / 1e3:>9.0f}{cpu / wall:>11.0%}"
            )


if __name__ == "__main__":
    main()
