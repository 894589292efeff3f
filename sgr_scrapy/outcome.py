"""How a harvest ended, judged once: the summary's title, the exit status and the advice.

No Scrapy import. The spider and the stats hand in what this run did; `judge` returns one
`Outcome`, which the end-of-run summary prints and the crawl command turns into an exit status,
so the two can never disagree.

- COMPLETE (exit 0): every list reachable from this run's seeds is read to its end or its cap.
- INCOMPLETE (exit 3): the run finished, but something is missing (a failed page, a list cut
  short, a seed that could not be harvested); each is named.
- STOPPED (exit 4): Ctrl-C or a signal, a rate-limit wait longer than SGR_MAX_RATE_LIMIT_WAIT,
  a database that could not be written, or credentials refused after work had been done.
- FAILED (exit 1): nothing could be harvested: the one reason is given.
- PLANNED (exit 0): `-a plan=1` read what it needed for its estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sgr_scrapy.items import FAILED, INCOMPLETE, PENDING, RESUMABLE

COMPLETE_TITLE = "COMPLETE"
INCOMPLETE_TITLE = "INCOMPLETE"
STOPPED_TITLE = "STOPPED"
FAILED_TITLE = "FAILED"
PLANNED_TITLE = "PLANNED"
EXIT_STATUS = {
    COMPLETE_TITLE: 0,
    PLANNED_TITLE: 0,
    FAILED_TITLE: 1,
    INCOMPLETE_TITLE: 3,
    STOPPED_TITLE: 4,
}
EXIT_USAGE = 2  # nothing started: a bad argument, credentials, .env or database (one line)

# Finish reasons of a run stopped before its end, and how the summary names them.
STOP_REASONS = {
    "shutdown": "stopped by Ctrl-C or a signal",
    "forced_shutdown": "stopped at once by a second Ctrl-C or signal",
    "rate_limited": "the API asked for a rate-limit wait longer than SGR_MAX_RATE_LIMIT_WAIT",
    "store_error": "the database could not be written",
    "auth_error": "the API refused the credentials",
}


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What one run did, as far as its ending is concerned."""

    finish_reason: str
    seeds_ok: int = 0  # seed tracks this run could harvest from (resolved or known)
    seed_errors: tuple[str, ...] = ()  # one line each
    lists: dict[str, int] = field(default_factory=dict)  # this run's lists by status
    failed_pages: int = 0  # of this run's lists
    pages: int = 0  # list pages read by this run
    stop_detail: str | None = None  # e.g. the auth or store error line
    plan: bool = False  # `-a plan=1`: only the seeds' favoriters and reposters were to be read


@dataclass(frozen=True, slots=True)
class Outcome:
    title: str  # COMPLETE, PLANNED, INCOMPLETE, STOPPED or FAILED
    why: tuple[str, ...]  # "error: ...", "missing: ...", "stopped: ...", one line each
    rerun: str | None  # advice, only when a rerun would continue something

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.title]

    @property
    def heading(self) -> str:
        return f"DEEP HARVEST {self.title}"


def _resumable(lists: dict[str, int]) -> int:
    return sum(lists.get(status, 0) for status in RESUMABLE)


def judge(facts: RunFacts) -> Outcome:
    """The one verdict on a run (see the module docstring)."""
    reason = facts.finish_reason
    lists = facts.lists
    resumable = _resumable(lists)
    detail = (f"error: {facts.stop_detail}",) if facts.stop_detail else ()
    seed_errors = tuple(f"error: {line}" for line in facts.seed_errors)
    nothing_done = facts.pages == 0 and facts.seeds_ok == 0
    if nothing_done and (reason == "auth_error" or (seed_errors and reason == "finished")):
        return Outcome(FAILED_TITLE, detail or seed_errors[:1], None)
    if reason != "finished":
        stopped = "stopped: " + STOP_REASONS.get(reason, reason)
        why = (stopped, *detail, *seed_errors)
        rerun = None
        if resumable or facts.seeds_ok == 0:
            rerun = "Rerun the same command to continue: finished lists are not fetched again."
        return Outcome(STOPPED_TITLE, why, rerun)
    why_list: list[str] = []
    if lists.get(PENDING):
        why_list.append(f"missing: {lists[PENDING]:,} lists not finished")
    if lists.get(FAILED):
        why_list.append(
            f"missing: {lists[FAILED]:,} lists stopped at a page that failed after every retry "
            f"({facts.failed_pages:,} pages)"
        )
    if lists.get(INCOMPLETE):
        why_list.append(
            f"missing: {lists[INCOMPLETE]:,} lists cut short by their next_href (see the log)"
        )
    why_list += seed_errors
    if not why_list:
        return Outcome(PLANNED_TITLE if facts.plan else COMPLETE_TITLE, (), None)
    rerun = None
    if resumable:
        rerun = (
            f"Rerun the same command to retry the {resumable:,} unfinished lists: "
            "finished lists are not fetched again."
        )
    return Outcome(INCOMPLETE_TITLE, tuple(why_list), rerun)
