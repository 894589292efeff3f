"""The project's settings with bench.replay.Recorder added: a harvest that keeps every response
(``SCRAPY_SETTINGS_MODULE=bench.record_settings``, and ``-s SGR_BENCH_RECORDING=PATH``)."""

from sgr_scrapy.settings import *  # noqa: F403
from sgr_scrapy.settings import EXTENSIONS as _PROJECT_EXTENSIONS

EXTENSIONS = {**_PROJECT_EXTENSIONS, "bench.replay.Recorder": 900}
