"""Load test of the API: many concurrent clients post Alertmanager groups on loopback.

The benchmark builds the sample knowledge base of data/knowledge into a temporary
folder with `indexer build`, starts `recommender serve` on 127.0.0.1 as a separate
process, waits for /readyz, and runs the clients with httpx on asyncio. Each client
posts Alertmanager webhook groups of one to four alerts, built from data/alerts and
the alert names, titles and services of the knowledge base. About one group in
five repeats an earlier group, as Alertmanager re-sends a whole group at each group
interval and HA pairs send twice.

A 503 with Retry-After is load shedding, not a failure: the client waits the given
seconds and sends the same group again. Every other non-200 response and every
transport error counts as a failure.

Usage: python -m benchmarks.load_test [--clients 50] [--duration 60] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

from indexer.readers import read_sources

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "data" / "knowledge"
ALERTS = REPO / "data" / "alerts"
PAGE = REPO / "docs" / "BENCHMARKS.md"
SECTION = "## API under load"
REPEAT_SHARE = 0.2
# Maximum wait a client takes from Retry-After, so a run ends near its deadline.
MAX_RETRY_AFTER = 10.0
LIBRARIES = (
    "fastapi",
    "uvicorn",
    "httpx",
    "torch",
    "sentence-transformers",
    "faiss-cpu",
    "prometheus-client",
)


@dataclass
class Outcome:
    """What the clients saw over one run."""

    latencies: list[float] = field(default_factory=list)
    alerts_recommended: int = 0
    shed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class AlertSource:
    """An alert name with text and labels taken from the knowledge base."""

    alertname: str
    summary: str
    service: str
    team: str


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print (or write) the results section."""
    args = _parser().parse_args(argv)
    random.seed(args.seed)
    sources = _alert_sources()
    templates = _templates()

    with tempfile.TemporaryDirectory(prefix="load-test-") as folder:
        home = Path(folder)
        _build(home)
        server, port = _serve(home, args.workers)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base)
            _warm_up(base, sources, templates)
            load_before = os.getloadavg()
            started = time.perf_counter()
            outcome = asyncio.run(
                _run_clients(base, args.clients, args.duration, sources, templates)
            )
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()
            scraped = _scrape_metrics(base)
        finally:
            server.terminate()
            server.wait(timeout=30)

    section = _render(args, outcome, elapsed, load_before, load_after, scraped)
    print(section)
    if args.write:
        _write_section(section)
        print(f"wrote the section to {PAGE}")
    return 0 if not outcome.failures else 1


# Alerts -------------------------------------------------------------------


def _alert_sources() -> list[AlertSource]:
    """Collect alert names, titles and services from the sample knowledge base."""
    result = read_sources([KNOWLEDGE])
    sources = []
    for record in result.records:
        service = record.labels.get("service", "")
        team = record.labels.get("team", "")
        for name in record.alert_names:
            sources.append(AlertSource(name, record.title, service, team))
    if not sources:
        raise SystemExit(f"no alert names found in {KNOWLEDGE}")
    return sources


