"""Alerts as the recommender sees them, parsed from Alertmanager, plain JSON or text."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from indexer.normalize import normalize_text
from recommender.alert_fields import (
    MAX_ALERTS,
    json_kind,
    optional_count,
    optional_string,
    optional_time,
    preview,
    string_map,
)
from recommender.errors import InvalidAlertError
from recommender.strict_json import decode_json

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
        source: Intake format: "alertmanager", "grafana", "pagerduty" or "plain".
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
    source: str = "plain"

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


@dataclass
class AlertGroup:
    """The alerts of one webhook delivery, each parsed or rejected on its own.

    Attributes:
        alerts: One entry per alert sent, in order.
        truncated_alerts: Alerts the sender left out of the payload because of its
            max_alerts setting, as it reported them.
    """

    alerts: list[Alert | InvalidAlertError]
    truncated_alerts: int = 0


def parse_alertmanager(payload: object) -> list[Alert | InvalidAlertError]:
    """Parse an Alertmanager webhook payload (version 4) into one entry per alert.

    A bad alert inside the group becomes an InvalidAlertError in its place, so the
    others are still answered. A payload that is not a webhook at all raises.
    """
    return parse_alertmanager_group(payload).alerts


def parse_alertmanager_group(payload: object) -> AlertGroup:
    """Parse an Alertmanager webhook (version 4) with its truncatedAlerts count.

    Fields that newer Alertmanager releases add, such as notification_reason, are
    accepted and ignored.
    """
    return parse_webhook_group(
        payload, source="alertmanager", name="an Alertmanager", version="4"
    )


def parse_webhook_group(
    payload: object,
    source: str,
    name: str,
    version: str,
    parse_alert: Callable[[object, str, dict[str, str], str], Alert] | None = None,
) -> AlertGroup:
    """Parse the group fields that Alertmanager and Grafana webhooks share.

    Args:
        payload: The decoded JSON body.
        source: Intake format stored with each alert, such as "alertmanager".
        name: The format for error messages, such as "an Alertmanager".
        version: The only accepted value of the payload's "version" field.
        parse_alert: Parser of one alert, parse_webhook_alert when not given.
    """
    if not isinstance(payload, dict):
        raise InvalidAlertError("body", f"expected a JSON object ({name} webhook)")
    # Each alert's text is checked by its own parse, so one alert with text
    # that cannot be encoded fails alone and the others still get results.
    check_unicode({k: v for k, v in payload.items() if k != "alerts"}, "")
    given = payload.get("version")
    if given is not None and str(given) != version:
        raise InvalidAlertError(
            "version",
            f"webhook version {preview(given)} is not supported; send version "
            f"{version}",
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
    for key in ("receiver", "status", "groupKey", "externalURL"):
        optional_string(payload.get(key), key)
    string_map(payload.get("groupLabels"), "groupLabels")
    string_map(payload.get("commonLabels"), "commonLabels")
    truncated = optional_count(payload.get("truncatedAlerts"), "truncatedAlerts")

    common = string_map(payload.get("commonAnnotations"), "commonAnnotations")
    parse = parse_alert or parse_webhook_alert
    parsed: list[Alert | InvalidAlertError] = []
    for position, item in enumerate(alerts):
        try:
            check_unicode(item, f"alerts[{position}]")
            parsed.append(parse(item, f"alerts[{position}]", common, source))
        except InvalidAlertError as error:
            parsed.append(error)
    return AlertGroup(alerts=parsed, truncated_alerts=truncated)


def parse_plain(payload: object) -> Alert:
    """Parse a plain JSON alert: {title, description, labels, service, severity}."""
    if not isinstance(payload, dict):
        raise InvalidAlertError(
            "body", "expected a JSON object with title or description"
        )
    check_unicode(payload, "")
    unknown = sorted(set(payload) - PLAIN_ALERT_FIELDS)
    if unknown:
        raise InvalidAlertError(
            unknown[0],
            f"unknown field; a plain alert has {', '.join(sorted(PLAIN_ALERT_FIELDS))} "
            "(top_k is a query parameter)",
        )
    labels = string_map(payload.get("labels"), "labels")
    for key in ("service", "severity"):
        value = payload.get(key)
        if value is not None:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise InvalidAlertError(
                    key, f"expected a string, got {json_kind(value)}"
                )
            labels[key] = str(value)
    title = optional_string(payload.get("title"), "title")
    description = optional_string(payload.get("description"), "description")

    alert = Alert(
        fingerprint=fingerprint_of(labels, title + description),
        alertname=labels.get("alertname", ""),
        title=title,
        description=description,
        labels=labels,
        starts_at=optional_time(payload.get("startsAt"), "startsAt"),
    )
    require_text(alert, "title", "add a title or a description")
    return alert


def check_unicode(value: object, field: str) -> None:
    """Raise InvalidAlertError for text with an unpaired UTF-16 surrogate.

    JSON escapes ("\\ud800") and command-line arguments that are not UTF-8
    both give such text, which the tokenizer and SQLite cannot encode.
    """
    stack = [(value, field)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                raise InvalidAlertError(
                    path or "text",
                    "contains an unpaired UTF-16 surrogate or bytes that are not "
                    f"UTF-8 at character {error.start}; give valid Unicode",
                ) from None
        elif isinstance(item, dict):
            # Keys first, so that an error's field never contains a bad key.
            for key in item:
                check_unicode(key, path or "text")
            for key, child in item.items():
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))


def alert_from_text(text: str, field: str = "q") -> Alert:
    """Wrap free text, such as a search or a pasted alert, as an alert.

    Args:
        text: The text to match.
        field: Name of the parameter the text came from, for the error message.
    """
    check_unicode(text, field)
    alert = Alert(fingerprint=fingerprint_of({}, text), title=text)
    if not has_text(alert.query_text()):
        raise InvalidAlertError(
            field,
            "is empty (or holds only volatile values such as IPs and timestamps); "
            "give the text to search for",
        )
    return alert


def parse_webhook_alert(
    item: object, where: str, common: dict[str, str], source: str = "alertmanager"
) -> Alert:
    """Parse one alert of an Alertmanager or Grafana webhook; bad fields raise."""
    if not isinstance(item, dict):
        raise InvalidAlertError(
            where, f"expected an alert object, got {json_kind(item)}"
        )
    labels = string_map(item.get("labels"), f"{where}.labels")
    raw_annotations = {
        **common,
        **string_map(item.get("annotations"), f"{where}.annotations"),
    }
    # Keys starting with "__" are Alertmanager internals, not text about the problem.
    annotations = {
        k: v
        for k, v in raw_annotations.items()
        if not k.startswith("__") and k.lower() not in _LINK_ANNOTATIONS
    }

    status = item.get("status")
    ends_at = optional_time(item.get("endsAt"), f"{where}.endsAt")
    if status not in (None, "firing", "resolved"):
        raise InvalidAlertError(
            f"{where}.status",
            f"expected 'firing' or 'resolved', got {preview(status)}",
        )
    if status is None:
        status = "firing" if ends_at in (None, ZERO_TIME) else "resolved"
    optional_string(item.get("generatorURL"), f"{where}.generatorURL")

    title = (
        annotations.get("summary")
        or annotations.get("title")
        or annotations.get("message", "")
    )
    alert = Alert(
        fingerprint=optional_string(item.get("fingerprint"), f"{where}.fingerprint")
        or fingerprint_of(labels, ""),
        status=status,
        alertname=labels.get("alertname", ""),
        title=title,
        description=annotations.get("description", ""),
        labels=labels,
        annotations=annotations,
        starts_at=optional_time(item.get("startsAt"), f"{where}.startsAt"),
        ends_at=None if ends_at == ZERO_TIME else ends_at,
        source=source,
    )
    if alert.status == "firing":
        require_text(alert, where)
    return alert


def require_text(
    alert: Alert,
    where: str,
    fix: str = "add an alertname label or a summary annotation",
) -> None:
    """Reject a firing alert that has no text left to match once normalized.

    fix names what to add, in the terms of the payload format.
    """
    if not has_text(alert.query_text()):
        raise InvalidAlertError(
            where,
            "the alert has no text to match: no name, summary or description (or "
            f"only volatile values such as IPs and timestamps); {fix}",
        )


def has_text(text: str) -> bool:
    """Return whether text has a character besides spaces and control characters.

    A text of only NUL or other control characters embeds like an empty one, so
    it would match history by chance.
    """
    return any(
        not char.isspace() and not unicodedata.category(char).startswith("C")
        for char in text
    )


def fingerprint_of(labels: dict[str, str], text: str) -> str:
    """Return a 16-hex-digit fingerprint for an alert that was sent without one."""
    # ASCII escapes keep unpaired surrogates from failing the encode.
    encoded = json.dumps([sorted(labels.items()), text]).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def read_payload_file(path: Path) -> object:
    """Read an alert payload from a JSON file; invalid UTF-8 or JSON names the file."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidAlertError(
            str(path), f"not valid UTF-8: byte {error.start} cannot be decoded"
        ) from error
    # The same strict JSON as the API takes, with a byte order mark allowed as
    # the indexer allows it in exports.
    return decode_json(text.removeprefix("\ufeff"), str(path))
