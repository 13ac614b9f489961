"""Title terms: the words of a title and alert names, compared after light stemming."""

import pytest

from indexer.terms import stem, title_coverage, title_terms


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("failed", "fail"),
        ("failure", "fail"),
        ("failures", "fail"),
        ("sending", "send"),
        ("alertmanagers", "alertmanager"),
        ("errors", "error"),
        ("ready", "ready"),
        # Too short to lose an ending: the stem would be under three characters.
        ("bus", "bus"),
        ("red", "red"),
    ],
)
def test_stem_removes_common_endings(term, expected):
    assert stem(term) == expected


def test_identifier_counts_as_its_words():
    assert title_terms("KubeJobFailed") == ["fail", "job", "kube"]
    assert title_terms("Kube Job Failed") == title_terms("KubeJobFailed")
    assert title_terms("KubeAPIDown") == ["api", "down", "kube"]


def test_stopwords_short_words_and_duplicates_left_out():
    terms = title_terms("Node is not ready", "KubeNodeNotReady", "a NODE")

    assert terms == ["kube", "node", "ready"]


def test_upper_case_word_stays_one_term():
    assert title_terms("HTTP errors on API") == ["api", "error", "http"]


def test_coverage_is_share_of_title_terms_mentioned():
    terms = title_terms("Node RAID Disk Failure")
    alert = {stem(t) for t in "at least one device in raid array failed".split()}

    assert title_coverage(terms, alert) == pytest.approx(2 / 4)
    assert title_coverage([], alert) == 0.0
    assert title_coverage(terms, set()) == 0.0
