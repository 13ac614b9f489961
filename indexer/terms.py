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

import re

from indexer.normalize import tokenize

STOPWORDS = frozenset(
    "a an and are as at be been by for from has have in is it its of on or that the "
    "this to was were will with than then there these those not no into over under "
    "more less had can could should would".split()
)
# Removed from the end of a term when at least MIN_STEM characters remain. The
# longer endings come first, so that "failures" loses "ures" and not only "s".
ENDINGS = ("ures", "ure", "ing", "ed", "es", "s")
MIN_STEM = 3
# The words of a CamelCase name: an acronym before a capitalised word, a number
# with the letters after it (5xx), a capitalised or lower-case word, an acronym.
# normalize.split_identifier splits 5xx into 5 and xx for the full-text index,
# which would leave HTTP5xx and HTTP4xx alerts with the same title terms.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|\d+[a-z]*|[A-Z]?[a-z]+|[A-Z]+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_DOUBLED = re.compile(r"([b-df-hj-np-tv-z])\1$")


def stem(term: str) -> str:
    """Return term without a common ending, so that related forms meet.

    After the ending, a final "e" and a doubled final consonant go too, so that
    expires and expiring both give "expir", and stopped and stops give "stop".
    """
    for ending in ENDINGS:
        if term.endswith(ending) and len(term) - len(ending) >= MIN_STEM:
            term = term[: -len(ending)]
            break
    if term.endswith("e") and len(term) > MIN_STEM:
        term = term[:-1]
    if len(term) > MIN_STEM:
        term = _DOUBLED.sub(r"\1", term)
    return term


def title_terms(*texts: str) -> list[str]:
    """Return the distinct stemmed terms of titles, alert names or alert text, sorted.

    A CamelCase name counts as its words (KubeJobFailed as Kube, Job, Failed),
    since the text of an alert sent without its name never contains the joined
    name. Stopwords and one-character terms are left out.
    """
    terms = set()
    for text in texts:
        for word in _words(text):
            if word not in STOPWORDS and len(word) > 1:
                terms.add(stem(word))
    return sorted(terms)


def _words(text: str) -> list[str]:
    """Return the lower-case words of text, CamelCase names split into theirs."""
    words = []
    for token in text.split():
        if not token.isascii():
            # CamelCase names are ASCII, so other scripts split as the index does.
            words += tokenize(token)
            continue
        for part in _ASCII_WORD.findall(token):
            if part.isupper() or part.islower() or part.isdigit():
                words.append(part.lower())
            else:
                words += [piece.lower() for piece in _CAMEL_PART.findall(part)]
    return words


def title_coverage(terms: list[str], alert_terms: set[str]) -> float:
    """Return the share of a record's title terms that the alert's terms contain.

    alert_terms come from title_terms() of the alert's text. A record without
    title terms scores 0.
    """
    if not terms:
        return 0.0
    return sum(1 for term in terms if term in alert_terms) / len(terms)
