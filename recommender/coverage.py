"""Alert coverage: which alerting rules have a runbook or past incident to go on.

Rule files are read in three shapes. Plain Prometheus rule files have `groups:` of
`rules:`. PrometheusRule manifests of the Prometheus Operator have the same groups
under `spec:`, with several documents per file allowed. The catalogue layout of
awesome-prometheus-alerts has `groups` of `services` of `exporters` of `rules`,
each with `name`, `description`, `query` and `severity`. Each alerting rule becomes
the alert Alertmanager would send, and its best match in the knowledge base decides
whether the alert is covered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer import limited_yaml
from recommender.alerts import Alert, check_unicode, parse_alertmanager
from recommender.errors import InvalidAlertError
from recommender.recommendation import Recommender
from recommender.rules import AlertRule, scalar_text, to_alertmanager_alert

logger = logging.getLogger(__name__)

# Keeps one request or command bounded. The kube-prometheus manifests contain 139
# alerting rules and the awesome-prometheus-alerts catalogue 970.
MAX_RULES = 5_000
_SCALAR = (str, int, float, bool)
_NAME_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass
class RuleProblem:
    """A rule file or one rule in it that could not be read."""

    file: str
    rule: str | None
    message: str

    def __post_init__(self) -> None:
        # A rule name from a YAML "\ud800" escape could not be printed.
        if self.rule is not None:
            readable = self.rule.encode("utf-8", "backslashreplace").decode("utf-8")
            object.__setattr__(self, "rule", readable)

    def __str__(self) -> str:
        where = f"{self.file}: rule {self.rule}" if self.rule else self.file
        return f"{where}: {self.message}"


@dataclass
class RuleFile:
    """The alerting rules read from one file, and what could not be read."""

    name: str
    rules: list[AlertRule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)


@dataclass
class CoverageRow:
    """One alerting rule and its best match.

    Attributes:
        best_match: Id of the closest record, None for an empty knowledge base.
        score: Its score in [0, 1], higher is closer.
        covered: True when the score reaches the precedent bar, so that the
            alert would get a recommendation with a close precedent.
        bar: The score the alert needed: the threshold, or more for a named
            alert whose nearest records are named for other alerts.
    """

    alert: str
    file: str
    severity: str | None
    best_match: str | None
    best_match_kind: str | None
    score: float
    covered: bool
    bar: float


@dataclass
class CoverageReport:
    """Coverage of a set of rule files."""

    rows: list[CoverageRow]
    problems: list[RuleProblem]
    threshold: float

    @property
    def covered(self) -> int:
        """Return the number of covered alerts."""
        return sum(row.covered for row in self.rows)

    @property
    def ratio(self) -> float:
        """Return the covered share of alerts in [0, 1], 0 when there are none."""
        return self.covered / len(self.rows) if self.rows else 0.0


def parse_rule_text(text: str, name: str) -> RuleFile:
    """Read the alerting rules in one rule file's text; problems are collected."""
    result = RuleFile(name=name)
    try:
        documents = limited_yaml.load_all(text)
    except yaml.YAMLError as error:
        result.problems.append(RuleProblem(name, None, limited_yaml.error_text(error)))
        return result

    found_groups = False
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            result.problems.append(
                RuleProblem(
                    name,
                    None,
                    f"document {number} is a {type(document).__name__}, not a "
                    "mapping with 'groups' (or 'spec.groups' in a PrometheusRule)",
                )
            )
            continue
        groups = _groups(document)
        if groups is None:
            if document.get("kind") not in (None, "PrometheusRule"):
                continue  # Other manifests in the same file are not rule files.
            result.problems.append(
                RuleProblem(
                    name, None, f"document {number} has no 'groups' list of rules"
                )
            )
            continue
        found_groups = True
        for rule_name, rule in _rules(groups, name, result.problems):
            if len(result.rules) >= MAX_RULES:
                result.problems.append(
                    RuleProblem(
                        name,
                        None,
                        f"more than {MAX_RULES} alerting rules; rest skipped",
                    )
                )
                return result
            try:
                result.rules.append(_alert_rule(rule, name))
            except ValueError as error:
                result.problems.append(RuleProblem(name, rule_name, str(error)))

    if not found_groups and not result.problems:
        result.problems.append(RuleProblem(name, None, "no rule groups found"))
    return result


def check_coverage(
    recommender: Recommender, rules: list[AlertRule]
) -> list[CoverageRow]:
    """Match each rule's alert against the knowledge base and mark it covered."""
    rows = []
    for rule in rules:
        alert = _alert(rule)
        # The recommendation the alert would get when it fires, so that the
        # precedent bar and feedback on its matches count here as well.
        recommendation = recommender.recommend(alert, top_k=1)
        matches = recommendation.matches
        best = matches[0] if matches else None
        score = round(best.score, 4) if best else 0.0
        bar = recommendation.precedent_bar
        rows.append(
            CoverageRow(
                alert=rule.alert,
                file=rule.source,
                severity=rule.labels.get("severity"),
                best_match=best.record.id if best else None,
                best_match_kind=best.record.kind.value if best else None,
                score=score,
                covered=not recommendation.no_close_precedent,
                bar=round(bar, 4),
            )
        )
    logger.info(
        "coverage: %d of %d alerts covered", sum(r.covered for r in rows), len(rows)
    )
    return rows


