from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from indexer.severity import Severity
from recommender.impact import AlertState, assess_severity, measure_impact, parse_time
from recommender.severity_policy import SeverityConfig, SeverityScale

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def _alert(number: int, minutes_ago: float = 5, **fields) -> AlertState:
    values = {
        "fingerprint": f"f{number}",
        "status": "firing",
        "alertname": "DiskFull",
        "service": "orders-db",
        "instance": f"db-{number}",
        "starts_at": NOW - timedelta(minutes=minutes_ago),
        "history_severity": "SEV3",
        "severity_source": "precedents",
    }
    values.update(fields)
    return AlertState(**values)


def _assess(alerts, config=None):
    scale = SeverityScale(config)
    impact = measure_impact(alerts, scale.config.impact, NOW)
    return assess_severity(alerts, impact, scale)


def test_default_scale_maps_tool_values():
    scale = SeverityScale()
    assert scale.names == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert scale.normalize("critical") == "SEV1"
    assert scale.normalize("P2") == "SEV2"
    assert scale.normalize("warning") == "SEV3"
    assert scale.normalize("info") == "SEV4"
    assert scale.normalize("nonsense") is None
    assert "Critical" in scale.definitions["SEV1"]


def test_custom_scale_spreads_standard_levels():
    config = SeverityConfig(
        levels=[
            {"name": "P1", "definition": "Outage"},
            {"name": "P2", "definition": "Degraded"},
            {"name": "P3", "definition": "Minor"},
        ],
        aliases={"Urgent": "P1"},
        impact={"customer_facing_minimum": "P1"},
    )
    scale = SeverityScale(config)
    assert scale.normalize("critical") == "P1"
    assert scale.normalize("major") == "P2"
    assert scale.normalize("info") == "P3"
    assert scale.normalize("urgent") == "P1"
    assert scale.normalize("p3") == "P3"
    assert scale.default_level == "P2"
    assert scale.shift("P2", 5) == "P1"
    assert scale.shift("P2", -5) == "P3"


def test_standard_level_applies_aliases():
    config = SeverityConfig(aliases={"Urgent": "SEV1", "critical": "SEV2"})
    scale = SeverityScale(config)
    assert scale.standard_level(" URGENT ") == Severity.SEV1
    assert scale.standard_level("critical") == Severity.SEV2
    assert scale.standard_level("P3") == Severity.SEV3
    assert scale.standard_level("banana") is None
    assert scale.standard_level(None) is None
    assert scale.standard_level(True) is None


