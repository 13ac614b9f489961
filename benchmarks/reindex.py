"""Re-indexing benchmark: `indexer add` and `indexer sync` on large knowledge bases.

Embedding a real knowledge base of 100,000 records would take hours on a CPU, so
each knowledge base is synthetic. The passages of the 74 sample records in
data/knowledge are embedded once, for real. Synthetic record n is sample n mod 74
with a new id, another service name, shifted dates and some adjacent sentences
swapped, so its keyword text differs from its sample. Its passage vectors are the
sample passage vectors plus Gaussian noise, L2-normalised again.

The indexer command line then runs as separate processes, as a user runs it:

- `indexer add` of one new postmortem, repeated with different postmortems. A
  probe process times the model load and the embedding of the same postmortem, so
  the add time splits into model load, embedding and the rest.
- `indexer sync` of a folder of 1,000 postmortems: all new, then all edited, then
  unchanged.

Each run records the wall time, the peak resident set size (RSS) reported by GNU
time (`/usr/bin/time -v`), and whether the vector index file was rewritten.

Usage: python -m benchmarks.reindex [--sizes 10000,100000] [--sync-sizes 10000]
       [--repeats 5] [--sync-files 1000] [--write]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from indexer.database import Database
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase, keyword_fields
from indexer.passages import Passage, find_boilerplate, split_passages
from indexer.readers import read_sources
from indexer.record import IncidentRecord
from indexer.settings import IndexerSettings
from indexer.vector_index import VectorIndex

logger = logging.getLogger("benchmarks.reindex")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "knowledge"
PAGE = REPO / "docs" / "BENCHMARKS.md"
SECTION_TITLE = "## Re-indexing"
GNU_TIME = Path("/usr/bin/time")

NOISE_SIGMA = 0.02
INSERT_BATCH = 2_000
# Maximum seconds per process, well above the measured times, so that a hung
# process fails the run instead of blocking it.
ADD_TIMEOUT_SECONDS = 600
SYNC_TIMEOUT_SECONDS = 3_600
PROBE_TIMEOUT_SECONDS = 600

# Service names of the synthetic records: 12 x 7 = 84 combinations.
SERVICE_PREFIXES = (
    "billing",
    "ledger",
    "fraud",
    "catalog",
    "shipping",
    "pricing",
    "identity",
    "media",
    "reporting",
    "loyalty",
    "tax",
    "warehouse",
)
SERVICE_SUFFIXES = ("api", "db", "worker", "cache", "gateway", "stream", "scheduler")

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_FRONT_MATTER_SERVICE = re.compile(r"^service:\s*(\S+)\s*$", re.MULTILINE)
_FRONT_MATTER_ID = re.compile(r"^id:.*$", re.MULTILINE)
_ADD_SUMMARY = re.compile(r"\((\d+) passages\)")
# Logged at INFO by indexer.vector_store once a loaded index file is brought up to
# the database's data version, so its presence in `indexer -v add` output means
# that the add read the whole index file.
_INDEX_LOADED = "vector index caught up"


@dataclass
class Samples:
    """The sample records, with the vectors of their passages embedded once.

    Attributes:
        records: The records read from data/knowledge.
        boilerplate: Template lines found in the samples, stored in the knowledge
            base like `indexer build` stores them.
        vectors: Per record, each section's passage vectors in passage order. The
            head passage is under "title".
        passages: Number of sample passages.
        embed_seconds: Time to embed all sample passages once.
    """

    records: list[IncidentRecord]
    boilerplate: frozenset[str]
    vectors: list[dict[str, np.ndarray]]
    passages: int
    embed_seconds: float


@dataclass
class KnowledgeBaseInfo:
    """Size and setup cost of one synthetic knowledge base."""

    records: int
    passages: int
    index_type: str
    index_bytes: int
    database_bytes: int
    insert_seconds: float
    rebuild_seconds: float


@dataclass
class ProcessRun:
    """One finished process: wall time, CPU share, peak RSS and output.

    Attributes:
        exit_seconds: Time from the last line on stdout to the end of the
            process. The indexer commands print their summary last, so for them
            this is the interpreter shutdown.
        cpu_percent: CPU time over wall time, as GNU time reports it. On two
            cores, a share well below 200% during embedding means that other
            processes took CPU time.
    """

    seconds: float
    exit_seconds: float
    cpu_percent: float
    peak_rss_mib: float
    stdout: str
    stderr: str


@dataclass
class AddRun:
    """One `indexer add` with the probe figures of the same postmortem."""

    process: ProcessRun
    passages: int
    model_load_seconds: float
    first_embed_seconds: float
    embed_seconds: float
    process_start_seconds: float
    index_load_seconds: float
    index_loaded: bool
    index_rewritten: bool

    @property
    def rest_seconds(self) -> float:
        """Return the add time minus model load and warm embedding."""
        return self.process.seconds - self.model_load_seconds - self.embed_seconds


@dataclass
class SyncRun:
    """One `indexer sync` of the postmortem folder."""

    label: str
    process: ProcessRun
    passages_embedded: int
    passages_expected: int
    index_rewritten: bool
    summary: str
    load_average: tuple[float, float, float]


@dataclass
class SizeResult:
    """Every measurement at one knowledge base size."""

    size: int
    knowledge_base: KnowledgeBaseInfo
    adds: list[AddRun]
    index_bytes_after_adds: int
    load_average: tuple[float, float, float]
    syncs: list[SyncRun] = field(default_factory=list)


# Samples ------------------------------------------------------------------------


def load_samples(embedder: Embedder) -> Samples:
    """Read the sample records and embed their passages once."""
    records = read_sources([SAMPLES]).records
    boilerplate = find_boilerplate(records)
    passages = [split_passages(record, boilerplate) for record in records]
    texts = [passage.text for group in passages for passage in group]

    started = time.perf_counter()
    flat = embedder.embed(texts)
    embed_seconds = time.perf_counter() - started

    vectors = []
    offset = 0
    for group in passages:
        by_section: dict[str, list[np.ndarray]] = {}
        for row, passage in enumerate(group):
            by_section.setdefault(passage.section, []).append(flat[offset + row])
        vectors.append({name: np.stack(rows) for name, rows in by_section.items()})
        offset += len(group)
    return Samples(records, boilerplate, vectors, len(texts), embed_seconds)


def sample_boilerplate() -> frozenset[str]:
    """Return the template lines of the samples, as stored in the knowledge base."""
    return find_boilerplate(read_sources([SAMPLES]).records)


def sample_postmortem_files() -> list[Path]:
    """Return the sample postmortem Markdown files, in name order."""
    return sorted((SAMPLES / "postmortems").glob("*.md"))


# Text variation -----------------------------------------------------------------


def service_name(number: int) -> str:
    """Return the synthetic service name of record or file number."""
    prefix = SERVICE_PREFIXES[number % len(SERVICE_PREFIXES)]
    suffix_index = (number // len(SERVICE_PREFIXES)) % len(SERVICE_SUFFIXES)
    return f"{prefix}-{SERVICE_SUFFIXES[suffix_index]}"


def vary_text(
    text: str, old_service: str, new_service: str, days: int, rng: random.Random
) -> str:
    """Rename the service, shift ISO dates by days and swap some sentences."""
    return swap_sentences(rename_and_shift(text, old_service, new_service, days), rng)


def rename_and_shift(text: str, old_service: str, new_service: str, days: int) -> str:
    """Replace every mention of old_service and shift every ISO date by days."""
    if old_service:
        text = text.replace(old_service, new_service)
    return _ISO_DATE.sub(lambda match: _shift_date(match, days), text)


def swap_sentences(text: str, rng: random.Random, share: float = 0.3) -> str:
    """Swap two adjacent sentences in about `share` of the prose lines.

    Prose lines start with a letter. Lines inside code fences, tables and lists
    are kept as they are.
    """
    lines = text.split("\n")
    in_code = False
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code or not line[:1].isalpha() or rng.random() >= share:
            continue
        sentences = _SENTENCE_END.split(line)
        if len(sentences) < 2:
            continue
        first = rng.randrange(len(sentences) - 1)
        sentences[first], sentences[first + 1] = sentences[first + 1], sentences[first]
        lines[number] = " ".join(sentences)
    return "\n".join(lines)


def _shift_date(match: re.Match[str], days: int) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return match[0]
    return (day + timedelta(days=days)).isoformat()


# Synthetic knowledge base -------------------------------------------------------


def synthetic_record(
    base: IncidentRecord, number: int, rng: random.Random
) -> IncidentRecord:
    """Return synthetic record `number`, derived from a sample record."""
    old_service = base.labels.get("service", "")
    new_service = service_name(number)
    days = rng.randrange(1, 3_650)

    labels = dict(base.labels)
    if old_service:
        labels["service"] = new_service
    title = vary_text(base.title, old_service, new_service, days, rng)
    if title == base.title:
        title = f"{title} ({new_service})"
    sections = {
        name: vary_text(text, old_service, new_service, days, rng)
        for name, text in base.sections.items()
    }
    shift = timedelta(days=days)
    return replace(
        base,
        id=f"SYN-{number:06d}",
        title=title,
        sections=sections,
        labels=labels,
        started_at=base.started_at + shift if base.started_at else None,
        ended_at=base.ended_at + shift if base.ended_at else None,
        source=f"synthetic/{number:06d}",
    )


def synthetic_vectors(
    passages: Sequence[Passage], base: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Return noisy copies of the sample vectors for a synthetic record's passages.

    Passage k of a section takes the sample's passage k of the same section. When
    the swapped sentences give a section more chunks than the sample has, the
    extra chunks reuse the vector of the sample's last chunk.
    """
    rows = []
    seen: dict[str, int] = {}
    for passage in passages:
        chunk = seen.get(passage.section, 0)
        seen[passage.section] = chunk + 1
        section_vectors = base.get(passage.section, base["title"])
        rows.append(section_vectors[min(chunk, len(section_vectors) - 1)])

    vectors = np.stack(rows) + rng.normal(0.0, NOISE_SIGMA, (len(rows), len(rows[0])))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def build_synthetic_knowledge_base(
    home: Path, size: int, samples: Samples
) -> KnowledgeBaseInfo:
    """Insert `size` synthetic records and build the vector index once.

    Records go in with Database.apply, one transaction per INSERT_BATCH records.
    The model, dimension and boilerplate metadata are set as `indexer build`
    sets them, so `indexer add` and `indexer sync` accept the knowledge base.
    """
    settings = IndexerSettings(home=home)
    database = Database(settings.resolved_database_url)
    dimension = len(samples.vectors[0]["title"][0])
    database.set_meta("model", settings.model)
    database.set_meta("dimension", dimension)
    database.set_meta("boilerplate", sorted(samples.boilerplate))

    started = time.perf_counter()
    passages = 0
    for first in range(0, size, INSERT_BATCH):
        numbers = range(first, min(first + INSERT_BATCH, size))
        passages += _insert_batch(database, numbers, samples)
        logger.info("size %d: inserted %d records", size, numbers[-1] + 1)
    insert_seconds = time.perf_counter() - started
    database.engine.dispose()

    started = time.perf_counter()
    knowledge_base = KnowledgeBase(settings)
    index = knowledge_base.vectors.rebuild()
    rebuild_seconds = time.perf_counter() - started
    knowledge_base.database.engine.dispose()

    return KnowledgeBaseInfo(
        records=size,
        passages=passages,
        index_type=index.info.index_type,
        index_bytes=settings.index_path.stat().st_size,
        database_bytes=_database_bytes(home),
        insert_seconds=insert_seconds,
        rebuild_seconds=rebuild_seconds,
    )


