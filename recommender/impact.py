"""Live impact of an alert group, and the severity it gives on top of history.

History (the severity the matches vote for each alert) is the starting level. The
impact rules of the `severity` section then raise it for many alerts, instances or
services, a long firing time and customer-facing services, or lower it for one
contained alert. Each rule that changes the level adds a sentence to the reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from recommender.alerts import Alert
from recommender.severity_policy import ImpactRules, SeverityScale

# Labels that name the instance an alert fires on, in order of preference.
INSTANCE_LABELS = ("instance", "pod", "host", "node", "hostname")
# An RFC 3339 time in parts: date, clock, fraction digits, zone.
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})"
)
_UTC_ZONES = frozenset({"Z", "+00:00", "+0000", "-00:00", "-0000"})
# Sources of an alert's suggested severity, with the wording of an incident's
# reason, in the order of preference when alerts of one level differ.
SEVERITY_SOURCES = {
    "precedents": "from the severities of similar past incidents",
    "label": "from the alert's own severity label",
    "nearest_model": (
        "from the severities of the nearest past incidents, none of them close, "
        "and the history model"
    ),
    "nearest": "from the severities of the nearest past incidents, none of them close",
    "model": "from the history model; no past incident is close",
}
# Alerts stored before their source was recorded.
DEFAULT_SOURCE = "from the severities suggested for its alerts"
_TRUE = frozenset({"true", "yes", "1"})


@dataclass(frozen=True)
class AlertState:
    """One alert of a group as stored between webhooks.

    Attributes:
        fingerprint: Alertmanager's fingerprint of the alert.
        status: "firing" or "resolved".
        alertname: The alertname label.
        service: The affected service, empty when unknown.
        instance: The instance, pod or host label, empty when unknown.
        customer_facing: The customer-facing label is "true".
        starts_at: When it started firing, timezone-aware, None when not sent.
        history_severity: Level its recommendation suggested, None when unknown.
        severity_source: What gave that level, a key of SEVERITY_SOURCES, or
            None for alerts stored before the source was.
    """

    fingerprint: str
    status: str
    alertname: str = ""
    service: str = ""
    instance: str = ""
    customer_facing: bool = False
    starts_at: datetime | None = None
    history_severity: str | None = None
    severity_source: str | None = None


@dataclass
class GroupImpact:
    """Counts of the firing alerts of a group at evaluation time.

    Attributes:
        firing_alerts: Alerts of the group that are firing.
        instances: Distinct instances among them.
        services: Distinct services among them.
        customer_facing: Customer-facing services among them, with the reason.
        firing_since: Earliest start of a firing alert, None when unknown.
        firing_minutes: Minutes from firing_since to the evaluation time.
    """

    firing_alerts: int
    instances: list[str]
    services: list[str]
    customer_facing: dict[str, str] = field(default_factory=dict)
    firing_since: datetime | None = None
    firing_minutes: float | None = None


@dataclass
class SeverityAssessment:
    """The severity of a group, where it started and why it moved."""

    value: str
    history: str | None
    reasons: list[str]


def is_customer_facing(labels: dict[str, str], rules: ImpactRules) -> bool:
    """Return whether an alert's labels mark its service as customer-facing."""
    value = labels.get(rules.customer_facing_label, "")
    return value.strip().lower() in _TRUE


def instance_of(labels: dict[str, str]) -> str:
    """Return the instance, pod or host label of an alert, or an empty string."""
    for key in INSTANCE_LABELS:
        if labels.get(key):
            return labels[key]
    return ""


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 time as Alertmanager writes it, None if missing or invalid."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Go writes nanoseconds; Python reads at most microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        # The fraction is the digits before the zone, which has digits too.
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def late_firing(stored_status: str, stored_start: str | None, alert: Alert) -> bool:
    """Return whether alert is a late firing copy of a resolved occurrence.

    An occurrence is an alert's fingerprint and start time: Prometheus gives an
    alert that fires again after resolving a new start time, so a firing copy
    with the start time of a resolved one was sent before the resolve.
    """
    if alert.status != "firing" or stored_status != "resolved":
        return False
    if alert.starts_at is None or stored_start is None:
        return False
    incoming, stored = parse_time(alert.starts_at), parse_time(stored_start)
    return incoming is not None and incoming == stored


def before_end(stored_ended_at: str | None, alert: Alert) -> bool:
    """Return whether alert fires from a start no later than a resolve it follows.

    stored_ended_at is when the stored occurrence ended, kept only when a
    webhook reported it resolved. An occurrence that fires after that starts
    later, so a firing copy that started earlier was sent before the resolve,
    whatever start the Prometheus replicas gave it.
    """
    if alert.status != "firing" or stored_ended_at is None:
        return False
    incoming, ended = parse_time(alert.starts_at), parse_time(stored_ended_at)
    return incoming is not None and ended is not None and incoming <= ended


def before_reopen(reopened_after: str | None, alert: Alert) -> bool:
    """Return whether alert belongs to an occurrence that resolved before a newer one.

    reopened_after is the start of the occurrence that had resolved when the
    fingerprint fired again with a later start. A copy that started then or
    earlier was held up behind the newer occurrence, so neither its firing nor
    its resolve applies. An earlier start without a resolve in between is the
    same occurrence: Alertmanager keeps the earliest start that its Prometheus
    replicas report, so a later webhook may carry an earlier startsAt.
    """
    if alert.starts_at is None or reopened_after is None:
        return False
    incoming, boundary = parse_time(alert.starts_at), parse_time(reopened_after)
    return incoming is not None and boundary is not None and incoming <= boundary


