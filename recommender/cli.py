"""The recommender command: serve the API, suggest, search history, evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from indexer.console import exit_with
from indexer.errors import (
    IncidentRecommenderError,
    is_undecodable_text,
    undecodable_text_message,
)
from indexer.knowledge_base import KnowledgeBase
from indexer.settings import load_settings
from recommender.alert_store import AlertStore
from recommender.alerts import (
    Alert,
    alert_from_text,
    parse_alertmanager,
    parse_plain,
    read_payload_file,
)
from recommender.arguments import whole_number
from recommender.errors import InvalidAlertError
from recommender.evaluate_command import add_evaluate_command
from recommender.feedback import TARGETS, VERDICTS, FeedbackEntry, FeedbackStore
from recommender.grafana import GRAFANA_VERSION, parse_grafana
from recommender.incident_commands import add_incident_commands
from recommender.logs import configure_logging
from recommender.pagerduty import parse_pagerduty
from recommender.recommendation import Recommender
from recommender.report import render_matches, render_result
from recommender.responder_results import add_responders
from recommender.response_commands import add_response_commands
from recommender.schemas import alert_result, match_out
from recommender.settings import ServiceSettings
from recommender.severity_policy import load_scale

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Run the recommender command line; returns the exit status."""
    args = _parser().parse_args(argv)
    overrides = {"home": args.home} if args.home else {}
    try:
        settings = load_settings(ServiceSettings, **overrides)
        configure_logging(
            logging.INFO if args.verbose else logging.WARNING, settings.log_format
        )
        return int(args.handler(args, settings))
    except IncidentRecommenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except UnicodeEncodeError as error:
        if not is_undecodable_text(error):
            raise
        print(f"error: {undecodable_text_message(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Not a file that could not be read: exit_with() stops quietly.
        raise
    except OSError as error:
        # Reads and writes (a report folder, a result file) end here alike.
        name = error.filename or "a file"
        print(f"error: cannot use {name}: {error.strerror}", file=sys.stderr)
        return 2


def _check_configuration(path: Path | None) -> None:
    """Read every section of the configuration file; raises ConfigurationError."""
    from recommender.config import config_section
    from recommender.notifications.config import NotificationsConfig
    from recommender.responders import load_responders_config
    from recommender.status_update import load_status_updater

    if path is None:
        return
    load_scale(path)
    load_responders_config(path)
    load_status_updater(path)
    config_section(path, "notifications", NotificationsConfig)


def _serve(args: argparse.Namespace, settings: ServiceSettings) -> int:
    from recommender.api import create_app
    from recommender.server import StoppingServer

    if not args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    settings = settings.model_copy(
        update={"host": args.host or settings.host, "port": args.port or settings.port}
    )
    # Open the knowledge base and read the configuration file first, so a missing
    # or broken one is one clear error line, not a failed start of the app.
    knowledge_base = KnowledgeBase(settings, create=False)
    _check_configuration(settings.config)
    app = create_app(settings, knowledge_base=knowledge_base, freeze_loaded=True)
    # log_config=None keeps the handlers set up in main, so uvicorn's lines come
    # out in the same format (JSON with INCIDENT_LOG_FORMAT=json).
    # NOTE: uvicorn has no timeout for reading request headers, so a reverse proxy
    # in front must enforce one. Bodies are timed by body_timeout in the app.
    config = settings.uvicorn_config(app, log_level="info", log_config=None)
    StoppingServer(config, app.state.readiness).run()
    return 0


def _feedback_add(args: argparse.Namespace, settings: ServiceSettings) -> int:
    if not args.alertname and not args.fingerprint:
        print(
            "error: give --alertname or --fingerprint of the alert the verdict is for",
            file=sys.stderr,
        )
        return 2
    knowledge_base = KnowledgeBase(settings, create=False)
    knowledge_base.get(args.record)
    entry = FeedbackStore(knowledge_base.database).add(
        FeedbackEntry(
            record_id=args.record,
            verdict=args.verdict,
            alertname=args.alertname or "",
            fingerprint=args.fingerprint or "",
            target=args.target,
            note=args.note or "",
            author=args.author or "",
        )
    )
    print(
        f"stored feedback {entry.id}: {entry.verdict} for {entry.record_id} "
        f"(alertname {entry.alertname or '-'}, fingerprint {entry.fingerprint or '-'})"
    )
    return 0


def _alerts_prune(args: argparse.Namespace, settings: ServiceSettings) -> int:
    path = settings.alerts_database or settings.home / "alerts.db"
    if not path.exists():
        print(f"no alerts database at {path}; nothing to prune")
        return 0
    removed = AlertStore(path).prune(timedelta(days=args.days))
    print(f"removed {removed} alerts last received more than {args.days} days ago")
    return 0


def _feedback_list(args: argparse.Namespace, settings: ServiceSettings) -> int:
    knowledge_base = KnowledgeBase(settings, create=False)
    knowledge_base.get(args.record)
    summary = FeedbackStore(knowledge_base.database).summary(args.record, args.limit)
    if args.json:
        print(json.dumps(asdict(summary), indent=2))
        return 0
    print(f"{args.record}: {summary.helpful} helpful, {summary.wrong} wrong")
    for entry in summary.entries:
        note = f": {entry.note}" if entry.note else ""
        print(
            f"  {entry.created_at[:19]} {entry.verdict:<7} "
            f"alertname={entry.alertname or '-'} by {entry.author or '-'}{note}"
        )
    return 0


def _suggest(args: argparse.Namespace, settings: ServiceSettings) -> int:
    alerts = _alerts_from(args)
    recommender = Recommender(
        KnowledgeBase(settings, create=False),
        threshold=settings.threshold,
        severity_scale=load_scale(settings.config),
    )
    results = []
    for index, item in enumerate(alerts):
        recommendation = None
        if isinstance(item, Alert) and item.status == "firing":
            recommendation = recommender.recommend(item, top_k=args.top_k)
        result = alert_result(index, item, recommendation)
        results.append(add_responders(result, item, recommendation, settings.config))

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
        print("\n".join(render_matches(outputs, settings.threshold)))
    return 0


def _alerts_from(args: argparse.Namespace) -> list[Alert | InvalidAlertError]:
    if args.file is None:
        if not args.text:
            raise InvalidAlertError("TEXT", "give alert text or --file PAYLOAD.json")
        return [alert_from_text(" ".join(args.text), field="TEXT")]

    return parse_any_payload(read_payload_file(args.file))


def parse_any_payload(payload: object) -> list[Alert | InvalidAlertError]:
    """Parse any payload the API takes: Alertmanager, Grafana, PagerDuty or plain.

    Grafana webhooks are recognised by their version "1", and PagerDuty events by
    event_action or by being a list.
    """
    if isinstance(payload, list) or (
        isinstance(payload, dict) and "event_action" in payload
    ):
        return parse_pagerduty(payload).alerts
    if isinstance(payload, dict) and "alerts" in payload:
        if str(payload.get("version")) == GRAFANA_VERSION:
            return parse_grafana(payload).alerts
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

    add_evaluate_command(commands)
    _add_feedback_parser(commands)
    _add_alerts_parser(commands)
    add_response_commands(commands)
    add_incident_commands(commands)
    return parser


def _add_alerts_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    alerts = commands.add_parser("alerts", help="manage the received alerts")
    actions = alerts.add_subparsers(required=True, metavar="ACTION")
    prune = actions.add_parser(
        "prune", help="delete alerts not received again for a number of days"
    )
    prune.add_argument(
        "--days",
        type=whole_number(1),
        required=True,
        help="keep alerts last received within this many days",
    )
    prune.set_defaults(handler=_alerts_prune)


def _add_feedback_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    feedback = commands.add_parser(
        "feedback", help="mark a match helpful or wrong for an alert, or list verdicts"
    )
    actions = feedback.add_subparsers(required=True, metavar="ACTION")

    add = actions.add_parser("add", help="store a verdict on a record for an alert")
    add.add_argument("--record", required=True, metavar="ID", help="record id")
    add.add_argument("--verdict", required=True, choices=VERDICTS)
    add.add_argument("--alertname", help="alert name the verdict applies to")
    add.add_argument("--fingerprint", help="alert fingerprint the verdict applies to")
    add.add_argument(
        "--target", choices=TARGETS, default="match", help="what was judged"
    )
    add.add_argument("--note", help="why, in a sentence")
    add.add_argument("--author", help="who gives the verdict")
    add.set_defaults(handler=_feedback_add)

    listing = actions.add_parser("list", help="print the verdicts on one record")
    listing.add_argument("record", metavar="ID", help="record id")
    listing.add_argument(
        "--limit", type=whole_number(1, 1000), default=20, help="entries (1-1000)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_feedback_list)


_top_k = whole_number(1, 100)
_port = whole_number(1, 65535)


def run() -> None:
    """Run the command as a console script."""
    exit_with(main)


if __name__ == "__main__":
    run()
