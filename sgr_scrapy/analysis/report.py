"""The summary `scrapy analyze` prints: rows written per table, seconds per step, peak memory,
and with `--factors` the leave-one-out evaluation."""

from __future__ import annotations

from sgr_scrapy.analysis.evaluate import METHODS, TOP, Evaluation
from sgr_scrapy.analysis.options import Options
from sgr_scrapy.analysis.run import Report
from sgr_scrapy.store.analysis import RELATIONS

RULE = "=" * 64
# What marks analyze's rows in a table that holds others too.
_MARKS = {r.table: f"{r.marker[0]}='{r.marker[1]}'" for r in RELATIONS.values() if r.marker}


def summary(report: Report, options: Options) -> str:
    """The whole summary, lines joined."""
    r = report
    kinds = "likes and reposts" if options.with_reposts else "likes"
    lines = [
        RULE,
        "ANALYZE COMPLETE",
        RULE,
        f"Run:             {r.run_id} (analysis_runs), top-k {options.top_k}, "
        f"min support {options.min_support}, factors {options.factors}",
        f"Input:           {r.inputs['users']:,} users, {r.inputs['tracks']:,} tracks, "
        f"{r.inputs['artists']:,} artists, {r.inputs['engagements']:,} engagements ({kinds})",
        "",
        "ROWS WRITTEN",
    ]
    for table, rows in r.rows.items():
        mark = f"  ({_MARKS[table]})" if table in _MARKS else ""
        lines.append(f"  {table:<24}{rows:>12,}{mark}")
    compute = sum(r.compute.values())
    write = sum(r.write.values())
    lines += ["", f"SECONDS ({r.threads} threads; writing runs beside computing, in a thread)"]
    lines += [f"  {step:<32}{seconds:>8.2f} s" for step, seconds in r.compute.items()]
    lines += [f"  write {table:<26}{seconds:>8.2f} s" for table, seconds in r.write.items()]
    lines += [
        f"  {'compute total':<32}{compute:>8.2f} s",
        f"  {'write total':<32}{write:>8.2f} s",
        f"  {'total (wall)':<32}{r.wall:>8.2f} s",
        "",
        f"Peak memory:     {r.peak_memory_mb:,} MB",
    ]
    if r.evaluation is not None:
        lines += ["", *evaluation_table(r.evaluation, options)]
    lines.append(RULE)
    return "\n".join(lines)


def users(n: int) -> str:
    return f"{n:,} user" if n == 1 else f"{n:,} users"


def evaluation_table(e: Evaluation, options: Options) -> list[str]:
    names = {"ALS": f"ALS ({options.factors} factors)"}
    lines = [
        f"LEAVE-ONE-OUT EVALUATION: recall@{TOP}, one item hidden per user",
        f"  {users(e.users)} evaluated (a seeded sample of the {e.eligible:,} with 2 items or "
        f"more); {users(e.skipped)} with 1 item skipped",
    ]
    if not e.users:
        return [*lines, "  nothing to evaluate: no user has 2 items or more"]
    return [*lines, *(f"  {names.get(m, m):<24}{e.recall[m]:>8.3f}" for m in METHODS)]
