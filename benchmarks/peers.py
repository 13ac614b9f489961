"""chromadb and BM25 measured beside the product: quality, build cost and latency.

`ChromaPeer` stores the product's own passage vectors in an embedded chromadb
collection (HNSW, cosine space) with each passage's record id, embeds query text
with the product's model, and ranks a record by its best passage. `Bm25Peer`
ranks whole records with bm25s. Both build from (record, passages, vectors) items
or from a knowledge base folder, so they index exactly what the product indexes.

`measure_peers` builds both over a knowledge base and times queries on them, for
the scale benchmark. `task1_quality` scores both on the alert-to-runbook task as
benchmarks/evaluate_tasks.py scores its baselines. Run as a module, this file
prints task 1 quality, then builds the sample knowledge base with `indexer build`
in a temporary folder and prints build costs and query latencies. Both libraries
come with the `bench` extra: `pip install -e '.[bench]'`.

Usage: python -m benchmarks.peers [--data ../shared/data] [--bootstrap 1000]
       [--embedding-cache FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from contextlib import closing
from dataclasses import asdict
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import tasks
from benchmarks.embedding_cache import CachedEmbedder
from benchmarks.peer_builds import (
    BuildStats,
    PassageItem,
    StoredKnowledgeBase,
    build_bm25_peer,
    build_bm25_peer_from_home,
    build_chroma_peer,
    build_chroma_peer_from_home,
)
from benchmarks.peer_indexes import TOP_K, Bm25Peer, ChromaPeer, Peer, Ranking
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.readers import read_sources
from indexer.settings import IndexerSettings
from recommender.evaluation import Prediction, score
from recommender.queries import LabelledQuery, read_queries
from recommender.recommendation import DEFAULT_THRESHOLD

__all__ = [
    "Bm25Peer",
    "BuildStats",
    "ChromaPeer",
    "PassageItem",
    "build_bm25_peer",
    "build_bm25_peer_from_home",
    "build_chroma_peer",
    "build_chroma_peer_from_home",
    "latencies",
    "measure_peers",
    "task1_quality",
]

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_KNOWLEDGE = REPO / "data" / "knowledge"
WARMUP_QUERIES = 3
BOOTSTRAP = 1000
RETRIEVAL_METRICS = ("recall@1", "recall@5", "mrr@10")


def measure_peers(
    home: Path,
    query_texts: Sequence[str],
    embedder: Embedder | None = None,
    top_k: int = TOP_K,
) -> dict[str, Any]:
    """Build both peers over a knowledge base home and time the queries on each.

    The chromadb collection is written to a temporary folder beside home and
    deleted afterwards. The float32 query embedding that chromadb's queries
    include is timed on its own too. Returns {"latency_ms": {peer: {"p50", "p99",
    "mean"}}, "build": {peer: BuildStats fields and "items_per_second"}}, or
    {"skipped": reason} when chromadb or bm25s is not installed.

    NOTE: chromadb 1.5 inserted about 1,500 passages/s into a collection of 67,010
    on 2 busy cores. At that rate, the 6.7 million passages of a million records
    would take over an hour and about 10 GiB for the float32 vectors alone (an
    estimate, not run).
    """
    missing = [name for name in ("chromadb", "bm25s") if find_spec(name) is None]
    if missing:
        return {"skipped": f"{' and '.join(missing)} not installed"}
    if embedder is None:
        embedder = Embedder(StoredKnowledgeBase(home).model)

    result: dict[str, Any] = {"latency_ms": {}, "build": {}}
    bm25, bm25_stats = build_bm25_peer_from_home(home)
    result["latency_ms"][bm25.name] = _milliseconds(latencies(bm25, query_texts, top_k))
    result["build"][bm25.name] = _build_fields(bm25_stats)
    # Free the BM25 matrices before chromadb loads its HNSW index.
    del bm25

    with tempfile.TemporaryDirectory(prefix="chroma-", dir=home.parent) as folder:
        chroma, chroma_stats = build_chroma_peer_from_home(Path(folder), embedder, home)
        with closing(chroma):
            result["latency_ms"][chroma.name] = _milliseconds(
                latencies(chroma, query_texts, top_k)
            )
        result["build"][chroma.name] = _build_fields(chroma_stats)
    # chromadb's share of the model, beside the product's int8 query embedding.
    embedding = QueryEmbedding(embedder)
    result["latency_ms"][embedding.name] = _milliseconds(
        latencies(embedding, query_texts, top_k)
    )
    return result


def _milliseconds(seconds: Sequence[float]) -> dict[str, float]:
    values = np.array(seconds) * 1000
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "mean": float(values.mean())}


def _build_fields(stats: BuildStats) -> dict[str, Any]:
    return {**asdict(stats), "items_per_second": stats.items_per_second}


# Measuring ----------------------------------------------------------------------


def latencies(
    peer: Peer,
    query_texts: Sequence[str],
    top_k: int = TOP_K,
    warmup: int = WARMUP_QUERIES,
) -> list[float]:
    """Return the seconds each query took, one query at a time.

    The first `warmup` texts run once untimed first, so a lazy model load or a
    cold cache does not count as query time.
    """
    for text in query_texts[:warmup]:
        peer.search(text, top_k)
    seconds = []
    for text in query_texts:
        started = time.perf_counter()
        peer.search(text, top_k)
        seconds.append(time.perf_counter() - started)
    return seconds


class QueryEmbedding:
    """Embeds the query and ranks nothing: the model's share of a chromadb query."""

    name = "query embedding alone"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def search(
        self, text: str, top_k: int = TOP_K, exclude: Collection[str] = ()
    ) -> Ranking:
        """Embed the text and return no records."""
        self.embedder.embed([text])
        return []


