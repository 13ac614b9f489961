"""Recall, speed and memory of the vector index types, against exact search.

measure_recall() is the measurement: it compares a VectorIndex with exact inner
product search over the same vectors, read as a stream of batches, so the vectors
never have to fit in memory at once. Recall@10 is reported two ways: the index's
own top 10, and the top 10 after scoring the index's top 200 exactly, which is
what retrieval does with the stored vectors.

Run as a script, it measures synthetic knowledge bases. The passages of
data/knowledge are embedded once with the real model. Stored passage i is a copy
of sample passage i mod P, where P is the number of sample passages, plus Gaussian
noise (sigma 0.02 per dimension), L2-normalised again, as benchmarks.reindex makes
its synthetic vectors. Queries
are other noisy copies. Vectors are generated in chunks from fixed seeds, so every
pass over them yields the same vectors and no pass keeps them all in memory.

Usage: python -m benchmarks.index_recall [--sizes 670000,6700000]
       [--encodings SQ4,SQ8] [--nprobes 8,16,32,64] [--flat-sizes 10000,100000]
       [--rebuild-records 100000]
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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from benchmarks.reindex import (
    INSERT_BATCH,
    NOISE_SIGMA,
    SAMPLES,
    _insert_batch,
    load_samples,
    machine_description,
)
from indexer.database import Database
from indexer.embedding import DEFAULT_MODEL, Embedder
from indexer.passages import find_boilerplate, split_passages
from indexer.readers import read_sources
from indexer.settings import IndexerSettings
from indexer.vector_index import (
    IVF_NPROBE,
    IndexPlan,
    VectorIndex,
    plan_index,
)
from indexer.vector_store import VectorStore

logger = logging.getLogger("benchmarks.index_recall")

RECALL_K = 10
RESCORE_K = 200
CHUNK = 100_000
QUERIES = 1_000
TIMED_QUERIES = 200
SEED = 7

Batches = Iterable[tuple[np.ndarray, np.ndarray]]


@dataclass
class Recall:
    """Recall@k of an index against exact search, averaged over the queries.

    Attributes:
        own: Share of the exact top k found in the index's own top k.
        rescored: Share of the exact top k found after scoring the index's top
            `rescore_k` exactly and keeping the best k.
    """

    own: float
    rescored: float
    k: int = RECALL_K
    rescore_k: int = RESCORE_K


def measure_recall(
    index: VectorIndex,
    queries: np.ndarray,
    batches: Batches,
    k: int = RECALL_K,
    rescore_k: int = RESCORE_K,
) -> Recall:
    """Measure recall@k of `index` against exact search over the same vectors.

    Args:
        index: The index to measure, holding exactly the vectors of `batches`.
        queries: Query vectors, one per row, L2-normalised.
        batches: (passage ids, vectors) pairs covering every stored vector once,
            such as Database.iter_vectors(). They are read once.
        k: Size of the top lists compared.
        rescore_k: How many of the index's results are scored exactly.
    """
    return measure_recall_by_nprobe(index, queries, batches, [None], k, rescore_k)[0]


def measure_recall_by_nprobe(
    index: VectorIndex,
    queries: np.ndarray,
    batches: Batches,
    nprobes: Sequence[int | None],
    k: int = RECALL_K,
    rescore_k: int = RESCORE_K,
) -> list[Recall]:
    """Measure recall for each nprobe with one pass over the vectors.

    None keeps the index's nprobe, and so does a flat index. The index's nprobe
    is restored afterwards.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    candidates = [_search_ids(index, queries, rescore_k, n) for n in nprobes]
    exact_ids, exact_scores = _exact_scores(queries, batches, k, candidates)

    results = []
    for found, scores in zip(candidates, exact_scores, strict=True):
        own = _overlap(found[:, :k], exact_ids, k)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        rescored = np.take_along_axis(found, order, axis=1)
        results.append(Recall(own, _overlap(rescored, exact_ids, k), k, rescore_k))
    return results


