"""Request and response bodies of the coverage, patterns and status-update routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recommender.responder_schemas import RespondersOut

# Rule files per coverage request; a team's rules rarely span more files.
MAX_RULE_FILES = 50


class RuleFileIn(BaseModel):
    """One rule file's name and YAML text."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=500, examples=["node.rules.yaml"])
    content: str = Field(description="The file's YAML text.")


class CoverageRequest(BaseModel):
    """Rule files to replay against the knowledge base."""

    model_config = ConfigDict(extra="forbid")

    files: list[RuleFileIn] = Field(min_length=1, max_length=MAX_RULE_FILES)


class CoverageRowOut(BaseModel):
    """One alerting rule, its best match and whether that match is close enough."""

    alert: str
    file: str
    severity: str | None
    best_match: str | None
    best_match_kind: str | None
    score: float = Field(description="Best match score in [0, 1], higher is closer.")
    covered: bool
    bar: float = Field(
        description=(
            "Score the best match needed, as for a recommendation: the threshold, "
            "or more for a named alert whose nearest records are named for other "
            "alerts."
        )
    )


class RuleProblemOut(BaseModel):
    """A rule file or rule that could not be read."""

    file: str
    rule: str | None
    message: str


class CoverageOut(BaseModel):
    """Coverage of alerts by runbooks or past incidents at or above the threshold."""

    alerts: int
    covered: int
    ratio: float = Field(description="Covered share of alerts, in [0, 1].")
    threshold: float
    rows: list[CoverageRowOut]
    problems: list[RuleProblemOut]


class PatternsOut(BaseModel):
    """Clusters of incidents and postmortems with similar root causes."""

    records: int
    records_with_root_cause: int
    clusters: int
    recurring_clusters: int
    distance_threshold: float
    period: str
    silhouette: float | None = Field(
        description="Silhouette score in [-1, 1], higher is better separated; "
        "null when there are fewer than two clusters or no repeated record."
    )
    data_version: int
    patterns: list[dict[str, Any]] = Field(
        description="Clusters, largest first: id, name, terms, records, counts per "
        "period, open_action_items, closed_action_items, recurring."
    )


class StatusUpdateOut(BaseModel):
    """A status update rendered for an alert."""

    template: str
    text: str
    severity: str
    no_close_precedent: bool
    next_update_at: str
    responders: RespondersOut | None
