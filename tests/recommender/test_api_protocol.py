"""HTTP behaviour that needs no knowledge base: methods, HEAD, 405, slow or
vanished clients and metrics."""

import asyncio
import logging

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from recommender.api import create_app
from recommender.routes.body import read_json
from recommender.settings import ServiceSettings

BODY_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = ServiceSettings(
        home=tmp_path_factory.mktemp("no-kb"), body_timeout=BODY_TIMEOUT
    )
    app = create_app(settings)

    async def fail() -> None:
        raise RuntimeError("a bug in a route")

    async def echo(request: Request) -> object:
        return await read_json(request)

    app.add_api_route("/test-failure", fail)
    app.add_api_route("/test-json", echo, methods=["POST"])
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


def test_docs_routes_are_counted_by_path(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/no-such-page").status_code == 404

    counts = _series(client, "incident_http_request_duration_seconds_count")
    for route in ("/docs", "/openapi.json"):
        [line] = [line for line in counts if f'route="{route}"' in line]
        assert 'status="200"' in line
    unmatched = [line for line in counts if 'route="unmatched"' in line]
    assert all('status="404"' in line for line in unmatched), unmatched


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


def _send_raw(app, messages: list[dict]) -> list[dict]:
    """Call the app with a JSON POST whose body arrives as messages, then stalls."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/test-json",
        "raw_path": b"/test-json",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", b"50"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    pending = list(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=10))
    return sent


def test_stalled_body_gets_408(app):
    partial = {"type": "http.request", "body": b'{"ti', "more_body": True}
    sent = _send_raw(app, [partial])
    start = sent[0]
    assert start["status"] == 408
    headers = dict(start["headers"])
    assert headers[b"connection"] == b"close"
    assert b"not received within 0.3 seconds" in sent[1]["body"]


def test_client_disconnect_logs_one_warning(app, client, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(3):
        _send_raw(app, [{"type": "http.disconnect"}])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].exc_info is None

    counts = _series(client, "incident_http_request_duration_seconds_count")
    [closed] = [line for line in counts if 'status="499"' in line]
    assert 'route="/test-json"' in closed
    assert closed.endswith(" 3.0")


REQUEST_IDS = [
    # (X-Request-ID sent, kept)
    ("req-42.a_b", True),
    ("] ERROR fake: x", False),
    ("tab\tinside", False),
    ("x" * 65, False),
]


@pytest.mark.parametrize(("supplied", "kept"), REQUEST_IDS)
def test_client_request_id_kept_only_if_safe(client, supplied, kept):
    response = client.get("/livez", headers={"X-Request-ID": supplied})
    returned = response.headers["X-Request-ID"]
    assert (returned == supplied) is kept
    assert len(returned) <= 64
    assert " " not in returned


RESPONSES = [
    # (method, path, headers, expected status)
    ("GET", "/livez", {}, 200),
    ("GET", "/test-failure", {}, 500),
    ("GET", "/no-such-route", {}, 404),
    ("DELETE", "/livez", {}, 405),
    ("POST", "/test-json", {"Content-Length": "999999999"}, 413),
    ("POST", "/test-json", {"Content-Length": "2", "Transfer-Encoding": "x"}, 400),
    ("GET", "/livez?q=%FF", {}, 422),
    ("GET", "/v1/incidents/%FF", {}, 422),
    ("HEAD", "/livez", {}, 200),
]


@pytest.mark.parametrize(("method", "path", "headers", "status"), RESPONSES)
def test_every_response_carries_one_request_id(app, method, path, headers, status):
    # raise_server_exceptions=False: a real server returns 500 for a failing
    # route instead of raising the exception in the client. Without `with`, the
    # app does not start loading a knowledge base.
    client = TestClient(app, raise_server_exceptions=False)
    response = client.request(
        method, path, headers={"X-Request-ID": "req-7", **headers}
    )

    assert response.status_code == status
    assert response.headers.get_list("X-Request-ID") == ["req-7"]
    if status >= 400 and method != "HEAD":
        assert response.json()["error"]["request_id"] == "req-7"


def test_early_rejections_and_head_are_counted(client):
    client.get("/livez?q=%FF")
    client.post("/test-json", headers={"Content-Length": "999999999"})
    client.head("/livez")
    counts = _series(client, "incident_http_request_duration_seconds_count")

    def count(method, status):
        return [
            line
            for line in counts
            if f'method="{method}"' in line and f'status="{status}"' in line
        ]

    assert count("GET", "422"), counts
    assert count("POST", "413"), counts
    assert [line for line in count("HEAD", "200") if 'route="/livez"' in line]


def test_rejected_body_closes_connection(client):
    response = client.post("/test-json", headers={"Content-Length": "999999999"})
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


def test_non_utf8_path_is_rejected(client):
    response = client.get("/v1/incidents/PM-%FF%FE")

    assert response.status_code == 422
    body = response.json()["error"]
    assert body["field"] == "path"
    assert "not valid UTF-8" in body["message"]


def test_length_beside_chunking_is_rejected(client):
    response = client.post(
        "/test-json",
        content=b'{"a": 1}',
        headers={
            "Content-Length": "8",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/json",
        },
    )

    body = response.json()["error"]
    assert response.status_code == 400
    assert body["field"] == "Content-Length"
    assert response.headers["Connection"] == "close"


def test_body_cut_at_limit_closes_connection(app, client):
    limit = app.state.settings.max_body_bytes

    def chunks():
        for _ in range(limit // 65_536 + 2):
            yield b"x" * 65_536

    response = client.post(
        "/test-json", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
