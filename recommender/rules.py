"""Prometheus alerting rules turned into the alerts they would send.

Used to replay rule files against the knowledge base, in the evaluation and in tests:
each rule becomes the alert Alertmanager would deliver, with its Go templates filled
with plausible label values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer import limited_yaml
from indexer.errors import SourceError

# Plausible values for the labels that rule templates refer to.
SAMPLE_LABELS = {
    "namespace": "payments",
    "pod": "checkout-api-7d9f8b6c5-x2k4p",
    "container": "app",
    "cluster": "prod-eu-1",
    "instance": "10.0.3.17:9100",
    "job": "node-exporter",
    "node": "ip-10-0-3-17",
    "device": "/dev/nvme0n1p1",
    "mountpoint": "/var/lib/postgresql",
    "persistentvolumeclaim": "data-orders-db-0",
    "service": "checkout-api",
    "deployment": "checkout-api",
    "statefulset": "orders-db",
    "daemonset": "node-exporter",
    "job_name": "nightly-backup",
    "horizontalpodautoscaler": "checkout-api",
    "integration": "webhook",
    "interface": "eth0",
    "resource": "cpu",
    "verb": "GET",
    "type": "main",
}
_LABEL_REF = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VALUE_REF = re.compile(r"\{\{[^}]*\$value[^}]*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


@dataclass
class AlertRule:
    """One alerting rule from a Prometheus rule file."""

    alert: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def runbook_name(self) -> str:
        """Return the last path part of runbook_url, lower-cased, or an empty string."""
        url = self.annotations.get("runbook_url", "")
        return url.rstrip("/").rsplit("/", 1)[-1].lower() if url else ""


def read_rules(path: Path) -> list[AlertRule]:
    """Read alerting rules from a rule file or a PrometheusRule manifest."""
    try:
        documents = limited_yaml.load_all(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SourceError(f"{path}: cannot read rule file: {error}") from error

    rules = []
    for document in documents:
        if not isinstance(document, dict):
            continue
        groups = (document.get("spec") or document).get("groups") or []
        for group in groups:
            for rule in (group or {}).get("rules") or []:
                if isinstance(rule, dict) and rule.get("alert"):
                    rules.append(_rule(rule, str(path)))
    return rules


def render(text: str, labels: dict[str, str]) -> str:
    """Fill Go templates the way Alertmanager would, with the given label values."""
    text = _LABEL_REF.sub(
        lambda m: labels.get(m.group(1), SAMPLE_LABELS.get(m.group(1), m.group(1))),
        text,
    )
    text = _VALUE_REF.sub("0.93", text)
    return _ANY_TEMPLATE.sub("", text).strip()


def to_alertmanager_alert(
    rule: AlertRule, include_alertname: bool = True
) -> dict[str, Any]:
    """Return the alert object that Alertmanager would send for a firing rule."""
    labels = {**SAMPLE_LABELS, **rule.labels}
    if include_alertname:
        labels["alertname"] = rule.alert
    annotations = {
        key: render(value, labels) for key, value in rule.annotations.items()
    }
    return {
        "status": "firing",
        "labels": {
            k: labels[k]
            for k in ("alertname", "severity", "namespace", "instance")
            if k in labels
        },
        "annotations": annotations,
        "startsAt": "2026-12-04T02:14:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": hashlib.sha256(rule.alert.encode()).hexdigest()[:16],
    }


def to_webhook(rules: list[AlertRule]) -> dict[str, Any]:
    """Return an Alertmanager webhook (version 4) carrying one alert per rule."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname=~".*"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-recommender",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [to_alertmanager_alert(rule) for rule in rules],
    }


def _rule(rule: dict[str, Any], source: str) -> AlertRule:
    return AlertRule(
        alert=str(rule["alert"]),
        expr=str(rule.get("expr", "")),
        labels={str(k): scalar_text(v) for k, v in (rule.get("labels") or {}).items()},
        annotations={
            str(k): scalar_text(v) for k, v in (rule.get("annotations") or {}).items()
        },
        source=source,
    )


def scalar_text(value: object) -> str:
    """Return a YAML scalar as the text Prometheus gives a label: true, not True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
