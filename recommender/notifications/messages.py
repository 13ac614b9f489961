"""The bodies sent to channels: a JSON document and a Slack message built from it."""

from __future__ import annotations

from typing import Any

from recommender.incidents_in_progress import IncidentInProgress, SeverityChange
from recommender.schemas import RecommendationOut

# Bounds that keep one message readable and under Slack's limits (3,000 characters
# per text block, 50 blocks per message).
MAX_ALERTS = 20
MAX_RECOMMENDATIONS = 5
MAX_ITEMS = 3
MAX_SLACK_TEXT = 2_900
# Alert names in a notification's title. The rest are counted.
TITLE_NAMES = 3


def incident_document(
    incident: IncidentInProgress,
    change: SeverityChange,
    recommendations: list[tuple[str, str, RecommendationOut]],
) -> dict[str, Any]:
    """Build the JSON body of a notification about a change of an incident.

    Args:
        incident: The incident in progress after the change.
        change: The change that is notified.
        recommendations: (fingerprint, alertname, recommendation) of the alerts of
            the webhook that caused it.
    """
    firing = [alert for alert in incident.alerts if alert.status == "firing"]
    return {
        "type": f"incident.{change.event}",
        "incident": {
            "id": incident.id,
            "group_key": incident.group_key,
            "title": incident_title(incident),
            "status": incident.status,
            "severity": change.severity,
            "previous_severity": change.previous,
            "reasons": change.reasons,
            "group_labels": incident.group_labels,
            "opened_at": incident.opened_at,
            "changed_at": change.changed_at,
            "firing_alerts": change.firing_alerts,
            "services": sorted({a.service for a in firing if a.service}),
        },
        "alerts": [
            {
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "status": alert.status,
                "service": alert.service,
                "instance": alert.instance,
            }
            for alert in incident.alerts[:MAX_ALERTS]
        ],
        "recommendations": [
            _recommendation(fingerprint, alertname, recommendation)
            for fingerprint, alertname, recommendation in recommendations[
                :MAX_RECOMMENDATIONS
            ]
        ],
    }


def incident_title(incident: IncidentInProgress) -> str:
    """Return a short title: the group's alert names, or its group key.

    Names of firing alerts come first, so a title names what is still wrong, and
    the names left out are counted.
    """
    if incident.group_labels.get("alertname"):
        return incident.group_labels["alertname"]
    firing = {a.alertname for a in incident.alerts if a.status == "firing"}
    names = sorted(
        {alert.alertname for alert in incident.alerts if alert.alertname},
        key=lambda name: (name not in firing, name),
    )
    if not names:
        return incident.group_key[:80]
    title = ", ".join(names[:TITLE_NAMES])
    if len(names) > TITLE_NAMES:
        title += f" and {len(names) - TITLE_NAMES} more"
    return title


def slack_message(document: dict[str, Any]) -> dict[str, Any]:
    """Render a notification document as a Slack incoming-webhook message."""
    incident = document["incident"]
    event = document["type"].removeprefix("incident.")
    title = f"[{incident['severity']}] Incident {event}: {incident['title']}"
    reasons = "\n".join(f"• {_escape(reason)}" for reason in incident["reasons"])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(f"*Why {incident['severity']}*\n{reasons}"),
            },
        },
    ]
    for item in document["recommendations"]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_lines(item))}}
        )
    services = ", ".join(incident["services"]) or "unknown service"
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _cut(
                        f"{incident['firing_alerts']} alert(s) firing on "
                        f"{_escape(services)} · incident {incident['id']}"
                    ),
                }
            ],
        }
    )
    return {"text": _escape(title), "blocks": blocks}


def _recommendation(
    fingerprint: str, alertname: str, recommendation: RecommendationOut
) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "alertname": alertname,
        "message": recommendation.message,
        "no_close_precedent": recommendation.no_close_precedent,
        "severity": recommendation.severity.value,
        "matches": [
            {
                "id": match.id,
                "title": match.title,
                "score": match.score,
                "confidence": match.confidence,
            }
            for match in recommendation.matches[:MAX_ITEMS]
        ],
        "root_causes": [
            {
                "text": s.text,
                "confidence": s.confidence,
                "evidence": s.evidence,
                "related": s.related,
            }
            for s in recommendation.root_causes[:MAX_ITEMS]
        ],
        "fixes": [
            {"text": s.text, "confidence": s.confidence, "evidence": s.evidence}
            for s in recommendation.fixes[:MAX_ITEMS]
        ],
    }


def _lines(item: dict[str, Any]) -> str:
    lines = [f"*{_escape(item['alertname'] or item['fingerprint'])}*"]
    lines.append(_escape(item["message"]))
    for cause in item["root_causes"]:
        lines.append(
            f"Likely cause ({cause['confidence']:.2f}): {_escape(cause['text'])}"
        )
    for fix in item["fixes"]:
        lines.append(f"Suggested fix ({fix['confidence']:.2f}): {_escape(fix['text'])}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions; these three must be escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SLACK_TEXT else text[: MAX_SLACK_TEXT - 1] + "…"