def canonical_time(text: str) -> str:
    """Return one spelling of an RFC 3339 time per instant, for repeat keys.

    Alertmanager's own spelling (UTC with Z, no trailing zeros in the fraction)
    is returned unchanged, so keys stored from it stay the same.
    """
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return text
    date, clock, fraction, zone = match.groups()
    if zone.upper() in _UTC_ZONES:
        digits = (fraction or "").rstrip("0")
        return f"{date}T{clock}" + (f".{digits}" if digits else "") + "Z"
    # Offsets are whole minutes, so only the seconds move to UTC and the
    # fraction is kept as written, nanoseconds included.
    parsed = parse_time(f"{date}T{clock}{zone}")
    if parsed is None:
        return text
    utc = parsed.astimezone(timezone.utc)
    digits = (fraction or "").rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{digits}" if digits else "") + "Z"


def measure_impact(
    alerts: list[AlertState], rules: ImpactRules, now: datetime
) -> GroupImpact:
    """Count what is firing in a group and how long it has been firing."""
    firing = [alert for alert in alerts if alert.status == "firing"]
    configured = set(rules.customer_facing_services)
    customer_facing: dict[str, str] = {}
    for alert in firing:
        name = alert.service or alert.alertname
        if alert.customer_facing:
            customer_facing[name] = f'label {rules.customer_facing_label}="true"'
        elif alert.service and alert.service in configured:
            customer_facing[name] = "listed in customer_facing_services"

    starts = [alert.starts_at for alert in firing if alert.starts_at is not None]
    since = min(starts) if starts else None
    minutes = None if since is None else max((now - since).total_seconds() / 60, 0.0)
    return GroupImpact(
        firing_alerts=len(firing),
        instances=sorted({a.instance for a in firing if a.instance}),
        services=sorted({a.service for a in firing if a.service}),
        customer_facing=customer_facing,
        firing_since=since,
        firing_minutes=None if minutes is None else round(minutes, 1),
    )


def assess_severity(
    alerts: list[AlertState], impact: GroupImpact, scale: SeverityScale
) -> SeverityAssessment:
    """Combine the history of each firing alert with the live impact of the group."""
    rules = scale.config.impact
    voted = [
        alert
        for alert in alerts
        if alert.status == "firing" and alert.history_severity in scale.names
    ]
    if voted:
        history: str | None = min(
            (str(alert.history_severity) for alert in voted), key=scale.rank
        )
        level = str(history)
        sources = {a.severity_source for a in voted if a.history_severity == level}
        source = next((s for s in SEVERITY_SOURCES if s in sources), None)
        reasons = [f"{level} {SEVERITY_SOURCES.get(source or '', DEFAULT_SOURCE)}"]
    else:
        history = None
        level = scale.default_level
        reasons = [f"{level} by default: no past incident or label gave a severity"]

    raises = _raise_rules(impact, rules)
    for position, reason in enumerate(raises):
        if position >= rules.max_raise:
            reasons.append(
                f"not raised further: {reason}, but the rules add at most "
                f"{rules.max_raise} level(s)"
            )
            continue
        raised = scale.shift(level, 1)
        if raised == level:
            reasons.append(f"stays {level}, the most severe level: {reason}")
        else:
            reasons.append(f"raised to {raised}: {reason}")
        level = raised

    minimum = scale.customer_facing_minimum
    if (
        impact.customer_facing
        and rules.customer_facing_raises
        and scale.rank(level) > scale.rank(minimum)
    ):
        level = minimum
        services = ", ".join(
            f"{name} ({why})" for name, why in sorted(impact.customer_facing.items())
        )
        reasons.append(f"raised to {level}: customer-facing {services}")

    if not raises and _contained(impact, rules):
        lowered = scale.shift(level, -1)
        if lowered != level:
            level = lowered
            reasons.append(
                f"lowered to {level}: one alert on one instance of an internal "
                f"service, firing for less than {rules.long_firing_minutes:g} minutes"
            )
    return SeverityAssessment(value=level, history=history, reasons=reasons)


def _raise_rules(impact: GroupImpact, rules: ImpactRules) -> list[str]:
    raises = []
    if impact.firing_alerts >= rules.many_alerts:
        raises.append(
            f"{impact.firing_alerts} alerts firing (rule: {rules.many_alerts} or more)"
        )
    if len(impact.instances) >= rules.many_instances:
        raises.append(
            f"{len(impact.instances)} instances firing "
            f"(rule: {rules.many_instances} or more)"
        )
    if len(impact.services) >= rules.many_services:
        raises.append(
            f"{len(impact.services)} services firing ({', '.join(impact.services)}; "
            f"rule: {rules.many_services} or more)"
        )
    minutes = impact.firing_minutes
    if minutes is not None and minutes >= rules.long_firing_minutes:
        raises.append(
            f"firing for {describe_minutes(minutes)} "
            f"(rule: {rules.long_firing_minutes:g} minutes or more)"
        )
    return raises


def describe_minutes(minutes: float) -> str:
    """Return a duration in the largest unit that keeps it readable."""
    if minutes < 120:
        return f"{minutes:.0f} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} hours"
    return f"{minutes / (24 * 60):.0f} days"


def _contained(impact: GroupImpact, rules: ImpactRules) -> bool:
    return (
        rules.lower_when_contained
        and impact.firing_alerts == 1
        and len(impact.instances) <= 1
        and not impact.customer_facing
        and impact.firing_minutes is not None
        and impact.firing_minutes < rules.long_firing_minutes
    )
