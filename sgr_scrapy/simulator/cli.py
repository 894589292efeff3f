"""Command line of ``python -m sgr_scrapy.simulator``: every world and fault knob is a flag.

Flags are generated from the ``WorldConfig`` and ``FaultConfig`` dataclasses (``_`` becomes
``-``; booleans get a ``--no-`` twin), so the CLI and the Python API cannot drift apart.
``--mini-users`` is kept as a deprecated alias of ``--nested-user mini``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

import orjson

from sgr_scrapy.simulator.app import SimulatorApp
from sgr_scrapy.simulator.faults import ERROR_KINDS, FaultConfig
from sgr_scrapy.simulator.objects import NESTED_USER_SHAPES
from sgr_scrapy.simulator.server import NotLoopbackError, serve
from sgr_scrapy.simulator.truth import DEFAULT_LISTS, FAMILIES
from sgr_scrapy.simulator.world import World, WorldConfig

HELP = {
    "seed": "world seed: same seed, same world, byte for byte",
    "users": "number of users (raised to fit likers + reposters)",
    "tracks": "number of tracks",
    "likers": "favoriters of the seed track",
    "reposters": "reposters of the seed track",
    "repost_overlap": "share of reposters who also liked the seed track",
    "likes_mean": "rough mean length of a user's likes list",
    "likes_max": "cap on one user's likes (heavy users get likes_max/2..likes_max)",
    "zero_likes_share": "share of users with no likes",
    "heavy_share": "share of users with thousands of likes",
    "artist_share": "share of users who own tracks",
    "blocked_share": "share of tracks with access=blocked",
    "artist_fans": "share of the seed's likers and reposters drawn from artists "
    "(artists of popular tracks first)",
    "nested_user": "user nested in tracks: partial (2026: kind, id, urn, username, permalink, "
    "avatar_url, city, country), mini (legacy, with uri) or full",
    "reposts_mean": "rough mean length of a user's reposts list",
    "followings_mean": "rough mean length of a user's followings list",
    "playlists_mean": "mean number of playlists per user",
    "playlist_tracks_mean": "rough mean number of tracks in a playlist",
    "related_max": "most related tracks of a track (each has 0..related_max)",
    "taste_groups": "plant taste: artists (with their tracks, one genre per group) and users "
    "in N groups; 0 = off, the world as without the option",
    "taste_strength": "with --taste-groups, the share of a user's likes and reposts drawn from "
    "their group's tracks (the rest from the global popularity)",
    "epoch": "advance time: each epoch (a week) adds likes, reposts and follows at the head of "
    "lists, epoch E-1's world included; 0 = today's world",
    "fault_seed": "seed of every fault coin flip",
    "token_ttl": "access token lifetime in seconds (expires_in)",
    "latency_ms": "added latency per request (asyncio sleep, overlaps across connections)",
    "jitter_ms": "uniform +/- jitter on the latency",
    "rate_limit": "requests per second per access token (token bucket); 0 = off",
    "rate_burst": "token bucket size (default max(1, rate))",
    "rate_limit_body": "429 body: json, text, gateway, legacy or mixed",
    "retry_after": "add a Retry-After header (seconds) to 429s",
    "error_rate": "share of API requests answered with a 5xx",
    "error_kinds": f"comma list of 5xx kinds to draw from: {','.join(ERROR_KINDS)}",
    "fail_every": "answer every Nth API request with a 5xx (kinds in turn); 0 = off",
    "malformed_rate": "share of 200 responses with a truncated JSON body",
    "null_item_rate": "share of pages with a null item inserted",
    "duplicate_rate": "share of pages repeating the last 1-3 items of the previous page",
    "empty_page_rate": "share of followed pages answered empty, with a fresh next_href",
    "internal_host_rate": "share of next_hrefs on the internal s-cloud.net host",
    "repeat_next_rate": "share of followed pages whose next_href is the URL just followed",
    "foreign_next_href_rate": "share of next_hrefs pointing at the foreign listener",
    "omit_id_rate": "share of objects served with a urn but no numeric id",
    "resolve_no_location": "share of /resolve 302s without a Location header (1 = always)",
    "resolve_object_rate": "share of /resolve answered 200 with the object itself (api-v2 style)",
    "forget_cursors": "400 for any cursor this process did not issue (expired or forgotten)",
    "revoke_after": "revoke every access token after N API requests (once); 0 = off",
    "revoke_every": "revoke every access token every N API requests; 0 = off",
    "legacy_arrays": "track and playlist lists without linked_partitioning answer a bare array",
    "omit_null_next_href": "omit next_href on the last page instead of null",
    "unknown_user_empty": "lists of an unknown user: 200 empty envelope (#121) not 404",
    "playlist_tracks_limit": "playlists in /users/{id}/playlists carry at most N tracks "
    "(track_count stays whole); 0 = all",
}


def _add_fields(group: argparse._ArgumentGroup, cls: type) -> None:
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                               help=HELP[f.name])  # fmt: skip
        elif f.name == "error_kinds":
            group.add_argument(flag, default=",".join(default), help=HELP[f.name])
        else:
            kind = {"int": int, "str": str}.get(str(f.type), float)
            group.add_argument(flag, type=kind, default=default, help=HELP[f.name])


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (also used by the docs test)."""
    p = argparse.ArgumentParser(
        prog="python -m sgr_scrapy.simulator", description="Local SoundCloud v1 API simulator."
    )
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    s.add_argument("--port", type=int, default=0, help="API port (0 = a free port)")
    s.add_argument("--foreign-port", type=int, default=0, help="foreign listener port (0 = free)")
    s.add_argument("--client-id", default="sim-client-id", help="the one valid client_id")
    s.add_argument("--client-secret", default="sim-client-secret", help="its client_secret")
    s.add_argument("--log-level", default="WARNING", help="stderr log level")
    t = p.add_argument_group("ground truth")
    t.add_argument("--truth", action="store_true", help="print the truth as JSON and exit")
    t.add_argument("--max-users", type=int, default=0, help="truth: likers/reposters cap")
    t.add_argument("--max-user-likes", type=int, default=0, help="truth: likes cap per user")
    t.add_argument("--truth-seed", type=int, action="append", help="truth: seed track id")
    t.add_argument("--lists", default=",".join(DEFAULT_LISTS),
                   help=f"truth: comma list of families among {','.join(FAMILIES)}")  # fmt: skip
    t.add_argument("--depth", type=int, default=1, help="truth: hops (1 = the seeds only)")
    t.add_argument("--expand", type=int, default=50, help="truth: new seeds per hop")
    for family in FAMILIES:
        note = f"truth: {family} cap per list (wins over --max-users and --max-user-likes)"
        t.add_argument(f"--max-{family}", type=int, default=None, help=note)
    w = p.add_argument_group("world")
    _add_fields(w, WorldConfig)
    w.add_argument("--mini-users", dest="nested_user", action="store_const", const="mini",
                   help="deprecated alias of --nested-user mini")  # fmt: skip
    _add_fields(p.add_argument_group("faults"), FaultConfig)
    return p


