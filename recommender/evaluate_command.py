"""The evaluate command: measure the recommender on a file of labelled queries."""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import sys
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.errors import IncidentRecommenderError, KnowledgeBaseError
from indexer.knowledge_base import KnowledgeBase
from recommender.arguments import whole_number
from recommender.evaluation import predict, score
from recommender.evaluation_report import render_evaluation
from recommender.queries import LabelledQuery, read_queries
from recommender.recommendation import Recommender
from recommender.settings import ServiceSettings
from recommender.severity_policy import load_scale

# Intervals from 100,000 resamples move in the fourth decimal; more only costs time.
MAX_RESAMPLES = 100_000
# MRR@10 and nDCG@10 look at ten matches, so fewer retrieved cut them short.
FULL_DEPTH = 10
MAX_LISTED = 10


def add_evaluate_command(commands: Any) -> None:
    """Add `evaluate` to the recommender command's subparsers."""
    evaluate = commands.add_parser(
        "evaluate", help="measure the recommender on labelled queries"
    )
    evaluate.add_argument(
        "--queries",
        type=Path,
        required=True,
        metavar="FILE",
        help="JSON Lines file of labelled queries (see docs/EVALUATE.md)",
    )
    evaluate.add_argument(
        "--top-k",
        type=whole_number(1, 100),
        default=FULL_DEPTH,
        help="matches retrieved per query (1-100, default 10); Recall@5, MRR@10 "
        "and nDCG@10 see at most this many, so keep it at 10 or more",
    )
    evaluate.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="also write the result as JSON; an earlier file there is replaced "
        "only once the new one is complete",
    )
    evaluate.add_argument(
        "--bootstrap",
        type=whole_number(0, MAX_RESAMPLES),
        default=1000,
        metavar="N",
        help=f"bootstrap resamples per 95%% interval (0-{MAX_RESAMPLES:,}, default "
        "1000); 0 leaves the intervals out",
    )
    evaluate.set_defaults(handler=evaluate_queries)


def evaluate_queries(args: argparse.Namespace, settings: ServiceSettings) -> int:
    """Run the recommender on each labelled query, print the scores, write JSON."""
    queries = read_queries(args.queries)
    problem = output_problem(args.output, args.queries)
    if problem is not None:
        print(f"error: --output {args.output}: {problem}", file=sys.stderr)
        return 2
    if args.top_k < FULL_DEPTH:
        print(
            f"warning: --top-k {args.top_k} retrieves fewer than {FULL_DEPTH} "
            f"matches, so Recall@5, MRR@10 and nDCG@10 count only the first "
            f"{args.top_k}",
            file=sys.stderr,
        )

    knowledge_base = KnowledgeBase(settings, create=False)
    known_ids = set(knowledge_base.database.record_hashes())
    if not known_ids:
        raise KnowledgeBaseError(
            f"the knowledge base in {settings.home} has no records, so there is "
            "nothing to evaluate; build it with 'indexer build FOLDER'"
        )
    relevant = {rid for query in queries for rid in query.relevant_ids or ()}
    if relevant and not relevant & known_ids:
        by_lower = {record_id.lower(): record_id for record_id in known_ids}
        in_other_case = sorted(rid for rid in relevant if rid.lower() in by_lower)
        example = (in_other_case or sorted(relevant))[0]
        if in_other_case:
            reason = (
                f"ids differ in case only (the knowledge base has "
                f"{by_lower[example.lower()]!r}); ids are compared exactly, so "
                "spell them as the knowledge base does"
            )
        else:
            reason = (
                "the queries were written for another knowledge base, or --home "
                "points at the wrong one"
            )
        print(
            f"error: none of the {len(relevant)} relevant ids in {args.queries} is "
            f"in the knowledge base in {settings.home} (one is {example!r}); "
            f"{reason}",
            file=sys.stderr,
        )
        return 2
    for warning in label_warnings(queries, known_ids, knowledge_base):
        print(f"warning: {warning}", file=sys.stderr)

    recommender = Recommender(
        knowledge_base,
        threshold=settings.threshold,
        severity_scale=load_scale(settings.config),
    )
    # A progress bar on a terminal only, so that logs and pipes stay clean.
    progress = tqdm(
        queries,
        desc="evaluating queries",
        unit="query",
        disable=not sys.stderr.isatty(),
        leave=False,
    )
    predictions = predict(recommender, progress, top_k=args.top_k)
    result = score(
        queries,
        predictions,
        settings.threshold,
        bootstrap=args.bootstrap,
        known_ids=known_ids,
    )
    result.update(
        queries_file=str(args.queries),
        top_k=args.top_k,
        predictions=[asdict(prediction) for prediction in predictions],
    )

    # With --output /dev/stdout the report goes to stderr, so that stdout is
    # JSON that a pipe such as `| jq` can read.
    to_stdout = args.output is not None and _is_stdout(args.output)
    report = sys.stderr if to_stdout else sys.stdout
    print(render_evaluation(result), file=report)
    if args.output is not None:
        write_result(args.output, result)
        print(f"wrote {args.output}", file=report)
    return 0


