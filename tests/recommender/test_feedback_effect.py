"""How verdicts on matches and their parts change a recommendation."""

from indexer.record import IncidentRecord, Kind
from recommender.feedback import FeedbackEntry, boost_matches, rejected_parts
from recommender.retrieval import Match


def _match(record_id: str, score: float) -> Match:
    record = IncidentRecord(id=record_id, kind=Kind.INCIDENT, title=record_id)
    return Match(record=record, score=score, dense=score, keyword=0.0, labels=0.0)


def _verdicts(*items: tuple[str, str, str]) -> list[FeedbackEntry]:
    """Return verdicts (record, verdict, target), oldest first."""
    return [
        FeedbackEntry(record_id=record, verdict=verdict, target=target, id=n)
        for n, (record, verdict, target) in enumerate(items, start=1)
    ]


def test_later_wrong_cancels_earlier_helpful():
    verdicts = _verdicts(
        ("PM-1", "helpful", "fix"),
        ("PM-1", "wrong", "fix"),
        ("PM-2", "helpful", "match"),
        ("PM-2", "wrong", "match"),
        ("PM-2", "helpful", "match"),
    )

    matches, boosted = boost_matches(
        [_match("PM-1", 0.5), _match("PM-2", 0.5)], verdicts
    )

    assert boosted == {"PM-2": 0.03}
    assert [m.score for m in matches] == [0.53, 0.5]
    assert rejected_parts(verdicts) == {"fix": ["PM-1"]}


def test_helpful_verdicts_add_up_to_the_cap():
    verdicts = _verdicts(
        *[("PM-1", "helpful", "match")] * 2, *[("PM-1", "helpful", "root_cause")] * 3
    )

    _, boosted = boost_matches([_match("PM-1", 0.5)], verdicts)

    assert boosted == {"PM-1": 0.09}
