"""Grafana alerting webhooks (payload version "1") parsed into alerts."""

from __future__ import annotations

from recommender.alert_fields import (
    MAX_LABELS,
    json_kind,
    optional_string,
    preview,
)
from recommender.alerts import (
    Alert,
    AlertGroup,
    parse_webhook_alert,
    parse_webhook_group,
)
from recommender.errors import InvalidAlertError

# Grafana's webhook payload version; Alertmanager's is "4".
GRAFANA_VERSION = "1"
_GROUP_TEXT_FIELDS = ("title", "state", "message", "ruleUID")
_ALERT_TEXT_FIELDS = (
    "valueString",
    "silenceURL",
    "dashboardURL",
    "panelURL",
    "imageURL",
)


def parse_grafana(payload: object) -> AlertGroup:
    """Parse a Grafana alerting webhook into one entry per alert.

    Grafana sends the Alertmanager shape plus orgId, title, state, message and,
    per alert, the evaluated values and more links. Alerts without annotations are
    matched by their alertname label, which Grafana sets to the rule title.
    """
    if isinstance(payload, dict):
        _check_group_fields(payload)
    return parse_webhook_group(
        payload,
        source="grafana",
        name="a Grafana alerting",
        version=GRAFANA_VERSION,
        parse_alert=_parse_grafana_alert,
    )


def _check_group_fields(payload: dict[str, object]) -> None:
    org_id = payload.get("orgId")
    if org_id is not None and (not isinstance(org_id, int) or isinstance(org_id, bool)):
        got = json_kind(org_id)
        if isinstance(org_id, float):
            got = f"{preview(org_id)}, which is not a whole number"
        raise InvalidAlertError("orgId", f"expected a whole number, got {got}")
    for key in _GROUP_TEXT_FIELDS:
        optional_string(payload.get(key), key)


def _parse_grafana_alert(
    item: object, where: str, common: dict[str, str], source: str
) -> Alert:
    if isinstance(item, dict):
        _check_values(item.get("values"), f"{where}.values")
        for key in _ALERT_TEXT_FIELDS:
            optional_string(item.get(key), f"{where}.{key}")
    return parse_webhook_alert(item, where, common, source)


def _check_values(value: object, where: str) -> None:
    """Check the evaluated query values, such as {"B": 93.2}; they are not matched.

    The values change on every evaluation, so like other volatile numbers they
    take no part in matching.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidAlertError(
            where, f"expected an object of numbers, got {json_kind(value)}"
        )
    if len(value) > MAX_LABELS:
        raise InvalidAlertError(
            where, f"{len(value)} entries is more than the limit of {MAX_LABELS}"
        )
    for key, number in value.items():
        if number is not None and (
            not isinstance(number, (int, float)) or isinstance(number, bool)
        ):
            raise InvalidAlertError(
                f"{where}.{key[:100]}",
                f"expected a number or null, got {json_kind(number)}",
            )
