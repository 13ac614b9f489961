"""Time GET /v1/search on `recommender serve` over loopback, for A/B comparisons.

It starts the service of the checkout it runs from on a knowledge base made by
benchmarks.scale_data, sends the 200 alert-like queries of the scale benchmark
one at a time and prints the p50 and p99 in milliseconds as JSON. Running it from
two checkouts in turn compares two versions of the HTTP layer on one machine.

Usage: python -m benchmarks.served_search --home /work/bench/kb-100000
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from benchmarks import scale_queries
from benchmarks.reindex import load_samples
from indexer.embedding import Embedder

QUERIES = 200


def main() -> None:
    """Serve one knowledge base, time the searches and print the quantiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="knowledge base")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    queries = scale_queries.alert_queries(load_samples(Embedder()), QUERIES)
    run = scale_queries.served_latency(args.home, queries)
    print(
        json.dumps(
            {"p50_ms": round(run.latency.p50, 2), "p99_ms": round(run.latency.p99, 2)}
        )
    )


if __name__ == "__main__":
    main()
