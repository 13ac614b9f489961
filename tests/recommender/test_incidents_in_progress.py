import threading
from datetime import datetime, timedelta, timezone

import pytest

from indexer.errors import ConfigurationError
from recommender.alerts import Alert
from recommender.incident_response import IncidentResponse
from recommender.incidents_in_progress import (
    IncidentNotFoundError,
    IncidentTracker,
    TrackedAlert,
    group_key_of,
    incident_id,
)
from recommender.response_db import open_response_db
from recommender.severity_policy import SeverityScale
from tests.conftest import REPO_ROOT

KEY = '{}/{}:{alertname="DiskFull"}'
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def tracker(tmp_path):
    return IncidentTracker(open_response_db(tmp_path), SeverityScale())


def _tracked(number, status="firing", severity="SEV2", **labels):
    alert = Alert(
        fingerprint=f"f{number}",
        status=status,
        alertname="DiskFull",
        labels={
            "alertname": "DiskFull",
            "service": "orders-db",
            "instance": f"db-{number}",
            **labels,
        },
        starts_at="2026-12-04T11:50:00Z",
    )
    return TrackedAlert(alert, severity)


def test_group_history_is_stored_and_read_back(tracker):
    incident, change = tracker.track(KEY, {"alertname": "DiskFull"}, [_tracked(1)], NOW)
    assert change is not None
    assert change.event == "opened"
    assert incident.severity == "SEV3"
    assert incident.status == "open"

    more = [_tracked(number) for number in range(2, 6)]
    later = NOW + timedelta(minutes=2)
    incident, change = tracker.track(KEY, {}, more, later)
    assert change.event == "raised"
    assert change.previous == "SEV3"
    assert change.severity == "SEV1"
    assert "raised to SEV1: 5 alerts firing (rule: 5 or more)" in change.reasons

    incident, change = tracker.track(KEY, {}, more, later + timedelta(seconds=30))
    assert change is None

    resolved = [_tracked(n, status="resolved", severity=None) for n in range(1, 6)]
    incident, change = tracker.track(KEY, {}, resolved, later + timedelta(minutes=5))
    assert change.event == "resolved"
    assert change.severity == "SEV1"
    assert incident.resolved_at is not None

    read_back = tracker.get(incident_id(KEY))
    assert [entry.event for entry in read_back.history] == [
        "opened",
        "raised",
        "resolved",
    ]
    assert read_back.history[0].changed_at == NOW.isoformat()
    assert read_back.group_labels == {"alertname": "DiskFull"}
    assert len(read_back.alerts) == 5
    assert tracker.get(KEY).id == read_back.id


def test_resolved_group_reopens(tracker):
    tracker.track(KEY, {}, [_tracked(1, status="resolved")], NOW)
    refired = _tracked(1)
    refired.alert.starts_at = "2026-12-04T12:55:00Z"
    incident, change = tracker.track(KEY, {}, [refired], NOW + timedelta(hours=1))
    assert change.event == "reopened"
    assert incident.status == "open"


def test_history_survives_a_new_tracker(tmp_path):
    first = IncidentTracker(open_response_db(tmp_path), SeverityScale())
    first.track(KEY, {}, [_tracked(1)], NOW)
    second = IncidentTracker(open_response_db(tmp_path), SeverityScale())
    assert [entry.event for entry in second.get(KEY).history] == ["opened"]
    assert [incident.id for incident in second.list(status="open")] == [
        incident_id(KEY)
    ]


def test_unknown_incident_is_not_found(tracker):
    with pytest.raises(IncidentNotFoundError, match="no incident in progress"):
        tracker.get("nope")


def test_group_key_without_group_key_uses_labels():
    alert = _tracked(1).alert
    key, labels = group_key_of({}, [alert], ["alertname", "service"])
    assert labels == {"alertname": "DiskFull", "service": "orders-db"}
    assert key == 'labels:{"alertname": "DiskFull", "service": "orders-db"}'
    assert group_key_of({"groupKey": KEY}, [alert], ["alertname"])[0] == KEY


def test_example_configuration_is_valid(tmp_path):
    response = IncidentResponse(
        tmp_path, REPO_ROOT / "data" / "config" / "incident.yaml"
    )
    assert response.scale.normalize("urgent") == "SEV1"
    assert response.notifications.channels_for(["checkout-api"], "SEV2", "opened") == [
        "incident-webhook",
        "storefront-slack",
    ]
    assert response.notifications.channels_for(["orders-db"], "SEV3", "lowered") == [
        "incident-webhook"
    ]


