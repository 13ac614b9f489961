"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from indexer.embedding import QueryRuntime
from recommender.alerts import Alert
from recommender.errors import InvalidAlertError
from recommender.recommendation import Recommendation, confidence_level
from recommender.responder_schemas import RespondersOut
from recommender.retrieval import SCORE_FORMULA, Match
from recommender.suggestions import SeveritySuggestion, Suggestion
from recommender.write_schemas import (
    FeedbackEffectOut,
    FeedbackSummaryOut,
    feedback_effect_out,
)


class PlainAlert(BaseModel):
    """A plain JSON alert, for pipelines that are not Alertmanager."""

    title: str | None = Field(
        default=None, max_length=2_000, examples=["Disk almost full"]
    )
    description: str | None = Field(default=None, max_length=50_000)
    labels: dict[str, str] = Field(default_factory=dict, max_length=200)
    service: str | None = Field(default=None, max_length=500, examples=["orders-db"])
    severity: str | None = Field(default=None, max_length=100, examples=["critical"])
    startsAt: str | None = Field(
        default=None, description="When it started; part of the idempotency key."
    )

    model_config = ConfigDict(extra="forbid")


class AlertmanagerAlert(BaseModel):
    """One alert inside an Alertmanager webhook (fields as Alertmanager sends them)."""

    status: str | None = None
    labels: dict[str, str | None] = Field(default_factory=dict)
    annotations: dict[str, str | None] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerWebhook(BaseModel):
    """Prometheus Alertmanager webhook payload, version 4."""

    version: str | None = "4"
    groupKey: str | None = None
    truncatedAlerts: int | None = None
    status: str | None = None
    receiver: str | None = None
    groupLabels: dict[str, str | None] = Field(default_factory=dict)
    commonLabels: dict[str, str | None] = Field(default_factory=dict)
    commonAnnotations: dict[str, str | None] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AlertmanagerAlert]


class SectionMatch(BaseModel):
    """A section of a matched record and how close its best passage was."""

    section: str
    similarity: float = Field(description="Role-weighted cosine similarity, [-1, 1].")


class MatchOut(BaseModel):
    """A past incident, postmortem or runbook similar to the alert."""

    id: str
    kind: str
    title: str
    score: float = Field(description=SCORE_FORMULA)
    confidence: Literal["high", "medium", "low"]
    dense_similarity: float = Field(
        description="Best role-weighted cosine, in [-1, 1]."
    )
    keyword_coverage: float = Field(
        description="Keyword score in [0, 1]: share of the alert's term weight "
        "found in the record, blended with the share of the record's title and "
        "alert-name terms that the alert mentions."
    )
    shared_labels: dict[str, str]
    matched_sections: list[SectionMatch]
    matched_terms: list[str]
    service: str | None
    severity: str | None
    started_at: str | None
    source: str


class SuggestionOut(BaseModel):
    """A suggested root cause or fix, with its evidence."""

    text: str
    confidence: float = Field(description="In [0, 1], higher is more certain.")
    evidence: list[str] = Field(
        description="Ids of the matches whose text it is, best first."
    )
    related: list[str] = Field(
        default_factory=list,
        description="Root causes: ids of the other matches of the same category, "
        "which add to the confidence but may name other causes. Fixes: ids of the "
        "matches that give the same fix in other case or punctuation.",
    )
    category: str | None = None
    fix_type: str | None = Field(default=None, description="Kind of fix, for fixes.")
    code: list[str] = Field(
        default_factory=list,
        description="Fixes: the code blocks (fenced or indented) of the section the "
        "text comes from, as the record wrote them (prompts and output included).",
    )
    code_omitted_lines: int = Field(
        default=0, description="Fixes: lines of those blocks left out for length."
    )
    low_confidence: bool = Field(
        default=False,
        description="True when taken from matches below the threshold: a lead to "
        "check, not a known answer.",
    )


