"""Query embedding through sentence-transformers and through ONNX Runtime, side by side.

The product embeds alerts through ONNX Runtime (indexer/onnx_encoder.py) and
batches of passages through torch. This measures both choices on this machine:
one alert at a time, as a search embeds it, and passages in batches, as a build
embeds them, with the largest difference between the two runtimes' vectors.

    python -m benchmarks.query_runtimes --write
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.page import write_section
from benchmarks.reindex import load_samples, machine_description
from benchmarks.scale_queries import alert_queries, time_each
from indexer.embedding import Embedder
from indexer.onnx_encoder import OnnxEncoder
from indexer.passages import split_passages
from indexer.threads import set_threads

logger = logging.getLogger(__name__)

TITLE = "## Query embedding runtimes"
THREADS = (1, 2)


def measure(
    embedder: Embedder, queries: Sequence[str], passages: Sequence[str]
) -> dict[str, Any]:
    """Time both runtimes on single queries and on passage batches, per thread count."""
    import torch

    encoder = embedder.onnx_encoder()
    if encoder is None:
        raise SystemExit(
            "ONNX Runtime is not available (the log above gives the reason). "
            "Install onnxruntime and onnx."
        )
    model = embedder.model

    def torch_embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(
                texts, batch_size=embedder.batch_size, normalize_embeddings=True
            )
        )

    original = torch.get_num_threads()
    runs = []
    try:
        for threads in THREADS:
            set_threads(threads)
            single = {
                "sentence-transformers": time_each(queries, lambda q: torch_embed([q])),
                "ONNX Runtime": time_each(queries, lambda q: encoder.embed([q])),
            }
            batch = {
                "sentence-transformers": _rate(passages, torch_embed),
                "ONNX Runtime": _rate(passages, lambda t: _onnx_batches(encoder, t)),
            }
            runs.append(
                {
                    "threads": threads,
                    "single_ms": {
                        name: {"p50": latency.p50, "p99": latency.p99}
                        for name, latency in single.items()
                    },
                    "passages_per_second": batch,
                }
            )
    finally:
        set_threads(original)

    texts = list(queries) + list(passages)
    difference = np.abs(torch_embed(texts) - _onnx_batches(encoder, texts, 1))
    return {
        "queries": len(queries),
        "passages": len(passages),
        "batch_size": embedder.batch_size,
        "runs": runs,
        "max_difference": float(difference.max()),
        "machine": _machine(),
    }


def render(result: dict[str, Any]) -> str:
    """Return the page section for a measure() result."""
    lines = [
        TITLE,
        "",
        "The product embeds batches of passages through sentence-transformers, and "
        "an alert through ONNX Runtime from an export of all-MiniLM-L6-v2 made once "
        "per machine (indexer/onnx_encoder.py). Alerts go through an int8 copy of "
        'that export ("An int8 query embedding" under Scale). This section '
        "compares the float32 runtimes, with torch, FAISS and ONNX Runtime set to "
        "each thread count.",
        "",
        "Command: `python -m benchmarks.query_runtimes --write`.",
        "",
        f"Machine: {result['machine']}.",
        "",
        f"One query at a time: {result['queries']} alert-like queries (title and "
        "first symptom sentence of a sample record), after 10 untimed ones, "
        "milliseconds. Batches: the "
        f"{result['passages']} passages of the sample records, batch size "
        f"{result['batch_size']}, in the order given.",
        "",
        "| threads | runtime | one query p50 | one query p99 | passages/s in batches |",
        "|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        for name, single in run["single_ms"].items():
            lines.append(
                f"| {run['threads']} | {name} | {single['p50']:.1f} | "
                f"{single['p99']:.1f} | {run['passages_per_second'][name]:.1f} |"
            )
    lines += [
        "",
        "The largest difference of one vector component between the two runtimes, "
        "over every query and passage, each embedded alone through ONNX Runtime and "
        f"in batches through sentence-transformers: {result['max_difference']:.1e}.",
        "",
    ]
    return "\n".join(lines)


def _rate(texts: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> float:
    embed(list(texts[:64]))
    started = time.perf_counter()
    embed(list(texts))
    return len(texts) / (time.perf_counter() - started)


def _onnx_batches(
    encoder: OnnxEncoder, texts: Sequence[str], size: int = 64
) -> np.ndarray:
    return np.vstack(
        [encoder.embed(list(texts[i : i + size])) for i in range(0, len(texts), size)]
    )


def _machine() -> str:
    import onnxruntime

    return f"{machine_description()}, onnxruntime {onnxruntime.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--write", action="store_true", help="update docs/BENCHMARKS.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    embedder = Embedder()
    samples = load_samples(embedder)
    queries = alert_queries(samples, args.queries)
    passages = [
        passage.text
        for record in samples.records
        for passage in split_passages(record, samples.boilerplate)
    ]
    section = render(measure(embedder, queries, passages))
    print(section)
    if args.write:
        write_section(TITLE, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