def test_route_with_unknown_severity_is_rejected(tmp_path):
    config = tmp_path / "incident.yaml"
    config.write_text(
        "notifications:\n"
        "  channels: {hook: {type: webhook, url: 'http://127.0.0.1:9/x'}}\n"
        "  routes: [{channels: [hook], severities: [P1]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"severities: 'P1' is not a level"):
        IncidentResponse(tmp_path, config)


def test_invalid_list_item_names_its_position(tmp_path):
    config = tmp_path / "incident.yaml"
    config.write_text(
        "notifications:\n"
        "  channels: {hook: {type: webhook, url: 'http://127.0.0.1:9/x'}}\n"
        "  routes: [{channels: [hook], events: [opened, closed]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as raised:
        IncidentResponse(tmp_path, config)
    # The same form as the checks written by hand: routes[0].severities.
    assert "notifications.routes[0].events[1]: Input should be" in str(raised.value)


def test_invalid_channel_name_is_quoted(tmp_path):
    config = tmp_path / "incident.yaml"
    config.write_text(
        "notifications:\n"
        "  channels: {'bad name': {type: webhook, url: 'http://127.0.0.1:9/x'}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as raised:
        IncidentResponse(tmp_path, config)
    assert "notifications.channels['bad name'] (name): String should" in str(
        raised.value
    )


def test_concurrent_webhooks_open_once(tmp_path):
    trackers = [
        IncidentTracker(open_response_db(tmp_path), SeverityScale()) for _ in range(4)
    ]
    errors = []

    def send(tracker, number):
        try:
            tracker.track(KEY, {}, [_tracked(number)], NOW)
        except Exception as error:  # reported by the assert below
            errors.append(error)

    threads = [
        threading.Thread(target=send, args=(tracker, number))
        for number, tracker in enumerate(trackers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    incident = trackers[0].get(KEY)
    assert len(incident.alerts) == 4
    assert [entry.event for entry in incident.history].count("opened") == 1


def test_track_invalid_json_is_clear_error(tmp_path, capsys, sample_home):
    from recommender.cli import main

    payload = tmp_path / "webhook.json"
    payload.write_text("{not json", encoding="utf-8")

    status = main(
        ["--home", str(sample_home), "incidents", "track", "-f", str(payload)]
    )

    assert status == 2
    assert (
        f"{payload}: not valid JSON: Expecting property name" in capsys.readouterr().err
    )


def test_missing_home_is_not_created(tmp_path, capsys):
    from recommender.cli import main

    home = tmp_path / "typo"
    assert main(["--home", str(home), "incidents", "list"]) == 2
    assert f"knowledge base folder {home} does not exist" in capsys.readouterr().err
    assert not home.exists()


def test_complete_webhook_resolves_left_out_alerts(tracker):
    five = [_tracked(number) for number in range(1, 6)]
    incident, change = tracker.track(KEY, {}, five, NOW)
    assert change.severity == "SEV1"

    later = NOW + timedelta(minutes=1)
    incident, change = tracker.track(KEY, {}, five[:2], later, complete=True)
    firing = [
        alert.fingerprint for alert in incident.alerts if alert.status == "firing"
    ]
    assert firing == ["f1", "f2"]
    assert change.event == "lowered"
    assert change.firing_alerts == 2

    incident, change = tracker.track(KEY, {}, five[:1], later, complete=False)
    assert change is None
    assert sum(alert.status == "firing" for alert in incident.alerts) == 2


def test_older_database_gains_the_severity_source(tmp_path):
    import sqlite3

    # The alerts table as releases before the severity source created it.
    with sqlite3.connect(tmp_path / "response.db") as connection:
        connection.execute(
            "CREATE TABLE incident_group_alerts (group_id VARCHAR(16) NOT NULL, "
            "fingerprint VARCHAR NOT NULL, status VARCHAR NOT NULL, alertname TEXT "
            "NOT NULL, service TEXT NOT NULL, instance TEXT NOT NULL, "
            "customer_facing INTEGER NOT NULL, starts_at VARCHAR, history_severity "
            "VARCHAR, updated_at VARCHAR NOT NULL, PRIMARY KEY (group_id, "
            "fingerprint))"
        )
        connection.execute(
            "INSERT INTO incident_group_alerts VALUES ('old', 'f0', 'firing', "
            "'DiskFull', 'orders-db', 'db-0', 0, NULL, 'SEV2', 'then')"
        )

    tracker = IncidentTracker(open_response_db(tmp_path), SeverityScale())
    alert = _tracked(1)
    alert.severity_source = "label"
    incident, change = tracker.track(KEY, {}, [alert], NOW)

    assert incident.alerts[0].severity_source == "label"
    assert change.reasons[0] == "SEV2 from the alert's own severity label"
    with sqlite3.connect(tmp_path / "response.db") as connection:
        old = connection.execute(
            "SELECT history_severity, severity_source FROM incident_group_alerts "
            "WHERE group_id = 'old'"
        ).fetchone()
    assert old == ("SEV2", None)


def test_late_firing_copy_does_not_reopen(tracker):
    firing = _tracked(1)
    tracker.track(KEY, {}, [firing], NOW)
    resolved = _tracked(1, status="resolved")
    incident, change = tracker.track(KEY, {}, [resolved], NOW + timedelta(minutes=1))
    assert change.event == "resolved"

    incident, change = tracker.track(KEY, {}, [firing], NOW + timedelta(minutes=2))
    assert change is None
    assert incident.status == "resolved"
    assert [alert.status for alert in incident.alerts] == ["resolved"]

    # The same alert firing again has a new start time: a new occurrence.
    refired = _tracked(1)
    refired.alert.starts_at = "2026-12-04T12:05:00Z"
    incident, change = tracker.track(KEY, {}, [refired], NOW + timedelta(minutes=6))
    assert change.event == "reopened"


def test_resolved_group_resolves_truncated_alerts(tmp_path):
    response = IncidentResponse(tmp_path, REPO_ROOT / "data/config/incident.yaml")
    first = Alert(
        fingerprint="b",
        alertname="DiskFull",
        labels={"alertname": "DiskFull", "instance": "db-2"},
        starts_at="2026-12-04T11:00:00Z",
    )
    second = Alert(
        fingerprint="a",
        alertname="DiskFull",
        labels={"alertname": "DiskFull", "instance": "db-1"},
        starts_at="2026-12-04T11:05:00Z",
    )
    payload = {"groupKey": KEY, "status": "firing", "groupLabels": {}}
    response.handle_webhook(payload, [first], [], NOW)
    truncated = {**payload, "truncatedAlerts": 1}
    [update] = response.handle_webhook(truncated, [second], [], NOW)
    assert update.incident.impact.firing_alerts == 2

    # max_alerts 1 lists one resolved alert, and the group status covers all.
    second.status = "resolved"
    resolved = {**truncated, "status": "resolved"}
    [update] = response.handle_webhook(resolved, [second], [], NOW)
    assert update.incident.status == "resolved"
    assert {alert.status for alert in update.incident.alerts} == {"resolved"}


def test_webhook_without_group_key_splits_by_group_labels(tmp_path):
    response = IncidentResponse(tmp_path, REPO_ROOT / "data/config/incident.yaml")
    disk = Alert(
        fingerprint="d",
        alertname="DiskAlmostFull",
        labels={"alertname": "DiskAlmostFull", "service": "orders-db"},
    )
    cert = Alert(
        fingerprint="c",
        alertname="CertExpiringSoon",
        labels={"alertname": "CertExpiringSoon", "service": "checkout-api"},
    )
    second_disk = Alert(
        fingerprint="d2",
        alertname="DiskAlmostFull",
        labels={"alertname": "DiskAlmostFull", "service": "orders-db", "instance": "b"},
    )

    updates = response.handle_webhook({}, [disk, cert, second_disk], [], NOW)

    groups = {
        update.incident.group_key: sorted(a.fingerprint for a in update.incident.alerts)
        for update in updates
    }
    assert groups == {
        'labels:{"alertname": "CertExpiringSoon", "service": "checkout-api"}': ["c"],
        'labels:{"alertname": "DiskAlmostFull", "service": "orders-db"}': ["d", "d2"],
    }
    assert all(update.change.event == "opened" for update in updates)

    # Alertmanager names its group, so its alerts stay together.
    named = response.handle_webhook({"groupKey": KEY}, [disk, cert], [], NOW)
    assert len(named) == 1
    assert len(named[0].incident.alerts) == 2


def _occurrence(status: str, starts_at: str, fingerprint: str = "f1") -> TrackedAlert:
    tracked = _tracked(1, status=status)
    tracked.alert.fingerprint = fingerprint
    tracked.alert.starts_at = starts_at
    return tracked


def test_late_copy_of_an_older_occurrence_changes_nothing(tracker):
    ten, eleven = "2026-12-04T10:00:00Z", "2026-12-04T11:00:00Z"
    for status, start in [
        ("firing", ten),
        ("resolved", ten),
        ("firing", eleven),
        ("resolved", eleven),
    ]:
        tracker.track(KEY, {}, [_occurrence(status, start)], NOW)

    # A firing copy of the 10:00 occurrence, held up behind the 11:00 one.
    incident, change = tracker.track(KEY, {}, [_occurrence("firing", ten)], NOW)
    assert change is None
    assert incident.status == "resolved"
    assert incident.alerts[0].starts_at == datetime.fromisoformat(eleven)


def test_late_resolved_group_leaves_a_newer_episode_open(tracker):
    ten, eleven = "2026-12-04T10:00:00Z", "2026-12-04T11:00:00Z"
    tracker.track(KEY, {}, [_occurrence("firing", ten, "a")], NOW, complete=True)
    late_resolve = [_occurrence("resolved", ten, "a")]
    tracker.track(KEY, {}, late_resolve, NOW, complete=True)
    newer = [_occurrence("firing", eleven, "a"), _occurrence("firing", eleven, "b")]
    incident, change = tracker.track(KEY, {}, newer, NOW, complete=True)
    assert change.event == "reopened"

    # The resolved webhook of 10:00 again, as a retry would send it.
    incident, change = tracker.track(
        KEY, {}, late_resolve, NOW, complete=True, group_resolved=True
    )
    assert change is None
    assert incident.status == "open"
    assert [alert.status for alert in incident.alerts] == ["firing", "firing"]


def test_earlier_start_of_the_same_occurrence_still_resolves(tracker):
    # Alertmanager keeps the earliest start its Prometheus replicas report, so
    # a later webhook of one occurrence may carry an earlier startsAt.
    tracker.track(KEY, {}, [_occurrence("firing", "2026-12-04T10:00:30Z")], NOW)
    tracker.track(KEY, {}, [_occurrence("firing", "2026-12-04T10:00:00Z")], NOW)
    resolved = [_occurrence("resolved", "2026-12-04T10:00:00Z")]

    incident, change = tracker.track(
        KEY, {}, resolved, NOW, complete=True, group_resolved=True
    )

    assert change.event == "resolved"
    assert incident.status == "resolved"


def _ended(start: str, end: str, fingerprint: str = "f1") -> TrackedAlert:
    tracked = _occurrence("resolved", start, fingerprint)
    tracked.alert.ends_at = end
    return tracked


def test_stale_full_webhook_does_not_block_firing(tracker):
    x, y = "2026-12-04T10:00:00Z", "2026-12-04T10:05:00Z"
    first = [_occurrence("firing", x, "x")]
    tracker.track(KEY, {}, first, NOW, complete=True)
    both = [_occurrence("firing", x, "x"), _occurrence("firing", y, "y")]
    tracker.track(KEY, {}, both, NOW, complete=True)

    # A late copy of the first webhook leaves y out, so y counts as resolved,
    # but its next delivery applies again.
    tracker.track(KEY, {}, first, NOW, complete=True)
    update = [_ended(x, "2026-12-04T10:10:00Z", "x"), _occurrence("firing", y, "y")]
    incident, _ = tracker.track(KEY, {}, update, NOW, complete=True)

    assert incident.status == "open"
    assert {a.fingerprint: a.status for a in incident.alerts} == {
        "x": "resolved",
        "y": "firing",
    }


def test_late_resolved_group_spares_later_alert(tracker):
    x, y = "2026-12-04T10:00:00Z", "2026-12-04T10:05:00Z"
    resolved_x = [_ended(x, "2026-12-04T10:03:00Z", "x")]
    tracker.track(KEY, {}, [_occurrence("firing", x, "x")], NOW)
    tracker.track(KEY, {}, resolved_x, NOW, group_resolved=True)
    tracker.track(KEY, {}, [_occurrence("firing", y, "y")], NOW)

    incident, change = tracker.track(KEY, {}, resolved_x, NOW, group_resolved=True)

    assert change is None
    assert incident.status == "open"


def test_late_resolve_of_earlier_occurrence_ignored(tracker):
    tracker.track(KEY, {}, [_occurrence("firing", "2026-12-04T10:00:00Z")], NOW)
    tracker.track(KEY, {}, [_occurrence("firing", "2026-12-04T10:05:00Z")], NOW)

    late = [_ended("2026-12-04T10:00:00Z", "2026-12-04T10:04:00Z")]
    incident, change = tracker.track(KEY, {}, late, NOW)

    assert change is None
    assert incident.status == "open"


@pytest.mark.parametrize(
    ("steps", "late_start"),
    [
        (
            [("firing", "10:00:00"), ("resolved", "10:00:00")],
            "09:59:00",
        ),
        (
            [("firing", "10:00:00"), ("firing", "09:59:00"), ("resolved", "09:59:00")],
            "10:00:00",
        ),
    ],
)
def test_late_firing_before_resolve_ignored(tracker, steps, late_start):
    day = "2026-12-04T"
    for status, start in steps:
        if status == "resolved":
            tracker.track(KEY, {}, [_ended(f"{day}{start}Z", f"{day}10:40:00Z")], NOW)
        else:
            tracker.track(KEY, {}, [_occurrence(status, f"{day}{start}Z")], NOW)

    late = [_occurrence("firing", f"{day}{late_start}Z")]
    incident, change = tracker.track(KEY, {}, late, NOW)

    assert change is None
    assert incident.status == "resolved"
