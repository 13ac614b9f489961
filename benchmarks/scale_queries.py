"""Alert-like queries and latency measurement for the scale benchmark."""

from __future__ import annotations

import gc
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np

from benchmarks.reindex import REPO, Samples, rename_and_shift, service_name
from indexer.candidates import candidate_passages
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.normalize import normalize_text
from indexer.scoring_rows import parse_rows
from indexer.terms import title_terms
from indexer.threads import set_threads
from recommender import retrieval
from recommender.alerts import alert_from_text
from recommender.readiness import warm_search
from recommender.recommendation import Recommender
from recommender.retrieval import (
    BODY_MAX_DOCUMENTS,
    DENSE_CANDIDATES,
    KEYWORD_CANDIDATES,
    body_terms,
    keyword_document_limit,
    query_terms,
)
from recommender.settings import ServiceSettings

TOP_K = 10
WARM_UP = 10
READY_TIMEOUT_SECONDS = 1_800


@dataclass(frozen=True)
class Latency:
    """Seconds per query of one method, one query at a time."""

    seconds: list[float]

    @property
    def p50(self) -> float:
        """Return the median in milliseconds."""
        return float(np.percentile(self.seconds, 50)) * 1000

    @property
    def p99(self) -> float:
        """Return the 99th percentile in milliseconds."""
        return float(np.percentile(self.seconds, 99)) * 1000


@dataclass(frozen=True)
class ServedRun:
    """Search latency over HTTP and what the serving process cost."""

    latency: Latency
    ready_seconds: float
    peak_rss_mib: float


def alert_queries(samples: Samples, count: int, seed: int = 7) -> list[str]:
    """Return alert-like texts: a sample's title and first symptom sentence.

    The service is renamed to a synthetic one, as in the synthetic records, so a
    query resembles many records but is the text of none.
    """
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        record = samples.records[rng.randrange(len(samples.records))]
        symptom = next(
            (
                record.sections[name]
                for name in ("summary", "description", "meaning", "impact")
                if record.sections.get(name, "").strip()
            ),
            "",
        )
        sentence = symptom.strip().split(". ")[0][:300]
        old = record.labels.get("service", "")
        new = service_name(rng.randrange(10_000))
        text = f"{record.title}. {sentence}"
        queries.append(rename_and_shift(text, old, new, 0) if old else text)
    return queries


def prepare_as_served(recommender: Recommender) -> int:
    """Load what `recommender serve` loads before it reports ready, and use its threads.

    Returns the threads per search, so that in-process figures and HTTP ones
    differ only by the service around them.
    """
    warm_search(recommender)
    gc.collect()
    gc.freeze()
    threads = ServiceSettings().threads or 1
    set_threads(threads)
    return threads


def time_each(queries: Sequence[str], answer: Callable[[str], object]) -> Latency:
    """Time answer(query) for each query after WARM_UP untimed calls."""
    for query in queries[:WARM_UP]:
        answer(query)
    seconds = []
    for query in queries:
        started = time.perf_counter()
        answer(query)
        seconds.append(time.perf_counter() - started)
    return Latency(seconds)


def floor_latency(knowledge_base: KnowledgeBase, queries: Sequence[str]) -> Latency:
    """Time the floor: one query embedding plus one search of the product's index."""
    index = knowledge_base.vector_index()

    def answer(query: str) -> object:
        return index.search(knowledge_base.embed_query(query), TOP_K)

    return time_each(queries, answer)


def float32_floor_latency(
    knowledge_base: KnowledgeBase, queries: Sequence[str]
) -> Latency | None:
    """Time the floor with the float32 export in place of its int8 copy.

    Returns None when ONNX Runtime is not in use.
    """
    index = knowledge_base.vector_index()
    encoder = knowledge_base.embedder.onnx_encoder()
    if encoder is None:
        return None

    def answer(query: str) -> object:
        return index.search(encoder.embed([normalize_text(query)])[0], TOP_K)

    return time_each(queries, answer)


def torch_floor_latency(
    knowledge_base: KnowledgeBase, embedder: Embedder, queries: Sequence[str]
) -> Latency:
    """Time the floor with sentence-transformers' encode in place of ONNX Runtime."""
    index = knowledge_base.vector_index()

    def answer(query: str) -> object:
        vector = embedder.model.encode(
            [normalize_text(query)], convert_to_numpy=True, normalize_embeddings=True
        )
        return index.search(np.asarray(vector[0], dtype=np.float32), TOP_K)

    return time_each(queries, answer)


def search_latency(recommender: Recommender, queries: Sequence[str]) -> Latency:
    """Time what GET /v1/search computes, in this process."""

    def answer(query: str) -> object:
        return recommender.retriever.search(alert_from_text(query), TOP_K)

    return time_each(queries, answer)


