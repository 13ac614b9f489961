"""Root causes, severity and fixes suggested from matches, each with its evidence."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from indexer.severity import Severity, normalize_severity
from recommender.fix_types import classify_fix
from recommender.retrieval import Match

# Sections each kind of suggestion is read from, in order of preference.
CAUSE_SECTIONS = ("root_cause", "trigger", "contributing_factors", "diagnosis")
FIX_SECTIONS = ("resolution", "mitigation", "action_items")
# The alert's own severity label counts as much as one perfect match.
ALERT_LABEL_WEIGHT = 1.0
MAX_SUGGESTION_CHARS = 500
# A section with less prose than this (say, only commands) is passed over.
MIN_SUGGESTION_CHARS = 40
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


@dataclass
class Suggestion:
    """A suggested root cause or fix.

    Attributes:
        text: The cause or fix as the past record wrote it, shortened.
        confidence: In [0, 1]: the best supporting match score times the share of
            the considered matches' score that supports it.
        evidence: Ids of the matches it came from.
        category: Root-cause category label of those matches, when known.
        fix_type: Kind of fix the text describes (see recommender.fix_types).
    """

    text: str
    confidence: float
    evidence: list[str]
    category: str | None = None
    fix_type: str | None = None


@dataclass
class SeveritySuggestion:
    """The suggested severity.

    Attributes:
        value: SEV1 (most severe) to SEV4, or None when nothing carries a severity.
        confidence: Share of the weighted votes that went to value, in [0, 1].
        evidence: Ids of the matches that voted for it, plus "alert label" when the
            alert's own severity label agreed.
        votes: Weighted votes per severity.
    """

    value: Severity | None
    confidence: float
    evidence: list[str] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)


@dataclass
class CategorySuggestion:
    """The suggested root-cause category.

    Attributes:
        value: The category label that won the vote, or None when no match has one.
        confidence: Share of the weighted votes that went to value, in [0, 1].
        evidence: Ids of the matches that voted for it.
        votes: Weighted votes per category.
    """

    value: str | None
    confidence: float
    evidence: list[str] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)


def suggest_category(matches: list[Match]) -> CategorySuggestion:
    """Suggest a root-cause category by a score-weighted vote of the matches."""
    votes: dict[str, float] = defaultdict(float)
    voters: dict[str, list[str]] = defaultdict(list)
    for match in matches:
        category = match.record.labels.get("category", "").strip().lower()
        if category:
            votes[category] += match.score
            voters[category].append(match.record.id)

    total = sum(votes.values())
    if not total:
        return CategorySuggestion(value=None, confidence=0.0)
    best = min(votes, key=lambda c: (-votes[c], c))
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    return CategorySuggestion(
        value=best,
        confidence=round(votes[best] / total, 4),
        evidence=voters[best],
        votes={category: round(weight, 4) for category, weight in ranked},
    )


def suggest_root_causes(matches: list[Match], limit: int = 3) -> list[Suggestion]:
    """Suggest root causes from matches, grouping matches of the same category."""
    groups: dict[str, list[tuple[Match, str]]] = defaultdict(list)
    for match in matches:
        text = _first_section(match, CAUSE_SECTIONS)
        if not text:
            continue
        category = match.record.labels.get("category", "").strip().lower()
        groups[category or f"record:{match.record.id}"].append((match, text))
    return _rank(groups, matches, limit)


def suggest_fixes(matches: list[Match], limit: int = 3) -> list[Suggestion]:
    """Suggest fixes from the resolution, mitigation or action items of the matches."""
    groups: dict[str, list[tuple[Match, str]]] = defaultdict(list)
    for match in matches:
        text = _first_section(match, FIX_SECTIONS)
        if text:
            groups[f"record:{match.record.id}"].append((match, text))
    return _with_fix_types(_rank(groups, matches, limit))


def suggest_severity(
    matches: list[Match], alert_severity: str | None
) -> SeveritySuggestion:
    """Suggest a severity by a score-weighted vote of matches and the alert label."""
    votes: dict[Severity, float] = defaultdict(float)
    voters: dict[Severity, list[str]] = defaultdict(list)
    for match in matches:
        if match.record.severity is not None:
            votes[match.record.severity] += match.score
            voters[match.record.severity].append(match.record.id)

    own = normalize_severity(alert_severity)
    if own is not None:
        votes[own] += ALERT_LABEL_WEIGHT
        voters[own].append("alert label")

    total = sum(votes.values())
    if not total:
        return SeveritySuggestion(value=None, confidence=0.0)
    # Ties go to the more severe level: under-paging costs more than over-paging.
    best = min(votes, key=lambda s: (-votes[s], s.rank))
    return SeveritySuggestion(
        value=best,
        confidence=round(votes[best] / total, 4),
        evidence=voters[best],
        votes={
            s.value: round(v, 4)
            for s, v in sorted(votes.items(), key=lambda i: i[0].rank)
        },
    )


def _rank(
    groups: dict[str, list[tuple[Match, str]]], matches: list[Match], limit: int
) -> list[Suggestion]:
    total = sum(m.score for m in matches) or 1.0
    suggestions = []
    for key, members in groups.items():
        support = sum(m.score for m, _ in members)
        best_match, best_text = max(members, key=lambda item: item[0].score)
        suggestions.append(
            Suggestion(
                text=best_text,
                confidence=round(best_match.score * support / total, 4),
                evidence=[m.record.id for m, _ in members],
                category=None if key.startswith("record:") else key,
            )
        )
    suggestions.sort(key=lambda s: -s.confidence)
    return suggestions[:limit]


def _with_fix_types(suggestions: list[Suggestion]) -> list[Suggestion]:
    for suggestion in suggestions:
        suggestion.fix_type = classify_fix(suggestion.text)
    return suggestions


def _first_section(match: Match, sections: tuple[str, ...]) -> str:
    """Return the first of the sections with enough prose to stand as a suggestion."""
    for name in sections:
        text = shorten(match.record.sections.get(name, ""))
        if len(text) >= MIN_SUGGESTION_CHARS:
            return text
    return ""


def shorten(text: str, limit: int = MAX_SUGGESTION_CHARS) -> str:
    """Return the first items or sentences of a section, up to limit characters.

    Code blocks are left out and a Markdown table becomes one item per row (its
    first cell), so commands and table syntax never stand in for the suggestion.
    """
    lines = _prose_lines(text)
    bullets = [_BULLET.sub("", line) for line in lines if _BULLET.match(line)]
    if bullets and len(bullets) >= len(lines) / 2:
        pieces = bullets
    else:
        pieces = _SENTENCE.split(" ".join(lines))

    result = ""
    for piece in pieces:
        # Items that end a sentence are joined with a space, others with "; ".
        joiner = " " if result.endswith((".", "!", "?", ":")) else "; "
        candidate = piece if not result else result + joiner + piece
        if len(candidate) > limit:
            break
        result = candidate
    if not result and pieces:
        result = pieces[0][: limit - 1].rstrip() + "…"
    return result


def _prose_lines(text: str) -> list[str]:
    """Return the non-empty lines outside code blocks, with table rows as items."""
    lines: list[str] = []
    in_code = False
    in_table_body = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code or not line:
            continue
        if not line.startswith("|"):
            in_table_body = False
            lines.append(line)
            continue

        # A table: skip the header row and the separator, keep each row's first cell.
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            in_table_body = True
        elif in_table_body and cells[0]:
            lines.append("- " + cells[0])
    return lines
