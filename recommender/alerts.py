"""Alerts as the recommender sees them, parsed from Alertmanager, plain JSON or text."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from indexer.normalize import normalize_text
from recommender.errors import InvalidAlertError

# Alertmanager writes this as endsAt while an alert is still firing.
ZERO_TIME = "0001-01-01T00:00:00Z"
# Annotations that are links, not descriptions of the problem.
_LINK_ANNOTATIONS = frozenset(
    {
        "runbook_url",
        "runbook",
        "dashboard",
        "dashboard_url",
        "generatorurl",
        "panel_url",
        "silence_url",
    }
)
_TEXT_ANNOTATIONS = ("summary", "title", "message", "description")
# Labels whose values name what is affected and so help a keyword match.
_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job", "component")
PLAIN_ALERT_FIELDS = frozenset(
    {"title", "description", "labels", "service", "severity", "startsAt"}
)
# Limits that keep one alert from holding up the service; real alerts are far smaller.
MAX_ALERTS = 1_000
MAX_LABELS = 200
MAX_VALUE_CHARS = 10_000
MAX_TEXT_CHARS = 50_000


@dataclass
class Alert:
    """A new alert to recommend for.

    Attributes:
        fingerprint: Alertmanager's fingerprint, or a hash of the labels.
        status: "firing" or "resolved".
        alertname: The alertname label, empty when missing.
        title: Summary or title text.
        description: Longer description text.
        labels: All labels as strings.
        annotations: Annotations used as text (links and "__" keys left out).
        starts_at: When it started firing, as sent.
        ends_at: When it resolved, None while firing.
    """

    fingerprint: str
    status: str = "firing"
    alertname: str = ""
    title: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: str | None = None
    ends_at: str | None = None

    @property
    def service(self) -> str:
        """Return the affected service from the usual labels, or an empty string."""
        for key in _SERVICE_LABELS:
            if self.labels.get(key):
                return self.labels[key]
        return ""

    @property
    def severity(self) -> str | None:
        """Return the severity label as sent."""
        return self.labels.get("severity") or self.labels.get("priority")

    def query_text(self, include_alertname: bool = True) -> str:
        """Return the text that is matched against history, volatile tokens removed."""
        parts = [self.alertname] if include_alertname and self.alertname else []
        parts += [self.title, self.description]
        parts += [v for k, v in self.annotations.items() if k not in _TEXT_ANNOTATIONS]
        return normalize_text("\n".join(part for part in parts if part))


def parse_alertmanager(payload: object) -> list[Alert | InvalidAlertError]:
    """Parse an Alertmanager webhook payload (version 4) into one entry per alert.

    A bad alert inside the group becomes an InvalidAlertError in its place, so the
    others are still answered. A payload that is not a webhook at all raises.
    """
    if not isinstance(payload, dict):
        raise InvalidAlertError(
            "body", "expected a JSON object (an Alertmanager webhook)"
        )
    version = payload.get("version")
    if version is not None and str(version) != "4":
        raise InvalidAlertError(
            "version", f"webhook version {version!r} is not supported; send version 4"
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidAlertError("alerts", "missing or not a list of alerts")
    if not alerts:
        raise InvalidAlertError(
            "alerts",
            "the group contains no alerts, so there is nothing to recommend for",
        )
    if len(alerts) > MAX_ALERTS:
        raise InvalidAlertError(
            "alerts",
            f"{len(alerts)} alerts in one group is more than "
            f"the limit of {MAX_ALERTS}; split the group",
        )

    common = _string_map(payload.get("commonAnnotations"), "commonAnnotations")
    parsed: list[Alert | InvalidAlertError] = []
    for position, item in enumerate(alerts):
        try:
            parsed.append(
                _parse_alertmanager_alert(item, f"alerts[{position}]", common)
            )
        except InvalidAlertError as error:
            parsed.append(error)
    return parsed


def parse_plain(payload: object) -> Alert:
    """Parse a plain JSON alert: {title, description, labels, service, severity}."""
    if not isinstance(payload, dict):
        raise InvalidAlertError(
            "body", "expected a JSON object with title or description"
        )
    unknown = sorted(set(payload) - PLAIN_ALERT_FIELDS)
    if unknown:
        raise InvalidAlertError(
            unknown[0],
            f"unknown field; a plain alert has {', '.join(sorted(PLAIN_ALERT_FIELDS))} "
            "(top_k is a query parameter)",
        )
    labels = _string_map(payload.get("labels"), "labels")
    for key in ("service", "severity"):
        value = payload.get(key)
        if value is not None:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise InvalidAlertError(key, f"expected a string, got {_kind(value)}")
            labels[key] = str(value)
    title = _optional_string(payload.get("title"), "title")
    description = _optional_string(payload.get("description"), "description")

    alert = Alert(
        fingerprint=_fingerprint(labels, title + description),
        alertname=labels.get("alertname", ""),
        title=title,
        description=description,
        labels=labels,
        starts_at=_optional_string(payload.get("startsAt"), "startsAt") or None,
    )
    _require_text(alert, "title")
    return alert


def alert_from_text(text: str, field: str = "q") -> Alert:
    """Wrap free text, such as a search or a pasted alert, as an alert.

    Args:
        text: The text to match.
        field: Name of the parameter the text came from, for the error message.
    """
    alert = Alert(fingerprint=_fingerprint({}, text), title=text)
    if not alert.query_text().strip():
        raise InvalidAlertError(
            field,
            "is empty (or holds only volatile values such as IPs and timestamps); "
            "give the text to search for",
        )
    return alert


def _parse_alertmanager_alert(
    item: object, where: str, common: dict[str, str]
) -> Alert:
    if not isinstance(item, dict):
        raise InvalidAlertError(where, f"expected an alert object, got {_kind(item)}")
    labels = _string_map(item.get("labels"), f"{where}.labels")
    raw_annotations = {
        **common,
        **_string_map(item.get("annotations"), f"{where}.annotations"),
    }
    # Keys starting with "__" are Alertmanager internals, not text about the problem.
    annotations = {
        k: v
        for k, v in raw_annotations.items()
        if not k.startswith("__") and k.lower() not in _LINK_ANNOTATIONS
    }

    status = item.get("status")
    ends_at = _optional_string(item.get("endsAt"), f"{where}.endsAt") or None
    if status not in (None, "firing", "resolved"):
        raise InvalidAlertError(
            f"{where}.status", f"expected 'firing' or 'resolved', got {status!r}"
        )
    if status is None:
        status = "firing" if ends_at in (None, ZERO_TIME) else "resolved"

    title = (
        annotations.get("summary")
        or annotations.get("title")
        or annotations.get("message", "")
    )
    alert = Alert(
        fingerprint=_optional_string(item.get("fingerprint"), f"{where}.fingerprint")
        or _fingerprint(labels, ""),
        status=status,
        alertname=labels.get("alertname", ""),
        title=title,
        description=annotations.get("description", ""),
        labels=labels,
        annotations=annotations,
        starts_at=_optional_string(item.get("startsAt"), f"{where}.startsAt") or None,
        ends_at=None if ends_at == ZERO_TIME else ends_at,
    )
    if alert.status == "firing":
        _require_text(alert, where)
    return alert


def _require_text(alert: Alert, where: str) -> None:
    if not alert.query_text().strip():
        raise InvalidAlertError(
            where,
            "the alert has no text to match: no alertname label, summary or "
            "description (or only volatile values such as IPs and timestamps); "
            "add an alertname label "
            "or a summary annotation",
        )


def _string_map(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidAlertError(
            where, f"expected an object of strings, got {_kind(value)}"
        )
    if len(value) > MAX_LABELS:
        raise InvalidAlertError(
            where, f"{len(value)} entries is more than the limit of {MAX_LABELS}"
        )
    result = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise InvalidAlertError(
                f"{where}.{key}", f"expected a string, got {_kind(item)}"
            )
        text = "" if item is None else str(item)
        _check_length(text, f"{where}.{key}", MAX_VALUE_CHARS)
        result[str(key)] = text
    return result


def _optional_string(value: object, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidAlertError(where, f"expected a string, got {_kind(value)}")
    _check_length(value, where, limit)
    return value


def _check_length(value: str, where: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidAlertError(
            where,
            f"{len(value)} characters is more than the limit of "
            f"{limit}; shorten the value",
        )


def _fingerprint(labels: dict[str, str], text: str) -> str:
    # ASCII escapes keep unpaired surrogates from failing the encode.
    encoded = json.dumps([sorted(labels.items()), text]).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")
