import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from indexer.knowledge_base import KnowledgeBase
from recommender.api import create_app
from recommender.settings import ServiceSettings
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"


@pytest.fixture(scope="module")
def client(sample_home, sample_kb):
    app = create_app(ServiceSettings(home=sample_home), knowledge_base=sample_kb)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def empty_client(tmp_path_factory, embedder):
    home = tmp_path_factory.mktemp("empty-kb")
    settings = ServiceSettings(home=home)
    app = create_app(
        settings, knowledge_base=KnowledgeBase(settings, embedder=embedder)
    )
    with TestClient(app) as test_client:
        yield test_client


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_health_reports_records(client, sample_kb):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["records"] == sample_kb.stats().records
    assert body["vectors"] > body["records"]
    assert body["query_embedding"] == "onnx int8"


def test_alertmanager_webhook_gets_one_result_per_alert(client):
    payload = json.loads((ALERTS / "alertmanager-disk-full.json").read_text())
    response = client.post("/v1/alerts/alertmanager", json=payload)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(payload["alerts"])
    first = results[0]
    assert first["outcome"] == "recommended"
    recommendation = first["recommendation"]
    assert recommendation["matches"]
    assert recommendation["matches"][0]["confidence"] in ("high", "medium")
    assert "score in [0, 1]" in client.get("/openapi.json").text


def test_mixed_group_reports_resolved_and_rejected(client):
    payload = json.loads((ALERTS / "alertmanager-mixed.json").read_text())
    results = client.post("/v1/alerts/alertmanager", json=payload).json()["results"]
    outcomes = [r["outcome"] for r in results]
    for result, alert in zip(results, payload["alerts"], strict=True):
        if alert.get("status") == "resolved":
            assert result["outcome"] == "resolved"
            assert result["recommendation"] is None
    assert "recommended" in outcomes
    assert "resolved" in outcomes


def test_plain_alert_is_recommended(client):
    payload = json.loads((ALERTS / "alert-cert-expiry.json").read_text())
    response = client.post("/v1/alerts", json=payload)
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["recommendation"]["no_close_precedent"] is False


def test_search_and_incident_routes(client):
    found = client.get(
        "/v1/search", params={"q": "certificate has expired", "top_k": 3}
    )
    assert found.status_code == 200
    matches = found.json()["matches"]
    assert 1 <= len(matches) <= 3
    incident_id = matches[0]["id"]

    record = client.get(f"/v1/incidents/{incident_id}")
    assert record.status_code == 200
    assert record.json()["id"] == incident_id

    similar = client.get(f"/v1/incidents/{incident_id}/similar", params={"top_k": 5})
    assert similar.status_code == 200
    assert incident_id not in [m["id"] for m in similar.json()["matches"]]


def test_long_unknown_id_is_cut_in_message(client):
    body = _error(client.get("/v1/incidents/" + "A" * 20_000), 404)
    assert len(body["message"]) < 400
    assert "'" + "A" * 200 + "...'" in body["message"]


def test_unknown_incident_is_404(client):
    body = _error(client.get("/v1/incidents/PM-0000-404"), 404)
    assert "PM-0000-404" in body["message"]
    body = _error(client.get("/v1/incidents/PM-0000-404/similar"), 404)
    assert body["code"] == "not_found"


@pytest.mark.parametrize("top_k", ["0", "-3", "100000"])
def test_top_k_out_of_range_is_422(client, top_k):
    body = _error(client.get("/v1/search", params={"q": "disk", "top_k": top_k}), 422)
    assert body["field"] == "top_k"
    assert "between 1 and 100" in body["message"]


def test_nan_query_number_is_422(client):
    body = _error(client.get("/v1/patterns", params={"distance_threshold": "NaN"}), 422)
    assert body["field"] == "distance_threshold"
    assert body["message"] == "expected a finite number, got 'NaN'"


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        ("/v1/search?q=disk&topk=3", "topk", "unknown query parameter 'topk'"),
        ("/v1/search?q=disk&q=cert", "q", "query parameter 'q' is given 2 times"),
        ("/v1/alerts?status=firing", "status", "GET /v1/alerts takes: limit, offset"),
        ("/v1/search?q=disk&=x", "query", "a query parameter without a name"),
        ("/v1/search?q=disk&" + "n" * 5000 + "=1", "n" * 100, "'" + "n" * 100 + "';"),
    ],
)
def test_unknown_or_repeated_query_is_422(client, path, field, message):
    body = _error(client.get(path), 422)
    assert body["field"] == field
    assert message in body["message"]


def test_probes_take_any_query(client):
    assert client.get("/livez?from=prober").status_code == 200
    assert client.get("/metrics?name=x").status_code == 200


