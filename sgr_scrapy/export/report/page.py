"""The report as one HTML page: inline CSS, inline SVG figures, no script, nothing fetched.

Links are not links: a SoundCloud URL is shown as text, so opening the page asks nothing of
the network (a test opens it in Chromium with the network off).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from sgr_scrapy.export.report.data import ReportData
from sgr_scrapy.export.report.figures import ANALYSIS, AUDIENCE, DEGREES, FIGURES, HARVEST

CSS = """
:root { --ink: #1f2933; --muted: #7b8794; --line: #e4e7eb; --accent: #e4572e; --panel: #f8f9fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 32px 24px 64px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 40px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 24px 0 6px; }
.meta, .caption, .note { color: var(--muted); font-size: 13px; }
.note { background: var(--panel); border-left: 3px solid var(--muted); padding: 8px 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr));
  gap: 12px; margin: 16px 0; }
.card { background: var(--panel); border-radius: 6px; padding: 10px 14px; }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.url { word-break: break-all; color: var(--muted); }
figure { margin: 16px 0 24px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; }
"""

SECTIONS = (
    (HARVEST, "What was harvested"),
    (DEGREES, "Degree distributions"),
    (AUDIENCE, "The audience"),
    (ANALYSIS, "What scrapy analyze found"),
)


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]) -> str:
    cells = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    body = []
    for row in rows:
        tds = []
        for i, value in enumerate(row):
            text = "" if value is None else _n(value) if i in numeric else escape(str(value))
            tds.append(f'<td class="n">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cards(data: ReportData) -> str:
    t = data.tables
    items = [
        ("tracks", t.get("tracks", 0)),
        ("users", t.get("users", 0)),
        ("likes", data.engagements.get("like", 0)),
        ("reposts", data.engagements.get("repost", 0)),
        ("follows", t.get("user_follows", 0)),
        ("playlists", t.get("playlists", 0)),
        ("related (API)", t.get("related_tracks", 0) - data.analysis.get("co_like", 0)),
        ("failed pages", t.get("harvest_failed_pages", 0)),
    ]
    cards = "".join(
        f"<div class='card'><b>{v:,}</b><span>{escape(k)}</span></div>" for k, v in items
    )
    return f"<div class='cards'>{cards}</div>"


def _harvest(data: ReportData) -> str:
    out = [_cards(data)]
    runs, first, last, unfinished = data.runs
    text = f"{runs:,} harvest run(s)"
    if first:
        text += f", the first begun {escape(first)}"
    if last:
        text += f", the last ended {escape(last)}"
    if unfinished:
        text += f"; {unfinished:,} not finished (running now, or stopped before its end)"
    out.append(f"<p class='meta'>{text}.</p>")
    out.append("<h3>Seeds</h3>")
    if data.seeds:
        rows = [(s[4], s[2], s[5], s[6], s[0]) for s in data.seeds]
        table = _table(("artist", "title", "likes", "reposts", "URL"), rows, {2, 3})
        out.append(table.replace("<td>http", "<td class='url'>http"))
    else:
        out.append("<p class='note'>No seed recorded.</p>")
    out.append("<h3>Hops</h3>")
    hop_rows = [(1, len(data.seeds), None)] + [(h, n, e) for h, n, e in data.hops]
    out.append(
        _table(("hop", "seed tracks", "their engagements in the hop before"), hop_rows, {0, 1, 2})
    )
    out.append("<h3>List families</h3>")
    families: dict[str, dict[str, int]] = {}
    for family, status, lists, pages, items in data.lists:
        row = families.setdefault(family, {"lists": 0, "pages": 0, "items": 0})
        row["lists"] += lists
        row["pages"] += pages or 0
        row["items"] += items or 0
        row[status] = row.get(status, 0) + lists
    head = (
        "family",
        "lists",
        "done",
        "capped",
        "incomplete",
        "failed",
        "pending",
        "pages",
        "items",
    )
    rows = [(f, *(r.get(k, 0) for k in head[1:])) for f, r in families.items()]
    out.append(
        _table(head, rows, set(range(1, len(head))))
        if rows
        else "<p class='note'>No list recorded.</p>"
    )
    return "".join(out)


def _analysis_summary(data: ReportData) -> str:
    if not data.analyzed:
        return ""
    a = data.analysis
    return (
        f"<p class='meta'>{a.get('co_like', 0):,} co-liked track pairs, "
        f"{a.get('user_similarity', 0):,} similar user pairs, "
        f"{a.get('co_liked_artists', 0):,} co-liked artist pairs.</p>"
    )


def _co_liked_table(data: ReportData) -> str:
    if not data.co_liked:
        return ""
    titles = {s[1]: s[2] or s[1] for s in data.seeds}
    rows = [
        (titles.get(r[0], r[0]), r[2], r[3], f"{r[4]:.3f}" if r[4] is not None else None, r[5])
        for r in data.co_liked
    ]
    head = ("seed", "co-liked track", "artist", "score", "support")
    return "<h3>Co-liked tracks of each seed</h3>" + _table(head, rows, {4})


def _figures(data: ReportData, section: str, svgs: dict[str, str]) -> str:
    out = []
    for spec in FIGURES:
        if spec.section != section:
            continue
        out.append(f"<h3>{escape(spec.title)}</h3>")
        if spec.name in svgs:
            out.append(
                f"<figure id='fig-{spec.name}'>{svgs[spec.name]}"
                f"<figcaption>{escape(spec.caption)}</figcaption></figure>"
            )
        else:
            out.append(f"<p class='note'>{escape(spec.missing(data) or '')}</p>")
    return "".join(out)


def page(data: ReportData, svgs: dict[str, str]) -> str:
    """The whole page; `svgs` the rendered figures by name (a missing one shows its note)."""
    seed = data.seeds[0] if data.seeds else None
    title = "sgr-scrapy report"
    if seed is not None and seed[2]:
        title += f": {seed[2]}" + (f" by {seed[4]}" if seed[4] else "")
    sections = []
    for section, heading in SECTIONS:
        body = _figures(data, section, svgs)
        if section == HARVEST:
            body = _harvest(data) + body
        elif section == ANALYSIS:
            body = _analysis_summary(data) + body + _co_liked_table(data)
        sections.append(f"<section id='{section}'><h2>{escape(heading)}</h2>{body}</section>")
    meta = (
        f"{escape(data.database)} · schema {data.schema_version} · "
        f"written {escape(data.generated_at)}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>{escape(title)}</h1><p class='meta'>{meta}</p></header>"
        + "".join(sections)
        + "</main></body></html>\n"
    )
