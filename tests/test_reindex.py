"""Re-indexing with real processes: SIGKILL during sync, and a live API during sync."""

from __future__ import annotations

import csv
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import pytest

from indexer.knowledge_base import KnowledgeBase
from indexer.settings import IndexerSettings

pytestmark = pytest.mark.slow

RECORDS = 2_000
WORDS = (
    "disk full latency timeout certificate expired dns servfail replica lag kafka "
    "consumer memory leak oom killed node notready pod crashloop quota exceeded "
    "queue backlog connection pool exhausted clock skew ntp deploy rollback config "
    "push cache stampede network partition packet loss throttled rate limit"
).split()
COLUMNS = ["Issue key", "Summary", "Description", "Priority"]


def _write_tickets(path: Path, ids: list[int], round_number: int, changed: set[int]):
    """Write a Jira export; tickets in changed get text unique to this round."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for number in ids:
            rng = random.Random(number)
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            extra = f" round {round_number} change" if number in changed else ""
            writer.writerow(
                [
                    f"OPS-{number}",
                    f"Ticket {number}: {words[:40]}",
                    f"{words}{extra}",
                    "High",
                ]
            )


def _run(
    args: list[str], home: Path, stderr: IO[bytes] | int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _finish(process: subprocess.Popen[bytes], timeout: float = 600) -> None:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr.decode()[-2000:]


def _check_consistent(home: Path) -> set[str]:
    """Assert that every stored passage is in the index exactly once; return ids."""
    kb = KnowledgeBase(IndexerSettings(home=home), create=False)
    index = kb.vector_index()
    index_ids = index.ids()
    stored_ids = np.concatenate([ids for ids, _ in kb.database.iter_vectors()])
    assert len(index_ids) == len(set(index_ids.tolist())), "a passage is in twice"
    assert set(index_ids.tolist()) == set(stored_ids.tolist())
    for ids, vectors in kb.database.iter_vectors():
        sample = np.random.default_rng(0).choice(len(ids), size=20, replace=False)
        for position in sample:
            hits = index.search(vectors[position], 3)
            assert int(ids[position]) in [passage_id for passage_id, _ in hits]
            assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
        break
    # Every record has exactly one scoring row, with one vector per passage.
    with kb.database.engine.connect() as conn:
        counts = dict(
            conn.exec_driver_sql(
                "SELECT record_pk, count(*) FROM passages GROUP BY record_pk"
            ).all()
        )
        record_pks = [pk for (pk,) in conn.exec_driver_sql("SELECT pk FROM records")]
        row_count = conn.exec_driver_sql(
            "SELECT count(*) FROM record_scoring"
        ).scalar_one()
    rows = kb.database.record_rows(record_pks)
    assert row_count == len(rows) == len(record_pks)
    for row in rows:
        assert len(row.roles) == len(row.vectors) == counts.get(row.record_pk, 0)
    return set(kb.database.record_hashes())


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tickets")
    tickets = folder / "tickets.csv"
    _write_tickets(tickets, list(range(RECORDS)), 0, set())
    home = folder / "kb"
    _finish(_run(["indexer.cli", "build", "--quiet", str(tickets)], home))
    return tickets, home


def test_sync_survives_sigkill(base: tuple[Path, Path]):
    tickets, home = base
    rng = random.Random(11)
    ids = list(range(RECORDS))
    finished_ids: set[str] | None = None
    next_id = RECORDS

    for round_number in range(1, 21):
        # Each round updates, adds and removes tickets, then kills the sync.
        ids = [i for i in ids if rng.random() > 0.02]
        ids += list(range(next_id, next_id + 30))
        next_id += 30
        _write_tickets(tickets, ids, round_number, set(rng.sample(ids, 150)))
        process = _run(["indexer.cli", "sync", "--quiet", str(tickets)], home)
        time.sleep(rng.uniform(0.5, 9.0))
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=600)

        stored = _check_consistent(home)
        assert killed or process.returncode == 0, stderr.decode()[-2000:]
        if not killed:
            finished_ids = stored
            assert stored == {f"OPS-{i}" for i in ids}
        elif finished_ids is not None:
            # A killed sync leaves the last finished state or the complete new one.
            assert stored in (finished_ids, {f"OPS-{i}" for i in ids})

    _finish(_run(["indexer.cli", "sync", "--quiet", str(tickets)], home))
    assert _check_consistent(home) == {f"OPS-{i}" for i in ids}
    rerun = subprocess.run(
        [sys.executable, "-m", "indexer.cli", "sync", "--quiet", str(tickets)],
        env={**os.environ, "INCIDENT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert rerun.stdout.startswith("nothing to do")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_live_api_during_sync(base: tuple[Path, Path]):
    tickets, home = base
    port = _free_port()
    # The server logs every request. Nothing reads a pipe while the test runs, so
    # the log goes to a file: a full pipe would block the server after a few
    # hundred requests.
    server_log = (tickets.parent / "serve.log").open("wb")
    server = _run(["recommender.cli", "serve", "--port", str(port)], home, server_log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        version_before = httpx.get(f"{url}/health", timeout=10).json()["data_version"]

        # Rewrite the export: hundreds of tickets updated, removed and added.
        with tickets.open() as handle:
            ids = [int(row["Issue key"][4:]) for row in csv.DictReader(handle)]
        ids = ids[200:] + [90_000 + i for i in range(200)]
        _write_tickets(tickets, ids, 99, set(ids[:300]))

        failures: list[str] = []
        done = threading.Event()
        count = 0

        def load() -> None:
            nonlocal count
            with httpx.Client(timeout=30) as client:
                while not done.is_set() and count < 2_000:
                    response = client.get(
                        f"{url}/v1/search",
                        params={"q": "replica lag on kafka consumer"},
                    )
                    count += 1
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

        thread = threading.Thread(target=load)
        thread.start()
        _finish(_run(["indexer.cli", "sync", "--quiet", str(tickets)], home))
        time.sleep(1)
        done.set()
        thread.join(timeout=120)

        assert failures == []
        assert count > 0
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["data_version"] > version_before
        assert health["records"] == len(ids)
        found = httpx.get(f"{url}/v1/incidents/OPS-90000", timeout=10)
        assert found.status_code == 200
        assert httpx.get(f"{url}/v1/incidents/OPS-0", timeout=10).status_code == 404
    finally:
        server.terminate()
        server.communicate(timeout=30)
        server_log.close()