def test_standard_level_of_custom_names():
    config = SeverityConfig(
        levels=[
            {"name": "red", "definition": "Outage"},
            {"name": "amber", "definition": "Degraded"},
            {"name": "green", "definition": "Minor"},
        ],
        aliases={"paging": "red"},
    )
    scale = SeverityScale(config)
    assert scale.standard_level("red") == Severity.SEV1
    assert scale.standard_level("Amber") == Severity.SEV3
    assert scale.standard_level("green") == Severity.SEV4
    assert scale.standard_level("paging") == Severity.SEV1
    # A value that normalize_severity maps keeps that level, not the spread's.
    assert scale.standard_level("P2") == Severity.SEV2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"aliases": {"urgent": "SEV9"}}, "alias 'urgent' maps to unknown level"),
        ({"default_level": "P9"}, "default_level is 'P9', not a level"),
        (
            {"levels": [{"name": "A", "definition": "x"}] * 2},
            "level names must be unique",
        ),
        ({"impact": {"many_alerts": 1}}, "greater than or equal to 2"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_severity_config_is_rejected(fields, message):
    with pytest.raises(ValidationError, match=message):
        SeverityConfig(**fields)


def test_history_alone_keeps_level():
    assessment = _assess([_alert(1), _alert(2)])
    assert assessment.value == "SEV3"
    assert assessment.history == "SEV3"
    assert assessment.reasons == ["SEV3 from the severities of similar past incidents"]


@pytest.mark.parametrize(
    ("sources", "reason"),
    [
        (["label"], "SEV3 from the alert's own severity label"),
        (["nearest", "label"], "SEV3 from the alert's own severity label"),
        (["nearest", "precedents"], "SEV3 from the severities of similar past"),
        (["nearest"], "SEV3 from the severities of the nearest past incidents, none"),
        (["nearest_model"], "SEV3 from the severities of the nearest past incidents"),
        (["model"], "SEV3 from the history model; no past incident is close"),
        ([None], "SEV3 from the severities suggested for its alerts"),
    ],
)
def test_reason_names_what_gave_the_level(sources, reason):
    alerts = [
        _alert(number, severity_source=source) for number, source in enumerate(sources)
    ]
    assessment = _assess(alerts)
    assert assessment.reasons[0].startswith(reason)


def test_many_alerts_and_instances_raise():
    alerts = [_alert(number) for number in range(5)]
    assessment = _assess(alerts)
    assert assessment.value == "SEV1"
    assert "raised to SEV2: 5 alerts firing (rule: 5 or more)" in assessment.reasons
    assert "raised to SEV1: 5 instances firing (rule: 3 or more)" in (
        assessment.reasons
    )


def test_raises_stop_at_max_raise():
    alerts = [
        _alert(number, minutes_ago=45, service=f"svc-{number}", history_severity="SEV4")
        for number in range(5)
    ]
    assessment = _assess(alerts)
    assert assessment.value == "SEV2"
    not_raised = [r for r in assessment.reasons if r.startswith("not raised")]
    assert len(not_raised) == 2
    assert "at most 2 level(s)" in not_raised[0]


def test_customer_facing_label_raises_to_minimum():
    alerts = [_alert(1, customer_facing=True), _alert(2)]
    assessment = _assess(alerts)
    assert assessment.value == "SEV2"
    assert assessment.reasons[-1] == (
        'raised to SEV2: customer-facing orders-db (label customer_facing="true")'
    )


def test_configured_customer_facing_service():
    config = SeverityConfig(impact={"customer_facing_services": ["checkout"]})
    alerts = [_alert(1, service="checkout"), _alert(2, service="checkout")]
    assessment = _assess(alerts, config)
    assert assessment.value == "SEV2"
    assert "listed in customer_facing_services" in assessment.reasons[-1]


def test_long_firing_raises_one_level():
    assessment = _assess([_alert(1, minutes_ago=40), _alert(2, instance="db-1")])
    assert assessment.value == "SEV2"
    assert "firing for 40 minutes" in assessment.reasons[-1]


def test_contained_alert_lowers_one_level():
    assessment = _assess([_alert(1, minutes_ago=3)])
    assert assessment.value == "SEV4"
    assert assessment.reasons[-1].startswith("lowered to SEV4: one alert on one")


def test_no_history_starts_at_default_level():
    alerts = [_alert(1, history_severity=None), _alert(2, history_severity=None)]
    assessment = _assess(alerts)
    assert assessment.value == "SEV3"
    assert assessment.history is None
    assert "by default" in assessment.reasons[0]


def test_parse_time_reads_alertmanager_times():
    parsed = parse_time("2026-12-04T11:58:00.123456789Z")
    assert parsed == datetime(2026, 12, 4, 11, 58, 0, 123456, tzinfo=timezone.utc)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("yesterday") is None


def test_reason_without_model_does_not_name_it():
    [reason, *_] = _assess([_alert(1, severity_source="nearest")]).reasons
    assert "history model" not in reason


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-06T11:00:00.5+01:00", "2026-12-06T10:00:00.500000+00:00"),
        ("2026-12-06T10:00:00.123456789Z", "2026-12-06T10:00:00.123456+00:00"),
        ("2015-07-17T08:42:58.315-0130", "2015-07-17T10:12:58.315000+00:00"),
    ],
)
def test_fraction_keeps_its_offset(text, instant):
    assert parse_time(text) == datetime.fromisoformat(instant)
