"""Scale benchmark: build, latency, recall and memory at 10k, 100k and 1M records.

Each figure is set beside its floor, measured in the same run on the same machine:

- Build throughput against raw `SentenceTransformer.encode` of the same passage
  texts. Embedding a million records takes days on two cores, so this is measured
  on a sample of BUILD_SAMPLE new records, built from scratch and added in place
  to each synthetic knowledge base.
- Search latency (p50, p99) in this process and over HTTP against one query
  embedding plus one search of the product's FAISS index.
- Recall@10 of the product's index against exact search over the same vectors.
- Peak memory of the index rebuild and of the serving process.
- The same queries through chromadb and BM25 alone, when the `bench` extra is
  installed (benchmarks/peers.py), up to --peers-up-to records.

The knowledge bases are synthetic (benchmarks/scale_data.py) and kept in
--work-dir, so a second run skips the hour of inserting a million records.

Usage: python -m benchmarks.scale --work-dir DIR [--sizes 10000,100000,1000000]
       [--queries 200] [--build-sample 500] [--embedding-cache FILE]
       [--peers-up-to 100000] [--write]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import peers, scale_data, scale_queries, tasks
from benchmarks.embedding_cache import CachedEmbedder
from benchmarks.evaluate_tasks import run_task
from benchmarks.index_recall import measure_recall as measure_index_recall
from benchmarks.reindex import (
    REPO,
    Samples,
    code_version,
    load_samples,
    machine_description,
    run_measured,
    synthetic_record,
)
from benchmarks.scale_data import prepare
from benchmarks.scale_quantized import measure_quantized
from benchmarks.scale_threads import measure_threads
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.passages import find_boilerplate, split_passages
from indexer.record import IncidentRecord
from indexer.settings import IndexerSettings
from indexer.threads import set_threads
from recommender.alerts import alert_from_text
from recommender.recommendation import Recommender
from recommender.settings import ServiceSettings

logger = logging.getLogger("benchmarks.scale")

BUILD_SAMPLE = 500
# Synthetic numbers of the build sample, far from those of the knowledge bases.
BUILD_FIRST_NUMBER = 50_000_000
REBUILD_TIMEOUT_SECONDS = 7_200
PEERS_UP_TO = 100_000


@dataclass
class BuildRun:
    """Build throughput of the product and of raw encoding, on the same texts."""

    records: int
    passages: int
    encode_seconds: float
    build_seconds: float
    threads: int


@dataclass
class SizeRun:
    """Everything measured on one synthetic knowledge base."""

    records: int
    passages: int
    insert_seconds: float
    index_type: str = ""
    index_bytes: int = 0
    rebuild_seconds: float = 0.0
    rebuild_peak_rss_mib: float = 0.0
    threads: int = 0
    peer_threads: int = 0
    breakdown_ms: dict[str, float] = field(default_factory=dict)
    add_records: int = 0
    add_seconds: float = 0.0
    add_encode_seconds: float = 0.0
    add_passages: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    first_recommendation_seconds: float = 0.0
    ready_seconds: float = 0.0
    serve_peak_rss_mib: float = 0.0
    recall: dict[str, float] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)


def sample_records(samples: Samples, count: int, first: int) -> list[IncidentRecord]:
    """Return count new synthetic records, numbered from first."""
    rng = random.Random(first)
    return [
        synthetic_record(samples.records[n % len(samples.records)], n, rng)
        for n in range(first, first + count)
    ]


def passage_texts(
    records: list[IncidentRecord], boilerplate: frozenset[str]
) -> list[str]:
    """Return the passage texts the product embeds for these records."""
    return [p.text for r in records for p in split_passages(r, boilerplate)]


def raw_encode_seconds(embedder: Embedder, texts: list[str]) -> float:
    """Time SentenceTransformer.encode alone on texts, with the product's batch size."""
    started = time.perf_counter()
    embedder.model.encode(
        texts,
        batch_size=embedder.batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return time.perf_counter() - started


def measure_build(samples: Samples, embedder: Embedder, count: int) -> BuildRun:
    """Build a fresh knowledge base from a sample, between two raw encodes of it."""
    import torch

    records = sample_records(samples, count, BUILD_FIRST_NUMBER)
    texts = passage_texts(records, find_boilerplate(records))
    embedder.embed(texts[:64])

    before = raw_encode_seconds(embedder, texts)
    with tempfile.TemporaryDirectory(prefix="scale-build-") as home:
        knowledge_base = KnowledgeBase(
            IndexerSettings(home=Path(home)), embedder=embedder
        )
        summary = knowledge_base.build(records)
        knowledge_base.database.engine.dispose()
    after = raw_encode_seconds(embedder, texts)
    return BuildRun(
        records=len(records),
        passages=summary.passages,
        encode_seconds=(before + after) / 2,
        build_seconds=summary.seconds,
        threads=torch.get_num_threads(),
    )


def measure_rebuild(run: SizeRun, home: Path) -> None:
    """Rebuild the vector index in its own process, under GNU time."""
    process = run_measured(
        [sys.executable, "-m", "benchmarks.scale", "rebuild", str(home)],
        REBUILD_TIMEOUT_SECONDS,
    )
    result = json.loads(process.stdout.strip().splitlines()[-1])
    run.index_type = result["index_type"]
    run.index_bytes = result["index_bytes"]
    run.rebuild_seconds = result["seconds"]
    run.rebuild_peak_rss_mib = process.peak_rss_mib


def rebuild_main(home: Path) -> int:
    """Rebuild one knowledge base's index and print what it took, as JSON."""
    settings = IndexerSettings(home=home)
    knowledge_base = KnowledgeBase(settings)
    started = time.perf_counter()
    index = knowledge_base.vectors.rebuild()
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 1),
                "index_type": index.info.index_type,
                "index_bytes": settings.index_path.stat().st_size,
                "vectors": index.size,
            }
        )
    )
    return 0


