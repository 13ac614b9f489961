"""Benchmark of incidents in progress and notification delivery, on loopback.

Tracking: each alert group gets five webhooks with one to five firing alerts,
applied to the response database (SQLite in a temporary folder). Each webhook is one
transaction that re-evaluates the group's severity. Delivery: queued
notifications of one incident are sent in the lane of their channel, as a thread of
the service's worker sends them: each is claimed, posted and marked delivered in
turn. The receiver is a threaded HTTP server on 127.0.0.1 that returns 200 at once.
The recommendation itself (model, FAISS) is not part of it.

Usage: python -m benchmarks.notifications [--groups 200] [--deliveries 1000] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from recommender.alerts import Alert
from recommender.incidents_in_progress import IncidentTracker, TrackedAlert
from recommender.notifications.config import NotificationsConfig
from recommender.notifications.delivery import Sender
from recommender.notifications.outbox import Delivery, Outbox
from recommender.response_db import open_response_db
from recommender.severity_policy import SeverityScale

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "BENCHMARKS.md"
HEADING = "## Incidents in progress and notifications"
ALERTS_PER_GROUP = 5
DOCUMENT = {
    "type": "incident.opened",
    "incident": {
        "id": "benchmark",
        "title": "DiskFull",
        "severity": "SEV2",
        "reasons": ["SEV2 from the severities of similar past incidents"],
        "firing_alerts": 5,
        "services": ["orders-db"],
    },
    "recommendations": [],
}


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def measure_tracking(home: Path, groups: int) -> dict[str, float]:
    """Apply `groups` x ALERTS_PER_GROUP webhooks; return webhooks/s and latency."""
    tracker = IncidentTracker(open_response_db(home), SeverityScale())
    start = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    latencies = []
    for step in range(ALERTS_PER_GROUP):
        for group in range(groups):
            alerts = [
                TrackedAlert(
                    Alert(
                        fingerprint=f"g{group}-a{number}",
                        alertname="DiskFull",
                        labels={"service": f"svc-{group}", "instance": f"i-{number}"},
                        starts_at="2026-12-04T11:55:00Z",
                    ),
                    "SEV3",
                )
                for number in range(step + 1)
            ]
            began = time.perf_counter()
            tracker.track(f"group-{group}", {}, alerts, start + timedelta(minutes=step))
            latencies.append(time.perf_counter() - began)
    return _summary(latencies)


def measure_delivery(home: Path, deliveries: int) -> dict[str, float]:
    """Queue and send `deliveries` notifications; return deliveries/s and latency."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    config = NotificationsConfig.model_validate(
        {
            "channels": {"bench": {"type": "webhook", "url": url}},
            "routes": [{"channels": ["bench"]}],
        }
    )
    outbox = Outbox(open_response_db(home))
    sender = Sender(config, outbox)
    claim_due = outbox.claim_due
    claims: list[float] = []

    def timed_claim(*args: Any, **kwargs: Any) -> list[Delivery]:
        claims.append(time.perf_counter())
        return claim_due(*args, **kwargs)

    try:
        for _ in range(deliveries):
            outbox.add("bench", "webhook", "benchmark", "opened", DOCUMENT, 0.0)
        outbox.claim_due = timed_claim  # type: ignore[method-assign]
        [lane, _] = sender.lanes()
        sent = sender.run_lane(lane)
    finally:
        server.shutdown()
        server.server_close()
    delivered = len(outbox.list("delivered", limit=deliveries))
    assert sent == deliveries == delivered, (sent, delivered)
    # A delivery's time runs from its claim to the next claim: the claim, the POST
    # and recording the outcome. The last claim finds nothing and ends the lane.
    latencies = [later - earlier for earlier, later in itertools.pairwise(claims)]
    return _summary(latencies)


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "per_second": len(ordered) / sum(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
    }


def render(tracking: dict[str, float], delivery: dict[str, float], command: str) -> str:
    """Return the results section of docs/BENCHMARKS.md."""
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    rows = [
        (
            "Track one webhook of a group (1 to 5 alerts)",
            tracking,
            "webhooks",
        ),
        ("Send one delivery to a loopback receiver", delivery, "deliveries"),
    ]
    lines = [
        HEADING,
        "",
        "How fast the response database takes webhooks and the sender delivers "
        "notifications, without the recommendation itself. Each webhook is one "
        "SQLite transaction (BEGIN IMMEDIATE, synchronous=FULL) that stores the "
        "alerts, re-evaluates the severity and, on a change, writes the history. "
        "Each delivery is claimed, sent and marked delivered in turn in its "
        "channel's lane, as the service sends them.",
        "",
        f"Command: `{command}`, on commit {_commit()}.",
        "",
        f"Machine: {_machine()}. Load average 1 / 5 / 15 min after the run: {load}. "
        "Other processes may have shared the CPU.",
        "",
        "| Operation | Count | Per second | Median ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, result, unit in rows:
        lines.append(
            f"| {name} | {result['count']:.0f} {unit} | {result['per_second']:.0f} | "
            f"{result['median_ms']:.1f} | {result['p95_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _write_section(section: str) -> None:
    text = PAGE.read_text(encoding="utf-8")
    start = text.find(HEADING)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(HEADING))
        rest = "" if following == -1 else text[following:]
        text = text[:start] + section + rest
    PAGE.write_text(text, encoding="utf-8")


def _commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    """Run both measurements and print (or write) the results section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--groups", type=int, default=200, help="alert groups, each sent 5 webhooks"
    )
    parser.add_argument(
        "--deliveries", type=int, default=1000, help="notifications to send"
    )
    parser.add_argument("--write", action="store_true", help="update the docs page")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        tracking = measure_tracking(Path(folder), args.groups)
        delivery = measure_delivery(Path(folder), args.deliveries)
    command = "python -m benchmarks.notifications"
    if args.groups != 200 or args.deliveries != 1000:
        command += f" --groups {args.groups} --deliveries {args.deliveries}"
    section = render(tracking, delivery, command + (" --write" if args.write else ""))
    print(section)
    if args.write:
        _write_section(section)
        print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
