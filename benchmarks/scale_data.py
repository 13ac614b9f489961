"""Synthetic knowledge bases of 10k, 100k and 1M records for the scale benchmark.

Records and vectors come from benchmarks.reindex. Synthetic record n is sample
record n mod 74 with a new id, another service, shifted dates and swapped
sentences. Its passage vectors are the sample's real vectors plus Gaussian noise.

A knowledge base is kept in WORK/kb-SIZE and reused by later runs, because
inserting a million records took 56 minutes on two quiet cores. A marker file,
written after the last insert, marks it complete.

Usage: python -m benchmarks.scale_data --work-dir DIR --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.reindex import INSERT_BATCH, Samples, _insert_batch, load_samples
from indexer.database import Database
from indexer.embedding import Embedder
from indexer.settings import IndexerSettings

logger = logging.getLogger("benchmarks.scale_data")

MARKER = "synthetic.json"


@dataclass(frozen=True)
class SyntheticKnowledgeBase:
    """The folder of a synthetic knowledge base, its size and its insert time."""

    home: str
    records: int
    passages: int
    insert_seconds: float


def knowledge_base_home(work: Path, size: int) -> Path:
    """Return the folder of the synthetic knowledge base of this size.

    The path is absolute, because the benchmark's child processes (the rebuild
    and `recommender serve`) run in the repository, not in the caller's folder.
    """
    return work.absolute() / f"kb-{size}"


def parse_sizes(text: str) -> list[int]:
    """Return the knowledge base sizes of a --sizes value, for argparse.

    Raises:
        argparse.ArgumentTypeError: A size is not a positive whole number, or is
            given twice.
    """
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or int(part) <= 0:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a positive whole number of records; give sizes "
                "such as 10000,100000"
            )
        if int(part) in sizes:
            raise argparse.ArgumentTypeError(f"size {int(part)} is given twice")
        sizes.append(int(part))
    return sizes


def prepare(work: Path, size: int, samples: Samples) -> SyntheticKnowledgeBase:
    """Return the synthetic knowledge base of this size, inserting it when missing.

    Only the database is written here; the vector index is built by the product's
    own rebuild, which the benchmark measures.
    """
    home = knowledge_base_home(work, size)
    marker = home / MARKER
    if marker.is_file():
        # The folder may have been moved or copied since the marker was written.
        stored = json.loads(marker.read_text())
        return SyntheticKnowledgeBase(**{**stored, "home": str(home)})

    # A folder without the marker is an interrupted insert. Each batch is one
    # transaction and record n is always made the same way, so it resumes after
    # the last whole batch.
    home.mkdir(parents=True, exist_ok=True)
    settings = IndexerSettings(home=home)
    database = Database(settings.resolved_database_url)
    database.set_meta("model", settings.model)
    database.set_meta("dimension", len(samples.vectors[0]["title"][0]))
    database.set_meta("boilerplate", sorted(samples.boilerplate))
    done = database.record_count()
    # A kill after the last batch and before the marker leaves every record.
    if done % INSERT_BATCH and done != size:
        raise RuntimeError(
            f"{home} contains {done} records, not a multiple of the batch size "
            f"{INSERT_BATCH}; delete the folder to insert it again"
        )
    spent = float(str(database.get_meta("synthetic_insert_seconds", 0.0)))
    passages = database.count_passages() if done else 0

    started = time.perf_counter()
    for first in range(done, size, INSERT_BATCH):
        numbers = range(first, min(first + INSERT_BATCH, size))
        passages += _insert_batch(database, numbers, samples)
        database.set_meta(
            "synthetic_insert_seconds", spent + time.perf_counter() - started
        )
        if (numbers[-1] + 1) % 50_000 == 0:
            logger.info("size %d: inserted %d records", size, numbers[-1] + 1)
    database.engine.dispose()

    result = SyntheticKnowledgeBase(
        home=str(home),
        records=size,
        passages=passages,
        insert_seconds=round(spent + time.perf_counter() - started, 1),
    )
    marker.write_text(json.dumps(asdict(result)))
    return result


def main(argv: list[str] | None = None) -> int:
    """Insert the synthetic knowledge bases that are missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument(
        "--sizes", type=parse_sizes, default=parse_sizes("10000,100000,1000000")
    )
    args = parser.parse_args(argv)
    if args.work_dir.exists() and not args.work_dir.is_dir():
        parser.error(f"--work-dir {args.work_dir} is a file; give a folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    samples = load_samples(Embedder())
    for size in args.sizes:
        info = prepare(args.work_dir, size, samples)
        print(json.dumps(asdict(info)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
