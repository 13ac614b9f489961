"""Split a record into passages short enough for the embedding model's window.

all-MiniLM-L6-v2 reads at most 256 word pieces and silently drops the rest, so a
long postmortem is embedded section by section, in chunks, and a cause written at
the end of a long document is still searchable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.normalize import normalize_text
from indexer.record import (
    CAUSE_SECTIONS,
    FIX_SECTIONS,
    SYMPTOM_SECTIONS,
    IncidentRecord,
)

# Words per chunk. English prose runs about 1.3 word pieces per word, so 150 words
# plus the title prefix stay under the 256 word-piece window (an estimate; text full
# of identifiers splits into more pieces and then loses its tail).
MAX_WORDS = 150
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Passage:
    """A piece of a record that is embedded on its own.

    Attributes:
        section: Canonical section name, or "title" for the head passage.
        role: "symptom", "cause", "fix" or "context": which part of an incident the
            text describes, so alerts match symptoms and suggestions come from causes.
        text: The normalised text that is embedded.
    """

    section: str
    role: str
    text: str


def section_role(section: str) -> str:
    """Return the role of a canonical section name."""
    if section in SYMPTOM_SECTIONS or section == "title":
        return "symptom"
    if section in CAUSE_SECTIONS:
        return "cause"
    if section in FIX_SECTIONS:
        return "fix"
    return "context"


def split_passages(
    record: IncidentRecord, boilerplate: frozenset[str] = frozenset()
) -> list[Passage]:
    """Split a record into passages: a head passage, then chunks of each section.

    The head passage is the title, the alert names and the start of the first
    symptom section, which is what an alert usually resembles. Every chunk is
    prefixed with the title so it stays meaningful alone. Lines listed in
    boilerplate (template text found in many records) are dropped first.
    """
    title = normalize_text(record.title)
    passages = [Passage("title", "symptom", _head_text(record, title, boilerplate))]

    for section, raw in record.sections.items():
        body = strip_boilerplate(normalize_text(raw), boilerplate)
        for chunk in _chunks(body, MAX_WORDS):
            passages.append(
                Passage(section, section_role(section), f"{title}: {chunk}")
            )
    return passages


def strip_boilerplate(text: str, boilerplate: frozenset[str]) -> str:
    """Drop lines that are template boilerplate."""
    if not boilerplate:
        return text
    kept = [
        line for line in text.splitlines() if boilerplate_key(line) not in boilerplate
    ]
    return "\n".join(kept)


def boilerplate_key(line: str) -> str:
    """Return the form of a line used to recognise repeated template text."""
    return " ".join(re.findall(r"\w+", line.lower()))


def find_boilerplate(
    records: Iterable[IncidentRecord], min_records: int = 5, min_share: float = 0.05
) -> frozenset[str]:
    """Find lines that appear in many records, such as template instructions.

    A line counts when it appears in at least min_records records and in at least
    min_share of all records; headings are not part of section text already.
    """
    counts: dict[str, int] = {}
    total = 0
    for record in records:
        total += 1
        seen = {
            boilerplate_key(line)
            for text in record.sections.values()
            for line in normalize_text(text).splitlines()
        }
        for key in seen:
            if key:
                counts[key] = counts.get(key, 0) + 1

    threshold = max(min_records, int(min_share * total))
    return frozenset(key for key, count in counts.items() if count >= threshold)


def _head_text(record: IncidentRecord, title: str, boilerplate: frozenset[str]) -> str:
    parts = [title]
    if record.alert_names:
        parts.append("Alerts: " + ", ".join(record.alert_names))
    for section in ("summary", "description", "meaning", "impact"):
        text = strip_boilerplate(
            normalize_text(record.sections.get(section, "")), boilerplate
        )
        if text:
            parts.append(" ".join(text.split()[:MAX_WORDS]))
            break
    return "\n".join(parts)


def _chunks(text: str, max_words: int) -> list[str]:
    """Split text into chunks of at most max_words, breaking between sentences."""
    chunks: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        while len(words) > max_words:
            chunks.append(" ".join(current + words[: max_words - len(current)]))
            words = words[max_words - len(current) :]
            current = []
        if len(current) + len(words) > max_words:
            chunks.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return [chunk for chunk in chunks if chunk]