class SeverityOut(BaseModel):
    """The suggested severity, SEV1 the most severe."""

    value: str | None
    confidence: float
    evidence: list[str]
    votes: dict[str, float]
    model: dict[str, float] = Field(
        default_factory=dict,
        description="Probabilities of the model fitted on the knowledge base's "
        "labelled history, empty when too few records carry this label.",
    )
    alert_label: str | None = Field(
        default=None,
        description="The level of the alert's own severity label, which votes "
        "with weight 1.0; it differs from value when the matches outvoted it.",
    )


class CategoryOut(BaseModel):
    """The suggested root-cause category."""

    value: str | None
    confidence: float
    evidence: list[str]
    votes: dict[str, float]
    model: dict[str, float] = Field(
        default_factory=dict,
        description="Probabilities of the model fitted on the knowledge base's "
        "labelled history, empty when too few records carry this label.",
    )


class RecommendationOut(BaseModel):
    """Matches and suggestions for one alert."""

    no_close_precedent: bool
    message: str
    threshold: float
    precedent_bar: float | None = Field(
        default=None,
        description=(
            "Score a match needed to count as a precedent for this alert: the "
            "threshold, or more for a named alert whose nearest records are named "
            "for other alerts. Match confidence is low below it."
        ),
    )
    matches: list[MatchOut]
    root_causes: list[SuggestionOut]
    severity: SeverityOut
    category: CategoryOut
    fixes: list[SuggestionOut]
    latency_ms: float
    feedback: FeedbackEffectOut = Field(default_factory=FeedbackEffectOut)
    responders: RespondersOut | None = Field(
        default=None, description="Who should respond, with the reason for each."
    )


class AlertOut(BaseModel):
    """The alert as the recommender understood it."""

    fingerprint: str
    alertname: str
    status: str
    service: str
    severity: str | None
    starts_at: str | None
    ends_at: str | None


class ErrorDetail(BaseModel):
    """What was wrong with a request or an alert in it."""

    status: int
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class AlertResult(BaseModel):
    """The result for one alert: recommended, resolved, or rejected with a reason.

    outcome is "unknown" for a resolve or acknowledge without a start time that
    matches no open alert. Such a result is not stored, and error gives the reason.
    """

    index: int
    outcome: Literal["recommended", "resolved", "acknowledged", "rejected", "unknown"]
    alert: AlertOut | None
    recommendation: RecommendationOut | None = None
    error: ErrorDetail | None = None
    key: str | None = Field(
        default=None,
        description="Store key (fingerprint plus start time): GET /v1/alerts/{key}.",
    )
    replayed: bool = Field(
        default=False,
        description="True when the recommendation was stored for an earlier delivery.",
    )
    computed_at: str | None = Field(
        default=None, description="When the recommendation was computed, ISO 8601."
    )
    data_version: int | None = Field(
        default=None, description="Knowledge base version it was computed on."
    )


class AlertResults(BaseModel):
    """One result per alert, in the order the alerts were sent."""

    results: list[AlertResult]
    truncated_alerts: int = Field(
        default=0,
        description="Alerts the sender left out of the webhook (its max_alerts).",
    )


class SearchResults(BaseModel):
    """Matches for a free-text search or for a stored incident."""

    query: str
    matches: list[MatchOut]
    no_close_precedent: bool
    threshold: float


class IncidentOut(BaseModel):
    """A stored incident, postmortem or runbook."""

    id: str
    kind: str
    title: str
    sections: dict[str, str]
    labels: dict[str, str]
    severity_raw: str | None
    severity: str | None
    started_at: str | None
    ended_at: str | None
    source: str
    feedback: FeedbackSummaryOut | None = Field(
        default=None, description="Engineers' verdicts on this record as a match."
    )


