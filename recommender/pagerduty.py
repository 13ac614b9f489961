"""PagerDuty Events API v2 style events parsed into alerts.

The routing_key of an event is a secret that routes it to a PagerDuty service.
It is type-checked and then dropped: it is never stored, logged or echoed.
"""

from __future__ import annotations

import json

from recommender.alert_fields import (
    MAX_ALERTS,
    MAX_LABELS,
    MAX_TEXT_CHARS,
    MAX_VALUE_CHARS,
    check_length,
    json_kind,
    optional_string,
    optional_time,
    preview,
    scalar_text,
)
from recommender.alerts import (
    Alert,
    AlertGroup,
    check_unicode,
    fingerprint_of,
    require_text,
)
from recommender.errors import InvalidAlertError

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
_STATUS = {"trigger": "firing", "acknowledge": "acknowledged", "resolve": "resolved"}
# PagerDuty's own limit on dedup_key.
MAX_DEDUP_KEY_CHARS = 255
_LABEL_FIELDS = ("source", "component", "group", "class")
_ARTICLES = {"acknowledge": "an", "resolve": "a"}


def parse_pagerduty(payload: object) -> AlertGroup:
    """Parse one event, or a list of events, into one entry per event.

    A single invalid event raises InvalidAlertError. In a list, an invalid event
    becomes an InvalidAlertError in its place, so the other events still get results.
    """
    if isinstance(payload, dict):
        return AlertGroup(alerts=[parse_event(payload, "body")])
    if not isinstance(payload, list):
        raise InvalidAlertError(
            "body",
            f"expected a PagerDuty event object or a list of them, got "
            f"{json_kind(payload)}",
        )
    if not payload:
        raise InvalidAlertError(
            "body", "the list contains no events, so there is nothing to recommend for"
        )
    if len(payload) > MAX_ALERTS:
        raise InvalidAlertError(
            "body",
            f"{len(payload)} events in one request is more than the limit of "
            f"{MAX_ALERTS}; send fewer at a time",
        )

    alerts: list[Alert | InvalidAlertError] = []
    for position, item in enumerate(payload):
        try:
            alerts.append(parse_event(item, f"[{position}]"))
        except InvalidAlertError as error:
            alerts.append(error)
    return AlertGroup(alerts=alerts)


def parse_event(item: object, where: str) -> Alert:
    """Parse one Events API v2 event; where is its path for error messages."""
    if not isinstance(item, dict):
        raise InvalidAlertError(
            where, f"expected an event object, got {json_kind(item)}"
        )
    prefix = "" if where == "body" else where + "."
    check_unicode(item, "" if where == "body" else where)

    routing_key = item.get("routing_key")
    if routing_key is not None and not isinstance(routing_key, str):
        raise InvalidAlertError(
            f"{prefix}routing_key", f"expected a string, got {json_kind(routing_key)}"
        )
    action = item.get("event_action")
    if action not in EVENT_ACTIONS:
        got = "null or missing" if action is None else preview(action)
        raise InvalidAlertError(
            f"{prefix}event_action",
            f"expected one of {', '.join(EVENT_ACTIONS)}, got {got}",
        )
    dedup_key = optional_string(item.get("dedup_key"), f"{prefix}dedup_key")
    check_length(dedup_key, f"{prefix}dedup_key", MAX_DEDUP_KEY_CHARS)
    for key in ("client", "client_url"):
        optional_string(item.get(key), f"{prefix}{key}")
    for key in ("images", "links"):
        value = item.get(key)
        if value is not None and not isinstance(value, list):
            raise InvalidAlertError(
                f"{prefix}{key}", f"expected a list, got {json_kind(value)}"
            )

    if action != "trigger":
        return _status_change(item, prefix, action, dedup_key)
    return _trigger(item.get("payload"), f"{prefix}payload", dedup_key)


def _trigger(payload: object, where: str, dedup_key: str) -> Alert:
    if not isinstance(payload, dict):
        got = "null or missing" if payload is None else json_kind(payload)
        raise InvalidAlertError(
            where,
            f"a trigger event needs a payload object with summary, source and "
            f"severity, got {got}",
        )
    summary = optional_string(payload.get("summary"), f"{where}.summary")
    if not summary.strip():
        raise InvalidAlertError(
            f"{where}.summary",
            "is null, missing or empty; a trigger event needs a summary of the problem",
        )
    labels = {
        key: text
        for key in _LABEL_FIELDS
        if (text := optional_string(payload.get(key), f"{where}.{key}"))
    }
    if not labels.get("source", "").strip():
        raise InvalidAlertError(
            f"{where}.source",
            "is null, missing or empty; a trigger event needs the source of the "
            "problem, such as a host or service name",
        )
    severity = payload.get("severity")
    if severity not in SEVERITIES:
        got = "null or missing" if severity is None else preview(severity)
        raise InvalidAlertError(
            f"{where}.severity",
            f"expected one of {', '.join(SEVERITIES)}, got {got}",
        )
    labels["severity"] = str(severity)
    details = custom_details(payload.get("custom_details"), f"{where}.custom_details")
    alertname = details.pop("alertname", "")

    alert = Alert(
        fingerprint=dedup_key or fingerprint_of(labels, summary),
        status="firing",
        alertname=alertname,
        title=summary,
        description=details.pop("description", ""),
        labels={**labels, "alertname": alertname} if alertname else labels,
        annotations=details,
        starts_at=optional_time(payload.get("timestamp"), f"{where}.timestamp"),
        source="pagerduty",
    )
    require_text(alert, where, "add a payload.summary or a custom_details.alertname")
    return alert


def _status_change(
    item: dict[str, object], prefix: str, action: str, dedup_key: str
) -> Alert:
    """Read an acknowledge or resolve event, which names its alert by dedup_key."""
    if not dedup_key:
        raise InvalidAlertError(
            f"{prefix}dedup_key",
            f"is null, missing or empty; {_ARTICLES[action]} {action} event needs "
            "the dedup_key of the trigger event it refers to",
        )
    payload = item.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise InvalidAlertError(
            f"{prefix}payload", f"expected an object, got {json_kind(payload)}"
        )
    timestamp = None
    if isinstance(payload, dict):
        timestamp = optional_time(
            payload.get("timestamp"), f"{prefix}payload.timestamp"
        )
    return Alert(
        fingerprint=dedup_key,
        status=_STATUS[action],
        starts_at=timestamp or None,
        source="pagerduty",
    )


def custom_details(value: object, where: str) -> dict[str, str]:
    """Flatten custom_details into text annotations, nested values as JSON.

    PagerDuty accepts any JSON here. A string is kept as the description, and
    objects or lists inside the object are written as compact JSON.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        check_length(value, where, MAX_TEXT_CHARS)
        return {"description": value}
    if not isinstance(value, dict):
        raise InvalidAlertError(
            where, f"expected an object or a string, got {json_kind(value)}"
        )
    if len(value) > MAX_LABELS:
        raise InvalidAlertError(
            where, f"{len(value)} entries is more than the limit of {MAX_LABELS}"
        )
    details = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, (dict, list)):
            text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        else:
            text = scalar_text(item)
        check_length(text, f"{where}.{key[:100]}", MAX_VALUE_CHARS)
        details[str(key)[:100]] = text
    return details
