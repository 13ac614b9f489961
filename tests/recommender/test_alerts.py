import pytest

from recommender.alerts import (
    Alert,
    alert_from_text,
    has_text,
    parse_alertmanager,
    parse_plain,
)
from recommender.errors import InvalidAlertError


def _webhook(*alerts, **extra):
    return {"version": "4", "status": "firing", "alerts": list(alerts), **extra}


def _alert(name="NodeFilesystemSpaceFillingUp", status="firing", **fields):
    alert = {
        "status": status,
        "labels": {
            "alertname": name,
            "severity": "critical",
            "instance": "10.0.0.1:9100",
        },
        "annotations": {
            "summary": "Filesystem is predicted to run out of space.",
            "description": "Filesystem on {{ $labels.device }} is 95.2% full.",
            "runbook_url": "https://example.invalid/runbook",
        },
        "startsAt": "2026-12-04T02:14:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc123",
    }
    alert.update(fields)
    return alert


def test_alertmanager_alert_is_parsed_as_firing():
    [alert] = parse_alertmanager(_webhook(_alert()))
    assert isinstance(alert, Alert)
    assert alert.status == "firing"
    assert alert.ends_at is None
    assert alert.alertname == "NodeFilesystemSpaceFillingUp"
    assert alert.fingerprint == "abc123"
    assert alert.severity == "critical"


def test_alert_query_text_drops_templates_links_and_volatile_values():
    [alert] = parse_alertmanager(_webhook(_alert()))
    text = alert.query_text()
    assert "NodeFilesystemSpaceFillingUp" in text
    assert "run out of space" in text
    assert "{{" not in text
    assert "95.2" not in text
    assert "example.invalid" not in text


def test_resolved_alert_in_mixed_group_is_marked_resolved():
    resolved = _alert(
        "KubePodCrashLooping", status="resolved", endsAt="2026-12-04T03:00:00Z"
    )
    firing, done = parse_alertmanager(_webhook(_alert(), resolved))
    assert firing.status == "firing"
    assert done.status == "resolved"
    assert done.ends_at == "2026-12-04T03:00:00Z"


def test_status_is_inferred_from_ends_at_when_missing():
    item = _alert()
    del item["status"]
    [alert] = parse_alertmanager(_webhook(item))
    assert alert.status == "firing"
    item["endsAt"] = "2026-12-04T03:00:00Z"
    [alert] = parse_alertmanager(_webhook(item))
    assert alert.status == "resolved"


def test_double_underscore_annotations_are_not_text():
    item = _alert(annotations={"summary": "Disk full", "__dashboardUid__": "SECRETUID"})
    [alert] = parse_alertmanager(_webhook(item))
    assert "SECRETUID" not in alert.query_text()
    assert "__dashboardUid__" not in alert.annotations


def test_alert_without_annotations_uses_alertname():
    [alert] = parse_alertmanager(_webhook(_alert("KubeNodeNotReady", annotations={})))
    assert isinstance(alert, Alert)
    assert alert.query_text() == "KubeNodeNotReady"


def test_alert_without_alertname_uses_annotations():
    item = _alert()
    del item["labels"]["alertname"]
    [alert] = parse_alertmanager(_webhook(item))
    assert alert.alertname == ""
    assert "run out of space" in alert.query_text()


def test_alert_without_any_text_is_rejected_alone():
    empty = {"status": "firing", "labels": {"severity": "warning"}, "annotations": {}}
    good, bad = parse_alertmanager(_webhook(_alert(), empty))
    assert isinstance(good, Alert)
    assert isinstance(bad, InvalidAlertError)
    assert bad.field == "alerts[1]"
    assert "no text to match" in bad.message


def test_plain_alert_without_text_names_its_fields():
    with pytest.raises(InvalidAlertError, match="add a title or a description"):
        parse_plain({"severity": "critical"})


def test_alert_of_control_characters_is_rejected():
    nul = {
        "status": "firing",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "\x00\x00", "description": "\u200b"},
    }
    [bad] = parse_alertmanager(_webhook(nul))
    assert isinstance(bad, InvalidAlertError)
    assert "no text to match" in bad.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("disk", True), ("\u00e9", True), ("\u65e5\u672c", True), ("\x00 \x1b", False)],
)
def test_has_text_ignores_control_characters(text, expected):
    assert has_text(text) is expected


