"""The recommender command: serve the API, suggest, search history, evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from indexer.console import exit_with
from indexer.errors import IncidentRecommenderError, KnowledgeBaseError
from indexer.knowledge_base import KnowledgeBase
from indexer.settings import load_settings
from recommender.alerts import Alert, alert_from_text, parse_alertmanager, parse_plain
from recommender.errors import InvalidAlertError
from recommender.evaluation import predict, score
from recommender.evaluation_report import render_evaluation
from recommender.queries import read_queries
from recommender.recommendation import Recommender
from recommender.report import render_matches, render_result
from recommender.schemas import alert_result, match_out
from recommender.settings import ServiceSettings

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Run the recommender command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {"home": args.home} if args.home else {}
    try:
        settings = load_settings(ServiceSettings, **overrides)
        return int(args.handler(args, settings))
    except IncidentRecommenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        name = error.filename or "file"
        print(f"error: cannot read {name}: {error.strerror}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace, settings: ServiceSettings) -> int:
    import uvicorn

    from recommender.api import create_app

    if not args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    # Open the knowledge base first, so a missing or broken one is a clear error.
    knowledge_base = KnowledgeBase(settings, create=False)
    app = create_app(settings, knowledge_base=knowledge_base)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0


def _suggest(args: argparse.Namespace, settings: ServiceSettings) -> int:
    alerts = _alerts_from(args)
    recommender = Recommender(
        KnowledgeBase(settings, create=False), threshold=settings.threshold
    )
    results = []
    for index, item in enumerate(alerts):
        recommendation = None
        if isinstance(item, Alert) and item.status == "firing":
            recommendation = recommender.recommend(item, top_k=args.top_k)
        results.append(alert_result(index, item, recommendation))

    if args.json:
        print(json.dumps({"results": [r.model_dump() for r in results]}, indent=2))
    else:
        print("\n".join(render_result(r) for r in results))
    return 0 if all(r.outcome != "rejected" for r in results) else 1


def _search(args: argparse.Namespace, settings: ServiceSettings) -> int:
    recommender = Recommender(
        KnowledgeBase(settings, create=False), threshold=settings.threshold
    )
    matches = recommender.retriever.search(
        alert_from_text(" ".join(args.text), field="TEXT"), args.top_k
    )
    outputs = [match_out(m, settings.threshold) for m in matches]
    if args.json:
        print(json.dumps([m.model_dump() for m in outputs], indent=2))
    else:
        print("\n".join(render_matches(outputs)))
    return 0


def _evaluate(args: argparse.Namespace, settings: ServiceSettings) -> int:
    queries = read_queries(args.queries)
    if args.output is not None and not args.output.parent.is_dir():
        print(
            f"error: --output {args.output}: folder {args.output.parent} does not "
            "exist; create it or pick another path",
            file=sys.stderr,
        )
        return 2
    knowledge_base = KnowledgeBase(settings, create=False)
    known_ids = set(knowledge_base.database.record_hashes())
    if not known_ids:
        raise KnowledgeBaseError(
            f"the knowledge base in {settings.home} has no records, so there is "
            "nothing to evaluate; build it with 'indexer build FOLDER'"
        )

    recommender = Recommender(knowledge_base, threshold=settings.threshold)
    predictions = predict(recommender, queries, top_k=args.top_k)
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

    print(render_evaluation(result))
    if args.output is not None:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def _alerts_from(args: argparse.Namespace) -> list[Alert | InvalidAlertError]:
    if args.file is None:
        if not args.text:
            raise InvalidAlertError("TEXT", "give alert text or --file PAYLOAD.json")
        return [alert_from_text(" ".join(args.text), field="TEXT")]

    raw = Path(args.file).read_bytes()
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidAlertError(
            str(args.file), f"not valid UTF-8 JSON: {error}"
        ) from error
    if isinstance(payload, dict) and "alerts" in payload:
        return list(parse_alertmanager(payload))
    return [parse_plain(payload)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recommender", description=__doc__)
    parser.add_argument(
        "--home", type=Path, help="knowledge base folder (INCIDENT_HOME, default ./var)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, help="port to listen on, 1-65535 (default 8080)"
    )
    serve.set_defaults(handler=_serve)

    suggest = commands.add_parser(
        "suggest", help="recommend for alert text or a payload"
    )
    suggest.add_argument("text", nargs="*", metavar="TEXT", help="alert text")
    suggest.add_argument(
        "--file", "-f", type=Path, help="Alertmanager webhook or plain JSON alert file"
    )
    search = commands.add_parser("search", help="search past incidents by free text")
    search.add_argument("text", nargs="+", metavar="TEXT")
    for command in (suggest, search):
        command.add_argument("--top-k", type=_top_k, default=5, help="matches (1-100)")
        command.add_argument("--json", action="store_true", help="print JSON")
    suggest.set_defaults(handler=_suggest)
    search.set_defaults(handler=_search)

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
        type=_top_k,
        default=10,
        help="matches retrieved per query (1-100, default 10); nDCG@10 and MRR@10 "
        "see at most this many",
    )
    evaluate.add_argument(
        "--output", type=Path, metavar="FILE", help="also write the result as JSON"
    )
    evaluate.add_argument(
        "--bootstrap",
        type=_resamples,
        default=1000,
        metavar="N",
        help="bootstrap resamples per 95%% interval (default 1000); 0 leaves the "
        "intervals out",
    )
    evaluate.set_defaults(handler=_evaluate)
    return parser


def _whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """Return an argparse type that accepts whole numbers from low to high."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {value!r}"
            ) from None
        if number < low or (high is not None and number > high):
            allowed = (
                f"between {low} and {high}" if high is not None else f"{low} or more"
            )
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {number}")
        return number

    return parse


_top_k = _whole_number(1, 100)
_resamples = _whole_number(0)
_port = _whole_number(1, 65535)


def run() -> None:
    """Run the command as a console script."""
    exit_with(main)


if __name__ == "__main__":
    run()