def _insert_batch(database: Database, numbers: range, samples: Samples) -> int:
    rng = random.Random(numbers[0])
    noise = np.random.default_rng(numbers[0])
    items = []
    keywords = []
    for number in numbers:
        sample = number % len(samples.records)
        record = synthetic_record(samples.records[sample], number, rng)
        passages = split_passages(record, samples.boilerplate)
        vectors = synthetic_vectors(passages, samples.vectors[sample], noise)
        items.append((record, passages, vectors))
        keywords.append(keyword_fields(record, samples.boilerplate))
    database.apply(items, keywords)
    return sum(len(passages) for _, passages, _ in items)


def _database_bytes(home: Path) -> int:
    return sum(path.stat().st_size for path in home.glob("knowledge.db*"))


# Postmortem files ---------------------------------------------------------------


def write_postmortem(
    path: Path, template: Path, record_id: str, number: int, edit_round: int = 0
) -> None:
    """Write a postmortem derived from a sample file, with a new id and edited text.

    Each edit round swaps other sentences and appends a review note, so every
    round changes the record's content hash.
    """
    _, front, body = template.read_text().split("---\n", 2)
    match = _FRONT_MATTER_SERVICE.search(front)
    old_service = match[1] if match else ""
    new_service = service_name(number)
    days = (number * 37) % 3_650 + 1
    rng = random.Random(number * 1_000 + edit_round)

    front = _FRONT_MATTER_ID.sub(f"id: {record_id}", front, count=1)
    front = rename_and_shift(front, old_service, new_service, days)
    body = vary_text(body, old_service, new_service, days, rng)
    if edit_round:
        reviewed = date(2026, 1, 1) + timedelta(days=edit_round)
        body += (
            f"\n\nReview note {edit_round}: the action items were checked again "
            f"on {reviewed.isoformat()} and {new_service} owns the open ones.\n"
        )
    path.write_text(f"---\n{front}---\n{body}")


