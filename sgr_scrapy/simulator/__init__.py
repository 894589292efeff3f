"""Local SoundCloud v1 API simulator: a deterministic world, faults, and the ground truth.

Modules: ``world`` (users, tracks, playlists, ids, counts), ``lists`` (every list of the
API), ``graph`` (likes, reposts and follows, one lazy graph each, read from both ends),
``taste`` (planted taste groups, ``--taste-groups``, off by default), ``epochs`` (time,
``--epoch``: new events at the heads of lists, off by default), ``truth`` (the list
families, caps, hops and the ground truth), ``objects`` (API dicts and text), ``cursors``,
``auth`` (tokens, rate limiter), ``faults`` (knobs and error bodies), ``pages``,
``shortlinks`` (on.soundcloud.com codes), ``app`` (routes), ``http`` (asyncio HTTP/1.1),
``server``, ``cli``, ``process`` (``SimulatorProcess`` for tests and benchmarks), ``walk``
(the reference client). See the README.
"""

from __future__ import annotations

from sgr_scrapy.simulator.process import SimulatorProcess
from sgr_scrapy.simulator.world import Truth, World, WorldConfig

__all__ = ["SimulatorProcess", "Truth", "World", "WorldConfig"]
