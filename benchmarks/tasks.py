"""The five evaluation tasks, built from the raw public data files.

Each task is a knowledge base (records) and labelled queries in the JSON Lines format
that `recommender evaluate` reads. The splits follow the rules of a fair test: a
query never retrieves itself, never contains its answer, and severity and category
are predicted for services or periods that the knowledge base does not contain.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer.readers import read_sources
from indexer.record import IncidentRecord, Kind
from recommender.fix_types import classify_fix
from recommender.rules import AlertRule, read_rules, to_alertmanager_alert

RUNBOOK_FOLDERS = ("prometheus-operator+runbooks", "openshift+runbooks")
RULES_GLOB = "prometheus-operator+kube-prometheus/manifests/*-prometheusRule.yaml"
AWESOME_RULES = "samber+awesome-prometheus-alerts/_data/rules.yml"
CLOUD_POSTMORTEMS = "IntelligentDDS+Post-mortems-Analysis/anomaly_collection"
DFDS = "dfds+postmortems"
# Share of services whose rules form the knowledge base in the severity task, and
# share of the oldest cloud incidents that form it in the category task.
TRAIN_SHARE = 0.7
# Postmortems about the same symptom, as grouped by the team's own history.
RECURRENCE_GROUPS = (
    ("PM2021-005", "PM2021-006", "PM2021-007"),
    ("PM2021-002", "PM2021-003"),
    ("PM2021-001", "PM2022-002", "PM2023-002"),
    ("PM2022-004", "PM2022-007"),
    ("PM2020-002", "PM2020-009"),
    ("PM2022-003", "PM2024-001"),
)


@dataclass
class Task:
    """A knowledge base and the labelled queries to run against it."""

    name: str
    description: str
    records: list[IncidentRecord]
    queries: list[dict[str, Any]] = field(default_factory=list)


def alert_to_runbook(data: Path) -> tuple[Task, Task]:
    """Build the alert-to-runbook task, with and without the alert name.

    The relevant runbook is the file that the rule's runbook_url names, plus any
    openshift runbook for the same alert name.
    """
    records = read_sources([data / folder for folder in RUNBOOK_FOLDERS]).records
    by_file: dict[str, set[str]] = {}
    by_alert: dict[str, set[str]] = {}
    for record in records:
        stem = Path(record.source.split("#")[0]).stem.lower()
        if "prometheus-operator" in record.source:
            by_file.setdefault(stem, set()).add(record.id)
        if "openshift" in record.source:
            for name in record.alert_names:
                by_alert.setdefault(name.lower(), set()).add(record.id)

    rules = [r for path in sorted(data.glob(RULES_GLOB)) for r in read_rules(path)]
    tasks = []
    for include_alertname in (True, False):
        queries = []
        for number, rule in enumerate(rules):
            relevant = by_file.get(rule.runbook_name, set())
            if not relevant:
                continue
            relevant = relevant | by_alert.get(rule.alert.lower(), set())
            queries.append(
                _rule_query(rule, number, sorted(relevant), include_alertname)
            )
        name = "with the alert name" if include_alertname else "text only"
        tasks.append(
            Task(f"alert to runbook, {name}", _runbook_description(), records, queries)
        )
    return tasks[0], tasks[1]


def no_close_precedent(task: Task) -> Task:
    """Hide the relevant runbooks from every other query of a runbook task.

    Those queries expect no precedent (relevant_ids is empty); the others keep
    theirs and should still be answered with confidence.
    """
    queries = []
    for position, query in enumerate(task.queries):
        changed = dict(query)
        if position % 2 == 0:
            changed["exclude_ids"] = list(query["relevant_ids"])
            changed["relevant_ids"] = []
        queries.append(changed)
    return Task(
        f"{task.name}, half without precedent",
        "Every other query has its relevant runbooks removed from the knowledge "
        "base, so nothing answers it.",
        task.records,
        queries,
    )


def alert_severity(data: Path) -> Task:
    """Build the severity task: rules of some services are history, others queries."""
    document = yaml.safe_load((data / AWESOME_RULES).read_text(encoding="utf-8"))
    records, queries = [], []
    history_services: set[str] = set()
    query_services: set[str] = set()
    for group in document.get("groups") or []:
        for service in group.get("services") or []:
            in_history = _bucket(service["name"]) < TRAIN_SHARE
            (history_services if in_history else query_services).add(service["name"])
            for exporter in service.get("exporters") or []:
                for rule in exporter.get("rules") or []:
                    text = f"{rule['name']}. {rule.get('description', '')}".strip()
                    rule_id = (
                        f"{service['name']}/{exporter.get('slug', '')}/{rule['name']}"
                    )
                    if in_history:
                        records.append(_rule_record(rule_id, rule, service["name"]))
                    else:
                        queries.append(
                            {
                                "id": rule_id,
                                "query": text,
                                "severity": rule.get("severity"),
                            }
                        )
    return Task(
        "alert severity on unseen services",
        f"The alert rules of {len(history_services)} services are history; the "
        "queries are the name and description of the rules of "
        f"{len(query_services)} other services.",
        records,
        queries,
    )


def root_cause_category(data: Path) -> Task:
    """Build the category and fix-type task over expert-labelled cloud incidents.

    The oldest incidents are history; each newer one is a query made of its title and
    summary only, since the details contain the root cause.
    """
    records = read_sources([data / CLOUD_POSTMORTEMS]).records
    dated = sorted(
        (r for r in records if r.started_at), key=lambda r: (r.started_at, r.id)
    )
    cut = int(len(dated) * TRAIN_SHARE)
    history, later = dated[:cut], dated[cut:]

    queries = []
    for record in later:
        query: dict[str, Any] = {
            "id": record.id,
            "query": f"{record.title}. {record.sections.get('summary', '')}".strip(),
        }
        if record.labels.get("category"):
            query["category"] = record.labels["category"]
        fix_type = classify_fix(
            " ".join(
                [
                    record.labels.get("mitigation_type", ""),
                    record.sections.get("resolution", ""),
                ]
            )
        )
        if fix_type:
            query["fix_type"] = fix_type
        if len(query) > 2:
            queries.append(query)
    return Task(
        "root-cause category and fix type of later cloud incidents",
        f"{len(history)} incidents up to {history[-1].started_at:%Y-%m-%d} are "
        f"history; {len(queries)} later ones are queries (title and summary).",
        history,
        queries,
    )


def recurrence(data: Path) -> Task:
    """Build the recurrence task over one team's postmortems."""
    records = read_sources([data / DFDS]).records
    by_number = {_pm_number(r.id): r for r in records if _pm_number(r.id)}
    queries = []
    for group in RECURRENCE_GROUPS:
        for member in group:
            record = by_number[member]
            others = [by_number[o].id for o in group if o != member]
            summary = record.sections.get("summary", "") or record.title
            queries.append(
                {
                    "id": record.id,
                    "query": summary,
                    "relevant_ids": others,
                    "exclude_ids": [record.id],
                }
            )
    return Task(
        "recurrence in one team's postmortems",
        f"{len(records)} postmortems; each grouped postmortem's summary should "
        "find another member of its group.",
        records,
        queries,
    )


def _rule_query(
    rule: AlertRule, number: int, relevant: list[str], include_alertname: bool
) -> dict[str, Any]:
    return {
        "id": f"{rule.alert}#{number}",
        "alert": to_alertmanager_alert(rule, include_alertname=include_alertname),
        "relevant_ids": relevant,
    }


def _rule_record(rule_id: str, rule: dict[str, Any], service: str) -> IncidentRecord:
    return IncidentRecord(
        id=rule_id,
        kind=Kind.RUNBOOK,
        title=str(rule["name"]),
        sections={"meaning": str(rule.get("description", ""))},
        labels={"service": service},
        severity_raw=str(rule.get("severity", "")) or None,
        source=AWESOME_RULES,
    )


def _bucket(name: str) -> float:
    """Return a stable number in [0, 1) for a name, to split services."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return int(digest[:8], 16) / 16**8


def _pm_number(record_id: str) -> str | None:
    found = re.search(r"PM\d{4}-\d{3}", record_id)
    return found.group(0) if found else None


def _runbook_description() -> str:
    return (
        "Every runbook of both runbook folders; queries are kube-prometheus rules "
        "whose runbook_url names one of them, sent as Alertmanager alerts with "
        "their Go templates filled."
    )
