"""The recurring-patterns report as Markdown, JSON and a chart of counts over time."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recommender.action_items import ActionItem
from recommender.patterns import UNDATED, PatternReport

# Open action items listed per cluster in the Markdown report; JSON has them all.
MAX_LISTED_ITEMS = 10


def report_to_dict(
    report: PatternReport, recurring_only: bool = False
) -> dict[str, Any]:
    """Return the report as JSON-serialisable data."""
    patterns = report.recurring if recurring_only else report.patterns
    return {
        "records": report.records,
        "records_with_root_cause": report.with_root_cause,
        "clusters": len(report.patterns),
        "recurring_clusters": len(report.recurring),
        "distance_threshold": report.distance_threshold,
        "period": report.period,
        "silhouette": report.silhouette,
        "data_version": report.data_version,
        "patterns": [
            {**asdict(pattern), "recurring": pattern.recurring} for pattern in patterns
        ],
    }


def render_markdown(report: PatternReport, chart: str | None = None) -> str:
    """Render the recurring clusters as a Markdown report."""
    recurring = report.recurring
    silhouette = (
        f"{report.silhouette:.2f}" if report.silhouette is not None else "not defined"
    )
    lines = [
        "# Recurring incident patterns",
        "",
        f"{report.records} incidents and postmortems ({report.with_root_cause} with a "
        f"root-cause section) form {len(report.patterns)} clusters at cosine distance "
        f"{report.distance_threshold:.2f}; {len(recurring)} of them recur (2 or more "
        f"records). Silhouette score: {silhouette} (in [-1, 1], higher is better "
        "separated).",
        "",
    ]
    if chart:
        lines += [f"![Recurring clusters per {report.period}]({chart})", ""]
    if not recurring:
        lines.append("No root cause occurs in more than one record.")
        return "\n".join(lines) + "\n"

    lines += [
        "| Cluster | Records | Periods | Open action items |",
        "| --- | --- | --- | --- |",
    ]
    for pattern in recurring:
        periods = ", ".join(f"{p}: {n}" for p, n in pattern.counts.items())
        lines.append(
            f"| {pattern.id}. {_cell(pattern.name)} | {len(pattern.records)} | "
            f"{periods} | {len(pattern.open_action_items)} |"
        )

    for pattern in recurring:
        lines += ["", f"## {pattern.id}. {pattern.name}", ""]
        lines.append(f"Top terms: {', '.join(pattern.terms) or 'none'}.")
        lines.append("")
        for record in pattern.records:
            when = record.started_at[:10] if record.started_at else UNDATED
            basis = "" if record.used_root_cause else " (no root-cause section)"
            lines.append(
                f"- {record.id} ({record.kind}, {when}): {record.title}{basis}"
            )
        lines += [
            "",
            _action_item_summary(
                pattern.open_action_items, pattern.closed_action_items
            ),
        ]
        for item in pattern.open_action_items[:MAX_LISTED_ITEMS]:
            lines.append(f"- [ ] {item.text} ({item.record_id})")
        hidden = len(pattern.open_action_items) - MAX_LISTED_ITEMS
        if hidden > 0:
            lines.append(f"- and {hidden} more in the JSON report")
    return "\n".join(lines) + "\n"


def plot_patterns(report: PatternReport) -> Figure:
    """Draw recurring clusters as stacked bars of record counts per period."""
    recurring = report.recurring
    periods = sorted({p for pattern in recurring for p in pattern.counts})
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.subplots()
    if not recurring:
        axes.text(0.5, 0.5, "no recurring clusters", ha="center", va="center")
        axes.set_axis_off()
        return figure

    bottoms = [0] * len(periods)
    for pattern in recurring:
        heights = [pattern.counts.get(period, 0) for period in periods]
        axes.bar(
            periods, heights, bottom=bottoms, label=f"{pattern.id}. {pattern.name}"
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_xlabel(report.period)
    axes.set_ylabel("incidents and postmortems")
    axes.set_title("Recurring root-cause clusters over time")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="x", labelrotation=45)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def write_report(report: PatternReport, folder: Path) -> tuple[Path, Path]:
    """Write folder/patterns.md and folder/patterns.png; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    chart = folder / "patterns.png"
    plot_patterns(report).savefig(chart, dpi=100)
    markdown = folder / "patterns.md"
    markdown.write_text(render_markdown(report, chart=chart.name), encoding="utf-8")
    return markdown, chart


def _action_item_summary(open_items: list[ActionItem], closed: int) -> str:
    if not open_items and not closed:
        return "No action items recorded."
    return f"Open action items: {len(open_items)} ({closed} done or closed)."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
