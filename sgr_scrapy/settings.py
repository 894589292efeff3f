"""Scrapy settings for sgr-scrapy: the one place that reads the environment and `.env`.

Every setting below can be overridden with `-s NAME=value`. Credentials and endpoints keep the
names the seed project's `.env` already uses. A `.env` in the current directory is read once, at
import; variables already in the environment win over it.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

# An unreadable or malformed .env must be a one-line error from the crawl command, not a
# traceback at import time, so the failure is recorded here and reported by the command.
SGR_ENV_ERROR = ""
try:
    if Path(".env").exists() and not Path(".env").is_file():
        raise IsADirectoryError(".env is not a file")
    _dotenv_path = find_dotenv(usecwd=True)
    if _dotenv_path:
        load_dotenv(_dotenv_path, override=False)
except UnicodeDecodeError:
    SGR_ENV_ERROR = "cannot read .env: it is not UTF-8 text; save it as UTF-8"
except OSError as _exc:
    SGR_ENV_ERROR = f"cannot read .env ({_exc.strerror or _exc}); make it a readable file"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


BOT_NAME = "sgr_scrapy"
SPIDER_MODULES = ["sgr_scrapy.spiders"]
NEWSPIDER_MODULE = "sgr_scrapy.spiders"
COMMANDS_MODULE = "sgr_scrapy.commands"

# --- Credentials and endpoints (the seed project's names) ---
SOUNDCLOUD_ACCESS_TOKEN = _env("SOUNDCLOUD_ACCESS_TOKEN")
SOUNDCLOUD_CLIENT_ID = _env("SOUNDCLOUD_CLIENT_ID")
SOUNDCLOUD_CLIENT_SECRET = _env("SOUNDCLOUD_CLIENT_SECRET")
SOUNDCLOUD_REFRESH_TOKEN = _env("SOUNDCLOUD_REFRESH_TOKEN")
SOUNDCLOUD_API_URL = _env("SOUNDCLOUD_API_URL", "https://api.soundcloud.com")
SOUNDCLOUD_TOKEN_URL = _env("SOUNDCLOUD_TOKEN_URL", "https://secure.soundcloud.com/oauth/token")

# --- The project's own settings ---
SGR_DB_PATH = _env("SGR_DB_PATH", "data/cache/tracks.db")
# Where an obtained token and the newest single-use refresh token are kept (mode 0600), so runs
# reuse them instead of spending the app's 50 client-credentials exchanges per 12 hours.
SGR_TOKEN_CACHE = _env("SGR_TOKEN_CACHE", "data/cache/oauth-token.json")
SGR_BATCH_SIZE = 5000  # rows per transaction at most
SGR_FLUSH_INTERVAL = 1.0  # seconds between commits at most
SGR_LISTS_IN_FLIGHT = 48  # cursor chains walked at once
SGR_PROGRESS_INTERVAL = 10.0  # seconds between progress lines
SGR_MAX_RATE_LIMIT_WAIT = 900.0  # a longer wait stops the crawl; rerun later to resume
SGR_BACKOFF_BASE = 0.5  # seconds before the first retry; doubles per retry, jittered
SGR_BACKOFF_MAX = 60.0

# --- Scrapy ---
ROBOTSTXT_OBEY = False  # an authenticated JSON API, not a website
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False  # both on by default in Scrapy 2.19; both execute code sent to
REMOTE_CONTROL_ENABLED = False  # a localhost port, so a harvest opens no listening port
USER_AGENT = "sgr-scrapy/0.1 (+https://github.com/soundgraph-relate)"
DEFAULT_REQUEST_HEADERS = {"Accept": "application/json; charset=utf-8"}
LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 0  # the progress extension reports instead
LOG_FORMATTER = "sgr_scrapy.logformatter.HarvestLogFormatter"  # pages are not logged as items
FEED_EXPORT_ENCODING = "utf-8"
# The check re-reads each callback's source for every response (bound methods defeat its cache):
# about 6% of a harvest's CPU. Our callbacks return nothing from their generators.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Scrapy starts this many worker tasks for the output of every response, however little it
# yields (a page yields one Page and one or two requests, all handled synchronously): at the
# default 100, a fifth of the harvest's CPU went to creating and cancelling idle tasks.
CONCURRENT_ITEMS = 1

# One cursor chain is strictly sequential, so throughput is chains in flight / latency; the
# concurrency caps are sized to SGR_LISTS_IN_FLIGHT. DOWNLOAD_DELAY stays 0: the API's own 429s,
# not a guess, set the pace (see middlewares.RateLimitMiddleware).
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 32
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 60
# AutoThrottle on, though it costs ~4% of a CPU-bound harvest's wall time (a timer between
# requests): its delay spaces the requests, so a fast server has fewer in flight when a crawl
# is killed. Three `kill -9` of the families world repeated 28-38 requests with it, 93-102
# without (tests/test_families.py: at most 105, i.e. 32 in flight and 3 more per kill).
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.0
AUTOTHROTTLE_MAX_DELAY = 10.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 32.0

# Retries: 429 is handled apart (it never spends the retry budget); the rest back off
# exponentially. Six retries make a page lost to 5% random 5xx about one in 60 million.
RETRY_TIMES = 6
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]

# Cursor URLs are unique and each list has its own loop guard, and the dupefilter would grow by
# one fingerprint per request (~87 MB per million).
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
# Progress lives in the database, not in JOBDIR: its queue is not crash-safe (see README).
SCHEDULER = "sgr_scrapy.scheduler.DatabaseResumeScheduler"

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "sgr_scrapy.middlewares.BackoffRetryMiddleware": 550,
    "sgr_scrapy.middlewares.RateLimitMiddleware": 560,
    "sgr_scrapy.middlewares.AuthMiddleware": 570,
}
SPIDER_MIDDLEWARES: dict[str, int] = {}
# Callbacks retry malformed bodies with get_retry_request, which carries `retry_times` on purpose.
META_COPY_WARN_SKIP_KEYS = ["retry_times"]
ITEM_PIPELINES = {"sgr_scrapy.pipelines.SQLitePipeline": 300}
EXTENSIONS = {"sgr_scrapy.extensions.HarvestReport": 500}

# --- Feed exports (-o/-O/FEEDS) give records, never the spider's internal pages (feeds.py) ---
# Scrapy's FeedExporter, in its place, with a filter: only records reach a feed.
EXTENSIONS["scrapy.extensions.feedexport.FeedExporter"] = None
EXTENSIONS["sgr_scrapy.feeds.RecordFeedExporter"] = 0
# Lists and objects (tags, machine_tags, raw_json) as JSON text, never Python reprs.
FEED_EXPORTERS = {
    "csv": "sgr_scrapy.feeds.RecordCsvItemExporter",
    "xml": "sgr_scrapy.feeds.RecordXmlItemExporter",
}
# 0: new rows get no raw_json (the columns only; the database is about a quarter of the size).
SGR_STORE_RAW_JSON = _env("SGR_STORE_RAW_JSON", "1") not in ("0", "false", "False", "no")