def test_bad_label_type_is_rejected_with_field_path():
    bad_item = _alert(labels={"alertname": "X", "team": {"nested": "object"}})
    [bad] = parse_alertmanager(_webhook(bad_item))
    assert isinstance(bad, InvalidAlertError)
    assert bad.field == "alerts[0].labels.team"
    assert "expected a string, got an object" in bad.message


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ([], "body", "expected a JSON object"),
        ({"version": "4"}, "alerts", "missing or not a list"),
        ({"version": "4", "alerts": []}, "alerts", "contains no alerts"),
        ({"version": "3", "alerts": [{}]}, "version", "not supported; send version 4"),
    ],
)
def test_invalid_webhooks_raise_with_field(payload, field, message):
    with pytest.raises(InvalidAlertError, match=message) as raised:
        parse_alertmanager(payload)
    assert raised.value.field == field


def test_plain_alert_is_parsed():
    alert = parse_plain(
        {
            "title": "Certificate expires in 3 days",
            "service": "checkout-api",
            "severity": "warning",
            "labels": {"team": "storefront"},
        }
    )
    assert alert.title == "Certificate expires in 3 days"
    assert alert.service == "checkout-api"
    assert alert.severity == "warning"
    assert alert.labels["team"] == "storefront"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "   "}, "title"),
        ({}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x", "labels": ["a"]}, "labels"),
        ({"title": "x", "severity": {"a": 1}}, "severity"),
        ({"title": "x" * 60_000}, "title"),
    ],
)
def test_invalid_plain_alerts_name_the_field(payload, field):
    with pytest.raises(InvalidAlertError) as raised:
        parse_plain(payload)
    assert raised.value.field == field


def test_whitespace_text_is_rejected():
    with pytest.raises(InvalidAlertError, match="is empty") as raised:
        alert_from_text(" \n\t ", field="TEXT")
    assert raised.value.field == "TEXT"


@pytest.mark.parametrize(
    ("parse", "field"),
    [
        (lambda: alert_from_text("disk \udcff full", "TEXT"), "TEXT"),
        (lambda: parse_plain({"title": "disk \ud800 full"}), "title"),
        (
            lambda: parse_plain({"title": "x", "labels": {"team": "a\ud800"}}),
            "labels.team",
        ),
        (
            lambda: parse_alertmanager(
                {"version": "4", "receiver": "r\ud800", "alerts": [{}]}
            ),
            "receiver",
        ),
    ],
)
def test_unpaired_surrogate_names_field(parse, field):
    with pytest.raises(InvalidAlertError) as raised:
        parse()

    assert raised.value.field == field
    assert "unpaired UTF-16 surrogate" in raised.value.message


def test_webhook_surrogate_fails_its_alert_only():
    good = {"labels": {"alertname": "DiskFull"}, "annotations": {"summary": "Disk"}}
    bad = {"labels": {"alertname": "X\ud800"}}

    alerts = parse_alertmanager({"version": "4", "alerts": [good, bad]})

    assert isinstance(alerts[0], Alert)
    assert alerts[0].alertname == "DiskFull"
    assert isinstance(alerts[1], InvalidAlertError)
    assert alerts[1].field == "alerts[1].labels.alertname"
    assert "unpaired UTF-16 surrogate" in alerts[1].message


def test_pagerduty_surrogate_fails_its_event_only():
    from recommender.pagerduty import parse_pagerduty

    event = {
        "event_action": "trigger",
        "payload": {
            "summary": "Disk almost full",
            "source": "db-1",
            "severity": "info",
        },
    }
    bad = {**event, "payload": {**event["payload"], "summary": "Disk \ud800 full"}}

    group = parse_pagerduty([event, bad])

    assert isinstance(group.alerts[0], Alert)
    assert isinstance(group.alerts[1], InvalidAlertError)
    assert group.alerts[1].field == "[1].payload.summary"


@pytest.mark.parametrize(
    ("timestamp", "valid"),
    [
        ("2015-07-17T08:42:58.315+0000", True),
        ("2026-12-04T10:00:00-0530", True),
        ("2026-12-04T10:00:00+2400", False),
        ("2026-12-04T10:00:00+000", False),
        ("2026-12-04T10:00:00+0060", False),
    ],
)
def test_pagerduty_timestamp_offset_without_colon(timestamp, valid):
    from recommender.pagerduty import parse_pagerduty

    event = {
        "event_action": "trigger",
        "payload": {
            "summary": "Disk almost full",
            "source": "db-1",
            "severity": "info",
            "timestamp": timestamp,
        },
    }
    [alert] = parse_pagerduty([event]).alerts

    if valid:
        assert isinstance(alert, Alert)
        assert alert.starts_at == timestamp
    else:
        assert isinstance(alert, InvalidAlertError)
        assert alert.field == "[0].payload.timestamp"
