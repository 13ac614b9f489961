"""End to end: build from public data with the CLI, serve HTTP, post real alerts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recommender.rules import read_rules, to_webhook

pytestmark = pytest.mark.slow

SOURCES = (
    "prometheus-operator+runbooks",
    "openshift+runbooks",
    "dfds+postmortems",
    "IntelligentDDS+Post-mortems-Analysis/anomaly_collection",
)
MUST_RANK_FIRST = (
    "KubePodCrashLooping",
    "KubePersistentVolumeFillingUp",
    "NodeFilesystemSpaceFillingUp",
    "KubeNodeNotReady",
    "TargetDown",
    "KubeletDown",
    "KubeAPIDown",
    "NodeClockNotSynchronising",
    "KubeClientCertificateExpiration",
    "AlertmanagerFailedReload",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def server(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("public-kb")
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    built = _run(
        ["indexer.cli", "build", "--quiet", *[str(shared_data / s) for s in SOURCES]],
        env,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert "built knowledge base" in built.stdout

    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recommender.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("the API did not answer /health within 120 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_build_reads_every_source(server: str):
    health = httpx.get(f"{server}/health", timeout=10).json()
    # 109 + 272 runbooks (less stubs), 39 dfds postmortems, 274 cloud postmortems.
    assert health["records"] > 600
    assert health["vectors"] > health["records"]


def test_real_rules_rank_their_runbook_first(server: str, shared_data: Path):
    manifests = shared_data / "prometheus-operator+kube-prometheus" / "manifests"
    rules = {
        rule.alert: rule
        for path in sorted(manifests.glob("*-prometheusRule.yaml"))
        for rule in read_rules(path)
    }
    chosen = [rules[name] for name in MUST_RANK_FIRST]

    response = httpx.post(
        f"{server}/v1/alerts/alertmanager", json=to_webhook(chosen), timeout=120
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(chosen)

    for rule, result in zip(chosen, results, strict=True):
        assert result["outcome"] == "recommended", rule.alert
        top = result["recommendation"]["matches"][0]
        record = httpx.get(f"{server}/v1/incidents/{top['id']}", timeout=10).json()
        stem = Path(record["source"].split(":")[0]).stem.lower()
        names = [
            n.strip().lower() for n in record["labels"].get("alertname", "").split(",")
        ]
        assert stem == rule.runbook_name or rule.alert.lower() in names, (
            f"{rule.alert}: top match was {top['id']}"
        )
        assert top["kind"] == "runbook"
        assert result["recommendation"]["no_close_precedent"] is False


def test_resolved_alert_is_not_recommended(server: str, shared_data: Path):
    manifests = shared_data / "prometheus-operator+kube-prometheus" / "manifests"
    rules = [
        r
        for p in sorted(manifests.glob("*-prometheusRule.yaml"))
        for r in read_rules(p)
    ]
    payload = to_webhook(rules[:2])
    payload["alerts"][1]["status"] = "resolved"
    payload["alerts"][1]["endsAt"] = "2026-12-04T03:00:00Z"
    results = httpx.post(
        f"{server}/v1/alerts/alertmanager", json=payload, timeout=60
    ).json()
    assert [r["outcome"] for r in results["results"]] == ["recommended", "resolved"]
