"""Subcommands for incidents in progress and their notifications.

`recommender incidents` tracks an Alertmanager webhook file as the API does and
reads the severity history back. `recommender notifications` lists deliveries,
sends due ones and retries dead letters, also while the service is not running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from indexer.knowledge_base import KnowledgeBase
from recommender.alerts import Alert, parse_alertmanager, read_payload_file
from recommender.arguments import whole_number
from recommender.errors import InvalidAlertError
from recommender.incident_response import IncidentResponse
from recommender.incidents_in_progress import IncidentInProgress, group_name
from recommender.recommendation import Recommender
from recommender.response_schemas import delivery_out, incident_out
from recommender.schemas import alert_result
from recommender.settings import ServiceSettings
from recommender.severity_policy import load_scale


def add_incident_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the incidents and notifications subcommands."""
    incidents = commands.add_parser(
        "incidents", help="alert groups tracked as incidents in progress"
    )
    actions = incidents.add_subparsers(required=True, metavar="ACTION")
    track = actions.add_parser(
        "track", help="recommend for an Alertmanager webhook file and track its group"
    )
    track.add_argument("--file", "-f", type=Path, required=True, help="webhook JSON")
    track.add_argument(
        "--top-k", type=_top_k, default=5, help="matches per alert (1-100)"
    )
    track.set_defaults(handler=_track)
    list_incidents = actions.add_parser(
        "list", help="list incidents, newest change first"
    )
    list_incidents.add_argument("--status", choices=("open", "resolved"))
    list_incidents.set_defaults(handler=_list_incidents)
    show = actions.add_parser("show", help="print one incident and its history")
    show.add_argument("key", metavar="ID_OR_GROUP_KEY")
    show.set_defaults(handler=_show_incident)

    notifications = commands.add_parser(
        "notifications", help="notification deliveries and dead letters"
    )
    actions = notifications.add_subparsers(required=True, metavar="ACTION")
    list_deliveries = actions.add_parser("list", help="list deliveries, newest first")
    list_deliveries.add_argument("--status", choices=("pending", "delivered", "dead"))
    list_deliveries.set_defaults(handler=_list_deliveries)
    deliver = actions.add_parser("deliver", help="send the deliveries that are due")
    deliver.set_defaults(handler=_deliver)
    retry = actions.add_parser("retry", help="send a dead letter again")
    retry.add_argument("delivery_id", metavar="ID")
    retry.set_defaults(handler=_retry)

    for command in (list_incidents, show, list_deliveries):
        command.add_argument("--json", action="store_true", help="print JSON")
    track.add_argument(
        "--json",
        action="store_true",
        help=(
            "print the incident as JSON; a list of incidents when a webhook "
            "without groupKey holds alerts of several groups"
        ),
    )


_top_k = whole_number(1, 100)


def _response(settings: ServiceSettings) -> IncidentResponse:
    return IncidentResponse(settings.home, settings.config)


def _track(args: argparse.Namespace, settings: ServiceSettings) -> int:
    payload = read_payload_file(args.file)
    if not isinstance(payload, dict) or "alerts" not in payload:
        raise InvalidAlertError(
            str(args.file), "expected an Alertmanager webhook with an alerts list"
        )
    parsed = parse_alertmanager(payload)
    recommender = Recommender(
        KnowledgeBase(settings, create=False),
        threshold=settings.threshold,
        severity_scale=load_scale(settings.config),
    )
    results = []
    for index, item in enumerate(parsed):
        recommendation = None
        if isinstance(item, Alert) and item.status == "firing":
            recommendation = recommender.recommend(item, top_k=args.top_k)
        results.append(alert_result(index, item, recommendation))

    response = _response(settings)
    updates = response.handle_webhook(payload, parsed, results)
    if not updates:
        print("no valid alert in the webhook, so no group was tracked")
        return 1
    response.sender.run_due()
    if args.json:
        documents = [incident_out(update.incident).model_dump() for update in updates]
        print(json.dumps(documents[0] if len(updates) == 1 else documents, indent=2))
        return 0
    for update in updates:
        change = update.change
        print(_describe(update.incident))
        if change is None:
            print("no change of severity or status")
        else:
            print(f"{change.event}: {change.previous or '-'} -> {change.severity}")
        print(f"notifications queued: {len(update.deliveries)}")
    return 0


def _list_incidents(args: argparse.Namespace, settings: ServiceSettings) -> int:
    incidents = _response(settings).tracker.list(args.status, 100)
    if args.json:
        print(json.dumps([asdict(i) for i in incidents], indent=2, default=str))
        return 0
    for incident in incidents:
        print(_describe(incident))
    if not incidents:
        print("no incidents in progress")
    return 0


def _show_incident(args: argparse.Namespace, settings: ServiceSettings) -> int:
    incident = _response(settings).tracker.get(args.key)
    if args.json:
        print(json.dumps(incident_out(incident).model_dump(), indent=2))
        return 0
    print(_describe(incident))
    print(f"group key: {incident.group_key}")
    print("why:")
    for reason in incident.reasons:
        print(f"  - {reason}")
    print("history:")
    for change in incident.history:
        print(
            f"  {change.changed_at} {change.event}: {change.previous or '-'} -> "
            f"{change.severity} ({change.firing_alerts} firing)"
        )
        for reason in change.reasons:
            print(f"      {reason}")
    return 0


def _list_deliveries(args: argparse.Namespace, settings: ServiceSettings) -> int:
    deliveries = _response(settings).outbox.list(args.status)
    if args.json:
        print(json.dumps([delivery_out(d).model_dump() for d in deliveries], indent=2))
        return 0
    for delivery in deliveries:
        # Errors stored by older versions may span lines.
        last_error = " ".join((delivery.last_error or "").split())
        error = f" last error: {last_error}" if last_error else ""
        print(
            f"{delivery.id} {delivery.status:9} {delivery.channel} "
            f"incident {delivery.incident_id} {delivery.event}, "
            f"{delivery.attempts} attempt(s){error}"
        )
    if not deliveries:
        print("no notification deliveries")
    return 0


def _deliver(args: argparse.Namespace, settings: ServiceSettings) -> int:
    response = _response(settings)
    if not response.notifications.channels:
        print(
            "no notification channels configured: set INCIDENT_CONFIG to the "
            "service's configuration file; nothing was sent",
            file=sys.stderr,
        )
        return 2
    attempted = response.sender.run_due()
    pending = len(response.outbox.list("pending"))
    dead = len(response.outbox.list("dead"))
    print(f"attempted {attempted}; {pending} pending, {dead} dead letter(s)")
    return 0


def _retry(args: argparse.Namespace, settings: ServiceSettings) -> int:
    response = _response(settings)
    response.retry(args.delivery_id, time.time())
    delivery = response.sender.send_now(args.delivery_id)
    if delivery is None:
        print(
            f"{args.delivery_id} pending: another process is sending it, or it waits "
            "for an older delivery of its incident to the same channel"
        )
        return 0
    print(f"{delivery.id} {delivery.status} after {delivery.attempts} attempt(s)")
    return 0 if delivery.status == "delivered" else 1


def _describe(incident: IncidentInProgress) -> str:
    name = group_name(incident.group_labels, incident.group_key)
    return f"{incident.id} {incident.status:8} {incident.severity} {name}"