def measure_size(
    work: Path,
    size: int,
    samples: Samples,
    embedder: Embedder,
    queries: list[str],
    add_count: int,
    peers_up_to: int = PEERS_UP_TO,
) -> SizeRun:
    """Run every measurement on the synthetic knowledge base of this size."""
    import torch

    build_threads = torch.get_num_threads()
    synthetic = prepare(work, size, samples)
    home = Path(synthetic.home)
    run = SizeRun(size, synthetic.passages, synthetic.insert_seconds)
    logger.info("size %d: rebuilding the vector index", size)
    measure_rebuild(run, home)

    settings = IndexerSettings(home=home)
    knowledge_base = KnowledgeBase(settings, embedder=embedder, create=False)
    recommender = Recommender(knowledge_base)
    serving_threads = scale_queries.prepare_as_served(recommender)
    run.threads = serving_threads
    logger.info("size %d: in-process latency, %d threads", size, serving_threads)
    floor = scale_queries.floor_latency(knowledge_base, queries)
    float32_floor = scale_queries.float32_floor_latency(knowledge_base, queries)
    torch_floor = scale_queries.torch_floor_latency(knowledge_base, embedder, queries)
    search = scale_queries.search_latency(recommender, queries)
    started = time.perf_counter()
    recommender.recommend(alert_from_text(queries[0]))
    run.first_recommendation_seconds = time.perf_counter() - started
    # recommender serve freezes the objects it loaded once its classifiers are fitted.
    gc.collect()
    gc.freeze()
    recommend = scale_queries.recommend_latency(recommender, queries)
    run.breakdown_ms = scale_queries.search_breakdown(
        knowledge_base, recommender, queries
    )

    logger.info("size %d: latency over HTTP", size)
    served = scale_queries.served_latency(home, queries)
    run.ready_seconds = served.ready_seconds
    run.serve_peak_rss_mib = served.peak_rss_mib
    run.latency_ms = {
        name: {"p50": latency.p50, "p99": latency.p99}
        for name, latency in (
            ("floor", floor),
            ("floor_float32", float32_floor),
            ("floor_torch", torch_floor),
            ("search", search),
            ("recommend", recommend),
            ("http_search", served.latency),
        )
        if latency is not None
    }

    logger.info("size %d: recall of the index", size)
    vectors = np.stack([knowledge_base.embed_query(q) for q in queries])
    run.recall = measure_recall(knowledge_base, vectors)
    if size <= peers_up_to:
        logger.info("size %d: peers", size)
        run.peers = measure_peers(home, queries, embedder)
        run.peer_threads = serving_threads
    else:
        # chromadb inserted about 1,900 passages/s at 100k, so a collection of
        # 6.7 million passages would take about an hour to build.
        run.peers = {"skipped": f"not run above {peers_up_to:,} records"}

    set_threads(build_threads)
    logger.info("size %d: in-place add", size)
    records = sample_records(samples, add_count, BUILD_FIRST_NUMBER + size)
    texts = passage_texts(records, samples.boilerplate)
    # Like the build, the add is timed between two raw encodes: three raw
    # encodes of the same texts took 4.6 to 11.8 s on a shared machine.
    before = raw_encode_seconds(embedder, texts)
    summary = knowledge_base.add(records)
    after = raw_encode_seconds(embedder, texts)
    run.add_encode_seconds = (before + after) / 2
    run.add_seconds = summary.seconds
    run.add_passages = summary.passages
    run.add_records = len(records)
    knowledge_base.remove([r.id for r in records])
    knowledge_base.database.engine.dispose()
    # So that this size's objects can be collected while the next one runs.
    gc.unfreeze()
    return run


