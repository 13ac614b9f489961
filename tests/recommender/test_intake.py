"""Alert intake formats, malformed input and the idempotency store, over the app."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from recommender.api import create_app
from recommender.settings import ServiceSettings
from recommender.validation_messages import plain_message
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"
ROUTING_KEY = "R0UT1NGKEY0000000000000000secret"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def alerts_database(tmp_path_factory):
    return tmp_path_factory.mktemp("alert-store") / "alerts.db"


@pytest.fixture(scope="module")
def client(sample_home, sample_kb, alerts_database):
    settings = ServiceSettings(home=sample_home, alerts_database=alerts_database)
    app = create_app(settings, knowledge_base=sample_kb)
    with TestClient(app) as test_client:
        yield test_client


def _webhook(alertname="KubePersistentVolumeFillingUp", **alert):
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": alertname, "service": "orders-db"},
                "annotations": {"summary": "Disk almost full on orders-db"},
                "startsAt": "2026-12-04T10:00:00Z",
                "fingerprint": "fp-" + alertname,
                **alert,
            }
        ],
    }


def _grafana(annotations=None):
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighDiskUsage", "grafana_folder": "Storage"},
        "startsAt": "2026-12-04T11:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "values": {"B": 93.2, "C": 1},
        "valueString": "[ var='B' labels={instance=db-1} value=93.2 ]",
        "fingerprint": "grafana-disk-1",
        "generatorURL": "http://grafana.invalid/alerting/grafana/abc/view",
        "silenceURL": "http://grafana.invalid/alerting/silence/new",
        "dashboardURL": "",
        "panelURL": "",
    }
    if annotations is not None:
        alert["annotations"] = annotations
    return {
        "receiver": "incident-recommender",
        "status": "firing",
        "orgId": 1,
        "alerts": [alert],
        "groupLabels": {"alertname": "HighDiskUsage"},
        "commonLabels": {"alertname": "HighDiskUsage"},
        "commonAnnotations": {},
        "externalURL": "http://grafana.invalid/",
        "version": "1",
        "groupKey": '{}:{alertname="HighDiskUsage"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] HighDiskUsage Storage",
        "state": "alerting",
        "message": "**Firing**\nValue: B=93.2",
    }


def _pagerduty(**payload):
    return {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "orders-db-disk",
        "payload": {
            "summary": "Disk almost full on orders-db-1",
            "source": "orders-db-1",
            "severity": "critical",
            "component": "orders-db",
            "group": "storage",
            "class": "disk",
            "custom_details": {"free_percent": 3, "mount": {"path": "/var/lib"}},
            **payload,
        },
    }


def _problem(response):
    """Return the error of a rejected request, or of its first rejected alert."""
    body = response.json()
    if "error" in body:
        assert body["error"]["request_id"] == response.headers["X-Request-ID"]
        return body["error"]
    rejected = [r for r in body["results"] if r["outcome"] == "rejected"]
    assert rejected, body
    return rejected[0]["error"]


DEEP = '{"title": "x", "labels": ' + "{" * 0 + "[" * 100 + "]" * 100 + "}"
MALFORMED = [
    # (case, route, body, content type, status, field, message)
    ("truncated JSON", "", b'{"title": "disk', JSON, 422, "body", "not valid JSON"),
    (
        "invalid UTF-8",
        "/grafana",
        b'{"title": "\xc3\x28"}',
        JSON,
        422,
        "body",
        "not valid UTF-8",
    ),
    (
        "wrong content type",
        "/pagerduty",
        b"{}",
        {"Content-Type": "text/plain"},
        415,
        "content-type",
        "not supported",
    ),
    (
        "1 MB label value",
        "/alertmanager",
        json.dumps(_webhook(labels={"alertname": "x" * 1_048_576})).encode(),
        JSON,
        413,
        None,
        "over the limit",
    ),
    (
        "label value over the limit",
        "/alertmanager",
        json.dumps(_webhook(labels={"alertname": "x" * 20_000})).encode(),
        JSON,
        200,
        "alerts[0].labels.alertname",
        "more than the limit of 10000",
    ),
    ("100-deep nesting", "", DEEP.encode(), JSON, 422, "body", "nested more than 32"),
    (
        "integer of 5,000 digits",
        "/grafana",
        b'{"title": "disk", "labels": {"a": ' + b"9" * 5000 + b"}}",
        JSON,
        422,
        "body",
        "integer of 5000 digits",
    ),
    (
        "repeated title key",
        "",
        b'{"title": "disk full", "title": "cert expiry"}',
        JSON,
        422,
        "body",
        "the key 'title' appears twice",
    ),
    (
        "repeated label key",
        "/alertmanager",
        b'{"version": "4", "alerts": [{"labels": {"service": "a", "service": "b"}}]}',
        JSON,
        422,
        "body",
        "the key 'service' appears twice",
    ),
    (
        "gzip body",
        "",
        b"\x1f\x8b\x08\x00",
        {**JSON, "Content-Encoding": "gzip"},
        415,
        "content-encoding",
        "content encoding 'gzip' is not supported",
    ),
    (
        "NaN label value",
        "",
        b'{"title": "disk", "labels": {"a": NaN}}',
        JSON,
        422,
        "body",
        "NaN is not a JSON number",
    ),
    (
        "-Infinity label value",
        "/alertmanager",
        b'{"version": "4", "alerts": [], "x": -Infinity}',
        JSON,
        422,
        "body",
        "-Infinity is not a JSON number",
    ),
    (
        "number that overflows a float",
        "/pagerduty",
        b'{"title": "disk", "labels": {"a": 1e999}}',
        JSON,
        422,
        "body",
        "too large for a 64-bit float",
    ),
    (
        "empty Alertmanager group",
        "/alertmanager",
        b'{"version": "4", "alerts": []}',
        JSON,
        422,
        "alerts",
        "contains no alerts",
    ),
    (
        "empty Grafana group",
        "/grafana",
        b'{"version": "1", "alerts": []}',
        JSON,
        422,
        "alerts",
        "contains no alerts",
    ),
    ("empty PagerDuty list", "/pagerduty", b"[]", JSON, 422, "body", "no events"),
    (
        "null event_action",
        "/pagerduty",
        json.dumps({**_pagerduty(), "event_action": None}).encode(),
        JSON,
        422,
        "event_action",
        "expected one of trigger, acknowledge, resolve, got null or missing",
    ),
    (
        "null summary",
        "/pagerduty",
        json.dumps(_pagerduty(summary=None)).encode(),
        JSON,
        422,
        "payload.summary",
        "needs a summary",
    ),
    (
        "null payload",
        "/pagerduty",
        json.dumps({**_pagerduty(), "payload": None}).encode(),
        JSON,
        422,
        "payload",
        "needs a payload object",
    ),
    (
        "resolve without dedup_key",
        "/pagerduty",
        json.dumps([{"event_action": "resolve", "dedup_key": None}]).encode(),
        JSON,
        200,
        "[0].dedup_key",
        "a resolve event needs the dedup_key",
    ),
    (
        "acknowledge without dedup_key",
        "/pagerduty",
        b'{"event_action": "acknowledge"}',
        JSON,
        422,
        "dedup_key",
        "an acknowledge event needs the dedup_key",
    ),
    (
        "null PagerDuty severity",
        "/pagerduty",
        json.dumps(_pagerduty(severity=None)).encode(),
        JSON,
        422,
        "payload.severity",
        "got null or missing",
    ),
    (
        "missing PagerDuty source",
        "/pagerduty",
        json.dumps(_pagerduty(source=None)).encode(),
        JSON,
        422,
        "payload.source",
        "needs the source",
    ),
    (
        "PagerDuty timestamp not a time",
        "/pagerduty",
        json.dumps(_pagerduty(timestamp="garbage")).encode(),
        JSON,
        422,
        "payload.timestamp",
        "is not an RFC 3339 time",
    ),
    (
        "plain startsAt in words",
        "",
        b'{"title": "disk full", "startsAt": "yesterday"}',
        JSON,
        422,
        "startsAt",
        "'yesterday' is not an RFC 3339 time",
    ),
    (
        "plain startsAt with a 5-digit year",
        "",
        b'{"title": "disk full", "startsAt": "99999-01-01T00:00:00Z"}',
        JSON,
        422,
        "startsAt",
        "is not an RFC 3339 time",
    ),
    (
        "Alertmanager startsAt not a time",
        "/alertmanager",
        json.dumps(_webhook(startsAt="not-a-time")).encode(),
        JSON,
        200,
        "alerts[0].startsAt",
        "is not an RFC 3339 time",
    ),
    (
        "Grafana endsAt in month 13",
        "/grafana",
        json.dumps(
            {
                **_grafana(),
                "alerts": [
                    {**_grafana()["alerts"][0], "endsAt": "2026-13-01T00:00:00Z"}
                ],
            }
        ).encode(),
        JSON,
        200,
        "alerts[0].endsAt",
        "is not an RFC 3339 time",
    ),
    (
        "unknown PagerDuty severity",
        "/pagerduty",
        json.dumps(_pagerduty(severity="urgent")).encode(),
        JSON,
        422,
        "payload.severity",
        "expected one of critical, error, warning, info, got 'urgent'",
    ),
    (
        "routing_key of a wrong type",
        "/pagerduty",
        json.dumps({**_pagerduty(), "routing_key": 12345}).encode(),
        JSON,
        422,
        "routing_key",
        "expected a string, got a number",
    ),
    (
        "unknown plain field",
        "",
        b'{"title": "disk full", "priority": "P1"}',
        JSON,
        422,
        "priority",
        "unknown field",
    ),
    (
        "labels as a list",
        "/alertmanager",
        json.dumps(_webhook(labels=["alertname", "x"])).encode(),
        JSON,
        200,
        "alerts[0].labels",
        "expected an object of strings, got a list",
    ),
    (
        "Grafana orgId as a float",
        "/grafana",
        json.dumps({**_grafana(), "orgId": 1.5}).encode(),
        JSON,
        422,
        "orgId",
        "got 1.5, which is not a whole number",
    ),
    (
        "Grafana orgId as text",
        "/grafana",
        json.dumps({**_grafana(), "orgId": "one"}).encode(),
        JSON,
        422,
        "orgId",
        "expected a whole number, got a string",
    ),
    (
        "Grafana value as text",
        "/grafana",
        json.dumps(
            {
                **_grafana(),
                "alerts": [{**_grafana()["alerts"][0], "values": {"B": "x"}}],
            }
        ).encode(),
        JSON,
        200,
        "alerts[0].values.B",
        "expected a number or null, got a string",
    ),
    (
        "negative truncatedAlerts",
        "/alertmanager",
        json.dumps({**_webhook(), "truncatedAlerts": -1}).encode(),
        JSON,
        422,
        "truncatedAlerts",
        "expected a whole number of 0 or more, got -1",
    ),
    (
        "Alertmanager version 3",
        "/alertmanager",
        json.dumps({**_webhook(), "version": "3"}).encode(),
        JSON,
        422,
        "version",
        "send version 4",
    ),
]


@pytest.mark.parametrize(
    ("route", "content", "headers", "status", "field", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_input_is_rejected(
    client, route, content, headers, status, field, message
):
    response = client.post(f"/v1/alerts{route}", content=content, headers=headers)
    assert response.status_code == status, response.text
    problem = _problem(response)
    assert problem["field"] == field
    assert message in problem["message"]


ACCEPTED = [
    # (case, route, payload)
    (
        "emoji and right-to-left labels",
        "/alertmanager",
        _webhook(
            labels={
                "alertname": "KubePersistentVolumeFillingUp",
                "team": "🔥 storage 💾",
                "owner": "צוות אחסון",
                "region": "الشرق الأوسط",
            },
            fingerprint="fp-unicode",
        ),
    ),
    ("Grafana without annotations", "/grafana", _grafana()),
    (
        "newer Alertmanager fields",
        "/alertmanager",
        {
            **_webhook(fingerprint="fp-newer"),
            "truncatedAlerts": 3,
            "notification_reason": "alert group changed",
            "groupKey": '{}:{alertname="KubePersistentVolumeFillingUp"}',
            "some_future_field": {"nested": [1, 2]},
        },
    ),
    ("PagerDuty nulls where optional", "/pagerduty", _pagerduty(component=None)),
    (
        "unknown PagerDuty fields",
        "/pagerduty",
        {**_pagerduty(), "dedup_key": None, "payload_version": 2},
    ),
]


@pytest.mark.parametrize(
    ("route", "payload"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_valid_input_is_recommended(client, route, payload):
    response = client.post(f"/v1/alerts{route}", json=payload)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["outcome"] == "recommended"
    assert result["recommendation"]["matches"]
    assert result["key"]


def test_truncated_alerts_are_reported(client):
    payload = {**_webhook(fingerprint="fp-truncated"), "truncatedAlerts": 7}
    body = client.post("/v1/alerts/alertmanager", json=payload).json()
    assert body["truncated_alerts"] == 7


def test_grafana_alert_matches_by_alertname(client):
    result = client.post("/v1/alerts/grafana", json=_grafana()).json()["results"][0]
    assert result["alert"]["alertname"] == "HighDiskUsage"
    stored = client.get(f"/v1/alerts/{result['key']}").json()
    assert stored["alert"]["source"] == "grafana"
    assert stored["alert"]["labels"]["grafana_folder"] == "Storage"


def test_bad_grafana_alert_is_rejected_alone(client):
    payload = _grafana(annotations={"summary": "Disk almost full"})
    payload["alerts"].append({"status": "firing", "labels": "not an object"})
    results = client.post("/v1/alerts/grafana", json=payload).json()["results"]
    assert [r["outcome"] for r in results] == ["recommended", "rejected"]
    assert results[1]["error"]["field"] == "alerts[1].labels"


def test_pagerduty_list_answers_each_event(client):
    events = [
        _pagerduty(),
        {"event_action": "acknowledge", "dedup_key": "orders-db-disk"},
        {"event_action": "page"},
    ]
    results = client.post("/v1/alerts/pagerduty", json=events).json()["results"]
    assert [r["outcome"] for r in results] == [
        "recommended",
        "acknowledged",
        "rejected",
    ]
    assert results[0]["alert"]["service"] == "orders-db"
    assert results[0]["alert"]["severity"] == "critical"
    assert results[2]["error"]["field"] == "[2].event_action"


def test_routing_key_is_never_echoed_or_stored(client, alerts_database, caplog):
    caplog.set_level(logging.DEBUG)
    event = _pagerduty()
    event["dedup_key"] = "routing-key-check"
    created = client.post("/v1/alerts/pagerduty", json=event)
    resolved = client.post(
        "/v1/alerts/pagerduty",
        json={**event, "event_action": "resolve", "payload": None},
    )
    listing = client.get("/v1/alerts", params={"limit": 200})
    for response in (created, resolved, listing):
        assert response.status_code == 200
        assert ROUTING_KEY not in response.text
    assert ROUTING_KEY not in caplog.text
    store_files = alerts_database.parent.glob("alerts.db*")
    assert all(ROUTING_KEY.encode() not in path.read_bytes() for path in store_files)


def test_pagerduty_resolve_updates_stored_trigger(client):
    event = _pagerduty(timestamp="2026-12-04T12:00:00Z")
    event["dedup_key"] = "resolve-check"
    key = client.post("/v1/alerts/pagerduty", json=event).json()["results"][0]["key"]
    resolve = {"event_action": "resolve", "dedup_key": "resolve-check"}
    result = client.post("/v1/alerts/pagerduty", json=resolve).json()["results"][0]
    assert result["outcome"] == "resolved"
    assert result["key"] == key
    stored = client.get(f"/v1/alerts/{key}").json()
    assert stored["alert"]["status"] == "resolved"
    assert stored["alert"]["title"] == "Disk almost full on orders-db-1"
    assert stored["outcome"] == "recommended"
    assert stored["deliveries"] == 2


def test_leading_byte_order_mark_is_ignored(client):
    body = b'\xef\xbb\xbf{"title": "byte order mark disk full"}'
    response = client.post("/v1/alerts", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    stored = client.get(f"/v1/alerts/{result['key']}").json()
    assert stored["alert"]["title"] == "byte order mark disk full"


def test_label_values_keep_json_spelling(client):
    payload = {
        "title": "label spelling check",
        "labels": {"count": 5, "ratio": 0.25, "paged": True, "muted": False},
    }
    key = client.post("/v1/alerts", json=payload).json()["results"][0]["key"]
    labels = client.get(f"/v1/alerts/{key}").json()["alert"]["labels"]
    assert labels["count"] == "5"
    assert labels["ratio"] == "0.25"
    assert labels["paged"] == "true"
    assert labels["muted"] == "false"


def test_pagerduty_resolve_of_unknown_key(client):
    total = client.get("/v1/alerts").json()["total"]
    resolve = {"event_action": "resolve", "dedup_key": "pd-never-triggered"}
    [result] = client.post("/v1/alerts/pagerduty", json=resolve).json()["results"]
    assert result["outcome"] == "unknown"
    assert result["key"] is None
    assert result["error"]["field"] == "dedup_key"
    assert "'pd-never-triggered'" in result["error"]["message"]
    assert client.get("/v1/alerts").json()["total"] == total


def test_pagerduty_trigger_after_resolve_is_new(client):
    event = _pagerduty(summary="Disk almost full on orders-db-7")
    event["dedup_key"] = "pd-seq-7"
    first = client.post("/v1/alerts/pagerduty", json=event).json()["results"][0]
    repeat = client.post("/v1/alerts/pagerduty", json=event).json()["results"][0]
    resolve = {"event_action": "resolve", "dedup_key": "pd-seq-7"}
    client.post("/v1/alerts/pagerduty", json=resolve)
    again = client.post("/v1/alerts/pagerduty", json=event).json()["results"][0]
    assert repeat["replayed"] is True
    assert repeat["key"] == first["key"]
    assert again["replayed"] is False
    assert again["key"] != first["key"]
    stored = client.get(f"/v1/alerts/{first['key']}").json()
    assert stored["alert"]["status"] == "resolved"


def test_reused_fingerprint_is_computed_apart(client):
    kafka = _webhook("KafkaConsumerLagHigh", fingerprint="reused-fingerprint-1")
    kafka["alerts"][0]["annotations"]["summary"] = "kafka consumer lag above 100000"
    cert = _webhook("CertificateExpiringSoon", fingerprint="reused-fingerprint-1")
    cert["alerts"][0]["annotations"]["summary"] = "checkout certificate expires soon"
    first = client.post("/v1/alerts/alertmanager", json=kafka).json()["results"][0]
    second = client.post("/v1/alerts/alertmanager", json=cert).json()["results"][0]
    assert second["replayed"] is False
    assert second["key"] != first["key"]
    assert second["recommendation"] != first["recommendation"]
    stored = client.get(f"/v1/alerts/{first['key']}").json()
    assert stored["alert"]["alertname"] == "KafkaConsumerLagHigh"
    assert stored["deliveries"] == 1


def test_repeated_delivery_is_replayed(client):
    payload = _webhook(fingerprint="fp-replay")
    first = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0]
    second = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0]
    assert first["replayed"] is False
    assert second["replayed"] is True
    assert second["key"] == first["key"]
    assert second["computed_at"] == first["computed_at"]
    assert second["recommendation"] == first["recommendation"]
    assert isinstance(second["data_version"], int)

    stored = client.get(f"/v1/alerts/{first['key']}").json()
    assert stored["deliveries"] == 2
    assert stored["computed_at"] == first["computed_at"]
    for name in ("matches", "root_causes", "fixes", "severity", "latency_ms"):
        assert stored["recommendation"][name] == first["recommendation"][name]
    assert stored["data_version"] == first["data_version"]


def test_new_start_time_is_computed_again(client):
    payload = _webhook(fingerprint="fp-refire")
    first = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0]
    payload["alerts"][0]["startsAt"] = "2026-12-05T10:00:00Z"
    again = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0]
    assert again["replayed"] is False
    assert again["key"] != first["key"]


def test_duplicate_alert_in_group_is_computed_once(client):
    payload = _webhook(fingerprint="fp-twice")
    payload["alerts"].append(dict(payload["alerts"][0]))
    results = client.post("/v1/alerts/alertmanager", json=payload).json()["results"]
    assert [r["replayed"] for r in results] == [False, True]
    assert results[0]["computed_at"] == results[1]["computed_at"]


def test_resolved_delivery_keeps_recommendation(client):
    payload = _webhook(fingerprint="fp-resolves")
    key = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0][
        "key"
    ]
    payload["alerts"][0] |= {"status": "resolved", "endsAt": "2026-12-04T10:30:00Z"}
    result = client.post("/v1/alerts/alertmanager", json=payload).json()["results"][0]
    assert result["outcome"] == "resolved"
    stored = client.get(f"/v1/alerts/{key}").json()
    assert stored["alert"]["status"] == "resolved"
    assert stored["alert"]["ends_at"] == "2026-12-04T10:30:00Z"
    assert stored["recommendation"] is not None


def test_stored_alerts_are_paged(client):
    for number in range(3):
        client.post(
            "/v1/alerts",
            json={"title": f"Disk almost full on orders-db-{number}", "service": "db"},
        )
    first = client.get("/v1/alerts", params={"limit": 2}).json()
    second = client.get("/v1/alerts", params={"limit": 2, "offset": 2}).json()
    assert first["total"] >= 3
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    assert first["items"][0]["title"] == "Disk almost full on orders-db-2"
    assert first["items"][0]["outcome"] == "recommended"
    assert first["items"][0]["best_match_id"]
    keys = {item["key"] for item in first["items"] + second["items"]}
    assert len(keys) == len(first["items"]) + len(second["items"])


def test_unknown_stored_alert_is_404(client):
    response = client.get("/v1/alerts/0123456789abcdef")
    assert response.status_code == 404
    assert "no stored alert has key '0123456789abcdef'" in _problem(response)["message"]


def test_page_limit_over_max_is_422(client):
    response = client.get("/v1/alerts", params={"limit": 1000})
    assert response.status_code == 422
    assert _problem(response)["field"] == "limit"


@pytest.mark.parametrize(
    ("path", "params", "field", "message"),
    [
        ("/v1/alerts", {"limit": "0"}, "limit", "limit must be at least 1, got '0'"),
        ("/v1/alerts", {"limit": "500"}, "limit", "limit must be at most 200"),
        ("/v1/alerts", {"offset": "-1"}, "offset", "offset must be at least 0"),
        (
            "/v1/alerts",
            {"limit": "abc"},
            "limit",
            "limit must be a whole number, got 'abc'",
        ),
        (
            "/v1/search",
            {"q": "disk " * 2001},
            "q",
            "q has 10,005 characters, more than the limit of 10000; shorten it",
        ),
    ],
)
def test_parameter_errors_read_plainly(client, path, params, field, message):
    response = client.get(path, params=params)

    assert response.status_code == 422
    problem = _problem(response)
    assert problem["field"] == field
    assert problem["message"] == message or problem["message"].startswith(message)
    assert "Input should" not in problem["message"]


@pytest.mark.parametrize(
    ("sent", "shown"),
    [(None, "null"), (True, "true"), (False, "false"), (7, "7"), ("7", "'7'")],
)
def test_values_quoted_as_json_spells_them(sent, shown):
    error = {"type": "string_type", "input": sent}

    assert plain_message(error, "title") == f"title must be a string, got {shown}"
