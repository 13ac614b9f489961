"""Alert-to-runbook evaluation on public data: Recall@1, Recall@5 and MRR@10.

The knowledge base holds every runbook of the prometheus-operator and openshift
runbook folders. Each kube-prometheus alert rule whose runbook_url names one of them
becomes a query: its summary and description with Go templates filled, once with the
alert name and once without. The relevant runbooks are the file that runbook_url
names and any openshift runbook for the same alert name.

The same run calibrates the "no close precedent" threshold: for every query, the best
score with its relevant runbooks in the knowledge base (a precedent exists) is
compared with the best score once they are excluded (no precedent exists).

Usage: python -m benchmarks.alert_to_runbook [--data ../shared/data] [--write]
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.knowledge_base import KnowledgeBase
from indexer.readers import read_sources
from indexer.settings import IndexerSettings
from recommender.alerts import Alert, parse_alertmanager
from recommender.recommendation import DEFAULT_THRESHOLD
from recommender.retrieval import Retriever
from recommender.rules import AlertRule, read_rules, to_alertmanager_alert

REPO = Path(__file__).resolve().parents[1]
RUNBOOK_FOLDERS = ("prometheus-operator+runbooks", "openshift+runbooks")
RULES_GLOB = "prometheus-operator+kube-prometheus/manifests/*-prometheusRule.yaml"


@dataclass
class Query:
    """One alert with the ids of the runbooks that answer it."""

    rule: AlertRule
    relevant: set[str]


def load_queries(data: Path, kb: KnowledgeBase) -> list[Query]:
    """Make queries of the rules whose runbook is in the knowledge base."""
    runbooks = {rid: record for rid, record in _all_records(kb).items()}
    by_file = {}
    by_alert: dict[str, set[str]] = {}
    for rid, record in runbooks.items():
        by_file.setdefault(Path(record.source.split(":")[0]).stem.lower(), set()).add(
            rid
        )
        for name in record.alert_names:
            by_alert.setdefault(name.lower(), set()).add(rid)

    queries = []
    for path in sorted(data.glob(RULES_GLOB)):
        for rule in read_rules(path):
            named = {
                rid
                for rid in by_file.get(rule.runbook_name, set())
                if "prometheus-operator" in runbooks[rid].source
            }
            if not named:
                continue
            openshift = {
                rid
                for rid in by_alert.get(rule.alert.lower(), set())
                if "openshift" in runbooks[rid].source
            }
            queries.append(Query(rule, named | openshift))
    return queries


def evaluate(
    retriever: Retriever, queries: list[Query], include_alertname: bool
) -> dict:
    """Return Recall@1, Recall@5, MRR@10 and best scores with and without answers."""
    ranks, present, absent = [], [], []
    for query in queries:
        alert = _alert(query.rule, include_alertname)
        matches = retriever.search(alert, top_k=10, include_alertname=include_alertname)
        ids = [m.record.id for m in matches]
        rank = next((i + 1 for i, rid in enumerate(ids) if rid in query.relevant), None)
        ranks.append(rank)
        present.append(matches[0].score if matches else 0.0)
        without = retriever.search(
            alert,
            top_k=1,
            exclude=tuple(query.relevant),
            include_alertname=include_alertname,
        )
        absent.append(without[0].score if without else 0.0)

    n = len(ranks)
    return {
        "queries": n,
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r) / n,
        "present": np.array(present),
        "absent": np.array(absent),
        "misses": [q.rule.alert for q, r in zip(queries, ranks, strict=True) if r != 1],
    }


def calibrate(present: np.ndarray, absent: np.ndarray) -> tuple[float, float, float]:
    """Pick the threshold with the best balanced accuracy of the precedent flag.

    Returns the threshold, the share of queries with a precedent answered with
    confidence, and the share of queries without one that are flagged.
    """
    best = (0.0, 0.0, 0.0, -1.0)
    for threshold in np.arange(0.20, 0.80, 0.01):
        answered = float(np.mean(present >= threshold))
        flagged = float(np.mean(absent < threshold))
        balanced = (answered + flagged) / 2
        if balanced > best[3]:
            best = (round(float(threshold), 2), answered, flagged, balanced)
    return best[0], best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    """Build the runbook knowledge base, run both query sets, print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--write", action="store_true", help="update docs/EVALUATION.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.data.is_dir():
        print(
            f"public data not found at {args.data}; pass --data FOLDER", file=sys.stderr
        )
        return 2

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        kb = KnowledgeBase(IndexerSettings(home=Path(home)))
        read = read_sources([args.data / folder for folder in RUNBOOK_FOLDERS])
        kb.build(read.records)
        queries = load_queries(args.data, kb)
        retriever = Retriever(kb)
        with_name = evaluate(retriever, queries, include_alertname=True)
        without_name = evaluate(retriever, queries, include_alertname=False)
    seconds = time.perf_counter() - started

    report = _report(len(read.records), with_name, without_name, seconds)
    print(report)
    if args.write:
        _write_section(REPO / "docs" / "EVALUATION.md", report)
    return 0