def _search_ids(
    index: VectorIndex, queries: np.ndarray, k: int, nprobe: int | None
) -> np.ndarray:
    """Return the index's top k passage ids per query, -1 where it found fewer."""
    if nprobe is None or isinstance(index.index, faiss.IndexIDMap2):
        return index.index.search(queries, k)[1]

    ivf = faiss.extract_index_ivf(index.index)
    saved = ivf.nprobe
    ivf.nprobe = nprobe
    try:
        return index.index.search(queries, k)[1]
    finally:
        ivf.nprobe = saved


def _exact_scores(
    queries: np.ndarray,
    batches: Batches,
    k: int,
    candidates: list[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return the exact top k ids per query, and exact scores of the candidates.

    A candidate id that is not among the stored vectors (the padding id -1)
    scores minus infinity.
    """
    count = len(queries)
    best_ids = np.full((count, k), -1, dtype=np.int64)
    best_scores = np.full((count, k), -np.inf, dtype=np.float32)
    candidate_scores = [np.full(c.shape, -np.inf, dtype=np.float32) for c in candidates]

    for ids, vectors in batches:
        order = np.argsort(ids)
        ids = ids[order]
        vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        scores = queries @ vectors.T

        # Merge this batch's top k into the running top k.
        top = min(k, len(ids))
        positions = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        merged_ids = np.hstack([best_ids, ids[positions]])
        merged_scores = np.hstack(
            [best_scores, np.take_along_axis(scores, positions, axis=1)]
        )
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_ids = np.take_along_axis(merged_ids, keep, axis=1)
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)

        # Score the candidates that are in this batch.
        for found, exact in zip(candidates, candidate_scores, strict=True):
            where = np.searchsorted(ids, found).clip(max=len(ids) - 1)
            present = ids[where] == found
            rows = np.nonzero(present)[0]
            exact[present] = scores[rows, where[present]]
    return best_ids, candidate_scores


def _overlap(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Return the mean share of each row of `exact` that is in the row of `found`."""
    hits = [
        len(set(found_row.tolist()) & set(exact_row.tolist()) - {-1})
        for found_row, exact_row in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits)) / k


# Synthetic vectors ---------------------------------------------------------


def sample_vectors(embedder: Embedder) -> np.ndarray:
    """Embed the passages of the sample knowledge base, one row per passage."""
    records = read_sources([SAMPLES]).records
    boilerplate = find_boilerplate(records)
    texts = [
        passage.text
        for record in records
        for passage in split_passages(record, boilerplate)
    ]
    return embedder.embed(texts).astype(np.float32)


def noisy_copies(base: np.ndarray, rows: np.ndarray, seed: Sequence[int]) -> np.ndarray:
    """Return base[rows] plus Gaussian noise, L2-normalised, from a fixed seed."""
    rng = np.random.default_rng(list(seed))
    vectors = rng.standard_normal((len(rows), base.shape[1]), dtype=np.float32)
    vectors *= NOISE_SIGMA
    vectors += base[rows]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def synthetic_batches(
    base: np.ndarray, size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `size` stored vectors in chunks: passage i copies row i mod len(base)."""
    for first in range(0, size, CHUNK):
        ids = np.arange(first, min(size, first + CHUNK), dtype=np.int64)
        yield ids, noisy_copies(base, ids % len(base), (SEED, first))


def synthetic_queries(base: np.ndarray, count: int) -> np.ndarray:
    """Return query vectors: noisy copies of random sample passages."""
    rng = np.random.default_rng(SEED)
    rows = rng.integers(0, len(base), size=count)
    return noisy_copies(base, rows, (SEED, 2**40))


def training_sample(base: np.ndarray, size: int, count: int) -> np.ndarray:
    """Return `count` stored vectors chosen at random, in one pass over them."""
    rng = np.random.default_rng(SEED + 1)
    chosen = np.sort(rng.choice(size, size=min(count, size), replace=False))
    parts = []
    for ids, vectors in synthetic_batches(base, size):
        inside = chosen[(chosen >= ids[0]) & (chosen <= ids[-1])]
        parts.append(vectors[inside - ids[0]])
    return np.concatenate(parts)


# Measurements ----------------------------------------------------------------


@dataclass
class SearchTime:
    """Milliseconds per single-query search of the top 200: median, 95th percentile."""

    threads: int
    median_ms: float
    p95_ms: float


@dataclass
class IndexResult:
    """Cost and recall of one index type at one size."""

    size: int
    index_type: str
    bytes_per_vector: float
    file_bytes: int
    train_seconds: float = 0.0
    add_seconds: float = 0.0
    load_seconds: float = 0.0
    nprobe_after_load: int = 0
    serving_rss_mib: float = 0.0
    times: dict[str, list[SearchTime]] = field(default_factory=dict)
    recall: dict[str, Recall] = field(default_factory=dict)


def time_searches(index: VectorIndex, queries: np.ndarray) -> list[SearchTime]:
    """Time single-query searches of the top 200 with one thread and the default."""
    results = []
    default_threads = faiss.omp_get_max_threads()
    for threads in sorted({1, default_threads}):
        faiss.omp_set_num_threads(threads)
        try:
            for query in queries[:10]:
                index.search(query, RESCORE_K)
            seconds = []
            for query in queries[:TIMED_QUERIES]:
                started = time.perf_counter()
                index.search(query, RESCORE_K)
                seconds.append(time.perf_counter() - started)
        finally:
            faiss.omp_set_num_threads(default_threads)
        milliseconds = 1000 * np.array(seconds)
        results.append(
            SearchTime(
                threads,
                float(np.median(milliseconds)),
                float(np.percentile(milliseconds, 95)),
            )
        )
    return results


def measure_flat(
    base: np.ndarray, size: int, queries: np.ndarray, work: Path
) -> IndexResult:
    """Build the exact index of `size` vectors and time its searches."""
    index = VectorIndex.create(base.shape[1], DEFAULT_MODEL)
    started = time.perf_counter()
    for ids, vectors in synthetic_batches(base, size):
        index.add(ids, vectors)
    add_seconds = time.perf_counter() - started
    times = time_searches(index, queries)
    file_bytes = _saved_size(index, work / f"flat-{size}.faiss")
    result = IndexResult(
        size=size,
        index_type=index.info.index_type,
        bytes_per_vector=file_bytes / size,
        file_bytes=file_bytes,
        add_seconds=add_seconds,
        times={"exact": times},
    )
    logger.info("flat %d: %s", size, json.dumps(asdict(result)))
    return result


def measure_ivf(
    base: np.ndarray,
    size: int,
    encoding: str,
    nprobes: Sequence[int],
    queries: np.ndarray,
    work: Path,
    probe_serving: bool,
) -> IndexResult:
    """Train and fill an IVF index of `size` vectors, then measure it."""
    chosen = plan_index(size)
    plan = IndexPlan(
        f"IVF{chosen.nlist},{encoding}", chosen.nlist, chosen.training_size
    )
    training = training_sample(base, size, plan.training_size)

    started = time.perf_counter()
    index = VectorIndex.create(base.shape[1], DEFAULT_MODEL, size, training, plan)
    train_seconds = time.perf_counter() - started
    del training

    started = time.perf_counter()
    for ids, vectors in synthetic_batches(base, size):
        index.add(ids, vectors)
    add_seconds = time.perf_counter() - started
    logger.info(
        "%s: trained in %.0f s, added in %.0f s",
        plan.index_type,
        train_seconds,
        add_seconds,
    )

    # Save and load again, as a serving process gets it.
    path = work / f"{plan.index_type.replace(',', '-')}-{size}.faiss"
    file_bytes = _saved_size(index, path)
    del index
    started = time.perf_counter()
    index = VectorIndex.load(path)
    load_seconds = time.perf_counter() - started
    nprobe_after_load = faiss.extract_index_ivf(index.index).nprobe

    result = IndexResult(
        size=size,
        index_type=plan.index_type,
        bytes_per_vector=file_bytes / size,
        file_bytes=file_bytes,
        train_seconds=train_seconds,
        add_seconds=add_seconds,
        load_seconds=load_seconds,
        nprobe_after_load=nprobe_after_load,
    )
    recalls = measure_recall_by_nprobe(
        index, queries, synthetic_batches(base, size), nprobes
    )
    ivf = faiss.extract_index_ivf(index.index)
    for nprobe, recall in zip(nprobes, recalls, strict=True):
        ivf.nprobe = nprobe
        result.recall[str(nprobe)] = recall
        result.times[str(nprobe)] = time_searches(index, queries)
    ivf.nprobe = IVF_NPROBE
    if probe_serving:
        del index
        result.serving_rss_mib = serving_rss_mib(path)
    logger.info("%s %d: %s", plan.index_type, size, json.dumps(asdict(result)))
    path.unlink()
    return result


def _saved_size(index: VectorIndex, path: Path) -> int:
    index.save(path)
    return path.stat().st_size


def serving_rss_mib(path: Path) -> float:
    """Return the peak RSS of a process that loads the model and this index.

    The process embeds one alert text and searches the index with it, as the
    API does for each alert.
    """
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.index_recall", "--probe-serving", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1_800,
    ).stdout
    return float(json.loads(output.strip().splitlines()[-1])["peak_rss_mib"])


def probe_serving(path: Path) -> int:
    """Load the model and the index, search once, and print the peak RSS."""
    embedder = Embedder(DEFAULT_MODEL)
    vector = embedder.embed(["orders-db replica is 20 minutes behind the primary"])[0]
    index = VectorIndex.load(path)
    hits = index.search(vector, RESCORE_K)
    print(json.dumps({"peak_rss_mib": peak_rss_kib() / 1024, "hits": len(hits)}))
    return 0


def measure_rebuild(records: int, work: Path) -> dict[str, float | str]:
    """Insert `records` synthetic records, then time VectorStore.rebuild alone.

    The records are those of benchmarks.reindex. The rebuild runs in its own
    process, which loads no model, so its peak RSS is the rebuild's own.
    """
    samples = load_samples(Embedder(DEFAULT_MODEL))
    settings = IndexerSettings(home=work / f"kb-{records}")
    database = Database(settings.resolved_database_url)
    database.set_meta("model", settings.model)
    database.set_meta("dimension", len(samples.vectors[0]["title"][0]))
    started = time.perf_counter()
    for first in range(0, records, INSERT_BATCH):
        _insert_batch(
            database, range(first, min(records, first + INSERT_BATCH)), samples
        )
    logger.info("inserted %d records in %.0f s", records, time.perf_counter() - started)

    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.index_recall",
            "--probe-rebuild",
            str(settings.home),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=7_200,
    ).stdout
    result: dict[str, float | str] = json.loads(output.strip().splitlines()[-1])
    logger.info("rebuild of %d records: %s", records, json.dumps(result))
    return result


def probe_rebuild(home: Path) -> int:
    """Rebuild the vector index of a knowledge base and print time and peak RSS."""
    settings = IndexerSettings(home=home)
    database = Database(settings.resolved_database_url)
    dimension = int(str(database.get_meta("dimension")))
    store = VectorStore(database, settings, lambda: dimension)
    started = time.perf_counter()
    index = store.rebuild()
    result = {
        "passages": index.size,
        "index_type": index.info.index_type,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_kib() / 1024,
        "file_bytes": settings.index_path.stat().st_size,
    }
    print(json.dumps(result))
    return 0


def peak_rss_kib() -> int:
    """Return this process's peak RSS in KiB, from VmHWM in /proc/self/status.

    getrusage() is no use in a child process: Linux carries the parent's peak RSS
    at fork over into the child's ru_maxrss, across exec.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM is missing from /proc/self/status")


# Report ----------------------------------------------------------------------


def report(results: list[IndexResult]) -> list[str]:
    """Return Markdown tables of the results."""
    lines = [
        "| Passages | Index type | nprobe | Bytes/vector | Index file | Train | Add | "
        "Load | Search, 1 thread | Search, 2 threads | Recall@10 own | "
        "Recall@10 rescored | Serving peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for key, times in result.times.items():
            recall = result.recall.get(key)
            by_threads = {t.threads: t for t in times}
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{result.size:,}",
                        result.index_type,
                        "-" if key == "exact" else key,
                        f"{result.bytes_per_vector:,.0f}",
                        f"{result.file_bytes / 1e6:,.0f} MB",
                        f"{result.train_seconds:.0f} s"
                        if result.train_seconds
                        else "-",
                        f"{result.add_seconds:.0f} s",
                        f"{result.load_seconds:.1f} s" if result.load_seconds else "-",
                        _time(by_threads.get(1)),
                        _time(by_threads.get(2)),
                        f"{recall.own:.3f}" if recall else "1 (exact)",
                        f"{recall.rescored:.3f}" if recall else "1 (exact)",
                        f"{result.serving_rss_mib:,.0f} MiB"
                        if result.serving_rss_mib
                        else "-",
                    ]
                )
                + " |"
            )
    return lines