def _templates() -> list[dict]:
    """Return the Alertmanager alerts of the sample payloads in data/alerts."""
    alerts: list[dict] = []
    for path in sorted(ALERTS.glob("alertmanager-*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        alerts.extend(a for a in payload["alerts"] if a.get("status") == "firing")
    return alerts


def make_group(sources: list[AlertSource], templates: list[dict], serial: int) -> dict:
    """Build one Alertmanager webhook group of one to four firing alerts."""
    size = random.choice((1, 1, 2, 3, 4))
    alerts = []
    for position in range(size):
        if templates and random.random() < 0.25:
            alert = copy.deepcopy(random.choice(templates))
        else:
            alert = _alert_from(random.choice(sources))
        alert["fingerprint"] = f"{serial:08x}{position:02x}"
        alert["startsAt"] = _starts_at(serial)
        alert["endsAt"] = "0001-01-01T00:00:00Z"
        alerts.append(alert)
    common = alerts[0]["labels"]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{common.get("alertname", "")}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-recommender",
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.invalid:9093",
        "alerts": alerts,
    }


def _alert_from(source: AlertSource) -> dict:
    suffix = f"{random.randrange(16**6):06x}-x{random.randrange(99)}"
    pod = f"{source.service or 'app'}-{suffix}"
    labels = {
        "alertname": source.alertname,
        "severity": random.choice(("critical", "warning", "warning", "info")),
        "namespace": random.choice(("prod", "data", "payments", "platform")),
        "pod": pod,
        "instance": f"10.{random.randrange(256)}.{random.randrange(256)}.7:9100",
    }
    if source.service:
        labels["service"] = source.service
    if source.team:
        labels["team"] = source.team
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": source.summary,
            "description": f"{source.alertname} on {pod} for the last "
            f"{random.choice((5, 10, 15, 30))} minutes.",
        },
        "generatorURL": "http://prometheus.example.invalid/graph",
    }


def _starts_at(serial: int) -> str:
    seconds = serial % 86_400
    return (
        f"2026-12-04T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
    )


# Clients ------------------------------------------------------------------


async def _run_clients(
    base: str,
    clients: int,
    duration: float,
    sources: list[AlertSource],
    templates: list[dict],
) -> Outcome:
    outcome = Outcome()
    deadline = time.perf_counter() + duration
    sent: list[dict] = []
    serial = iter(range(10**9))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as http:

        async def client() -> None:
            while time.perf_counter() < deadline:
                if sent and random.random() < REPEAT_SHARE:
                    group = random.choice(sent)
                else:
                    group = make_group(sources, templates, next(serial))
                    sent.append(group)
                await _post(http, group, outcome, deadline)

        await asyncio.gather(*(client() for _ in range(clients)))
    return outcome


async def _post(
    http: httpx.AsyncClient, group: dict, outcome: Outcome, deadline: float
) -> None:
    """Post one group, honouring Retry-After on 503 until the deadline."""
    while True:
        started = time.perf_counter()
        try:
            response = await http.post("/v1/alerts/alertmanager", json=group)
        except httpx.HTTPError as error:
            outcome.failures[type(error).__name__] += 1
            return
        elapsed = time.perf_counter() - started
        outcome.statuses[str(response.status_code)] += 1

        retry_after = response.headers.get("retry-after", "")
        if response.status_code == 503 and retry_after.isdigit():
            outcome.shed += 1
            wait = min(float(retry_after), MAX_RETRY_AFTER)
            if time.perf_counter() + wait >= deadline:
                return
            await asyncio.sleep(wait)
            continue
        if response.status_code != 200:
            outcome.failures[f"HTTP {response.status_code}"] += 1
            return
        outcome.latencies.append(elapsed)
        outcome.alerts_recommended += len(group["alerts"])
        return


# Server -------------------------------------------------------------------


def _build(home: Path) -> None:
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "indexer.cli", "build", "--quiet", str(KNOWLEDGE)],
        env=env,
        check=True,
        capture_output=True,
    )


