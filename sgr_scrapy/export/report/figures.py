"""The report's figures, declared once, each drawn with matplotlib and kept as inline SVG.

A figure is one entry of `FIGURES`: its section, title and caption, what it needs
(`missing(data)` says why it cannot be drawn, or None), and how it is drawn. The page and the
tests loop over this registry. Text stays text in the SVG (`svg.fonttype: none`), set in the
reader's own sans-serif font: nothing is loaded from anywhere when the page opens.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sgr_scrapy.export.report.data import ReportData
from sgr_scrapy.families import FAMILIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HARVEST, DEGREES, AUDIENCE, ANALYSIS = "harvest", "degrees", "audience", "analysis"
INK, MUTED, ACCENT, GRID = "#1f2933", "#7b8794", "#e4572e", "#e4e7eb"
STATUS_COLOURS = {
    "done": "#2a9d8f",
    "capped": "#457b9d",
    "pending": "#adb5bd",
    "incomplete": "#f4a261",
    "failed": "#e63946",
}
BAR = "#457b9d"
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text as <text>, in the reader's font: no glyph paths, no fonts
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
}


@dataclass(frozen=True, slots=True)
class FigureSpec:
    name: str
    section: str
    title: str
    caption: str
    size: tuple[float, float]  # inches
    missing: Callable[[ReportData], str | None]
    draw: Callable[[ReportData, Figure], None]


def _short(text: Any, limit: int = 42) -> str:
    text = str(text or "?")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _barh(fig: Figure, labels: list[str], values: list[float], xlabel: str) -> Any:
    ax = fig.add_subplot()
    ax.barh(range(len(values)), values, color=BAR)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    return ax


# -- harvest ------------------------------------------------------------------------------


def _completeness(data: ReportData, fig: Figure) -> None:
    order = {name: i for i, name in enumerate(FAMILIES)}
    families = sorted({row[0] for row in data.lists}, key=lambda f: (order.get(f, 99), f))
    counts = {(f, s): n for f, s, n, _, _ in data.lists}
    totals = {f: sum(n for (g, _), n in counts.items() if g == f) for f in families}
    statuses = [s for s in STATUS_COLOURS if any(k[1] == s for k in counts)]
    statuses += sorted({s for _, s in counts} - set(statuses))
    ax = fig.add_subplot()
    left = [0.0] * len(families)
    for status in statuses:
        shares = [100 * counts.get((f, status), 0) / (totals[f] or 1) for f in families]
        ax.barh(families, shares, left=left, label=status, color=STATUS_COLOURS.get(status, MUTED))
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for i, family in enumerate(families):
        n = totals[family]
        ax.text(101, i, f"{n:,} list{'' if n == 1 else 's'}", va="center", fontsize=8, color=MUTED)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the family's lists (%)")
    ax.grid(axis="y", visible=False)
    ax.legend(frameon=False, ncols=len(statuses), loc="lower center", bbox_to_anchor=(0.5, 1.0))


# -- degrees ------------------------------------------------------------------------------


def _degrees(data: ReportData, fig: Figure) -> None:
    panels = (
        (data.likes_per_user, "likes per user", "users"),
        (data.likers_per_track, "likers per track", "tracks"),
    )
    for i, (counts, xlabel, ylabel) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, i)
        if counts:
            x, y = zip(*counts, strict=True)
            ax.loglog(x, y, "o", ms=3.5, color=BAR, alpha=0.75, markeredgewidth=0)
        ax.set_xlabel(f"{xlabel} (log)")
        ax.set_ylabel(f"{ylabel} (log)")
        ax.set_title(xlabel.capitalize())


# -- audience -----------------------------------------------------------------------------


def _genres(data: ReportData, fig: Figure) -> None:
    labels = [_short(g) if g else "(no genre)" for g, _ in data.genres]
    _barh(fig, labels, [n for _, n in data.genres], "likes by the audience")


def _tags(data: ReportData, fig: Figure) -> None:
    _barh(
        fig, [_short(t) for t, _ in data.tags], [n for _, n in data.tags], "likes by the audience"
    )


# -- analysis -----------------------------------------------------------------------------


def _first_seed_co_liked(data: ReportData) -> list[tuple[Any, ...]]:
    first = data.co_liked[0][0] if data.co_liked else None
    return [row for row in data.co_liked if row[0] == first]


def _co_liked(data: ReportData, fig: Figure) -> None:
    rows = _first_seed_co_liked(data)
    labels = [_short(f"{r[2] or r[1]} — {r[3] or '?'}", 48) for r in rows]
    ax = _barh(fig, labels, [r[4] or 0.0 for r in rows], "co-like score")
    for i, row in enumerate(rows):
        if row[5] is not None:
            ax.text(row[4] or 0.0, i, f"  {row[5]:,}", va="center", fontsize=7, color=MUTED)


def _artist_network(data: ReportData, fig: Figure) -> None:
    import networkx as nx
    from matplotlib.collections import LineCollection

    names, edges = data.artists
    graph = nx.Graph()
    graph.add_nodes_from(names)
    for a, b, weight in edges:
        if a != b:
            graph.add_edge(a, b, weight=max(float(weight or 0.0), 0.0))
    pos = nx.spring_layout(graph, seed=1, weight="weight")
    ax = fig.add_subplot()
    ax.set_axis_off()
    strongest = max((w for _, _, w in graph.edges(data="weight")), default=1.0) or 1.0
    segments = [(pos[a], pos[b]) for a, b in graph.edges]
    widths = [0.5 + 3.5 * w / strongest for _, _, w in graph.edges(data="weight")]
    ax.add_collection(LineCollection(segments, linewidths=widths, colors=MUTED, alpha=0.5))
    seeds = set(data.seed_artists)
    for node, (x, y) in pos.items():
        seed = node in seeds
        ax.scatter(
            [x],
            [y],
            s=220 if seed else 40 + 25 * graph.degree(node),
            color=ACCENT if seed else BAR,
            zorder=3,
        )
        ax.annotate(
            _short(names.get(node) or node, 24),
            (x, y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            fontweight="bold" if seed else "normal",
        )
    ax.margins(0.12)


def _needs_lists(data: ReportData) -> str | None:
    return None if data.lists else "no list recorded: this database was not written by a harvest"


def _needs_likes(data: ReportData) -> str | None:
    return None if data.likes_per_user else "no like in the database"


def _needs_genres(data: ReportData) -> str | None:
    return None if data.genres else "no like of the audience beyond the seeds"


def _needs_tags(data: ReportData) -> str | None:
    return None if data.tags else "no tag on the tracks the audience likes"


def _needs_co_liked(data: ReportData) -> str | None:
    if not data.analysis.get("co_like"):
        return "run `scrapy analyze` to see the seed's most co-liked tracks here"
    return None if data.co_liked else "analyze found no co-liked track for the seeds"


def _needs_artists(data: ReportData) -> str | None:
    if not data.analysis.get("co_liked_artists"):
        return "run `scrapy analyze` to see the seed artist's network here"
    return None if data.artists[1] else "analyze found no co-liked artist for the seed's artist"


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "completeness",
        HARVEST,
        "Lists read, by family and status",
        "Every paged list the harvest walked. done: read to its end; capped: stopped at a "
        "-a max_* cap; incomplete or failed: cut short (rerun to resume); pending: not yet read.",
        (7.5, 3.2),
        _needs_lists,
        _completeness,
    ),
    FigureSpec(
        "degrees",
        DEGREES,
        "Degree distributions (log-log)",
        "How many users have each number of likes, and how many tracks each number of likers, "
        "among the users and tracks with one like at least. A straight-ish line is a heavy tail.",
        (8.0, 3.4),
        _needs_likes,
        _degrees,
    ),
    FigureSpec(
        "genres",
        AUDIENCE,
        "The audience's genres",
        "Genres of the tracks liked by the seeds' audience (everyone who liked or reposted a "
        "seed), seeds left out; one count per like.",
        (7.5, 4.2),
        _needs_genres,
        _genres,
    ),
    FigureSpec(
        "tags",
        AUDIENCE,
        "The audience's top tags",
        "Tags of the tracks the audience likes, lower-cased; one count per like and tag.",
        (7.5, 5.0),
        _needs_tags,
        _tags,
    ),
    FigureSpec(
        "co_liked",
        ANALYSIS,
        "The seed's top co-liked tracks",
        "scrapy analyze's co-like score (cosine over the likers); the number after each bar "
        "is its support, the likers both tracks share.",
        (7.5, 4.6),
        _needs_co_liked,
        _co_liked,
    ),
    FigureSpec(
        "artists",
        ANALYSIS,
        "The seed artist's network",
        "The seed's artist (orange) and its most co-liked artists from scrapy analyze; "
        "thicker lines are stronger co-likes, larger dots more connected artists.",
        (7.5, 5.6),
        _needs_artists,
        _artist_network,
    ),
)


def render(spec: FigureSpec, data: ReportData) -> str:
    """The figure as an inline <svg> element: no XML prolog, no metadata, scaled by CSS."""
    import matplotlib
    from matplotlib.figure import Figure

    with (
        matplotlib.rc_context({**STYLE, "svg.hashsalt": f"sgr-{spec.name}"}),
        warnings.catch_warnings(),
    ):
        # Text stays text: the browser draws a title in Japanese or an emoji with the reader's
        # fonts. matplotlib only measures it with its own, and warns about the glyphs they lack.
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        fig = Figure(figsize=spec.size, layout="constrained")
        spec.draw(data, fig)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s(width|height)="[\d.]+pt"', "", svg, count=2)
    return svg.replace("<svg", f'<svg role="img" aria-label="{spec.title}"', 1)
