"""The API over a real uvicorn server on 127.0.0.1: overload, health, schemathesis."""

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

import httpx
import pytest
import uvicorn

from recommender.alert_store import alert_key
from recommender.alerts import Alert
from recommender.api import create_app
from recommender.settings import ServiceSettings

pytestmark = pytest.mark.slow
# Small on purpose: one thread computes, two requests may be admitted at once.
MAX_PENDING = 2
BURST = 8
ALERTS_PER_REQUEST = 6
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(sample_home, sample_kb, tmp_path_factory):
    """Serve the sample knowledge base with uvicorn in a thread; yield (url, app)."""
    settings = ServiceSettings(
        home=sample_home,
        alerts_database=tmp_path_factory.mktemp("server-alerts") / "alerts.db",
        max_pending=MAX_PENDING,
        inference_workers=1,
    )
    app = create_app(settings, knowledge_base=sample_kb)
    port = _free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    config = settings.uvicorn_config(app, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("the uvicorn server did not answer /health within 120 s")
    yield url, app
    server.should_exit = True
    thread.join(timeout=30)


def _slow_group(run: str, request_number: int) -> dict:
    """Return a webhook whose alerts all need computing: new fingerprints, long text."""
    text = " ".join(
        f"orders-db replica {n} lags behind the primary and disk usage grows"
        for n in range(40)
    )
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "KubePersistentVolumeFillingUp", "n": str(n)},
            "annotations": {"summary": "Disk almost full", "description": text},
            "startsAt": "2026-12-04T10:00:00Z",
            "fingerprint": f"{run}-{request_number}-{n}",
        }
        for n in range(ALERTS_PER_REQUEST)
    ]
    return {"version": "4", "alerts": alerts}


async def _burst(url: str, app) -> tuple[list[httpx.Response], list[bool]]:
    """Send BURST slow webhooks at once and poll health until all of them return.

    Returns the webhook responses and, for each health response, whether a
    recommendation was computing or waiting when it arrived.
    """
    run = uuid.uuid4().hex[:8]
    queue_busy: list[bool] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        tasks = [
            asyncio.create_task(
                client.post("/v1/alerts/alertmanager", json=_slow_group(run, i))
            )
            for i in range(BURST)
        ]
        while not all(task.done() for task in tasks):
            health = await client.get("/health")
            assert health.status_code == 200, health.text
            queue = getattr(app.state, "inference_queue", None)
            queue_busy.append(queue is not None and queue.pending > 0)
            await asyncio.sleep(0.01)
        responses = [task.result() for task in tasks]
    return responses, queue_busy


def test_overload_gets_503_while_health_answers(served):
    url, app = served
    responses, queue_busy = asyncio.run(_burst(url, app))

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses
    assert 200 in statuses
    assert any(queue_busy), "health never returned while recommendations ran"

    for response in responses:
        if response.status_code == 200:
            outcomes = {r["outcome"] for r in response.json()["results"]}
            assert outcomes == {"recommended"}
            continue
        assert response.headers["Retry-After"].isdigit()
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()["error"]
        assert error["status"] == 503
        assert error["code"] == "overloaded"
        assert "retry after" in error["message"]
        assert error["request_id"] == response.headers["X-Request-ID"]


def test_rejected_alerts_computed_on_retry(served):
    url, app = served
    responses, _ = asyncio.run(_burst(url, app))
    rejected = [r for r in responses if r.status_code == 503]
    assert rejected
    payload = json.loads(rejected[0].request.content)
    first = payload["alerts"][0]
    key = alert_key(
        Alert(fingerprint=first["fingerprint"], starts_at=first["startsAt"])
    )

    pending = httpx.get(f"{url}/v1/alerts/{key}", timeout=30).json()
    assert pending["outcome"] == "pending"
    assert pending["recommendation"] is None

    retried = httpx.post(f"{url}/v1/alerts/alertmanager", json=payload, timeout=300)
    assert retried.status_code == 200
    assert retried.json()["results"][0]["key"] == key
    stored = httpx.get(f"{url}/v1/alerts/{key}", timeout=30).json()
    assert stored["outcome"] == "recommended"
    assert stored["deliveries"] == 2


def test_longest_search_in_four_byte_characters_is_answered(served):
    """10,000 characters of 4 bytes each make a 120 KB request line, still served."""
    url, _ = served
    query = "\U0001f525" * 9_990 + " disk full"
    status, content_type, body = _get_raw(url, "/v1/search", {"q": query})
    assert status == 200, body[:500]
    assert content_type == "application/json"
    assert json.loads(body)["query"] == query

    status, _, body = _get_raw(url, "/v1/search", {"q": query + "!"})
    assert status == 422
    assert json.loads(body)["error"]["status"] == 422


def _get_raw(url: str, path: str, params: dict[str, str]) -> tuple[int, str, str]:
    """GET over a raw socket, sending the request line in 8 KB pieces.

    Pieces arrive apart, as on a real network, so the server has to buffer an
    incomplete request head. httpx rejects a query string this long anyway.
    """
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"GET {path}?{urllib.parse.urlencode(params)} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        for start in range(0, len(head), 8192):
            sock.sendall(head[start : start + 8192])
            time.sleep(0.002)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode()
    return response.status, response.getheader("content-type", ""), body


def test_schemathesis_finds_no_violations(served, tmp_path):
    url, _ = served
    report = tmp_path / "schemathesis.json"

    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        "12",
        "--seed",
        "5",
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "60",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )

    assert report.exists(), finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    assert summary["complete"] is True
    assert cases["generated"] >= 1000, cases
    assert cases["with_failures"] == 0, finished.stdout[-5000:]
    assert cases["errored"] == 0, finished.stdout[-5000:]
    assert summary["operations"]["tested"] >= 6


async def _post_twice(url: str, payload: dict) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        return await asyncio.gather(
            client.post("/v1/alerts/alertmanager", json=payload),
            client.post("/v1/alerts/alertmanager", json=payload),
        )


def test_concurrent_duplicates_computed_once(served):
    url, _ = served
    payload = _slow_group(uuid.uuid4().hex[:8], 0)
    payload["alerts"] = payload["alerts"][:1]
    responses = asyncio.run(_post_twice(url, payload))

    assert [response.status_code for response in responses] == [200, 200]
    results = [response.json()["results"][0] for response in responses]
    assert sorted(result["replayed"] for result in results) == [False, True]
    assert results[0]["computed_at"] == results[1]["computed_at"]
    assert results[0]["key"] == results[1]["key"]
    stored = httpx.get(f"{url}/v1/alerts/{results[0]['key']}", timeout=30).json()
    assert stored["deliveries"] == 2