# Processes ----------------------------------------------------------------------


def run_measured(command: list[str], timeout: float) -> ProcessRun:
    """Run a command under GNU time and return its timings, peak RSS and output.

    The child runs with PYTHONUNBUFFERED=1, so each line of stdout arrives when it
    is printed and the time after the last one can be measured.

    Raises:
        RuntimeError: The command exited with a non-zero status.
        subprocess.TimeoutExpired: The command ran longer than timeout seconds.
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        tempfile.NamedTemporaryFile("r", suffix=".time") as report,
        tempfile.TemporaryFile("w+") as stderr,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(GNU_TIME), "-v", "-o", report.name, *command],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=REPO,
            env=environment,
        )
        stdout, last_line_at = _read_lines(process, timeout)
        ended = time.perf_counter()
        stderr.seek(0)
        errors = stderr.read()
        usage = report.read()

    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit status {process.returncode}:\n"
            f"{errors[-2000:]}"
        )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", usage)
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", usage)
    return ProcessRun(
        seconds=ended - started,
        exit_seconds=ended - last_line_at,
        cpu_percent=float(cpu[1]) if cpu else float("nan"),
        peak_rss_mib=int(rss[1]) / 1024 if rss else float("nan"),
        stdout=stdout,
        stderr=errors,
    )


def _read_lines(process: subprocess.Popen[str], timeout: float) -> tuple[str, float]:
    """Read stdout to the end, wait, and return stdout and when its last line came."""
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines = []
    last_line_at = time.perf_counter()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            last_line_at = time.perf_counter()
        process.wait()
    finally:
        timer.cancel()
    if process.returncode == -signal.SIGKILL:
        raise subprocess.TimeoutExpired(process.args, timeout)
    return "".join(lines), last_line_at


def run_indexer(home: Path, arguments: list[str], timeout: float) -> ProcessRun:
    """Run `python -m indexer.cli --home HOME ARGUMENTS` as a user would."""
    command = [sys.executable, "-m", "indexer.cli", "--home", str(home), *arguments]
    return run_measured(command, timeout)


def probe_embedding(path: Path) -> dict[str, float]:
    """Time the model load and the embedding of one postmortem in a fresh process.

    The model load includes importing sentence-transformers and torch, which an
    `indexer add` process also does only when it loads the model.
    """
    command = [sys.executable, "-m", "benchmarks.reindex", "--probe", str(path)]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        cwd=REPO,
        check=True,
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def probe_main(path: Path) -> int:
    """Load the model, embed one postmortem twice and print the timings as JSON."""
    settings = IndexerSettings()
    started = time.perf_counter()
    embedder = Embedder(settings.model, settings.batch_size)
    embedder.model  # noqa: B018 - loads the model
    model_load = time.perf_counter() - started

    record = read_sources([path]).records[0]
    texts = [p.text for p in split_passages(record, sample_boilerplate())]
    started = time.perf_counter()
    embedder.embed(texts)
    first_embed = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed(texts)
    embed = time.perf_counter() - started

    result = {
        "model_load": model_load,
        "first_embed": first_embed,
        "embed": embed,
        "passages": len(texts),
    }
    print(json.dumps(result), flush=True)
    return 0


def process_start_seconds() -> float:
    """Return the wall time of a process that only imports the indexer CLI."""
    command = [sys.executable, "-c", "import indexer.cli"]
    return run_measured(command, PROBE_TIMEOUT_SECONDS).seconds


def file_state(path: Path) -> tuple[int, int, int]:
    """Return the inode, modification time and size of a file.

    The index is saved to a temporary file and renamed over the old one, so a
    rewrite always gives the file a new inode.
    """
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def passage_sequence(home: Path) -> int:
    """Return the highest passage id ever assigned.

    Each inserted passage takes the next id, so the growth of this value counts the
    passages that were embedded and inserted.
    """
    with sqlite3.connect(home / "knowledge.db") as connection:
        row = connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'passages'"
        ).fetchone()
    return int(row[0]) if row else 0


# Measurements -------------------------------------------------------------------


def measure_adds(home: Path, folder: Path, repeats: int) -> list[AddRun]:
    """Add one new postmortem per repeat and time each add against its probe."""
    folder.mkdir()
    templates = sample_postmortem_files()
    index_path = IndexerSettings(home=home).index_path
    runs = []
    for repeat in range(repeats):
        path = folder / f"added-{repeat}.md"
        number = 900_000 + repeat
        template = templates[repeat % len(templates)]
        write_postmortem(path, template, f"PM-BENCH-ADD-{repeat}", number)

        before = file_state(index_path)
        process = run_indexer(home, ["-v", "add", str(path)], ADD_TIMEOUT_SECONDS)
        rewritten = file_state(index_path) != before

        probe = probe_embedding(path)
        match = _ADD_SUMMARY.search(process.stdout)
        runs.append(
            AddRun(
                process=process,
                passages=int(match[1]) if match else -1,
                model_load_seconds=probe["model_load"],
                first_embed_seconds=probe["first_embed"],
                embed_seconds=probe["embed"],
                process_start_seconds=process_start_seconds(),
                index_load_seconds=_time_index_load(index_path),
                index_loaded=_INDEX_LOADED in process.stderr,
                index_rewritten=rewritten,
            )
        )
        logger.info("add %d: %.2f s", repeat + 1, process.seconds)
    return runs


def _time_index_load(path: Path) -> float:
    started = time.perf_counter()
    VectorIndex.load(path)
    return time.perf_counter() - started


def measure_syncs(home: Path, folder: Path, files: int) -> list[SyncRun]:
    """Sync a folder of new postmortems, then all of them edited, then unchanged."""
    folder.mkdir()
    templates = sample_postmortem_files()
    runs = []
    for label, edit_round in (
        (f"{files:,} new postmortems", 0),
        (f"the same {files:,}, all edited", 1),
        ("nothing changed", None),
    ):
        # Without an edit round, the files stay as the previous sync left them.
        if edit_round is not None:
            for number in range(files):
                path = folder / f"pm-{number:04d}.md"
                template = templates[number % len(templates)]
                record_id = f"PM-SYNC-{number:04d}"
                write_postmortem(path, template, record_id, number, edit_round)
        runs.append(_sync_once(home, folder, label, edit_round is not None))
        logger.info("sync (%s): %.1f s", label, runs[-1].process.seconds)
    return runs


def _sync_once(home: Path, folder: Path, label: str, changed: bool) -> SyncRun:
    index_path = IndexerSettings(home=home).index_path
    expected = 0
    if changed:
        boilerplate = sample_boilerplate()
        records = read_sources([folder]).records
        expected = sum(len(split_passages(r, boilerplate)) for r in records)

    before_state = file_state(index_path)
    before_sequence = passage_sequence(home)
    load_average = os.getloadavg()
    process = run_indexer(home, ["sync", "-q", str(folder)], SYNC_TIMEOUT_SECONDS)
    summary = process.stdout.strip().splitlines()[-1]
    return SyncRun(
        label=label,
        process=process,
        passages_embedded=passage_sequence(home) - before_sequence,
        passages_expected=expected,
        index_rewritten=file_state(index_path) != before_state,
        summary=summary.split(", in ")[0].split(" (data version")[0],
        load_average=load_average,
    )


def measure_size(
    size: int, samples: Samples, repeats: int, sync_files: int
) -> SizeResult:
    """Build a knowledge base of `size` records in a temporary folder, measure it.

    With sync_files 0, `indexer sync` is not measured.
    """
    with tempfile.TemporaryDirectory(prefix=f"reindex-{size}-") as folder:
        home = Path(folder) / "kb"
        info = build_synthetic_knowledge_base(home, size, samples)
        logger.info(
            "size %d: %d passages, %s index of %.0f MB",
            size,
            info.passages,
            info.index_type,
            info.index_bytes / 1e6,
        )

        result = SizeResult(
            size=size,
            knowledge_base=info,
            adds=[],
            index_bytes_after_adds=0,
            load_average=os.getloadavg(),
        )
        result.adds = measure_adds(home, Path(folder) / "add", repeats)
        index_path = IndexerSettings(home=home).index_path
        result.index_bytes_after_adds = index_path.stat().st_size
        if sync_files:
            result.syncs = measure_syncs(home, Path(folder) / "sync", sync_files)
    return result


# Report -------------------------------------------------------------------------


def machine_description() -> str:
    """Return the CPU model, cores, memory and library versions of this machine."""
    import faiss
    import sentence_transformers
    import torch

    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kib / 2**20:.0f} GiB RAM, "
        f"{platform.system()} {platform.machine()}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, faiss "
        f"{faiss.__version__}, "
        f"sentence-transformers {sentence_transformers.__version__}"
    )


def code_version() -> str:
    """Return the checked-out commit, and whether tracked files differ from it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    ).stdout.strip()
    if not commit:
        return "unknown (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes" if changed else "")


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _seconds(values: Sequence[float]) -> str:
    return f"{_median(values):.2f} / {max(values):.2f}"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


