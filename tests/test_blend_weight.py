"""The blend of the model and the vote that the weight check scores."""

from benchmarks.blend_weight import Outcome, blended, table


def _outcome(expected: str = "SEV1") -> Outcome:
    return Outcome(
        expected=expected,
        votes={"SEV1": 0.2, "SEV3": 0.6},
        model={"SEV1": 0.9, "SEV3": 0.1},
        nearest=[("SEV3", 0.6), ("SEV1", 0.2), ("SEV1", 0.3)],
    )


def test_weight_moves_between_vote_and_model():
    assert blended(_outcome(), 0.0, None, severity=True) == "SEV3"
    assert blended(_outcome(), 1.0, None, severity=True) == "SEV1"


def test_nearest_voters_recount_the_vote():
    assert blended(_outcome(), 0.0, 1, severity=True) == "SEV3"
    assert blended(_outcome(), 0.0, 3, severity=True) == "SEV3"
    assert blended(_outcome(), 0.5, 3, severity=True) == "SEV1"


def test_tie_goes_to_more_severe_level():
    tied = Outcome("SEV1", {"SEV3": 1.0, "SEV1": 1.0}, {}, [])

    assert blended(tied, 0.5, None, severity=True) == "SEV1"


def test_one_side_decides_alone():
    no_model = Outcome("SEV1", {"SEV1": 1.0}, {}, [])
    no_votes = Outcome("SEV3", {}, {"SEV3": 0.7, "SEV1": 0.3}, [])

    assert blended(no_model, 1.0, None, severity=True) == "SEV1"
    assert blended(no_votes, 0.0, None, severity=True) == "SEV3"
    assert blended(Outcome("SEV1", {}, {}, []), 0.5, None, severity=True) is None


def test_table_scores_each_setting():
    rows = table([_outcome("SEV1"), _outcome("SEV3")], severity=True)

    model_only = next(
        r for r in rows if r["voters"] == "product" and r["model_weight"] == 1.0
    )
    assert model_only["accuracy"] == 0.5
    assert len(rows) == 20
