"""Title terms: the words of a title and alert names, compared after light stemming."""

import pytest

from indexer.terms import stem, title_coverage, title_terms


@pytest.mark.parametrize(
    ("forms", "expected"),
    [
        (["failed", "failure", "failures", "fails"], "fail"),
        (["expires", "expiring", "expired"], "expir"),
        (["stopped", "stops", "stopping"], "stop"),
        (["degraded", "degrades", "degrading"], "degrad"),
        (["alertmanager", "alertmanagers"], "alertmanager"),
        (["errors", "error"], "error"),
        (["ready"], "ready"),
        # Too short to lose an ending: the stem would be under three characters.
        (["bus"], "bus"),
        (["red"], "red"),
    ],
)
def test_related_forms_share_a_stem(forms, expected):
    assert {stem(form) for form in forms} == {expected}


def test_identifier_counts_as_its_words():
    assert title_terms("KubeJobFailed") == ["fail", "job", "kub"]
    assert title_terms("Kube Job Failed") == title_terms("KubeJobFailed")
    assert title_terms("KubeAPIDown") == ["api", "down", "kub"]


def test_numbers_keep_their_letters():
    """HTTP 5xx and 4xx alerts differ only in the number, so it must survive."""
    assert title_terms("HTTP5xxErrorsHigh") == ["5xx", "error", "high", "http"]
    assert title_terms("HTTP 5xx errors high") == title_terms("HTTP5xxErrorsHigh")
    assert title_terms("HTTP4xxErrorsHigh") != title_terms("HTTP5xxErrorsHigh")


def test_words_outside_ascii_stay_whole():
    assert title_terms("Défaillance réseau café") == ["café", "défaillanc", "réseau"]
    assert title_terms("Défaillance réseau café") == title_terms(
        "défaillance, réseau; café!"
    )
    assert title_terms("ディスク障害") == ["ディスク障害"]


def test_stopwords_and_duplicates_dropped():
    terms = title_terms("Node is not ready", "KubeNodeNotReady", "a NODE")

    assert terms == ["kub", "nod", "ready"]


def test_upper_case_word_stays_one_term():
    assert title_terms("HTTP errors on API") == ["api", "error", "http"]


def test_empty_titles_have_no_terms():
    assert title_terms("") == []
    assert title_terms("!!! --- ???") == []
    assert title_terms("the of a") == []


def test_coverage_is_share_mentioned():
    terms = title_terms("Node RAID Disk Failure")
    alert = set(title_terms("At least one device in RAID array nodes failed"))

    assert title_coverage(terms, alert) == pytest.approx(3 / 4)
    assert title_coverage([], alert) == 0.0
    assert title_coverage(terms, set()) == 0.0