def report_setup(results: list[SizeResult], samples: Samples) -> list[str]:
    """Return the section that describes how each knowledge base was made."""
    service_count = len(SERVICE_PREFIXES) * len(SERVICE_SUFFIXES)
    lines = [
        "### Synthetic knowledge bases",
        "",
        f"The {len(samples.records)} sample records of `data/knowledge` (Markdown "
        "postmortems and runbooks, a Jira CSV and a PagerDuty JSON export) were "
        f"split into {samples.passages} passages, which were embedded once with "
        f"the real model in {samples.embed_seconds:.1f} s. Synthetic record n "
        "(id `SYN-n`) is sample n mod "
        f"{len(samples.records)} with these changes: its service label and every "
        f"mention of the old service carry one of {service_count} "
        "new service names, every ISO date and the start and end times move by "
        "1 to 3,649 days, and in about 30% of the prose lines two adjacent "
        "sentences are swapped. Its passages are split from the changed text. "
        "Passage k of a section gets the vector of the sample's passage k of that "
        f"section plus Gaussian noise (sigma {NOISE_SIGMA} per dimension), "
        "L2-normalised again. The records went in through `Database.apply`, "
        f"{INSERT_BATCH:,} records per transaction. The model, dimension and "
        "boilerplate metadata were set as `indexer build` sets them, and "
        "`VectorStore.rebuild` built and saved the vector index once.",
        "",
        "| Records | Passages | Index type | Index file | Database files | Insert | "
        "Index build |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        info = result.knowledge_base
        lines.append(
            f"| {info.records:,} | {info.passages:,} | {info.index_type} | "
            f"{_megabytes(info.index_bytes)} | {_megabytes(info.database_bytes)} | "
            f"{info.insert_seconds:.0f} s | {info.rebuild_seconds:.0f} s |"
        )
    return lines


def report_adds(results: list[SizeResult], repeats: int) -> list[str]:
    """Return the `indexer add` table, with one column per size."""
    header = "| Seconds, median / max of {} | {} |".format(
        repeats, " | ".join(f"{r.size:,} records" for r in results)
    )
    rows: list[tuple[str, list[str]]] = [
        ("`indexer add` of one postmortem, wall time", []),
        ("model load: import and load the model in a fresh process", []),
        ("embedding of the postmortem's passages, after a warm-up", []),
        ("rest: add minus model load minus embedding", []),
        ("of the rest: start a process that imports `indexer.cli`", []),
        ("of the rest: exit of `indexer add` after its last output", []),
        ("adds that read the whole index file", []),
        ("for comparison: load the index file (`VectorIndex.load`)", []),
        ("for comparison: first embedding call in a process", []),
        ("passages per postmortem", []),
        ("CPU share of `indexer add` (CPU time / wall time), %", []),
        ("peak RSS of `indexer add`, MiB", []),
        ("index file size before / after the adds", []),
        ("adds that rewrote the index file", []),
        ("load average 1 / 5 / 15 min before the adds", []),
    ]
    for result in results:
        adds = result.adds
        cells = [
            _seconds([a.process.seconds for a in adds]),
            _seconds([a.model_load_seconds for a in adds]),
            _seconds([a.embed_seconds for a in adds]),
            _seconds([a.rest_seconds for a in adds]),
            _seconds([a.process_start_seconds for a in adds]),
            _seconds([a.process.exit_seconds for a in adds]),
            f"{sum(a.index_loaded for a in adds)} of {len(adds)}",
            _seconds([a.index_load_seconds for a in adds]),
            _seconds([a.first_embed_seconds for a in adds]),
            ", ".join(str(a.passages) for a in adds),
            f"{_median([a.process.cpu_percent for a in adds]):.0f} / "
            f"{max(a.process.cpu_percent for a in adds):.0f}",
            f"{_median([a.process.peak_rss_mib for a in adds]):,.0f} / "
            f"{max(a.process.peak_rss_mib for a in adds):,.0f}",
            f"{_megabytes(result.knowledge_base.index_bytes)} / "
            f"{_megabytes(result.index_bytes_after_adds)}",
            f"{sum(a.index_rewritten for a in adds)} of {len(adds)}",
            _load(result.load_average),
        ]
        for (_, column), cell in zip(rows, cells, strict=True):
            column.append(cell)

    lines = [
        "### `indexer add` of one postmortem",
        "",
        "Each repeat adds another new postmortem (a sample postmortem with a new "
        "id and varied text) with `python -m indexer.cli --home HOME -v add FILE`. "
        "Then a probe process loads the model and embeds the same postmortem's "
        "passages twice, timing the second call. The wall time of `indexer add` "
        "includes starting Python. The process start is measured in a separate "
        'process, so the rows marked "of the rest" explain the rest but do not '
        "add up to it. An add read the whole index file when its log says "
        f'"{_INDEX_LOADED}". Loading the index file is timed in the benchmark '
        "process for comparison, because a sync or the first search after an "
        "add pays it.",
        "",
        header,
        "|---|" + "---|" * len(results),
    ]
    lines += [f"| {name} | {' | '.join(column)} |" for name, column in rows]
    return lines


def report_syncs(results: list[SizeResult], files: int) -> list[str]:
    """Return the `indexer sync` table, or an empty list when no sync ran."""
    measured = [result for result in results if result.syncs]
    if not measured:
        return []
    lines = [
        f"### `indexer sync` of {files:,} postmortems",
        "",
        f"A folder of {files:,} postmortem files, each a sample postmortem "
        "with a new id and varied text, synced three times with "
        "`python -m indexer.cli --home HOME sync -q FOLDER`: first all new, then "
        "with every file edited (other sentences swapped and a review note "
        "appended), then unchanged. Passages embedded is the growth of the "
        "passage id sequence in the database. Expected is the number of "
        "passages of the records in the folder, counted in the benchmark "
        "process, or 0 when nothing changed.",
        "",
        "| Records | Sync | Wall time | Passages embedded (expected) | "
        "Passages/s | CPU share | Peak RSS | Index file rewritten | Output | "
        "Load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in measured:
        for sync in result.syncs:
            rate = sync.passages_embedded / sync.process.seconds
            lines.append(
                f"| {result.size:,} | {sync.label} | {sync.process.seconds:.1f} s | "
                f"{sync.passages_embedded:,} ({sync.passages_expected:,}) | "
                f"{rate:.0f} | {sync.process.cpu_percent:.0f}% | "
                f"{sync.process.peak_rss_mib:,.0f} MiB | "
                f"{'yes' if sync.index_rewritten else 'no'} | {sync.summary} | "
                f"{_load(sync.load_average)} |"
            )
    return lines


def report_reading(results: list[SizeResult]) -> list[str]:
    """Return a paragraph that reads the add and sync figures against the targets."""
    return [" ".join([_reading_adds(results), _reading_syncs(results)])]


def _reading_adds(results: list[SizeResult]) -> str:
    sentences = []
    for result in results:
        adds = result.adds
        wall = _median([a.process.seconds for a in adds])
        load = _median([a.model_load_seconds for a in adds])
        embed = _median([a.embed_seconds for a in adds])
        rest = _median([a.rest_seconds for a in adds])
        sentences.append(
            f"At {result.size:,} records the median `indexer add` took {wall:.1f} s: "
            f"model load {load:.1f} s ({load / wall:.0%}), embedding {embed:.2f} s "
            f"({embed / wall:.0%}) and the rest {rest:.2f} s ({rest / wall:.0%})."
        )

    all_adds = [add for result in results for add in result.adds]
    start = _median([a.process_start_seconds for a in all_adds])
    shutdown = _median([a.process.exit_seconds for a in all_adds])
    first = _median([a.first_embed_seconds for a in all_adds])
    warm = _median([a.embed_seconds for a in all_adds])
    sentences.append(
        f"Whatever the size, starting Python and importing the CLI takes {start:.2f} "
        f"s, the add exits {shutdown:.2f} s after its last output, and the first "
        f"embedding call in a process takes {first:.2f} s against {warm:.2f} s "
        "warm."
    )
    for result in results:
        sentences.append(_reading_index(result))

    rests = [_median([a.rest_seconds for a in r.adds]) for r in results]
    worst = max(all_adds, key=lambda add: add.rest_seconds)
    worst_size = next(r for r in results if worst in r.adds)
    verdict = "holds" if max(rests) < 1.0 else "does not hold"
    sentences.append(
        "The target of at most one second beyond model load and embedding "
        f"{verdict} for the median add ("
        + ", ".join(f"{rest:.2f} s" for rest in rests)
        + f"). The largest single rest was {worst.rest_seconds:.2f} s, at "
        f"{worst_size.size:,} records."
    )
    rewrites = sum(a.index_rewritten for a in all_adds)
    if rewrites:
        sentences.append(
            f"{rewrites} of {len(all_adds)} adds rewrote the index file, which the "
            "checkpoint policy should prevent for so few changed passages."
        )
    else:
        sentences.append(
            f"None of the {len(all_adds)} adds rewrote the index file, as the "
            "checkpoint policy requires."
        )
    return " ".join(sentences)


def _reading_index(result: SizeResult) -> str:
    loaded = sum(add.index_loaded for add in result.adds)
    index_load = _median([add.index_load_seconds for add in result.adds])
    peak = _median([add.process.peak_rss_mib for add in result.adds])
    readers = "no add" if loaded == 0 else f"{loaded} of {len(result.adds)} adds"
    return (
        f"At {result.size:,} records, {readers} read the index file of "
        f"{_megabytes(result.knowledge_base.index_bytes)}, which takes "
        f"{index_load:.2f} s to load, and the add process peaked at {peak:,.0f} MiB."
    )


def _reading_syncs(results: list[SizeResult]) -> str:
    syncs = [sync for result in results for sync in result.syncs]
    if not syncs:
        return "No sync was measured."

    changed = [sync for sync in syncs if sync.passages_expected]
    seconds = [sync.process.seconds for sync in changed]
    rates = [sync.passages_embedded / sync.process.seconds for sync in changed]
    sentences = [
        f"The syncs of changed files took {min(seconds):.0f} to {max(seconds):.0f} "
        f"s, {min(rates):.0f} to {max(rates):.0f} passages/s including the model "
        "load."
    ]

    exact = all(sync.passages_embedded == sync.passages_expected for sync in syncs)
    quiet = all(
        sync.summary.startswith("nothing to do") and not sync.index_rewritten
        for sync in syncs
        if sync.passages_expected == 0
    )
    embedded = (
        "Each sync embedded exactly the passages of the new or edited records"
        if exact
        else "Some syncs embedded more or fewer passages than the changed records have"
    )
    unchanged = (
        'printed "nothing to do" and left the index file alone.'
        if quiet
        else 'did not print "nothing to do" or rewrote the index file.'
    )
    sentences.append(f"{embedded}, and the sync with nothing changed {unchanged}")

    for result in results:
        if result.syncs:
            peak = max(sync.process.peak_rss_mib for sync in result.syncs)
            sentences.append(
                f"At {result.size:,} records a sync peaked at {peak:,.0f} MiB with "
                f"an index file of {_megabytes(result.knowledge_base.index_bytes)}."
            )
    return " ".join(sentences)


def build_report(
    results: list[SizeResult],
    samples: Samples,
    repeats: int,
    sync_files: int,
    command: str,
    run_seconds: float,
    machine: str,
    code: str,
    load_average: tuple[float, float, float],
) -> str:
    """Return the whole "Re-indexing" section of the benchmarks page."""
    rate = samples.passages / samples.embed_seconds
    largest = max(result.knowledge_base.passages for result in results)
    lines = [
        SECTION_TITLE,
        "",
        "How long `indexer add` and `indexer sync` take as the knowledge base "
        "grows, and whether `indexer add` leaves the vector index file alone. "
        "The knowledge bases are synthetic (see below). At the "
        f"{rate:.0f} passages/s measured for the sample passages, embedding the "
        f"{largest:,} passages of the largest one for real would take about "
        f"{largest / rate / 3600:,.1f} hours (an estimate).",
        "",
        f"Command: `{command}` ({run_seconds / 60:.0f} min in total), on {code}.",
        "",
        f"Machine: {machine}. Load average 1 / 5 / 15 min at the start: "
        f"{_load(load_average)}. Other processes may have shared the CPU. The "
        "tables give the load average before each measurement, which also counts "
        "the benchmark's own processes, and the CPU share of each indexer process "
        "(CPU time over wall time, at most 200% on two cores). Peak RSS and CPU "
        'share come from GNU time (`/usr/bin/time -v`: "Maximum resident set '
        'size", "Percent of CPU this job got").',
        "",
    ]
    lines += [*report_setup(results, samples), ""]
    lines += [*report_adds(results, repeats), ""]
    syncs = report_syncs(results, sync_files)
    if syncs:
        lines += [*syncs, ""]
    lines += ["### Reading", "", *report_reading(results)]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the re-indexing section of the benchmarks page, keeping the rest."""
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nPerformance measurements. Each section was generated "
        "by the command given in it.\n\n"
    )
    start = text.find(SECTION_TITLE + "\n")
    if start == -1:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if end == -1 else text[end:])
    path.write_text(text)


# Command line -------------------------------------------------------------------


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid sizes {value!r}: expected positive integers separated by "
            "commas, such as 10000,100000"
        )
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[10_000, 100_000],
        help="numbers of records of the synthetic knowledge bases (default: "
        "10000,100000)",
    )
    parser.add_argument(
        "--sync-sizes",
        type=_sizes,
        help="sizes at which to measure `indexer sync`, a few minutes per size "
        "(default: every size)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="adds per size, each of another new postmortem (default: 5)",
    )
    parser.add_argument(
        "--sync-files",
        type=int,
        default=1_000,
        help="postmortem files in the synced folder (default: 1000)",
    )
    parser.add_argument(
        "--write", action="store_true", help="update docs/BENCHMARKS.md"
    )
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure re-indexing at each size, print the report and, with --write, save it."""
    args = _parser().parse_args(argv)
    if args.probe:
        return probe_main(args.probe)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not GNU_TIME.is_file():
        print(
            f"error: {GNU_TIME} not found; install GNU time (the 'time' package "
            "on Debian and Ubuntu) to measure peak RSS",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()
    load_average = os.getloadavg()
    settings = IndexerSettings()
    samples = load_samples(Embedder(settings.model, settings.batch_size))
    sync_sizes = set(args.sync_sizes or args.sizes)
    results = [
        measure_size(
            size, samples, args.repeats, args.sync_files if size in sync_sizes else 0
        )
        for size in args.sizes
    ]

    command = "python -m benchmarks.reindex " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = build_report(
        results,
        samples,
        args.repeats,
        args.sync_files,
        command.strip(),
        time.perf_counter() - started,
        machine_description(),
        code_version(),
        load_average,
    )
    print(report)
    if args.write:
        write_section(PAGE, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