def configs(args: argparse.Namespace) -> tuple[WorldConfig, FaultConfig]:
    """Build the world and fault configs from parsed arguments."""
    world = {f.name: getattr(args, f.name) for f in dataclasses.fields(WorldConfig)}
    faults = {f.name: getattr(args, f.name) for f in dataclasses.fields(FaultConfig)}
    kinds = tuple(k.strip() for k in faults["error_kinds"].split(",") if k.strip())
    bad = set(kinds) - set(ERROR_KINDS)
    if bad:
        raise SystemExit(f"--error-kinds: unknown kind(s) {sorted(bad)}; use {ERROR_KINDS}")
    faults["error_kinds"] = kinds
    if world["nested_user"] not in NESTED_USER_SHAPES:
        raise SystemExit("--nested-user must be partial, mini or full")
    if not 0 <= world["artist_fans"] <= 1:
        raise SystemExit("--artist-fans must be between 0 and 1")
    if world["taste_groups"] < 0:
        raise SystemExit("--taste-groups must be 0 (off) or more")
    if not 0 <= world["taste_strength"] <= 1:
        raise SystemExit("--taste-strength must be between 0 and 1")
    if world["epoch"] < 0:
        raise SystemExit("--epoch must be 0 (today) or more")
    if faults["rate_limit_body"] not in ("json", "text", "gateway", "legacy", "mixed"):
        raise SystemExit("--rate-limit-body must be json, text, gateway, legacy or mixed")
    return WorldConfig(**world), FaultConfig(**faults)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    world_cfg, fault_cfg = configs(args)
    world = World(world_cfg)
    if args.truth:
        caps = {f"max_{f}": getattr(args, f"max_{f}") for f in FAMILIES}
        try:
            truth = world.truth(
                args.max_users,
                args.max_user_likes,
                args.truth_seed,
                lists=args.lists,
                depth=args.depth,
                expand=args.expand,
                **{k: v for k, v in caps.items() if v is not None},
            )
        except (KeyError, ValueError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
        sys.stdout.write(orjson.dumps(truth.to_json()).decode() + "\n")
        return 0
    app = SimulatorApp(world, fault_cfg, args.client_id, args.client_secret)
    try:
        asyncio.run(serve(app, args.host, args.port, args.foreign_port))
    except NotLoopbackError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0
