"""The one severity scale used everywhere, and the mapping from the scales tools use."""

from __future__ import annotations

import re
from enum import Enum


class Severity(str, Enum):
    """Incident severity, SEV1 the most severe.

    SEV1: critical, customer-facing outage or data loss; page everyone now.
    SEV2: major degradation of a customer-facing service; page the owning team.
    SEV3: minor or internal impact; handle in working hours.
    SEV4: no user impact, informational.
    """

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """Return 1 for SEV1 up to 4 for SEV4."""
        return int(self.value[-1])


# Written definitions of the levels: the defaults of the configurable scale.
DEFINITIONS = {
    Severity.SEV1: "Critical, customer-facing outage or data loss; page everyone now.",
    Severity.SEV2: "Major degradation of a customer-facing service; page the owning "
    "team.",
    Severity.SEV3: "Minor or internal impact; handle in working hours.",
    Severity.SEV4: "No user impact, informational.",
}

# Words that tools put in a severity or priority field, lower-cased.
_WORDS = {
    "critical": Severity.SEV1,
    "crit": Severity.SEV1,
    "fatal": Severity.SEV1,
    "emergency": Severity.SEV1,
    "disaster": Severity.SEV1,
    "blocker": Severity.SEV1,
    "page": Severity.SEV1,
    "highest": Severity.SEV1,
    "major": Severity.SEV2,
    "high": Severity.SEV2,
    "error": Severity.SEV2,
    "severe": Severity.SEV2,
    "warning": Severity.SEV3,
    "warn": Severity.SEV3,
    "medium": Severity.SEV3,
    "moderate": Severity.SEV3,
    "average": Severity.SEV3,
    "minor": Severity.SEV3,
    "low": Severity.SEV4,
    "lowest": Severity.SEV4,
    "info": Severity.SEV4,
    "informational": Severity.SEV4,
    "information": Severity.SEV4,
    "notice": Severity.SEV4,
    "none": Severity.SEV4,
    "trivial": Severity.SEV4,
}
# A severity word after non, not or no, as in "Non-critical" or "not critical".
_NEGATED = re.compile(
    r"\b(?:non|not|no)[\s_-]*(?:"
    + "|".join(sorted(_WORDS, key=len, reverse=True))
    + r")\b"
)

# "SEV1", "sev-2", "S3", "P1", "P5", "Priority 2", "1 - Critical" and bare numbers.
_LEVEL = re.compile(
    r"^(?:sev(?:erity)?|s|p|priority)?[\s\-_:]*([0-5])\b", re.IGNORECASE
)


_LEVEL_INSIDE = re.compile(r"\b(?:sev|p)[\s\-_]?([0-5])\b")


def normalize_severity(raw: object) -> Severity | None:
    """Map a severity or priority as tools write it to the one scale.

    SEV0/P0/P1/1 map to SEV1, P5 and 5 to SEV4, and words such as critical, warning
    and info to SEV1, SEV3 and SEV4. Returns None when the value is empty or unknown,
    so an unknown value never turns into a made-up severity.
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip().lower()
    if not text:
        return None

    match = _LEVEL.match(text)
    if match:
        level = int(match.group(1))
        return Severity(f"SEV{min(max(level, 1), 4)}")

    # "Non-critical" or "not critical" names the opposite of its word, so negated
    # words are dropped before the words are looked up.
    text = _NEGATED.sub(" ", text)
    for word in re.findall(r"[a-z]+", text):
        if word in _WORDS:
            return _WORDS[word]

    # A level after other words, as in "Not critical - P4".
    match = _LEVEL_INSIDE.search(text)
    if match:
        return Severity(f"SEV{min(max(int(match.group(1)), 1), 4)}")
    return None