def task1_quality(
    data_dir: Path, embedder: Embedder | None = None, bootstrap: int = BOOTSTRAP
) -> dict[str, dict[str, dict[str, Any]]]:
    """Score both peers on alert to runbook, with the alert name and text only.

    Returns, per task name and peer name, Recall@1, Recall@5 and MRR@10 as
    {"value", "ci_low", "ci_high", "n"} with a bootstrap 95% interval. Queries
    are sent as the baselines of evaluate_tasks.py send them: the parsed alert's
    query text, top 10, the query's exclude_ids never retrieved.
    """
    embedder = embedder or Embedder()
    with_name, text_only = tasks.alert_to_runbook(data_dir)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kb"
        KnowledgeBase(IndexerSettings(home=home), embedder=embedder).build(
            with_name.records
        )
        chroma, _ = build_chroma_peer_from_home(Path(folder) / "chroma", embedder, home)
        bm25, _ = build_bm25_peer_from_home(home)
        known = {record.id for record in with_name.records}

        with closing(chroma):
            for task in (with_name, text_only):
                queries = _labelled_queries(task, Path(folder) / "queries.jsonl")
                results[task.name] = {
                    peer.name: _retrieval_scores(peer, queries, known, bootstrap)
                    for peer in (chroma, bm25)
                }
    return results


def _labelled_queries(task: tasks.Task, path: Path) -> list[LabelledQuery]:
    path.write_text("".join(json.dumps(query) + "\n" for query in task.queries))
    return read_queries(path)


def _retrieval_scores(
    peer: Peer, queries: list[LabelledQuery], known: set[str], bootstrap: int
) -> dict[str, Any]:
    predictions = []
    for query in queries:
        hits = peer.search(query.to_alert().query_text(), TOP_K, query.exclude_ids)
        predictions.append(
            Prediction(
                query_id=query.id,
                ranked_ids=[record_id for record_id, _ in hits],
                scores=[value for _, value in hits],
                best_score=hits[0][1] if hits else 0.0,
                # BM25 scores have no fixed range, so no threshold applies to both.
                no_close_precedent=not hits,
            )
        )
    result = score(
        queries, predictions, DEFAULT_THRESHOLD, bootstrap=bootstrap, known_ids=known
    )
    return {name: result["retrieval"][name] for name in RETRIEVAL_METRICS}


# Command line -------------------------------------------------------------------


def build_sample_knowledge_base(home: Path) -> None:
    """Build data/knowledge into home with `indexer build`, as a user would."""
    command = [sys.executable, "-m", "indexer.cli", "build", str(SAMPLE_KNOWLEDGE)]
    environment = {**os.environ, "INCIDENT_HOME": str(home)}
    completed = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"indexer build of {SAMPLE_KNOWLEDGE} failed with exit status "
            f"{completed.returncode}: {completed.stderr.strip()}"
        )


