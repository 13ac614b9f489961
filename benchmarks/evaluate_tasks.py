"""Run the five evaluation tasks for the product and two baselines; write the page.

Every task is built from the raw public data (benchmarks/tasks.py), indexed into a
fresh knowledge base, and answered three ways in one run: TF-IDF alone, dense
MiniLM alone (one vector per record), and the product. docs/EVALUATION.md is
regenerated from the results.

Usage: python -m benchmarks.evaluate_tasks [--data ../shared/data] [--write]
       [--tasks runbook,precedent,...] [--embedding-cache FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import tasks
from benchmarks.baselines import Baseline, DenseBaseline, TfidfBaseline, vote
from benchmarks.embedding_cache import CachedEmbedder
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.settings import IndexerSettings
from recommender.evaluation import Prediction, predict, score
from recommender.fix_types import classify_fix
from recommender.metrics import recall_at_k
from recommender.queries import LabelledQuery, read_queries
from recommender.recommendation import (
    DEFAULT_THRESHOLD,
    UNNAMED_MARGIN,
    Recommender,
)
from recommender.suggestions import MODEL_WEIGHT

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "EVALUATION.md"
# Hand-written sections of the page: how parameters were chosen, what was tried.
NOTES = Path(__file__).with_name("evaluation_notes.md")
TOP_K = 10
BOOTSTRAP = 1000


def run_task(task: tasks.Task, embedder: Embedder) -> dict[str, dict[str, Any]]:
    """Answer one task with each method; return per method the score and extras."""
    with tempfile.TemporaryDirectory() as folder:
        queries = _queries(task, Path(folder) / "queries.jsonl")
        kb = KnowledgeBase(IndexerSettings(home=Path(folder) / "kb"), embedder=embedder)
        kb.build(task.records)
        known = {record.id for record in task.records}

        predictions = {
            "TF-IDF": _baseline(TfidfBaseline(task.records), task, queries),
            "dense": _baseline(DenseBaseline(task.records, embedder), task, queries),
            "product": predict(Recommender(kb), queries, top_k=TOP_K),
        }
    return {
        method: _summary(queries, preds, known) for method, preds in predictions.items()
    }


def _queries(task: tasks.Task, path: Path) -> list[LabelledQuery]:
    path.write_text("".join(json.dumps(query) + "\n" for query in task.queries))
    return read_queries(path)


def _baseline(
    baseline: Baseline, task: tasks.Task, queries: list[LabelledQuery]
) -> list[Prediction]:
    """Rank with a baseline and vote labels from its ten nearest records."""
    texts = [query.to_alert().query_text() for query in queries]
    ranked = baseline.rank(texts, TOP_K, [query.exclude_ids for query in queries])
    severities = {r.id: r.severity.value for r in task.records if r.severity}
    categories = {
        r.id: r.labels["category"].lower()
        for r in task.records
        if r.labels.get("category")
    }
    fixes = {r.id: classify_fix(r.sections.get("resolution", "")) for r in task.records}

    predictions = []
    for query, hits in zip(queries, ranked, strict=True):
        ids = [record_id for record_id, _ in hits]
        predictions.append(
            Prediction(
                query_id=query.id,
                ranked_ids=ids,
                scores=[similarity for _, similarity in hits],
                best_score=hits[0][1] if hits else 0.0,
                # A baseline flags a query whose best cosine is below the threshold.
                no_close_precedent=not hits or hits[0][1] < DEFAULT_THRESHOLD,
                severity=vote(hits, severities),
                category=vote(hits, categories),
                fix_types=[t for t in (fixes.get(i) for i in ids[:3]) if t],
            )
        )
    return predictions


def _summary(
    queries: list[LabelledQuery], predictions: list[Prediction], known: set[str]
) -> dict[str, Any]:
    result = score(
        queries, predictions, DEFAULT_THRESHOLD, bootstrap=BOOTSTRAP, known_ids=known
    )
    labelled = [
        (q, p) for q, p in zip(queries, predictions, strict=True) if q.expected_ids()
    ]
    result["recall@3"] = (
        sum(recall_at_k(p.ranked_ids, q.expected_ids(), 3) for q, p in labelled)
        / len(labelled)
        if labelled
        else None
    )
    with_precedent = [p.no_close_precedent for q, p in labelled]
    without = [
        p.no_close_precedent
        for q, p in zip(queries, predictions, strict=True)
        if q.relevant_ids is not None and not q.expected_ids()
    ]
    result["answered_with_precedent"] = _share(with_precedent, lambda flag: not flag)
    result["flagged_without_precedent"] = _share(without, lambda flag: flag)
    return result


def _share(values: list[bool], condition: Callable[[bool], bool]) -> float | None:
    return sum(1 for v in values if condition(v)) / len(values) if values else None


# The page -----------------------------------------------------------------


def _estimate(result: dict[str, Any], *path: str) -> str:
    node: Any = result
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or node.get("value") is None:
        return "n/a"
    return f"{node['value']:.3f} [{node['ci_low']:.2f}, {node['ci_high']:.2f}]"


def _table(
    results: dict[str, dict[str, Any]], columns: list[tuple[str, tuple]]
) -> list[str]:
    lines = [
        "| Method | " + " | ".join(name for name, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for method, result in results.items():
        cells = []
        for _, path in columns:
            if path and path[0] in (
                "recall@3",
                "answered_with_precedent",
                "flagged_without_precedent",
            ):
                value = result.get(path[0])
                cells.append("n/a" if value is None else f"{value:.3f}")
            else:
                cells.append(_estimate(result, *path))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


RETRIEVAL = [
    ("Recall@1", ("retrieval", "recall@1")),
    ("Recall@5", ("retrieval", "recall@5")),
    ("MRR@10", ("retrieval", "mrr@10")),
]


def render(
    sections: list[
        tuple[tasks.Task, dict[str, dict[str, Any]], list[tuple[str, tuple]]]
    ],
    seconds: float,
    cached: bool = False,
) -> str:
    """Return the whole evaluation page."""
    lines = [
        "# Evaluation",
        "",
        "How well the recommender finds the right history, measured on public incident "
        "data: runbooks, alert rules and postmortems written by people who run "
        "production systems. The data is read from `../shared/data` beside the "
        "repository and never copied into it. Each figure is the value on the task's "
        "queries with a 95% bootstrap confidence interval in brackets "
        f"({BOOTSTRAP} resamples of the queries, seed 0).",
        "",
        "Three methods answer every task in the same run: **TF-IDF** (one TF-IDF "
        "vector per record, cosine), **dense** (one all-MiniLM-L6-v2 vector per "
        "record, its first 256 word pieces, cosine), and the **product** (section "
        "passages, hybrid dense and keyword score, shared labels, and suggestions "
        "from the matches above the threshold "
        f"{DEFAULT_THRESHOLD}). Baselines predict labels by a similarity-weighted "
        "vote of their ten nearest records, and flag a query as without precedent "
        f"when their best cosine is below {DEFAULT_THRESHOLD}. The product blends "
        "a classifier fitted on the knowledge base's labelled records "
        f"(weight {MODEL_WEIGHT}) with the vote of its five best matches for "
        "severity and category. Below the threshold it flags the alert as without "
        "a close precedent and still lists the fixes of its five nearest matches, "
        "marked low confidence; the fix-type agreement counts those fixes. For an "
        "alert with a name, when the nearest records are named for other alerts "
        f"and none for this one, a match needs {UNNAMED_MARGIN} more to count.",
        "",
    ]
    for task, results, columns in sections:
        lines += [
            f"## {task.name[0].upper()}{task.name[1:]}",
            "",
            task.description,
            "",
            f"{len(task.records)} records, {len(task.queries)} queries.",
            "",
        ]
        lines += _table(results, columns)
        lines.append("")
    lines += [NOTES.read_text(encoding="utf-8").strip(), ""]
    lines += [
        "## How to reproduce",
        "",
        "`python -m benchmarks.evaluate_tasks --write` "
        f"({_duration(seconds)} on {platform.machine()}, Python "
        f"{platform.python_version()}, 2 cores shared with other jobs, CPU only"
        f"{', most vectors read from --embedding-cache' if cached else ''}). "
        "`--tasks severity,category` runs a subset, and `--embedding-cache FILE` "
        "keeps the vectors between runs.",
        "",
    ]
    return "\n".join(lines)


TASK_KEYS = ("runbook", "precedent", "severity", "category", "recurrence")
PRECEDENT_COLUMNS = [
    ("Answered, precedent exists", ("answered_with_precedent",)),
    ("Flagged, no precedent", ("flagged_without_precedent",)),
]


def plan_tasks(
    data: Path, keys: Sequence[str]
) -> list[tuple[tasks.Task, list[tuple[str, tuple]]]]:
    """Build the tasks named by keys, each with the columns of its table."""
    plan: list[tuple[tasks.Task, list[tuple[str, tuple]]]] = []
    if "runbook" in keys or "precedent" in keys:
        with_name, text_only = tasks.alert_to_runbook(data)
        if "runbook" in keys:
            plan += [(with_name, RETRIEVAL), (text_only, RETRIEVAL)]
        if "precedent" in keys:
            plan += [
                (tasks.no_close_precedent(with_name), PRECEDENT_COLUMNS),
                (tasks.no_close_precedent(text_only), PRECEDENT_COLUMNS),
            ]
    if "severity" in keys:
        plan.append(
            (
                tasks.alert_severity(data),
                [
                    ("Accuracy", ("severity", "accuracy")),
                    ("Macro-F1", ("severity", "macro_f1")),
                ],
            )
        )
    if "category" in keys:
        plan.append(
            (
                tasks.root_cause_category(data),
                [
                    ("Category accuracy", ("category", "accuracy")),
                    ("Category macro-F1", ("category", "macro_f1")),
                    ("Fix type agreement", ("fix_type", "agreement")),
                ],
            )
        )
    if "recurrence" in keys:
        plan.append(
            (
                tasks.recurrence(data),
                [
                    ("Recall@1", ("retrieval", "recall@1")),
                    ("Recall@3", ("recall@3",)),
                ],
            )
        )
    return plan


def main(argv: list[str] | None = None) -> int:
    """Build the tasks, run them, print the page and optionally write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--write", action="store_true", help="update docs/EVALUATION.md"
    )
    parser.add_argument(
        "--tasks",
        default=",".join(TASK_KEYS),
        help=f"comma-separated tasks to run, of {', '.join(TASK_KEYS)} (default: all)",
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        help="pickle file that keeps computed vectors between runs, such as "
        "/tmp/evaluation-vectors.pkl (default: no cache)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    keys = [key.strip() for key in args.tasks.split(",") if key.strip()]
    unknown = sorted(set(keys) - set(TASK_KEYS))
    if unknown or not keys:
        print(
            f"invalid --tasks {args.tasks!r}: expected a comma-separated list of "
            f"{', '.join(TASK_KEYS)}",
            file=sys.stderr,
        )
        return 2
    if args.write and set(keys) != set(TASK_KEYS):
        print("--write needs every task; leave out --tasks", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(
            f"public data not found at {args.data}; pass --data FOLDER", file=sys.stderr
        )
        return 2

    started = time.perf_counter()
    embedder = (
        CachedEmbedder(args.embedding_cache) if args.embedding_cache else Embedder()
    )
    sections = []
    for task, columns in plan_tasks(args.data, keys):
        print(f"running: {task.name}", file=sys.stderr)
        sections.append((task, run_task(task, embedder), columns))
        if isinstance(embedder, CachedEmbedder):
            embedder.save()

    page = render(
        sections,
        time.perf_counter() - started,
        cached=isinstance(embedder, CachedEmbedder),
    )
    print(page)
    if args.write:
        PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _duration(seconds: float) -> str:
    """Return a run's length in words; a cached run takes under a minute."""
    if seconds < 60:
        return "under 1 min"
    return f"{seconds / 60:.0f} min"
