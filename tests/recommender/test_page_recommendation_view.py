"""How the pages group a recommendation: firm parts apart from low-confidence leads."""

from recommender.schemas import (
    CategoryOut,
    RecommendationOut,
    SeverityOut,
    SuggestionOut,
)
from recommender.web.recommendation_view import recommendation_view


def _recommendation(**overrides) -> RecommendationOut:
    values = {
        "no_close_precedent": False,
        "message": "2 similar past record(s); the closest is INC-1 (0.71).",
        "threshold": 0.42,
        "precedent_bar": 0.42,
        "matches": [],
        "root_causes": [],
        "severity": SeverityOut(
            value="SEV2",
            confidence=0.61,
            evidence=["INC-1", "alert label"],
            votes={"SEV2": 1.71},
            alert_label="SEV2",
        ),
        "category": CategoryOut(
            value="disk full", confidence=0.55, evidence=["INC-1"], votes={}
        ),
        "fixes": [],
        "latency_ms": 12.0,
        **overrides,
    }
    return RecommendationOut(**values)


def _fix(text: str, low_confidence: bool) -> SuggestionOut:
    return SuggestionOut(
        text=text, confidence=0.3, evidence=["INC-1"], low_confidence=low_confidence
    )


def test_firm_labels_have_no_mark():
    view = recommendation_view(_recommendation())

    assert view.severity.value == "SEV2"
    assert view.severity.evidence == ["INC-1", "alert label"]
    assert view.severity.low_confidence == ""
    assert view.severity.outvoted == ""
    assert view.category.value == "disk full"
    assert view.category.low_confidence == ""


def test_zero_confidence_category_is_unknown():
    category = CategoryOut(
        value="database failover", confidence=0.0043, evidence=["OPS-1"], votes={}
    )

    view = recommendation_view(_recommendation(category=category))

    assert view.category.value is None
    assert view.category.evidence == []


def test_label_below_bar_is_low_confidence():
    category = CategoryOut(value="dns", confidence=0.3, evidence=["INC-2"], votes={})

    view = recommendation_view(_recommendation(category=category, precedent_bar=0.67))

    assert view.category.value == "dns"
    assert view.category.low_confidence == (
        "Low confidence: below the 0.67 that a match needs to count."
    )
    assert view.severity.low_confidence == (
        "Low confidence: below the 0.67 that a match needs to count."
    )


def test_no_close_precedent_marks_labels():
    view = recommendation_view(_recommendation(no_close_precedent=True))

    assert view.severity.low_confidence == (
        "Low confidence: no close precedent supports it."
    )
    assert view.category.low_confidence == (
        "Low confidence: no close precedent supports it."
    )


def test_fixes_split_by_low_confidence():
    fixes = [_fix("Restart the pod.", False), _fix("Raise the quota.", True)]

    view = recommendation_view(_recommendation(fixes=fixes))

    assert [fix.text for fix in view.fixes] == ["Restart the pod."]
    assert [fix.text for fix in view.nearest_fixes] == ["Raise the quota."]


def test_outvoted_label_names_written_label():
    severity = SeverityOut(
        value="SEV3",
        confidence=0.5,
        evidence=["INC-1", "INC-2"],
        votes={"SEV1": 1.0, "SEV3": 1.3},
        alert_label="SEV1",
    )

    view = recommendation_view(_recommendation(severity=severity), "critical")

    assert view.severity.outvoted == (
        "the alert's own label (critical, SEV1) was outvoted "
        "(votes: SEV1 1.00, SEV3 1.30)"
    )
