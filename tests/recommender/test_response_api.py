"""Coverage, patterns, status updates and responders over HTTP."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from recommender.api import create_app
from recommender.settings import ServiceSettings
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"
CONFIG = SAMPLE_DATA / "config" / "incident.yaml"
RULES = """
groups:
  - name: disk
    rules:
      - alert: NodeFilesystemSpaceFillingUp
        expr: node_filesystem_avail_bytes < 0.15
        labels: {severity: warning}
        annotations: {summary: Filesystem is predicted to run out of space.}
      - alert: CoffeeBoilerTemperatureLow
        expr: coffee_boiler_celsius < 80
        annotations: {summary: The office coffee machine boiler is cold.}
"""
YAML = {"content-type": "application/yaml"}


@pytest.fixture(scope="module")
def client(sample_home, sample_kb):
    settings = ServiceSettings(home=sample_home, config=CONFIG)
    with TestClient(create_app(settings, knowledge_base=sample_kb)) as test_client:
        yield test_client


def _error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_incident_reason_names_the_alert_label(client):
    # No sample record is close to a CPU alert, so its own label gives the level.
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "HighCPUUsage",
            "severity": "critical",
            "service": "search-indexer",
        },
        "annotations": {"summary": "High CPU usage"},
        "startsAt": "2026-12-04T11:00:00Z",
        "fingerprint": "cpu-label-reason",
    }
    webhook = {
        "version": "4",
        "status": "firing",
        "groupKey": '{}:{alertname="HighCPUUsage"}',
        "groupLabels": {"alertname": "HighCPUUsage"},
        "alerts": [alert],
    }
    response = client.post("/v1/alerts/alertmanager", json=webhook)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["recommendation"]["no_close_precedent"]

    [summary] = [
        incident
        for incident in client.get("/v1/incidents-in-progress").json()["incidents"]
        if incident["group_key"] == webhook["groupKey"]
    ]
    incident = client.get(f"/v1/incidents-in-progress/{summary['id']}").json()
    assert incident["alerts"][0]["history_severity"] == "SEV1"
    assert incident["alerts"][0]["severity_source"] == "label"
    reasons = incident["history"][0]["reasons"]
    assert reasons[0] == "SEV1 from the alert's own severity label"


def test_left_out_alert_listed_resolved(client):
    def alert(name, starts_at="2026-12-04T12:00:00Z"):
        return {
            "status": "firing",
            "labels": {"alertname": name, "service": "orders-db"},
            "annotations": {"summary": "Disk almost full on orders-db"},
            "startsAt": starts_at,
            "fingerprint": f"left-out-{name}",
        }

    webhook = {
        "version": "4",
        "status": "firing",
        "groupKey": '{}:{case="left-out"}',
        "groupLabels": {"case": "left-out"},
        "truncatedAlerts": 0,
    }
    first = client.post(
        "/v1/alerts/alertmanager",
        # DiskB's sender has a clock ahead of ours.
        json={
            **webhook,
            "alerts": [alert("DiskA"), alert("DiskB", "2099-01-01T00:00:00Z")],
        },
    )
    assert first.status_code == 200, first.text
    key_b = first.json()["results"][1]["key"]

    # Alertmanager sends the whole group each time, so an alert it leaves out
    # has stopped firing (send_resolved off, or its resolve was lost).
    second = client.post(
        "/v1/alerts/alertmanager", json={**webhook, "alerts": [alert("DiskA")]}
    )
    assert second.status_code == 200, second.text

    stored = client.get(f"/v1/alerts/{key_b}").json()
    assert stored["alert"]["status"] == "resolved"
    listed = client.get("/v1/alerts", params={"limit": 200}).json()
    statuses = {item["key"]: item["status"] for item in listed["items"]}
    assert statuses[key_b] == "resolved"
    assert statuses[first.json()["results"][0]["key"]] == "firing"


def test_coverage_from_yaml_body(client):
    response = client.post("/v1/coverage?name=node.yaml", content=RULES, headers=YAML)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alerts"] == 2
    assert body["covered"] == 1
    rows = {row["alert"]: row for row in body["rows"]}
    assert rows["NodeFilesystemSpaceFillingUp"]["covered"] is True
    assert rows["CoffeeBoilerTemperatureLow"]["covered"] is False
    assert rows["CoffeeBoilerTemperatureLow"]["file"] == "node.yaml"


def test_coverage_keeps_good_files(client):
    files = [
        {"name": "good.yaml", "content": RULES},
        {"name": "bad.yaml", "content": "groups: ["},
    ]

    body = client.post("/v1/coverage", json={"files": files}).json()

    assert body["alerts"] == 2
    [problem] = body["problems"]
    assert problem["file"] == "bad.yaml"
    assert "not valid YAML at line" in problem["message"]


def test_coverage_without_rules_is_422(client):
    error = _error(
        client.post("/v1/coverage?name=x.yaml", content="groups: [", headers=YAML), 422
    )

    assert error["message"].startswith("no alerting rules could be read: x.yaml")
    missing = _error(client.post("/v1/coverage", json={"files": []}), 422)
    assert missing["field"] == "files"
    assert missing["message"] == "files must have at least 1 item(s)"
    cases = [
        (
            {"files": [{"name": "a"}]},
            "files.0.content",
            "missing field files.0.content",
        ),
        ({"x": 1}, "files", "missing field files; add it"),
        (
            {"files": [{"name": "a", "content": "x", "extra": 1}]},
            "files.0.extra",
            "unknown field files.0.extra",
        ),
    ]
    for body, field, message in cases:
        error = _error(client.post("/v1/coverage", json=body), 422)
        assert error["field"] == field
        assert error["message"].startswith(message)
        assert "accepted fields are files" not in error["message"]


def test_coverage_body_over_limit_is_413(client):
    big = "# padding\n" * 110_000

    error = _error(client.post("/v1/coverage", content=big, headers=YAML), 413)

    assert error["code"] == "too_large"


def test_coverage_rule_count_limited(client):
    rule = "  - alert: A{0}\n    expr: up == 0\n"
    text = "groups:\n- name: g\n  rules:\n" + "".join(
        rule.format(n) for n in range(1_001)
    )

    error = _error(client.post("/v1/coverage", content=text, headers=YAML), 413)

    assert "1001 alerting rules is more than the limit of 1000" in error["message"]


QUEUED_WORK = [
    # (method, path, request arguments)
    ("POST", "/v1/coverage?name=node.yaml", {"content": RULES, "headers": YAML}),
    ("POST", "/ui/recommend", {"data": {"alert": '{"title": "disk full on db"}'}}),
    ("POST", "/v1/status-updates", {"json": {"title": "disk full on orders-db"}}),
    ("GET", "/v1/patterns", {}),
]


@pytest.mark.parametrize(("method", "path", "arguments"), QUEUED_WORK)
def test_recommending_routes_share_the_queue(client, method, path, arguments):
    assert client.request(method, path, **arguments).status_code == 200
    queue = client.app.state.inference_queue
    assert queue.pending == 0
    queue.pending = queue.max_pending
    try:
        response = client.request(method, path, **arguments)
    finally:
        queue.pending = 0

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert "alerts are already computing" in response.text


def test_patterns_lists_recurring(client):
    response = client.get("/v1/patterns")

    assert response.status_code == 200
    body = response.json()
    assert body["recurring_clusters"] >= 2
    assert len(body["patterns"]) == body["recurring_clusters"]
    first = body["patterns"][0]
    assert len(first["records"]) >= 2
    assert sum(first["counts"].values()) == len(first["records"])
    every = client.get("/v1/patterns?recurring_only=false&period=month").json()
    assert len(every["patterns"]) == every["clusters"] > body["recurring_clusters"]
    assert _error(client.get("/v1/patterns?distance_threshold=2.5"), 422)["field"]


def test_status_update_for_webhook(client):
    payload = json.loads((ALERTS / "alertmanager-disk-full.json").read_text())

    response = client.post("/v1/status-updates?template=chat", json=payload)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["template"] == "chat"
    assert body["text"].startswith(f"[{body['severity']}] NodeFilesystemSpaceFillingUp")
    assert "Owner: data." in body["text"]
    assert body["no_close_precedent"] is False
    roles = {r["role"]: r["name"] for r in body["responders"]["responders"]}
    assert roles["incident_commander"] == "SRE incident commander rota"


def test_status_update_errors(client):
    plain = json.loads((ALERTS / "alert-novel.json").read_text())
    unknown = _error(client.post("/v1/status-updates?template=nope", json=plain), 404)
    assert "available: chat, pager, stakeholder, status-page" in unknown["message"]

    resolved = json.loads((ALERTS / "alertmanager-disk-full.json").read_text())
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    error = _error(client.post("/v1/status-updates", json=resolved), 422)
    assert "no firing alert" in error["message"]


def test_alert_results_carry_responders(client):
    payload = json.loads((ALERTS / "alert-cert-expiry.json").read_text())

    [result] = client.post("/v1/alerts", json=payload).json()["results"]

    responders = result["recommendation"]["responders"]
    assert responders["owning_team"] == "platform"
    expert = [
        r for r in responders["responders"] if r["role"] == "subject_matter_expert"
    ]
    assert expert[0]["reason"] == "alert label team=platform"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(home, config, port, stderr=subprocess.DEVNULL):
    env = {**os.environ, "INCIDENT_HOME": str(home), "INCIDENT_CONFIG": str(config)}
    command = [sys.executable, "-m", "recommender.cli", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True
    )


@pytest.mark.slow
def test_served_status_update_end_to_end(sample_home):
    port = _free_port()
    process = _serve(sample_home, CONFIG, port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the API was not ready within 180 s")

        plain = json.loads((ALERTS / "alert-cert-expiry.json").read_text())
        update = httpx.post(f"{base}/v1/status-updates", json=plain, timeout=120)
        coverage = httpx.post(
            f"{base}/v1/coverage", content=RULES, headers=YAML, timeout=120
        )
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert update.status_code == 200, update.text
    assert "Suspected, not confirmed." in update.json()["text"]
    assert coverage.json()["covered"] == 1


@pytest.mark.slow
def test_broken_template_stops_service_start(sample_home, tmp_path):
    config = tmp_path / "incident.yaml"
    config.write_text(
        'status_update:\n  templates:\n    chat: "fine\\n{{ alert.nme }}"\n',
        encoding="utf-8",
    )

    process = _serve(sample_home, config, _free_port(), stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=180)
    finally:
        process.kill()

    assert process.returncode != 0
    assert "status update template 'chat' failed at line 2" in stderr