def recommend_latency(recommender: Recommender, queries: Sequence[str]) -> Latency:
    """Time a whole recommendation: matches, severity, category, causes and fixes."""

    def answer(query: str) -> object:
        return recommender.recommend(alert_from_text(query), top_k=5)

    return time_each(queries, answer)


def served_latency(home: Path, queries: Sequence[str]) -> ServedRun:
    """Start `recommender serve` on 127.0.0.1 and time GET /v1/search over HTTP.

    One client sends one query at a time over a kept-alive connection, so the
    figures are the latency of a single request, not of a loaded server.
    """
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "recommender.cli",
        "--home",
        str(home),
        "serve",
        "--port",
        str(port),
    ]
    environment = {**os.environ, "INCIDENT_READ_ACCESS": "open"}
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        server = subprocess.Popen(
            command, stdout=log, stderr=log, cwd=REPO, env=environment
        )
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=600) as client:
                ready = _wait_ready(client, server, log, started)
            # The standard library's client: with httpx a search took 1.2 ms
            # longer at the client (p50 16.6 against 15.4 ms at 10,000 records).
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

            def answer(query: str) -> object:
                path = "/v1/search?" + urlencode({"q": query, "top_k": TOP_K})
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(
                        f"GET /v1/search returned {response.status}: {body[:300]!r}"
                    )
                return body

            try:
                latency = time_each(queries, answer)
            finally:
                connection.close()
            peak = _peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return ServedRun(latency, ready, peak)


def _wait_ready(
    client: httpx.Client,
    server: subprocess.Popen[bytes],
    log: object,
    started: float,
) -> float:
    deadline = started + READY_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"recommender serve exited with {server.returncode}")
        try:
            if client.get("/readyz", timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"recommender serve was not ready in {READY_TIMEOUT_SECONDS} s")


def _peak_rss_mib(pid: int) -> float:
    """Return the peak resident set size of a running process (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def search_breakdown(
    knowledge_base: KnowledgeBase, recommender: Recommender, queries: Sequence[str]
) -> dict[str, float]:
    """Return the mean milliseconds of each step of a search, timed one by one.

    The steps repeat what Retriever.search does, with the same calls and sizes,
    so the table shows where the time above the floor goes.
    """
    retriever = recommender.retriever
    database = knowledge_base.database
    index = knowledge_base.vector_index()
    totals: dict[str, float] = {}

    def timed(step: str, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = work(*args, **kwargs)
        totals[step] = totals.get(step, 0.0) + time.perf_counter() - started
        return result

    for query in queries:
        text = alert_from_text(query).query_text()
        vector = timed("query embedding", knowledge_base.embed_query, text)
        step = f"index search, top {DENSE_CANDIDATES}"
        hits = timed(step, index.search, vector, DENSE_CANDIDATES)
        terms = query_terms(text)
        frequencies, total = timed(
            "document frequencies", retriever.frequencies.lookup, terms
        )
        limit = keyword_document_limit(total)
        rare = [t for t in terms if frequencies.get(t, 0) <= limit]
        keyword_rows = timed(
            "keyword search with the candidates' scoring rows",
            database.keyword_rows,
            rare,
            KEYWORD_CANDIDATES,
        )
        body = timed(
            "records whose body has one of the rarest terms",
            database.body_matches,
            body_terms(rare, frequencies),
            BODY_MAX_DOCUMENTS,
        )
        keyword_rows = timed(
            "decode the keyword candidates' rows", parse_rows, keyword_rows
        )
        pks = timed(
            "passages to records",
            knowledge_base.owners.records_of,
            [p for p, _ in hits],
        )
        fetched = {row.record_pk for row in keyword_rows}
        dense_rows = timed(
            "scoring rows of the dense candidates",
            database.record_rows,
            [pk for pk in pks if pk not in fetched],
        )
        rows = dense_rows + keyword_rows
        timed("dense scores of every candidate passage", _dense_scores, vector, rows)
        timed(
            "keyword coverage of every candidate",
            _keyword_coverage,
            text,
            terms,
            frequencies,
            total,
            rows,
            body,
        )
        timed(
            f"read the {TOP_K} returned records",
            knowledge_base.get_many,
            [row.record_id for row in rows[:TOP_K]],
        )
    return {step: total / len(queries) * 1000 for step, total in totals.items()}


def _dense_scores(vector: np.ndarray, rows: list[Any]) -> dict[str, float]:
    passages = candidate_passages(rows)
    similarities = retrieval._passage_similarities(vector, passages)
    return retrieval._best_per_record(passages, similarities)


def _keyword_coverage(
    text: str,
    terms: list[str],
    frequencies: dict[str, int],
    total: int,
    rows: list[Any],
    body: dict[str, set[int]],
) -> dict[str, tuple[float, list[str]]]:
    """Return the coverage of every candidate, with the alert's title terms.

    An upper bound, as a search covers only the candidates that can still reach
    the top 10.
    """
    return retrieval._keyword_coverage(
        terms, frequencies, total, rows, set(title_terms(text)), body
    )
