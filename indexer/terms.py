"""Keyword terms: the stopwords left out of matching, and the terms of a title.

A runbook's or postmortem's title names the condition it was written for, in a
few words ("Node RAID Disk Failure", "KubePersistentVolumeFillingUp"). An alert
that mentions all of those words is more likely about that record than about a
sibling whose title shares most of them ("Node RAID Degraded"). Titles and alerts
word the same thing with different endings (failed and failure, Alertmanager and
Alertmanagers), so title terms and the alert's terms are compared after a light
stemming that only removes a few common English endings.
"""

from __future__ import annotations

from indexer.normalize import split_identifier, tokenize

STOPWORDS = frozenset(
    "a an and are as at be been by for from has have in is it its of on or that the "
    "this to was were will with than then there these those not no into over under "
    "more less had can could should would".split()
)
# Removed from the end of a term when at least MIN_STEM characters remain. The
# longer endings come first, so that "failures" loses "ures" and not only "s".
ENDINGS = ("ures", "ure", "ing", "ed", "s")
MIN_STEM = 3


def stem(term: str) -> str:
    """Return term without its first matching common ending."""
    for ending in ENDINGS:
        if term.endswith(ending) and len(term) - len(ending) >= MIN_STEM:
            return term[: -len(ending)]
    return term


def title_terms(*texts: str) -> list[str]:
    """Return the distinct stemmed terms of a title and alert names, sorted.

    A CamelCase alert name counts as its words (KubeJobFailed as kube, job and
    fail), since an alert's text never contains the joined name when the alert
    name is left out. Stopwords and one-character terms are left out.
    """
    terms = set()
    for text in texts:
        for word in text.split():
            parts = split_identifier(word) if not word.isupper() else []
            for part in tokenize(" ".join(parts)) if len(parts) > 1 else tokenize(word):
                if part not in STOPWORDS and len(part) > 1:
                    terms.add(stem(part))
    return sorted(terms)


def title_coverage(terms: list[str], alert_terms: set[str]) -> float:
    """Return the share of a record's title terms that the alert's terms contain.

    alert_terms must be stemmed with stem(). A record without title terms scores 0.
    """
    if not terms:
        return 0.0
    return sum(1 for term in terms if term in alert_terms) / len(terms)