def alert_name(text: str) -> str:
    """Turn a catalogue rule title ("Prometheus target missing") into an alertname."""
    return "".join(word[:1].upper() + word[1:] for word in _NAME_WORD.findall(text))


def _groups(document: dict[str, Any]) -> Any:
    spec = document.get("spec")
    if isinstance(spec, dict) and "groups" in spec:
        return spec["groups"]
    return document.get("groups")


def _rules(
    groups: Any, file: str, problems: list[RuleProblem]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (position, rule) for every alerting rule; recording rules are skipped."""
    if not isinstance(groups, list):
        problems.append(RuleProblem(file, None, "'groups' is not a list"))
        return
    for g, group in enumerate(groups):
        where = f"groups[{g}]"
        if not isinstance(group, dict):
            problems.append(RuleProblem(file, where, "group is not a mapping"))
            continue
        if "services" in group:
            yield from _catalogue_rules(group["services"], where, file, problems)
            continue
        rules = group.get("rules") or []
        if not isinstance(rules, list):
            problems.append(RuleProblem(file, where, "'rules' is not a list"))
            continue
        for r, rule in enumerate(rules):
            position = f"{group.get('name', where)!s}[{r}]"
            if not isinstance(rule, dict):
                problems.append(RuleProblem(file, position, "rule is not a mapping"))
            elif "record" in rule and "alert" not in rule:
                continue
            else:
                yield str(rule.get("alert") or position), rule


def _catalogue_rules(
    services: Any, where: str, file: str, problems: list[RuleProblem]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield the rules of awesome-prometheus-alerts' services and exporters."""
    for s, service in enumerate(services if isinstance(services, list) else []):
        exporters = service.get("exporters") if isinstance(service, dict) else None
        for e, exporter in enumerate(exporters if isinstance(exporters, list) else []):
            rules = exporter.get("rules") if isinstance(exporter, dict) else None
            for r, rule in enumerate(rules if isinstance(rules, list) else []):
                position = f"{where}.services[{s}].exporters[{e}].rules[{r}]"
                if not isinstance(rule, dict) or not rule.get("name"):
                    problems.append(
                        RuleProblem(file, position, "rule has no 'name' to alert as")
                    )
                    continue
                yield (
                    str(rule["name"]),
                    {
                        "alert": alert_name(str(rule["name"])),
                        "expr": rule.get("query", ""),
                        "labels": {"severity": rule.get("severity", "warning")},
                        "annotations": {
                            "summary": rule["name"],
                            "description": rule.get("description", ""),
                        },
                    },
                )


def _alert_rule(rule: dict[str, Any], source: str) -> AlertRule:
    """Check one rule's fields and build it; raises ValueError naming the field."""
    name = rule.get("alert")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("missing 'alert' name (or 'record' for a recording rule)")
    try:
        # YAML's "\ud800" escape gives text that cannot be encoded, which
        # would fail the fingerprint and the whole run, not only this rule.
        check_unicode(rule, "")
    except InvalidAlertError as error:
        raise ValueError(f"{error.field}: {error.message}") from None
    if not isinstance(rule.get("expr", ""), _SCALAR):
        raise ValueError("'expr' must be a PromQL string")
    mappings = {}
    for key in ("labels", "annotations"):
        value = rule.get(key) or {}
        if not isinstance(value, dict):
            raise ValueError(f"'{key}' must be a mapping of names to strings")
        for item, text in value.items():
            # An empty value (`description:`) is null in YAML. Prometheus reads
            # it into its string map as "".
            if text is not None and not isinstance(text, _SCALAR):
                raise ValueError(
                    f"{key}.{item} must be a string, not a {type(text).__name__}"
                )
        mappings[key] = {
            str(k): "" if v is None else scalar_text(v) for k, v in value.items()
        }
    return AlertRule(
        alert=name.strip(),
        expr=str(rule.get("expr", "")),
        labels=mappings["labels"],
        annotations=mappings["annotations"],
        source=source,
    )


def _alert(rule: AlertRule) -> Alert:
    parsed = parse_alertmanager({"alerts": [to_alertmanager_alert(rule)]})[0]
    if not isinstance(parsed, Alert):
        # A rule whose text breaks an alert limit still gets matched by its name.
        return Alert(fingerprint=rule.alert, alertname=rule.alert)
    return parsed


def read_rule_file(path: Path) -> RuleFile:
    """Read one rule file from disk; an unreadable file becomes a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        return RuleFile(
            str(path), problems=[RuleProblem(str(path), None, f"cannot read: {reason}")]
        )
    return parse_rule_text(text, str(path))