def test_search_page_with_two_texts_is_422(client):
    response = client.get("/ui/?q=disk&q=cert")

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "The search text q is given 2 times." in response.text
    assert client.get("/ui/?q=disk&utm_source=chat").status_code == 200


def test_top_k_not_a_number_is_422(client):
    body = _error(client.get("/v1/search", params={"q": "disk", "top_k": "many"}), 422)
    assert body["field"] == "top_k"


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\x00", "\u200b\x07 \x1b"])
def test_empty_search_text_is_422(client, query):
    body = _error(client.get("/v1/search", params={"q": query}), 422)
    assert "is empty" in body["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/search?q=%FF%FE", "q"),
        ("/v1/search?q=disk&top_k=1%C3", "top_k"),
        ("/v1/search?q=disk&%FF=1", "\ufffd"),
    ],
)
def test_query_string_not_utf8_is_422(client, path, field):
    body = _error(client.get(path), 422)

    assert body["field"] == field
    assert "not valid UTF-8" in body["message"]


def test_utf8_query_string_is_searched(client):
    response = client.get("/v1/search?q=caf%C3%A9+d%C3%A9j%C3%A0+vu+disk+full")

    assert response.status_code == 200
    assert response.json()["query"] == "café déjà vu disk full"


def test_missing_search_text_is_422(client):
    body = _error(client.get("/v1/search"), 422)
    assert body["field"] == "q"


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (b'{"alerts": [', {"Content-Type": "application/json"}, 422, "not valid JSON"),
        (
            b'{"title": "\xff\xfe"}',
            {"Content-Type": "application/json"},
            422,
            "not valid UTF-8",
        ),
        (b'{"title": "disk"}', {"Content-Type": "text/plain"}, 415, "not supported"),
        (b'{"title": "disk"}', {}, 415, "not supported"),
    ],
)
def test_malformed_bodies_are_rejected(client, content, headers, status, message):
    for path in ("/v1/alerts", "/v1/alerts/alertmanager"):
        body = _error(client.post(path, content=content, headers=headers), status)
        assert message in body["message"]


def test_empty_alert_text_is_422(client):
    body = _error(
        client.post("/v1/alerts", json={"title": "  ", "description": ""}), 422
    )
    assert body["field"] == "title"


def test_empty_alertmanager_group_is_422(client):
    body = _error(
        client.post("/v1/alerts/alertmanager", json={"version": "4", "alerts": []}), 422
    )
    assert body["field"] == "alerts"


def test_bad_alert_in_group_is_rejected_alone(client):
    payload = json.loads((ALERTS / "alertmanager-disk-full.json").read_text())
    payload["alerts"].append(
        {"status": "firing", "labels": {"team": ["not", "a", "string"]}}
    )
    results = client.post("/v1/alerts/alertmanager", json=payload).json()["results"]
    assert results[0]["outcome"] == "recommended"
    assert results[-1]["outcome"] == "rejected"
    assert (
        results[-1]["error"]["field"]
        == f"alerts[{len(payload['alerts']) - 1}].labels.team"
    )


def test_oversized_body_is_413(client):
    big = {"title": "disk", "description": "x" * 2_000_000}
    body = _error(client.post("/v1/alerts", json=big), 413)
    assert "over the limit" in body["message"]


def test_unknown_route_uses_error_shape(client):
    body = _error(client.get("/v1/nothing-here"), 404)
    assert body["code"] == "not_found"
    assert (
        body["message"]
        == "no route matches /v1/nothing-here; the routes are listed at /docs"
    )


def test_unknown_page_is_html_404(client):
    response = client.get("/ui/serch?q=disk")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No page at /ui/serch." in response.text
    assert 'href="/ui/"' in response.text
    assert response.headers["content-security-policy"]


def test_empty_knowledge_base_says_no_precedent(empty_client):
    response = empty_client.post("/v1/alerts", json={"title": "Disk full on orders-db"})
    assert response.status_code == 200
    recommendation = response.json()["results"][0]["recommendation"]
    assert recommendation["no_close_precedent"] is True
    assert recommendation["matches"] == []
    assert "knowledge base is empty" in recommendation["message"]
    assert empty_client.get("/v1/search", params={"q": "disk"}).json()["matches"] == []
    assert empty_client.get("/health").json()["records"] == 0


def test_deeply_nested_body_is_422(client):
    body = '{"title": "x", "labels": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(
        "/v1/alerts", content=body, headers={"Content-Type": "application/json"}
    )
    error = _error(response, 422)
    assert "nested more than 32 levels" in error["message"]