def _alert(rule: AlertRule, include_alertname: bool) -> Alert:
    payload = {
        "version": "4",
        "alerts": [to_alertmanager_alert(rule, include_alertname)],
    }
    parsed = parse_alertmanager(payload)[0]
    assert isinstance(parsed, Alert)
    return parsed


def _all_records(kb: KnowledgeBase) -> dict:
    with kb.database.engine.connect() as conn:
        from sqlalchemy import select

        from indexer.database import records_table

        ids = list(conn.execute(select(records_table.c.id)).scalars())
    return kb.get_many(ids)


def _report(records: int, with_name: dict, without_name: dict, seconds: float) -> str:
    lines = [
        "## Alert to runbook",
        "",
        f"Knowledge base: {records} runbooks ({', '.join(RUNBOOK_FOLDERS)}). "
        f"Queries: {with_name['queries']} kube-prometheus alert rules whose "
        "runbook_url names a runbook in it. A query is the rule's summary and "
        "description with the Go templates filled with plausible label values, sent "
        "as an Alertmanager alert with or without its alertname label.",
        "",
        "| Query | Recall@1 | Recall@5 | MRR@10 |",
        "|---|---|---|---|",
    ]
    for name, result in (
        ("with the alert name", with_name),
        ("text only, no alert name", without_name),
    ):
        lines.append(
            f"| {name} | {result['recall@1']:.3f} | {result['recall@5']:.3f} | "
            f"{result['mrr@10']:.3f} |"
        )

    lines += [
        "",
        "### No close precedent",
        "",
        "Each query is run twice: once as is, once with its relevant runbooks "
        "excluded from the results, so that nothing in the knowledge base answers it. "
        "A good threshold keeps the first above it and the second below.",
        "",
        "| Query | Median best score: precedent, none | Best threshold: answered, "
        f"flagged | Default threshold {DEFAULT_THRESHOLD:.2f}: answered, flagged |",
        "|---|---|---|---|",
    ]
    for name, result in (
        ("with the alert name", with_name),
        ("text only, no alert name", without_name),
    ):
        present, absent = result["present"], result["absent"]
        threshold, answered, flagged = calibrate(present, absent)
        lines.append(
            f"| {name} | {np.median(present):.2f}, {np.median(absent):.2f} | "
            f"{threshold:.2f}: {answered:.1%}, {flagged:.1%} | "
            f"{np.mean(present >= DEFAULT_THRESHOLD):.1%}, "
            f"{np.mean(absent < DEFAULT_THRESHOLD):.1%} |"
        )
    lines += [
        "",
        "The best threshold maximises the mean of the two rates. The default "
        "threshold is the best text-only one, so that an alert without a recognised "
        "name still gets an answer when a runbook is close.",
        "",
        "Misses at rank 1 with the alert name: "
        f"{', '.join(with_name['misses']) or 'none'}. Without it: "
        f"{', '.join(without_name['misses']) or 'none'}.",
        "",
        "Command: `python -m benchmarks.alert_to_runbook --write` "
        f"({seconds:.0f} s on {platform.machine()}, Python "
        f"{platform.python_version()}, 2 cores, CPU only).",
    ]
    return "\n".join(lines) + "\n"


def _write_section(path: Path, section: str) -> None:
    """Replace the alert-to-runbook section of the evaluation page, keeping the rest."""
    text = path.read_text() if path.exists() else "# Evaluation\n\n"
    start = text.find("## Alert to runbook")
    if start == -1:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if end == -1 else text[end:])
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