def latency_queries(data_dir: Path) -> tuple[str, list[str]]:
    """Return a description and the query texts to time.

    These are the task 1 alerts, with and without the alert name, when the public
    data is there, else the titles of the sample records.
    """
    if data_dir.is_dir():
        texts = []
        with tempfile.TemporaryDirectory() as folder:
            for task in tasks.alert_to_runbook(data_dir):
                queries = _labelled_queries(task, Path(folder) / "queries.jsonl")
                texts += [query.to_alert().query_text() for query in queries]
        return "the task 1 alerts, with and without the alert name", texts
    records = read_sources([SAMPLE_KNOWLEDGE]).records
    return "the titles of the sample records", [record.title for record in records]


def format_quality(quality: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Return a Markdown table of task 1 quality, one row per task and peer."""
    lines = [
        "| Task | Peer | Recall@1 | Recall@5 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for task_name, by_peer in quality.items():
        for peer_name, metrics in by_peer.items():
            cells = [_format_estimate(metrics[name]) for name in RETRIEVAL_METRICS]
            lines.append(f"| {task_name} | {peer_name} | " + " | ".join(cells) + " |")
    return lines


def format_costs(rows: list[tuple[BuildStats, list[float]]]) -> list[str]:
    """Return a Markdown table of build costs and query latencies per peer."""
    lines = [
        "| Peer | Records | Items | Build s | Insert items/s | Peak RSS MiB "
        "| Query p50 ms | Query p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stats, seconds in rows:
        milliseconds = _milliseconds(seconds)
        lines.append(
            f"| {stats.peer} | {stats.records:,} | {stats.items:,} "
            f"| {stats.seconds:.2f} | {stats.items_per_second:,.0f} "
            f"| {stats.peak_rss_bytes / 2**20:,.0f} "
            f"| {milliseconds['p50']:.2f} | {milliseconds['p99']:.2f} |"
        )
    return lines


def _format_estimate(estimate: dict[str, Any]) -> str:
    if estimate.get("value") is None:
        return "n/a"
    if estimate.get("ci_low") is None:
        return f"{estimate['value']:.3f}"
    return (
        f"{estimate['value']:.3f} [{estimate['ci_low']:.2f}, {estimate['ci_high']:.2f}]"
    )


def main(argv: list[str] | None = None) -> int:
    """Print task 1 quality, then build costs and latencies on the sample data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="public data folder with the runbooks and kube-prometheus rules of "
        "task 1; without it only the latencies are measured",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP,
        help=f"bootstrap resamples per 95%% interval (default: {BOOTSTRAP})",
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        help="pickle file that keeps computed vectors between runs, such as "
        "/tmp/evaluation-vectors.pkl (default: no cache)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    embedder = (
        CachedEmbedder(args.embedding_cache) if args.embedding_cache else Embedder()
    )

    if args.data.is_dir():
        print("## Task 1: alert to runbook\n")
        quality = task1_quality(args.data, embedder, args.bootstrap)
        if isinstance(embedder, CachedEmbedder):
            embedder.save()
        print("\n".join(format_quality(quality)) + "\n")
    else:
        print(
            f"public data not found at {args.data}, so task 1 is skipped; pass "
            "--data FOLDER to run it",
            file=sys.stderr,
        )

    # Cached query vectors would leave the model out of the chromadb latency.
    if isinstance(embedder, CachedEmbedder):
        embedder = Embedder()
    description, texts = latency_queries(args.data)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kb"
        build_sample_knowledge_base(home)
        chroma, chroma_stats = build_chroma_peer_from_home(
            Path(folder) / "chroma", embedder, home
        )
        bm25, bm25_stats = build_bm25_peer_from_home(home)
        load = os.getloadavg()
        with closing(chroma):
            rows = [
                (chroma_stats, latencies(chroma, texts)),
                (bm25_stats, latencies(bm25, texts)),
            ]
        embedding = _milliseconds(latencies(QueryEmbedding(embedder), texts))

    print("## Sample knowledge base: build and query\n")
    print(
        f"{len(texts)} queries ({description}), one at a time, top {TOP_K}, after "
        f"{WARMUP_QUERIES} warm-up queries. Load average before the queries: "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores.\n"
    )
    print("\n".join(format_costs(rows)))
    print(
        f"\nOf a chromadb query, embedding the query text alone took "
        f"{embedding['p50']:.2f} ms (p50) and {embedding['p99']:.2f} ms (p99)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
