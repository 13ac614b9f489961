"""Subcommands for the response around a recommendation: coverage, patterns, updates.

`recommender coverage` replays alerting rules against the knowledge base,
`recommender patterns` writes the recurring-patterns report, and
`recommender status-update` renders a status update for an alert.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from indexer.knowledge_base import KnowledgeBase
from recommender.alerts import Alert, read_payload_file
from recommender.coverage import CoverageReport, check_coverage, read_rule_file
from recommender.coverage_report import FORMATS, render_coverage
from recommender.patterns import DEFAULT_DISTANCE_THRESHOLD, PERIODS, find_patterns
from recommender.patterns_report import write_report
from recommender.recommendation import Recommender
from recommender.responders import load_responders_config, responders_for
from recommender.settings import ServiceSettings
from recommender.severity_policy import load_scale
from recommender.status_update import firing_alerts, load_status_updater


def add_response_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the coverage, patterns and status-update subcommands."""
    coverage = commands.add_parser(
        "coverage", help="list alerting rules with no runbook or past incident"
    )
    coverage.add_argument(
        "rule_files",
        nargs="+",
        type=Path,
        metavar="RULE_FILE",
        help="Prometheus rule file, PrometheusRule manifest or "
        "awesome-prometheus-alerts rules.yml",
    )
    coverage.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (text)"
    )
    coverage.add_argument(
        "--fail-under",
        type=_ratio,
        metavar="RATIO",
        help="exit 1 when the covered share of alerts is below RATIO (0 to 1)",
    )
    coverage.set_defaults(handler=_coverage)

    patterns = commands.add_parser(
        "patterns", help="report recurring root causes in the knowledge base"
    )
    patterns.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for patterns.md and patterns.png (created if missing)",
    )
    patterns.add_argument(
        "--distance-threshold",
        type=_distance,
        default=DEFAULT_DISTANCE_THRESHOLD,
        metavar="D",
        help="cosine distance under which root causes join one cluster, 0 to 2 "
        f"(default {DEFAULT_DISTANCE_THRESHOLD})",
    )
    patterns.add_argument(
        "--period", choices=PERIODS, default="quarter", help="time bucket of counts"
    )
    patterns.set_defaults(handler=_patterns)

    update = commands.add_parser(
        "status-update", help="render a status update for an alert"
    )
    update.add_argument(
        "--file",
        "-f",
        type=Path,
        required=True,
        help="Alertmanager webhook or plain JSON alert file",
    )
    update.add_argument(
        "--template", help="template name (default from the configuration file)"
    )
    update.set_defaults(handler=_status_update)


def _coverage(args: argparse.Namespace, settings: ServiceSettings) -> int:
    files = [read_rule_file(path) for path in args.rule_files]
    problems = [problem for rule_file in files for problem in rule_file.problems]
    rules = [rule for rule_file in files for rule in rule_file.rules]
    if not rules:
        print(
            "error: no alerting rules could be read from the given files:",
            *(f"  {problem}" for problem in problems),
            sep="\n",
            file=sys.stderr,
        )
        return 2

    recommender = Recommender(
        KnowledgeBase(settings, create=False),
        threshold=settings.threshold,
        severity_scale=load_scale(settings.config),
    )
    report = CoverageReport(
        rows=check_coverage(recommender, rules),
        problems=problems,
        threshold=settings.threshold,
    )
    print(render_coverage(report, args.format))
    if args.fail_under is not None and report.ratio < args.fail_under:
        print(
            f"error: coverage {report.ratio:.2f} is below --fail-under "
            f"{args.fail_under:.2f}",
            file=sys.stderr,
        )
        return 1
    if problems:
        # The ratio counts only the rules that were read, so a CI job must see
        # that some were not, as 'indexer build' exits 1 for inputs left out.
        print(
            f"error: {len(problems)} rule file(s) or rule(s) could not be read and "
            "are not in the ratio; fix them (listed above)",
            file=sys.stderr,
        )
        return 1
    return 0


def _patterns(args: argparse.Namespace, settings: ServiceSettings) -> int:
    if args.output.exists() and not args.output.is_dir():
        print(f"error: --output {args.output} is a file, not a folder", file=sys.stderr)
        return 2
    knowledge_base = KnowledgeBase(settings, create=False)
    report = find_patterns(knowledge_base, args.distance_threshold, args.period)
    markdown, chart = write_report(report, args.output)
    print(
        f"{len(report.recurring)} recurring pattern(s) in {report.records} records; "
        f"wrote {markdown} and {chart}"
    )
    return 0


def _status_update(args: argparse.Namespace, settings: ServiceSettings) -> int:
    updater = load_status_updater(settings.config)
    if args.template and args.template not in updater.templates:
        print(
            f"error: --template {args.template!r} is not a template; available: "
            f"{', '.join(sorted(updater.templates))}",
            file=sys.stderr,
        )
        return 2
    alerts = _firing_alerts(args.file)
    recommender = Recommender(
        KnowledgeBase(settings, create=False),
        threshold=settings.threshold,
        severity_scale=load_scale(settings.config),
    )
    recommendation = recommender.recommend(alerts[0])
    config = load_responders_config(settings.config)
    responders = responders_for(alerts[0], recommendation, config)
    update = updater.render(alerts, recommendation, responders, args.template)
    print(update.text, end="")
    return 0


def _firing_alerts(path: Path) -> list[Alert]:
    """Read the firing alerts of a payload file; raises when there are none."""
    return firing_alerts(read_payload_file(path), str(path))


def _bounded_float(low: float, high: float, name: str) -> Callable[[str], float]:
    """Return an argparse type that accepts numbers from low to high."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be between {low:g} and {high:g}, got {number:g}"
            )
        return number

    return parse


_ratio = _bounded_float(0.0, 1.0, "a ratio")
_distance = _bounded_float(0.01, 1.99, "a cosine distance")