def output_problem(output: Path | None, queries: Path) -> str | None:
    """Return why the result cannot be written to output, checked before the run."""
    if output is None:
        return None
    if _is_special(output):
        # A pipe or device such as /dev/stdout is written as it is.
        return None if os.access(output, os.W_OK) else "cannot be written"
    if output.is_dir():
        return "is a folder; give the path of a file"
    if not output.parent.is_dir():
        return f"folder {output.parent} does not exist; create it or pick another path"
    if output.resolve() == queries.resolve():
        return "is the queries file, which the result would replace; pick another path"
    folder = output.resolve().parent
    if not folder.is_dir():
        return f"folder {folder} does not exist; create it or pick another path"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in folder {folder} (permission denied)"
    return None


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write the result as JSON through a temporary file, then move it in place.

    A full disk or a killed process leaves any earlier result whole, never a
    truncated file that the notebook cannot read. A symbolic link is followed,
    and a pipe or device such as /dev/stdout is written directly.

    Raises:
        IncidentRecommenderError: The file could not be written.
    """
    text = json.dumps(result, indent=2) + "\n"
    if _is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if _is_special(path):
        # Appending keeps what a shell redirection of /dev/stderr already wrote.
        try:
            with path.open("a", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as error:
            raise IncidentRecommenderError(
                f"cannot write {path}: {error.strerror}"
            ) from None
        return
    target = path.resolve()
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o644)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except OSError as error:
        raise IncidentRecommenderError(
            f"cannot write {path}: {error.strerror}; any earlier file there is "
            "unchanged. Free space or pick another --output"
        ) from None
    finally:
        # Also on Ctrl-C; after os.replace the temporary name is gone already.
        Path(temporary).unlink(missing_ok=True)


def _is_stdout(path: Path) -> bool:
    """Return whether path is this process's standard output, as /dev/stdout is."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def _is_special(path: Path) -> bool:
    """Return whether path is a pipe, a device or a name under /dev or /proc.

    /dev/stderr redirected to a log resolves to that regular file, which must be
    written to, not replaced.
    """
    if path.absolute().as_posix().startswith(("/dev/", "/proc/")):
        return True
    return path.exists() and not path.is_file() and not path.is_dir()


def label_warnings(
    queries: Sequence[LabelledQuery],
    known_ids: Collection[str],
    knowledge_base: KnowledgeBase,
) -> list[str]:
    """Return warnings for query labels that no record of the knowledge base has.

    Such a label can never be retrieved or suggested, so its query scores 0
    without anything else looking wrong. A near spelling that does exist is named.
    """
    warnings = []
    by_lower = {record_id.lower(): record_id for record_id in known_ids}
    relevant = {rid for query in queries for rid in query.relevant_ids or ()}
    excluded = {rid for query in queries for rid in query.exclude_ids}
    for name, ids in (("relevant_ids", relevant), ("exclude_ids", excluded)):
        unknown = sorted(set(ids) - set(known_ids))
        if not unknown:
            continue
        listed = [
            f"{rid} (the knowledge base has {by_lower[rid.lower()]})"
            if rid.lower() in by_lower
            else rid
            for rid in unknown[:MAX_LISTED]
        ]
        more = " ..." if len(unknown) > MAX_LISTED else ""
        warnings.append(
            f"{len(unknown)} of the {len(ids)} ids in {name} are not in the "
            f"knowledge base: {', '.join(listed)}{more}"
        )

    expected = {query.category for query in queries if query.category}
    if expected:
        categories = knowledge_base.database.label_values("category")
        missing = sorted(expected - categories)
        if missing:
            listed = [_with_near(label, categories) for label in missing[:MAX_LISTED]]
            more = " ..." if len(missing) > MAX_LISTED else ""
            warnings.append(
                f"{len(missing)} of the {len(expected)} categories in the queries "
                f"are on no record, so they are never suggested: "
                f"{', '.join(listed)}{more}"
            )
    return warnings


def _with_near(label: str, known: Collection[str]) -> str:
    near = difflib.get_close_matches(label, list(known), n=1, cutoff=0.75)
    return f"{label!r} (records use {near[0]!r})" if near else repr(label)
