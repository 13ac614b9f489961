"""The alert coverage report as a text table, Markdown or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from recommender.coverage import CoverageReport, CoverageRow
from recommender.recommendation import score_text

FORMATS = ("text", "markdown", "json")
COLUMNS = ("alert", "file", "severity", "best match", "score", "needed", "covered")


def coverage_to_dict(report: CoverageReport) -> dict[str, Any]:
    """Return the report as JSON-serialisable data."""
    return {
        "alerts": len(report.rows),
        "covered": report.covered,
        "ratio": round(report.ratio, 4),
        "threshold": report.threshold,
        "rows": [asdict(row) for row in report.rows],
        "problems": [asdict(problem) for problem in report.problems],
    }


def summary(report: CoverageReport) -> str:
    """Return "n of m alerts covered" with the share and the threshold."""
    return (
        f"{report.covered} of {len(report.rows)} alerts covered "
        f"({report.ratio:.0%}) by a runbook or past incident scoring at least "
        f'{report.threshold:.2f}, or more where "needed" says so'
    )


def render_coverage(report: CoverageReport, output_format: str) -> str:
    """Render the report in one of FORMATS; uncovered alerts come first."""
    if output_format == "json":
        return json.dumps(coverage_to_dict(report), indent=2)
    rows = sorted(report.rows, key=lambda row: (row.covered, row.score))
    cells = [_cells(row) for row in rows]
    if output_format == "markdown":
        return _markdown(report, cells)
    if output_format == "text":
        return _text(report, cells)
    raise ValueError(
        f"format must be one of {', '.join(FORMATS)}, got {output_format!r}"
    )


def _cells(row: CoverageRow) -> list[str]:
    match = f"{row.best_match} ({row.best_match_kind})" if row.best_match else "none"
    return [
        row.alert,
        row.file,
        row.severity or "-",
        match,
        score_text(row.score, row.bar),
        f"{row.bar:.2f}",
        "yes" if row.covered else "no",
    ]


def _text(report: CoverageReport, cells: list[list[str]]) -> str:
    widths = [
        max([len(header), *(len(row[i]) for row in cells)])
        for i, header in enumerate(COLUMNS)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines += ["", summary(report) + "."]
    if report.problems:
        lines += ["", f"{len(report.problems)} problem(s) in the rule files:"]
        lines += [f"  {problem}" for problem in report.problems]
    return "\n".join(lines)


def _markdown(report: CoverageReport, cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
        for row in cells
    ]
    lines += ["", f"**{summary(report)}.**"]
    if report.problems:
        lines += ["", "Problems in the rule files:", ""]
        lines += [f"- {problem}" for problem in report.problems]
    return "\n".join(lines)