def test_bare_brackets_body_is_422(client):
    response = client.post(
        "/v1/alerts",
        content="[" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    _error(response, 422)


def test_unpaired_surrogate_is_422(client):
    response = client.post(
        "/v1/alerts",
        content='{"title": "disk \\ud800 full"}',
        headers={"Content-Type": "application/json"},
    )
    error = _error(response, 422)
    assert error["field"] == "title"
    assert "surrogate" in error["message"]


@pytest.mark.parametrize(
    ("path", "alert", "field"),
    [
        (
            "/v1/alerts/alertmanager",
            '{"labels": {"alertname": "Disk\\ud800Full"}}',
            "alerts[1].labels.alertname",
        ),
        (
            "/v1/alerts/grafana",
            '{"labels": {"alertname": "Disk\\ud800Full"}}',
            "alerts[1].labels.alertname",
        ),
    ],
)
def test_surrogate_in_one_webhook_alert_fails_that_alert(client, path, alert, field):
    good = json.dumps(
        {
            "status": "firing",
            "labels": {"alertname": "CertificateExpiringSoon", "service": "edge"},
            "annotations": {"summary": "TLS certificate expires in 3 days"},
        }
    )
    body = f'{{"version": "{"1" if "grafana" in path else "4"}", '
    body += f'"status": "firing", "alerts": [{good}, {alert}]}}'
    response = client.post(
        path, content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["recommended", "rejected"]
    assert results[1]["error"]["field"] == field
    assert "surrogate" in results[1]["error"]["message"]
    assert client.get("/v1/alerts").status_code == 200
    assert client.get("/v1/incidents-in-progress").status_code == 200


def test_surrogate_in_one_pagerduty_event_fails_that_event(client):
    def event(summary: str) -> str:
        return (
            f'{{"event_action": "trigger", "payload": {{"summary": "{summary}", '
            '"source": "edge-1", "severity": "critical"}}'
        )

    bad = event("TLS \\ud800 certificate")
    body = f"[{event('TLS certificate expires in 3 days')}, {bad}]"
    response = client.post(
        "/v1/alerts/pagerduty",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["recommended", "rejected"]
    assert results[1]["error"]["field"] == "[1].payload.summary"


def test_surrogate_key_rejects_one_alert(client):
    good = json.dumps(
        {
            "status": "firing",
            "labels": {"alertname": "CertificateExpiringSoon"},
            "annotations": {"summary": "TLS certificate expires in 3 days"},
        }
    )
    bad = '{"labels": {"alertname": "X", "\\ud800": "\\ud801"}}'
    body = f'{{"version": "4", "alerts": [{good}, {bad}]}}'
    response = client.post(
        "/v1/alerts/alertmanager",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["recommended", "rejected"]
    assert results[1]["error"]["field"] == "alerts[1].labels"


def test_surrogate_in_webhook_group_field_is_422(client):
    response = client.post(
        "/v1/alerts/alertmanager",
        content='{"version": "4", "receiver": "pager\\ud800", "alerts": [{}]}',
        headers={"Content-Type": "application/json"},
    )
    error = _error(response, 422)
    assert error["field"] == "receiver"
    assert "surrogate" in error["message"]


def test_unknown_plain_alert_field_is_422(client):
    error = _error(client.post("/v1/alerts", json={"title": "disk", "top_k": 0}), 422)
    assert error["field"] == "top_k"
    assert "query parameter" in error["message"]


def test_missing_search_text_says_missing(client):
    error = _error(client.get("/v1/search"), 422)
    assert error["message"] == "missing query parameter q"


def test_empty_incident_id_is_404(client):
    error = _error(client.get("/v1/incidents/"), 404)
    assert "missing incident id" in error["message"]


def test_empty_search_says_empty(client):
    error = _error(client.get("/v1/search", params={"q": "  "}), 422)
    assert error["field"] == "q"
    assert error["message"].startswith("is empty")


def test_health_reports_empty_knowledge_base(empty_client):
    assert empty_client.get("/health").json()["status"] == "empty"


FREEZE_SCRIPT = """
import gc, sys
from pathlib import Path
from fastapi.testclient import TestClient
from recommender.api import create_app
from recommender.settings import ServiceSettings

settings = ServiceSettings(home=Path(sys.argv[1]))
app = create_app(settings, freeze_loaded=sys.argv[2] == "freeze")
with TestClient(app) as client:
    # A search waits for the loader, which freezes before it marks the app ready.
    assert client.get("/v1/search", params={"q": "disk full"}).status_code == 200
    print(gc.get_freeze_count())
"""


@pytest.mark.parametrize("mode", ["freeze", "keep"])
def test_loader_freezes_only_on_request(sample_home, mode):
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_SCRIPT, str(sample_home), mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    frozen = int(result.stdout.split()[-1])

    if mode == "freeze":
        assert frozen > 100_000
    else:
        assert frozen == 0
