import pytest

from indexer.severity import Severity, normalize_severity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("critical", Severity.SEV1),
        ("SEV1", Severity.SEV1),
        ("sev-2", Severity.SEV2),
        ("SEV0", Severity.SEV1),
        ("P1", Severity.SEV1),
        ("P3", Severity.SEV3),
        ("P5", Severity.SEV4),
        ("Priority 2", Severity.SEV2),
        ("1 - Critical", Severity.SEV1),
        (2, Severity.SEV2),
        ("major", Severity.SEV2),
        ("High", Severity.SEV2),
        ("warning", Severity.SEV3),
        ("Medium", Severity.SEV3),
        ("info", Severity.SEV4),
        ("Low", Severity.SEV4),
    ],
)
def test_normalize_severity_known_values(raw, expected):
    assert normalize_severity(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Non-critical", None),
        ("Not critical", None),
        ("noncritical", None),
        ("Not urgent - minor", Severity.SEV3),
        ("Non-critical (low)", Severity.SEV4),
        ("Not critical - P4", Severity.SEV4),
        ("urgent (sev 2)", Severity.SEV2),
        ("none", Severity.SEV4),
        ("notice", Severity.SEV4),
    ],
)
def test_normalize_severity_skips_negated_words(raw, expected):
    assert normalize_severity(raw) is expected


@pytest.mark.parametrize("raw", [None, "", "   ", "banana", True, "step 3"])
def test_normalize_severity_unknown_is_none(raw):
    assert normalize_severity(raw) is None


def test_severity_rank_orders_most_severe_first():
    assert Severity.SEV1.rank == 1
    assert Severity.SEV4.rank == 4
