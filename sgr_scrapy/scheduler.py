"""A scheduler whose queue never touches JOBDIR: the harvest's progress lives in the database.

Scrapy's disk queue writes its length header and `active.json` only on a clean close, so after
`kill -9` a resumed crawl reads an empty queue and "finishes" with most pages missing. The spider
instead re-seeds every unfinished list from the database on start, which is exact after a
clean stop and after a crash alike. A queue in JOBDIR would then only duplicate those requests,
and its pickled requests would be one more place for secrets to land, so it is not used.
JOBDIR keeps its other uses (Scrapy's `spider.state`), and the same command with or without it
resumes the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from scrapy.core.scheduler import Scheduler
from scrapy.utils.misc import build_from_crawler, load_object

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class DatabaseResumeScheduler(Scheduler):
    """Scrapy's scheduler with memory queues only, whatever JOBDIR says."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        return cls(
            dupefilter=build_from_crawler(load_object(settings["DUPEFILTER_CLASS"]), crawler),
            jobdir=None,
            dqclass=load_object(settings["SCHEDULER_DISK_QUEUE"]),
            mqclass=load_object(settings["SCHEDULER_MEMORY_QUEUE"]),
            logunser=settings.getbool("SCHEDULER_DEBUG"),
            stats=crawler.stats,
            pqclass=load_object(settings["SCHEDULER_PRIORITY_QUEUE"]),
            crawler=crawler,
        )
