"""Build a recommendation for one alert: matches, root causes, severity and fixes."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from indexer.knowledge_base import KnowledgeBase
from recommender.alerts import Alert
from recommender.classifier import HistoryClassifiers
from recommender.feedback import (
    FeedbackEffect,
    FeedbackStore,
    boost_matches,
    rejected_parts,
)
from recommender.retrieval import LABEL_WEIGHT, Match, Retriever
from recommender.severity_policy import SeverityScale
from recommender.suggestions import (
    CategorySuggestion,
    SeveritySuggestion,
    Suggestion,
    suggest_category,
    suggest_fixes,
    suggest_root_causes,
    suggest_severity,
)

logger = logging.getLogger(__name__)

# Below this best score an alert has no close precedent. Measured on the public
# alert-to-runbook task: see docs/EVALUATION.md for how it was chosen.
DEFAULT_THRESHOLD = 0.42
# At or above this score a match is a high-confidence precedent.
HIGH_CONFIDENCE = 0.65
# Suggestions come from at most this many matches above the threshold.
SUGGESTION_MATCHES = 5
# When the nearest records are named for alerts but none for this alert, a match
# needs this much more score to count as a precedent. It is the shared-name credit
# that a record written for this very alert would get (LABEL_WEIGHT in retrieval).
UNNAMED_MARGIN = LABEL_WEIGHT


@dataclass
class Recommendation:
    """What the recommender returns for one alert.

    Attributes:
        matches: Ranked matches, best first.
        no_close_precedent: True when no match reaches the threshold; matches are
            then the nearest records, all of low confidence.
        root_causes: Likely root causes, most confident first.
        severity: Suggested severity.
        category: Suggested root-cause category.
        fixes: Suggested fixes, most confident first.
        threshold: Score a match needs to count as a precedent.
        precedent_bar: Score a match needed for this alert: the threshold, plus
            UNNAMED_MARGIN when no record nearby carries the alert's name while
            some carry other alert names.
        message: One sentence for the on-call engineer.
        latency_ms: Time taken.
        feedback: Records hidden or raised by engineers' verdicts for this alert.
    """

    matches: list[Match]
    no_close_precedent: bool
    root_causes: list[Suggestion]
    severity: SeveritySuggestion
    category: CategorySuggestion
    fixes: list[Suggestion]
    threshold: float
    precedent_bar: float
    message: str
    latency_ms: float = 0.0
    feedback: FeedbackEffect = field(default_factory=FeedbackEffect)


def confidence_level(score: float, threshold: float) -> str:
    """Return "high", "medium" or "low" for a match score."""
    if score >= max(HIGH_CONFIDENCE, threshold):
        return "high"
    return "medium" if score >= threshold else "low"


class Recommender:
    """Recommends root causes, severity and fixes for alerts from past incidents."""

    def __init__(
        self,
        knowledge_base: KnowledgeBase,
        threshold: float = DEFAULT_THRESHOLD,
        severity_scale: SeverityScale | None = None,
    ):
        """Set up retrieval, feedback and the history classifiers.

        severity_scale maps an alert's own severity label to a level, with the
        configured aliases. The default scale maps P1, SEV1, critical and the like.
        """
        self.knowledge_base = knowledge_base
        self.retriever = Retriever(knowledge_base)
        self.threshold = threshold
        self.feedback = FeedbackStore(knowledge_base.database)
        self.classifiers = HistoryClassifiers(knowledge_base)
        self.severity_scale = severity_scale or SeverityScale()

    def recommend(
        self, alert: Alert, top_k: int = 5, exclude: Sequence[str] = ()
    ) -> Recommendation:
        """Recommend for one firing alert.

        Args:
            alert: The alert.
            top_k: How many matches to return.
            exclude: Record ids never to match, such as the query's own record
                when evaluating on history.
        """
        started = time.perf_counter()
        verdicts = self.feedback.for_alert(alert)
        rejected = rejected_parts(verdicts)
        effect = FeedbackEffect(hidden=rejected.pop("match", []))
        matches = self.retriever.search(
            alert,
            top_k=max(top_k, SUGGESTION_MATCHES),
            exclude=[*exclude, *effect.hidden],
        )
        matches, effect.boosted = boost_matches(matches, verdicts)
        bar = self.precedent_bar(alert, matches)
        precedents = [m for m in matches if m.score >= bar][:SUGGESTION_MATCHES]
        no_precedent = not precedents
        severity, category = self._labels(matches, precedents, alert, bar, rejected)
        effect.set_aside = _used(rejected, matches[:SUGGESTION_MATCHES])

        recommendation = Recommendation(
            matches=matches[:top_k],
            no_close_precedent=no_precedent,
            root_causes=suggest_root_causes(
                _without(precedents, rejected, "root_cause")
            ),
            severity=severity,
            category=category,
            fixes=self._fixes(
                _without(matches, rejected, "fix"),
                _without(precedents, rejected, "fix"),
                bar,
            ),
            threshold=self.threshold,
            precedent_bar=bar,
            message=self._message(matches, precedents, top_k, bar) + effect.message(),
            feedback=effect,
        )
        recommendation.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(
            "recommendation alert=%s alertname=%s matches=%d top_match=%s "
            "best_score=%.3f no_close_precedent=%s latency_ms=%.1f",
            alert.fingerprint,
            alert.alertname or "-",
            len(recommendation.matches),
            matches[0].record.id if matches else "-",
            matches[0].score if matches else 0.0,
            no_precedent,
            recommendation.latency_ms,
        )
        return recommendation

    def precedent_bar(self, alert: Alert, matches: list[Match]) -> float:
        """Return the score a match needs to count as a precedent for this alert.

        It is the threshold, except for an alert whose name is on none of the
        nearest records while some of them are named for other alerts: no record
        was written for it, so a match needs UNNAMED_MARGIN more.
        """
        nearest = matches[:SUGGESTION_MATCHES]
        if not alert.alertname or not any(m.record.alert_names for m in nearest):
            return self.threshold
        if any("alertname" in m.shared_labels for m in nearest):
            return self.threshold
        return self.threshold + UNNAMED_MARGIN

    def _labels(
        self,
        matches: list[Match],
        precedents: list[Match],
        alert: Alert,
        bar: float,
        rejected: dict[str, list[str]] | None = None,
    ) -> tuple[SeveritySuggestion, CategorySuggestion]:
        """Blend the history model with a vote of the precedents, else the nearest.

        Without a precedent the nearest matches still say something about severity
        and category, so they vote, but the confidence is scaled by how far the best
        score falls short of the precedent bar.
        """
        text = alert.query_text()
        # The alert's own severity label is its author's decision, so the model only
        # speaks for alerts that carry none. A label that maps to no level, such
        # as "banana", counts as none.
        own = self.severity_scale.standard_level(alert.severity)
        severity_model = (
            self.classifiers.predict_severity(text) if text and own is None else None
        )
        category_model = self.classifiers.predict_category(text) if text else None
        voters = precedents or matches[:SUGGESTION_MATCHES]
        # Without a precedent the nearest records are unrelated to the alert, so
        # they do not outvote the severity its author gave it.
        severity_voters = voters if precedents or own is None else []
        rejected = rejected or {}
        severity = suggest_severity(
            _without(severity_voters, rejected, "severity"), own, severity_model
        )
        category = suggest_category(
            _without(voters, rejected, "category"), category_model
        )
        if precedents or not matches:
            return severity, category

        factor = _shortfall(matches, bar)
        return (
            replace(severity, confidence=round(severity.confidence * factor, 4)),
            replace(category, confidence=round(category.confidence * factor, 4)),
        )

    def _fixes(
        self, matches: list[Match], precedents: list[Match], bar: float
    ) -> list[Suggestion]:
        """Suggest fixes from the precedents, else low-confidence ones from the nearest.

        A responder facing a new kind of alert still wants to know what fixed the
        nearest past records, so their fixes are listed with low_confidence set and
        the confidence scaled like the labels'.
        """
        if precedents or not matches:
            return suggest_fixes(precedents)
        factor = _shortfall(matches, bar)
        return [
            replace(
                fix, confidence=round(fix.confidence * factor, 4), low_confidence=True
            )
            for fix in suggest_fixes(matches[:SUGGESTION_MATCHES])
        ]

    def _message(
        self, matches: list[Match], precedents: list[Match], shown: int, bar: float
    ) -> str:
        if not matches and not self.knowledge_base.database.count_records():
            return (
                "No close precedent: the knowledge base is empty. Load past incidents "
                "with 'indexer build SOURCES'."
            )
        if not matches:
            return (
                "No close precedent: nothing in the knowledge base is like this alert. "
                "Treat it as a new kind of incident."
            )
        if not precedents and bar > self.threshold:
            return (
                "No close precedent: no nearby record is written for this alert name "
                f"and the best match scores {score_text(matches[0].score, bar)}, below "
                f"the {bar:g} such a match needs. The nearest records and their "
                "fixes are listed with low confidence; treat this as a new kind of "
                "incident."
            )
        if not precedents:
            return (
                "No close precedent: the best match scores "
                f"{score_text(matches[0].score, self.threshold)}, below the "
                f"threshold of {self.threshold:g}. The nearest records and "
                "their fixes are listed with low confidence; treat this as a new kind "
                "of incident."
            )
        hidden = f" ({shown} shown)" if shown < len(precedents) else ""
        return (
            f"{len(precedents)} similar past record(s){hidden}; the closest is "
            f"{precedents[0].record.id} ({precedents[0].score:.2f})."
        )


def _without(
    matches: list[Match], rejected: dict[str, list[str]], target: str
) -> list[Match]:
    """Return the matches whose given part no engineer marked wrong for the alert."""
    ids = set(rejected.get(target, ()))
    return [match for match in matches if match.record.id not in ids]


def _used(rejected: dict[str, list[str]], nearest: list[Match]) -> dict[str, list[str]]:
    """Return the parts set aside from records this recommendation considered."""
    considered = {match.record.id for match in nearest}
    used = {
        target: [record for record in records if record in considered]
        for target, records in rejected.items()
    }
    return {target: records for target, records in used.items() if records}


def _shortfall(matches: list[Match], bar: float) -> float:
    """Return the best score divided by the precedent bar, at most 1."""
    if bar <= 0:
        return 1.0
    return min(matches[0].score / bar, 1.0)


def score_text(score: float, bar: float) -> str:
    """Format a score with two decimals, or more where two would round it onto bar.

    A score of 0.4169 printed as 0.42 beside a threshold of 0.42 reads as if it
    met the threshold that it missed.
    """
    for digits in (2, 3):
        text = f"{score:.{digits}f}"
        if (float(text) >= bar) == (score >= bar):
            return text
    return f"{score:.4f}"