def _serve(home: Path, workers: int | None) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    if workers is not None:
        env["INCIDENT_INFERENCE_WORKERS"] = str(workers)
    command = [sys.executable, "-m", "recommender.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return server, port


def _wait_ready(base: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {base} was not ready after {timeout:.0f} s")


def _warm_up(base: str, sources: list[AlertSource], templates: list[dict]) -> None:
    """Send one group before timing, because the first one builds lazy state."""
    group = make_group(sources, templates, serial=10**9)
    response = httpx.post(f"{base}/v1/alerts/alertmanager", json=group, timeout=600)
    response.raise_for_status()


def _scrape_metrics(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    names = (
        "incident_recommendations_total",
        "incident_no_close_precedent_total",
        "incident_recommendation_replays_total",
    )
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            values[name] = float(value)
    return values


# Report -------------------------------------------------------------------


def _render(
    args: argparse.Namespace,
    outcome: Outcome,
    elapsed: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    scraped: dict[str, float],
) -> str:
    latencies = sorted(outcome.latencies)
    succeeded = len(latencies)
    failures = sum(outcome.failures.values())

    def percentile(share: float) -> str:
        if not latencies:
            return "-"
        index = min(len(latencies) - 1, round(share * (len(latencies) - 1)))
        return f"{latencies[index] * 1000:.0f} ms"

    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.statuses.items()))
    failed = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.failures.items()))
    mean = f"{statistics.fmean(latencies) * 1000:.0f} ms" if latencies else "-"
    rows = [
        ("Requests with status 200", f"{succeeded:,}"),
        ("Alerts in those requests", f"{outcome.alerts_recommended:,}"),
        (
            "Throughput",
            f"{succeeded / elapsed:.1f} requests/s, "
            f"{outcome.alerts_recommended / elapsed:.1f} alerts/s",
        ),
        (
            "Latency p50 / p90 / p99 / max",
            " / ".join(
                (percentile(0.5), percentile(0.9), percentile(0.99), percentile(1.0))
            ),
        ),
        ("Latency mean", mean),
        ("Shed with 503 + Retry-After (retried)", f"{outcome.shed:,}"),
        ("Failed requests", f"{failures:,}" + (f" ({failed})" if failed else "")),
        ("Responses by status", statuses or "-"),
        (
            "Recommendations computed (server metric)",
            f"{scraped.get('incident_recommendations_total', 0):,.0f}",
        ),
        (
            "Of those without a close precedent",
            f"{scraped.get('incident_no_close_precedent_total', 0):,.0f}",
        ),
        (
            "Replays from the store (server metric)",
            f"{scraped.get('incident_recommendation_replays_total', 0):,.0f}",
        ),
        ("Wall time of the run", f"{elapsed:.1f} s"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"""{SECTION}

How the API holds up when {args.clients} clients post Alertmanager webhook groups at
once for {args.duration:.0f} seconds, on loopback. The server is `recommender serve`
with the default settings over the sample knowledge base of `data/knowledge`, built
with `indexer build`. Each group has one to four firing alerts, built from the alert
names, titles and services of the knowledge base and the alerts of
`data/alerts/alertmanager-*.json`, with new fingerprints and start times. About one
group in five repeats an earlier group, as Alertmanager re-sends groups. A client that
gets 503 with Retry-After waits and sends the group again. Those responses are counted
as shed, not as failures. One group is sent before the clients start and left out
of the figures, because the first recommendation fits the history classifiers.
Latency is measured by the client, per request that got 200, and includes the time
in the server's queue. For a group that was shed first, only its last attempt counts,
not the waits before it.

Command: `python -m benchmarks.load_test --clients {args.clients} --duration \
{args.duration:.0f}{" --workers " + str(args.workers) if args.workers else ""} \
--write`, on commit {_commit()}.

Machine: {_machine()}. Load average 1 / 5 / 15 min before the run: \
{_load(load_before)}, after it: {_load(load_after)}. The clients, the server and \
other processes shared the CPU.

| Measure | Value |
|---|---|
{table}
"""


def _machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = match.group(1).strip() if match else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        memory = f", {int(match.group(1)) / 2**20:.0f} GiB RAM" if match else ""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}, "
        + ", ".join(versions)
    )


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def _commit() -> str:
    """Return the short commit id, noting uncommitted changes of the code."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown"
    changed = _git("status", "--porcelain", "--", "indexer", "recommender")
    return f"{head} plus uncommitted changes" if changed else head


def _git(*arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], cwd=REPO, capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def _write_section(section: str) -> None:
    """Replace the section in the benchmarks page, or append it; others stay."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following == -1 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if following != -1 else "")
    PAGE.write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of load (default 60)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="INCIDENT_INFERENCE_WORKERS of the server (default: its own default)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--write", action="store_true", help=f"write the section into {PAGE.name}"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
