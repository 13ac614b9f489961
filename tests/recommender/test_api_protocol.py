"""HTTP behaviour that needs no knowledge base: methods, HEAD, 405 and metrics."""

import pytest
from fastapi.testclient import TestClient

from recommender.api import create_app
from recommender.settings import ServiceSettings


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(ServiceSettings(home=tmp_path_factory.mktemp("no-kb")))

    async def fail() -> None:
        raise RuntimeError("a bug in a route")

    app.add_api_route("/test-failure", fail)
    return app


@pytest.fixture(scope="module")
def client(app):
    # Without the lifespan, the app never loads a knowledge base, which these
    # routes do not need.
    return TestClient(app)


def _series(client, name):
    return [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith(name + "{")
    ]


def test_unexpected_error_is_counted_as_500(client):
    response = client.get("/test-failure")
    assert response.status_code == 500
    counts = _series(client, "incident_http_request_duration_seconds_count")
    failures = [line for line in counts if 'route="/test-failure"' in line]
    assert len(failures) == 1, counts
    assert 'status="500"' in failures[0]
    assert 'method="GET"' in failures[0]
    assert failures[0].endswith(" 1.0")


def test_unknown_methods_share_one_label(client):
    for method in ("FOOA", "FOOB", "X" * 4000):
        client.request(method, "/livez")
    counts = _series(client, "incident_http_request_duration_seconds_count")
    livez = [line for line in counts if 'route="/livez"' in line]
    assert not [line for line in livez if "FOO" in line or "XXXX" in line]
    [other] = [line for line in livez if 'method="other"' in line]
    assert 'status="405"' in other
    assert other.endswith(" 3.0")


@pytest.mark.parametrize("path", ["/livez", "/metrics", "/v1/alerts"])
def test_head_is_answered_like_get(client, path):
    head = client.head(path)
    get = client.get(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


METHOD_NOT_ALLOWED = [
    # (method, path, Allow header)
    ("PUT", "/v1/alerts", "GET, POST"),
    ("DELETE", "/livez", "GET"),
    ("OPTIONS", "/v1/alerts/alertmanager", "POST"),
    ("GET", "/v1/alerts/alertmanager", "POST"),
    ("GET", "/v1/alerts/grafana", "POST"),
    ("GET", "/v1/alerts/pagerduty", "POST"),
    ("HEAD", "/v1/alerts/pagerduty", "POST"),
]


@pytest.mark.parametrize(("method", "path", "allow"), METHOD_NOT_ALLOWED)
def test_405_names_allowed_methods(client, method, path, allow):
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    if method != "HEAD":
        error = response.json()["error"]
        assert error["code"] == "method_not_allowed"
        assert "POST" in error["message"] or "GET" in error["message"]