class Health(BaseModel):
    """Whether the service can answer, and what it serves.

    status is "empty" while the knowledge base holds no records: the service answers,
    but every alert gets "no close precedent".
    """

    status: Literal["ok", "empty"]
    records: int
    vectors: int
    data_version: int
    model: str
    index_type: str
    query_embedding: QueryRuntime = Field(
        description=(
            "What embeds alerts and searches: the int8 copy of the ONNX export, the "
            "float32 export, or torch after INCIDENT_ONNX=false or a failed export."
        )
    )


class ErrorBody(BaseModel):
    """The one error body shape of every 4xx and 5xx response."""

    error: ErrorDetail


def match_out(match: Match, threshold: float) -> MatchOut:
    """Convert a match for the API."""
    record = match.record
    return MatchOut(
        id=record.id,
        kind=record.kind.value,
        title=record.title,
        score=match.score,
        confidence=confidence_level(match.score, threshold),  # type: ignore[arg-type]
        dense_similarity=match.dense,
        keyword_coverage=match.keyword,
        shared_labels=match.shared_labels,
        matched_sections=[
            SectionMatch(section=name, similarity=value)
            for name, value in match.sections
        ],
        matched_terms=match.terms,
        service=record.labels.get("service"),
        severity=record.severity.value if record.severity else None,
        started_at=record.started_at.isoformat() if record.started_at else None,
        source=record.source,
    )


def recommendation_out(recommendation: Recommendation) -> RecommendationOut:
    """Convert a recommendation for the API."""
    return RecommendationOut(
        no_close_precedent=recommendation.no_close_precedent,
        message=recommendation.message,
        threshold=recommendation.threshold,
        precedent_bar=round(recommendation.precedent_bar, 4),
        matches=[
            match_out(m, recommendation.precedent_bar) for m in recommendation.matches
        ],
        root_causes=[_suggestion_out(s) for s in recommendation.root_causes],
        severity=_severity_out(recommendation.severity),
        category=CategoryOut(**asdict(recommendation.category)),
        fixes=[_suggestion_out(s) for s in recommendation.fixes],
        latency_ms=recommendation.latency_ms,
        feedback=feedback_effect_out(recommendation.feedback),
    )


def _suggestion_out(suggestion: Suggestion) -> SuggestionOut:
    return SuggestionOut(
        fix_type=suggestion.fix_type,
        code=suggestion.code,
        code_omitted_lines=suggestion.code_omitted_lines,
        text=suggestion.text,
        confidence=suggestion.confidence,
        evidence=suggestion.evidence,
        related=suggestion.related,
        category=suggestion.category,
        low_confidence=suggestion.low_confidence,
    )


def _severity_out(severity: SeveritySuggestion) -> SeverityOut:
    return SeverityOut(
        value=severity.value.value if severity.value else None,
        confidence=severity.confidence,
        evidence=severity.evidence,
        votes=severity.votes,
        model=severity.model,
        alert_label=severity.alert_label,
    )


def alert_result(
    index: int,
    item: Alert | InvalidAlertError,
    recommendation: Recommendation | None = None,
    request_id: str | None = None,
) -> AlertResult:
    """Build the result for one alert: rejected, resolved, or its recommendation."""
    if isinstance(item, InvalidAlertError):
        error = ErrorDetail(
            status=422,
            code="invalid_input",
            message=item.message,
            field=item.field,
            request_id=request_id,
        )
        return AlertResult(index=index, outcome="rejected", alert=None, error=error)

    alert_out = AlertOut(
        fingerprint=item.fingerprint,
        alertname=item.alertname,
        status=item.status,
        service=item.service,
        severity=item.severity,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
    )
    if recommendation is None:
        outcome: Literal["resolved", "acknowledged"] = (
            "acknowledged" if item.status == "acknowledged" else "resolved"
        )
        return AlertResult(index=index, outcome=outcome, alert=alert_out)
    return AlertResult(
        index=index,
        outcome="recommended",
        alert=alert_out,
        recommendation=recommendation_out(recommendation),
    )