def _time(value: SearchTime | None) -> str:
    if value is None:
        return "-"
    return f"{value.median_ms:.2f} / {value.p95_ms:.2f} ms"


def _numbers(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_numbers,
        default=[670_000, 6_700_000],
        help="passage counts of the IVF indexes, comma-separated",
    )
    parser.add_argument(
        "--encodings",
        default="SQ4",
        help="FAISS vector encodings to compare, such as SQ4,SQ8",
    )
    parser.add_argument(
        "--encoding-sizes",
        type=_numbers,
        default=[670_000],
        help="sizes at which every encoding is measured; the "
        "others use only the first encoding",
    )
    parser.add_argument(
        "--nprobes",
        type=_numbers,
        default=[8, 16, 32, 64],
        help="nprobe values to measure each IVF index with, comma-separated",
    )
    parser.add_argument(
        "--flat-sizes",
        type=_numbers,
        default=[10_000, 30_000, 50_000, 100_000, 670_000, 2_000_000],
        help="passage counts at which exact search is timed",
    )
    parser.add_argument(
        "--queries", type=int, default=QUERIES, help="number of query vectors"
    )
    parser.add_argument(
        "--work-dir",
        # Absolute, because child processes run in the repository.
        type=lambda value: Path(value).absolute(),
        default=None,
        help="folder for index files (default: a temporary one)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file for the results"
    )
    parser.add_argument(
        "--rebuild-records",
        type=int,
        default=0,
        help="also time VectorStore.rebuild of this many synthetic records",
    )
    parser.add_argument(
        "--probe-serving", type=Path, default=None, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--probe-rebuild", type=Path, default=None, help=argparse.SUPPRESS
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure exact search times, then IVF recall, speed and memory."""
    args = _parser().parse_args(argv)
    if args.probe_serving is not None:
        return probe_serving(args.probe_serving)
    if args.probe_rebuild is not None:
        return probe_rebuild(args.probe_rebuild)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logger.info("machine: %s; load average %s", machine_description(), os.getloadavg())

    started = time.perf_counter()
    base = sample_vectors(Embedder(DEFAULT_MODEL))
    logger.info(
        "embedded %d sample passages in %.1f s",
        len(base),
        time.perf_counter() - started,
    )
    queries = synthetic_queries(base, args.queries)
    encodings = [e.strip() for e in args.encodings.split(",") if e.strip()]

    results: list[IndexResult] = []
    with tempfile.TemporaryDirectory(dir=args.work_dir) as folder:
        work = Path(folder)
        for size in args.flat_sizes:
            results.append(measure_flat(base, size, queries, work))
        for size in args.sizes:
            names = encodings if size in args.encoding_sizes else encodings[:1]
            for encoding in names:
                results.append(
                    measure_ivf(
                        base,
                        size,
                        encoding,
                        args.nprobes,
                        queries,
                        work,
                        probe_serving=encoding == encodings[0],
                    )
                )
                if args.output:
                    args.output.write_text(
                        json.dumps([asdict(r) for r in results], indent=1)
                    )
        if args.rebuild_records:
            rebuild = measure_rebuild(args.rebuild_records, work)
            print(f"rebuild of {args.rebuild_records:,} records: {json.dumps(rebuild)}")
    print("\n".join(report(results)))
    logger.info("peak RSS of the benchmark: %.0f MiB", peak_rss_kib() / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
