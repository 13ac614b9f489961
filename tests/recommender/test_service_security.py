"""A real `recommender serve` process: probes, tokens, body limit and JSON logs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

TOKEN = "served-token-" + "q1w2e3r4t5y6u7i8"
WRONG_TOKEN = "served-wrong-" + "0000000000000000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory, sample_home):
    """Start the service over a copy of the sample knowledge base.

    Yields its URL, its log file and the probe statuses seen during start-up.
    """
    home = tmp_path_factory.mktemp("served-kb") / "kb"
    shutil.copytree(sample_home, home)

    log_path = home / "service.log"
    port = _free_port()
    env = {
        **os.environ,
        "INCIDENT_HOME": str(home),
        "INCIDENT_API_TOKENS": TOKEN,
        "INCIDENT_LOG_FORMAT": "json",
        "INCIDENT_MAX_BODY_BYTES": "65536",
    }
    command = [sys.executable, "-m", "recommender.cli", "serve", "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    probes = _probe_until_ready(base, process)
    try:
        yield base, log_path, probes
    finally:
        process.terminate()
        process.wait(timeout=30)


def _probe_until_ready(base: str, process: subprocess.Popen) -> list[tuple[int, int]]:
    """Poll /livez and /readyz until ready; return the (livez, readyz) statuses."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited during start-up"
        try:
            live = httpx.get(f"{base}/livez", timeout=5).status_code
            ready = httpx.get(f"{base}/readyz", timeout=5).status_code
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        seen.append((live, ready))
        if ready == 200:
            return seen
        time.sleep(0.05)
    pytest.fail("the service was not ready within 180 s")


def test_liveness_before_readiness(served):
    _, _, probes = served
    assert all(live == 200 for live, _ in probes)
    assert probes[-1] == (200, 200)
    # The model loads in the background for seconds, so the first probes that
    # reach the server find it alive but not ready.
    assert probes[0] == (200, 503)


def test_writes_need_token_over_http(served):
    base, _, _ = served
    record = {"id": "PM-HTTP-1", "kind": "postmortem", "title": "Basalt job stuck"}
    missing = httpx.post(f"{base}/v1/incidents", json=record, timeout=60)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(
        f"{base}/v1/incidents",
        json=record,
        headers={"Authorization": f"Bearer {WRONG_TOKEN}"},
        timeout=60,
    )
    assert wrong.status_code == 401
    assert httpx.get(f"{base}/v1/incidents/PM-HTTP-1", timeout=30).status_code == 404

    added = httpx.post(
        f"{base}/v1/incidents",
        json=record,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert added.status_code == 200, added.text
    assert httpx.get(f"{base}/v1/incidents/PM-HTTP-1", timeout=30).status_code == 200


def test_chunked_body_over_limit_over_http(served):
    base, _, _ = served

    def chunks():
        for _ in range(10):
            yield b"x" * 10_000

    response = httpx.post(
        f"{base}/v1/incidents",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "text/markdown",
        },
        timeout=60,
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["error"]["message"]


def test_json_log_lines_without_secrets(served):
    base, log_path, _ = served
    alert = {
        "title": "Disk almost full",
        "labels": {"alertname": "NodeFilesystemSpaceFillingUp"},
        "startsAt": "2026-12-04T11:00:00Z",
    }
    response = httpx.post(
        f"{base}/v1/alerts",
        json=alert,
        headers={"X-Request-ID": "served-json-1", "Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    )
    assert response.status_code == 200
    httpx.post(
        f"{base}/v1/reindex",
        headers={"Authorization": f"Bearer {WRONG_TOKEN}"},
        timeout=30,
    )

    text = _wait_for(log_path, "served-json-1")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries
    assert {"time", "level", "logger", "message", "request_id"} <= set(entries[0])
    lines = [e for e in entries if e["request_id"] == "served-json-1"]
    assert any(e["message"].startswith("recommendation ") for e in lines)
    assert any(e["logger"] == "uvicorn.access" for e in entries)
    assert TOKEN not in text
    assert WRONG_TOKEN not in text


def _wait_for(path: Path, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8")
        if needle in text:
            return text
        time.sleep(0.2)
    pytest.fail(f"{needle!r} never appeared in the service log {path}")