def measure_quantized_at_serving_threads(
    embedder: Embedder, queries: list[str], samples: Samples
) -> dict[str, Any]:
    """Compare the int8 query embedding with the threads `recommender serve` uses.

    The ranking is compared over the sample records, each with every passage.
    """
    import torch

    records = [np.vstack(list(vectors.values())) for vectors in samples.vectors]
    original = torch.get_num_threads()
    set_threads(ServiceSettings().threads or 1)
    try:
        return measure_quantized(embedder, queries, records)
    finally:
        set_threads(original)


def measure_recall(
    knowledge_base: KnowledgeBase, queries: np.ndarray
) -> dict[str, float]:
    """Return recall@10 of the index against exact search over the stored vectors."""
    recall = measure_index_recall(
        knowledge_base.vector_index(), queries, knowledge_base.database.iter_vectors()
    )
    return {
        "index's own top 10": recall.own,
        f"top 10 after exact rescoring of the index's top {recall.rescore_k}": (
            recall.rescored
        ),
    }


def measure_peers(home: Path, queries: list[str], embedder: Embedder) -> dict[str, Any]:
    """Run the queries through chromadb and BM25, when the bench extra is installed."""
    return peers.measure_peers(home, queries, embedder)


def measure_task1(data: Path, embedder: Embedder) -> dict[str, dict[str, Any]]:
    """Score the product and both peers on alert to runbook, in this run."""
    result = peers.task1_quality(data, embedder)
    for task in tasks.alert_to_runbook(data):
        summary = run_task(task, embedder)["product"]["retrieval"]
        result[task.name]["product"] = {
            name: summary[name] for name in peers.RETRIEVAL_METRICS
        }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the scale benchmark and print or write the results."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["rebuild"]:
        return rebuild_main(Path(arguments[1]))

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument(
        "--sizes",
        type=scale_data.parse_sizes,
        default=scale_data.parse_sizes("10000,100000,1000000"),
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="public evaluation data, for task 1 quality (default ../shared/data)",
    )
    parser.add_argument(
        "--build-sample",
        type=int,
        default=BUILD_SAMPLE,
        help=f"records built and added per measurement (default {BUILD_SAMPLE})",
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        help="pickle file of task 1 vectors, reused by later runs (quality only)",
    )
    parser.add_argument(
        "--peers-up-to",
        type=int,
        default=PEERS_UP_TO,
        help=f"largest size the peers are built for (default {PEERS_UP_TO:,})",
    )
    parser.add_argument("--write", action="store_true", help="update the page")
    args = parser.parse_args(arguments)
    # Checked before the first measurement, which takes minutes.
    for name in ("queries", "build_sample"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.peers_up_to < 0:
        parser.error("--peers-up-to must be 0 or more")
    folders = [("--work-dir", args.work_dir)]
    if args.embedding_cache is not None:
        folders.append(("--embedding-cache", args.embedding_cache.parent))
    for option, folder in folders:
        blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            parser.error(f"{option} {folder}: {blocking} is a file; give a folder")
    needed = [*tasks.RUNBOOK_FOLDERS, tasks.RULES_GLOB.split("/")[0]]
    missing = [name for name in needed if not (args.data / name).is_dir()]
    if missing:
        parser.error(
            f"public data not found at {args.data} (no {', '.join(missing)}); "
            "pass --data FOLDER"
        )
    args.work_dir = args.work_dir.absolute()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    started = time.perf_counter()
    load = os.getloadavg()
    embedder = Embedder()
    samples = load_samples(embedder)
    queries = scale_queries.alert_queries(samples, args.queries)
    logger.info("task 1 quality of the product and the peers")
    quality_embedder = (
        CachedEmbedder(args.embedding_cache) if args.embedding_cache else embedder
    )
    task1 = measure_task1(args.data, quality_embedder)
    if isinstance(quality_embedder, CachedEmbedder):
        quality_embedder.save()
    threads = measure_threads(embedder, queries)
    logger.info("threads: %s", threads)
    quantized = measure_quantized_at_serving_threads(embedder, queries, samples)
    logger.info("quantized query embedding: %s", quantized)
    build = measure_build(samples, embedder, args.build_sample)
    logger.info("build: %s", build)
    runs = []
    for size in args.sizes:
        runs.append(
            measure_size(
                args.work_dir,
                size,
                samples,
                embedder,
                queries,
                args.build_sample,
                args.peers_up_to,
            )
        )
        logger.info("size %d: %s", size, runs[-1])

    result = {
        "machine": machine_description(),
        "code": code_version(),
        "command": "python -m benchmarks.scale " + " ".join(arguments),
        "load_average": load,
        "minutes": (time.perf_counter() - started) / 60,
        "queries": len(queries),
        "task1": task1,
        "threads": threads,
        "quantized": quantized,
        "build": asdict(build),
        "sizes": [asdict(run) for run in runs],
    }
    output = args.work_dir / "scale-result.json"
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if args.write:
        from benchmarks.scale_report import write_report

        write_report(result)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        # A killed insert resumes on the next run, so there is nothing to undo.
        print("interrupted; run the same command again to resume", file=sys.stderr)
        raise SystemExit(130) from None
