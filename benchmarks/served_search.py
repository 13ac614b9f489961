"""A search over HTTP: where its time goes between the floor and the client.

It loads a knowledge base made by benchmarks.scale_data in this process and
times the floor (one query embedding plus one search of the vector index) and
the whole search, as the scale benchmark does. Then it starts `recommender
serve` on 127.0.0.1 through benchmarks.timed_serve and sends the same 200
alert-like queries to GET /v1/search, one at a time over one kept-alive
connection, after GET /livez as often (the HTTP round trip with no work
behind it). The server records three spans of each search: the search itself
on its worker thread, the route's call onto that thread, and the whole app.

Usage: python -m benchmarks.served_search --home /work/bench/kb-100000 [--write]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np

from benchmarks import scale_queries
from benchmarks.page import PAGE, write_section
from benchmarks.reindex import REPO, code_version, load_samples, machine_description
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.settings import IndexerSettings
from recommender.recommendation import Recommender

QUERIES = 200
# The target for a search over HTTP at 100,000 records, as a multiple of the floor.
TARGET_RATIO = 1.3
HEADING = "## A search over HTTP"

logger = logging.getLogger(__name__)


def measure(home: Path) -> dict[str, Any]:
    """Time the floor and the search in process, then over HTTP."""
    embedder = Embedder()
    queries = scale_queries.alert_queries(load_samples(embedder), QUERIES)
    load_average = os.getloadavg()

    knowledge_base = KnowledgeBase(
        IndexerSettings(home=home), embedder=embedder, create=False
    )
    recommender = Recommender(knowledge_base)
    threads = scale_queries.prepare_as_served(recommender)
    logger.info("in process, %d thread(s)", threads)
    floor = scale_queries.floor_latency(knowledge_base, queries)
    search = scale_queries.search_latency(recommender, queries)
    records = knowledge_base.stats().records
    del recommender, knowledge_base
    gc.unfreeze()
    gc.collect()

    logger.info("over HTTP")
    served = _served(home, queries)
    return {
        "machine": machine_description(),
        "commit": code_version(),
        "home": str(home),
        "records": records,
        "threads": threads,
        "load_average": load_average,
        "floor": floor.seconds,
        "search": search.seconds,
        **served,
    }


def _served(home: Path, queries: list[str]) -> dict[str, Any]:
    port = scale_queries._free_port()
    with tempfile.TemporaryDirectory() as folder:
        timings = Path(folder) / "timings.json"
        environment = {
            **os.environ,
            "INCIDENT_READ_ACCESS": "open",
            "BENCHMARK_TIMINGS": str(timings),
        }
        command = [
            sys.executable,
            "-m",
            "benchmarks.timed_serve",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
        ]
        with tempfile.TemporaryFile("w+") as log:
            server = subprocess.Popen(
                command, stdout=log, stderr=log, cwd=REPO, env=environment
            )
            try:
                with httpx.Client(
                    base_url=f"http://127.0.0.1:{port}", timeout=600
                ) as client:
                    scale_queries._wait_ready(client, server, log, time.perf_counter())
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                try:
                    livez = scale_queries.time_each(
                        queries, lambda _query: _get(connection, "/livez")
                    )
                    search = scale_queries.time_each(
                        queries,
                        lambda query: _get(
                            connection,
                            "/v1/search?"
                            + urlencode({"q": query, "top_k": scale_queries.TOP_K}),
                        ),
                    )
                finally:
                    connection.close()
            finally:
                server.terminate()
                server.wait(timeout=60)
        spans = json.loads(timings.read_text())
    # The server saw the warm-up searches too; they are left out as above.
    skip = scale_queries.WARM_UP
    return {
        "livez": livez.seconds,
        "http": search.seconds,
        "spans": {name: values[skip:] for name, values in spans.items()},
    }


def _get(connection: http.client.HTTPConnection, path: str) -> bytes:
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        status = response.status
        raise RuntimeError(f"GET {path[:60]} returned {status}: {body[:300]!r}")
    return body


def render(result: dict[str, Any], command: str) -> str:
    """Render the page section of one run."""
    floor = np.percentile(result["floor"], 50) * 1000

    def row(label: str, seconds: list[float]) -> str:
        p50 = np.percentile(seconds, 50) * 1000
        p99 = np.percentile(seconds, 99) * 1000
        return f"| {label} | {p50:.2f} | {p99:.2f} | {p50 / floor:.2f}x |"

    spans = result["spans"]
    means = {name: float(np.mean(values)) * 1000 for name, values in spans.items()}
    client = float(np.mean(result["http"])) * 1000
    livez = np.percentile(result["livez"], 50) * 1000
    budget = (TARGET_RATIO - 1) * floor
    load = " / ".join(f"{value:.2f}" for value in result["load_average"])
    lines = [
        HEADING,
        "",
        "Where the time of one `GET /v1/search` goes between the floor and the "
        f"client, at {result['records']:,} synthetic records "
        "(`benchmarks/scale_data.py`).",
        "",
        f"Command: `{command}`, on {result['commit']}.",
        "",
        f"Machine: {result['machine']}. Load average at the start: {load}. "
        "Other processes may have shared the CPU.",
        "",
        f"{QUERIES} alert-like queries of the scale benchmark, one at a time after "
        f"{scale_queries.WARM_UP} untimed ones, milliseconds. The floor is one query "
        "embedding plus one search of the product's vector index; the search in "
        "process is what the route computes, with the threads per inference worker "
        f"that `recommender serve` uses ({result['threads']}). Over HTTP, one "
        "kept-alive connection of the standard library's http.client sends the "
        "requests to `recommender serve` on 127.0.0.1. `GET /livez` is the round "
        "trip with no work behind it.",
        "",
        "| | p50 | p99 | p50 to the floor p50 |",
        "|---|---|---|---|",
        row("floor", result["floor"]),
        row("search in process", result["search"]),
        row("`GET /livez` over HTTP", result["livez"]),
        row("`GET /v1/search` over HTTP", result["http"]),
        "",
        "Inside the server, each search timed by `benchmarks/timed_serve.py`, "
        "mean milliseconds. Each line includes the one above it.",
        "",
        "| | mean |",
        "|---|---|",
        f"| the search, on its worker thread | {means['search']:.2f} |",
        f"| the route's call onto the worker thread | {means['worker_thread']:.2f} |",
        f"| the whole app, middleware and response included | {means['app']:.2f} |",
        f"| at the client | {client:.2f} |",
        "",
        f"A search over HTTP at {TARGET_RATIO} times the floor p50 would have "
        f"{budget:.2f} ms above the floor. The round trip of `GET /livez` alone "
        f"takes {livez:.2f} ms of that, which leaves {budget - livez:.2f} ms for "
        "the keyword search, the exact rescoring of the candidates and the hop to "
        "a worker thread.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure one knowledge base; print the section, or write it with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="knowledge base")
    parser.add_argument(
        "--write", action="store_true", help=f"write the section into {PAGE}"
    )
    args = parser.parse_args()
    if not (args.home / "knowledge.db").is_file():
        parser.error(f"no knowledge base at {args.home}; give its folder")
    # Absolute, because the served process runs in the repository.
    home = args.home.absolute()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    result = measure(home)
    command = f"python -m benchmarks.served_search --home {args.home}" + (
        " --write" if args.write else ""
    )
    section = render(result, command)
    if args.write:
        write_section(HEADING, section)
    print(section)


if __name__ == "__main__":
    main()
