"""How the pages show a recommendation: its labels with their evidence, and which
suggestions are firm and which are low-confidence leads.

The text follows the command line's (recommender.report), so the page, the terminal
and the JSON give an engineer the same evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from recommender.schemas import (
    CategoryOut,
    RecommendationOut,
    SeverityOut,
    SuggestionOut,
)


@dataclass(frozen=True)
class LabelView:
    """A suggested severity or category as the page shows it.

    Attributes:
        value: The level or category, or None to show it as unknown.
        confidence: In [0, 1], higher is more certain.
        evidence: Ids of the matches that voted for it, "alert label" and
            "history model" where those did.
        low_confidence: Why the value is a lead rather than a finding, or "".
        outvoted: Says that the matches outvoted the alert's own label, or "".
    """

    value: str | None
    confidence: float
    evidence: list[str]
    low_confidence: str = ""
    outvoted: str = ""


@dataclass(frozen=True)
class RecommendationView:
    """The parts of a recommendation that the page groups or words differently."""

    severity: LabelView
    category: LabelView
    root_causes: list[SuggestionOut]
    nearest_root_causes: list[SuggestionOut]
    fixes: list[SuggestionOut]
    nearest_fixes: list[SuggestionOut]


def recommendation_view(
    recommendation: RecommendationOut, written_label: str | None = None
) -> RecommendationView:
    """Group a recommendation for the page: firm parts apart from low-confidence ones.

    written_label is the alert's severity label as written, shown beside the level
    it maps to when the matches outvote it.
    """
    return RecommendationView(
        severity=_label_view(
            recommendation,
            recommendation.severity,
            _outvoted(recommendation.severity, written_label),
        ),
        category=_label_view(recommendation, recommendation.category),
        root_causes=[s for s in recommendation.root_causes if not s.low_confidence],
        nearest_root_causes=[s for s in recommendation.root_causes if s.low_confidence],
        fixes=[s for s in recommendation.fixes if not s.low_confidence],
        nearest_fixes=[s for s in recommendation.fixes if s.low_confidence],
    )


def _label_view(
    recommendation: RecommendationOut,
    label: SeverityOut | CategoryOut,
    outvoted: str = "",
) -> LabelView:
    """Show a label as unknown when its confidence rounds to 0.00 on the page."""
    if label.value is None or round(label.confidence, 2) <= 0:
        return LabelView(value=None, confidence=label.confidence, evidence=[])

    bar = recommendation.precedent_bar or recommendation.threshold
    reason = ""
    if recommendation.no_close_precedent:
        reason = "Low confidence: no close precedent supports it."
    elif label.confidence < bar:
        reason = f"Low confidence: below the {bar:g} that a match needs to count."
    return LabelView(
        value=label.value,
        confidence=label.confidence,
        evidence=list(label.evidence),
        low_confidence=reason,
        outvoted=outvoted,
    )


def _outvoted(severity: SeverityOut, written_label: str | None) -> str:
    """Say that the matches outvoted the alert's own label, as the command line does."""
    if not severity.alert_label or severity.alert_label == severity.value:
        return ""
    votes = ", ".join(f"{level} {vote:.2f}" for level, vote in severity.votes.items())
    own = severity.alert_label
    if written_label and written_label.strip().lower() != own.lower():
        own = f"{written_label.strip()}, {own}"
    return f"the alert's own label ({own}) was outvoted (votes: {votes})"
