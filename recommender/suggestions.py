"""Root causes, severity and fixes suggested from matches, each with its evidence."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from indexer.severity import Severity, normalize_severity
from recommender.fix_types import classify_fix
from recommender.markdown_code import code_parts
from recommender.retrieval import Match

# Sections each kind of suggestion is read from, in order of preference.
CAUSE_SECTIONS = ("root_cause", "trigger", "contributing_factors", "diagnosis")
FIX_SECTIONS = ("resolution", "mitigation", "action_items")
# The alert's own severity label counts as much as one perfect match.
ALERT_LABEL_WEIGHT = 1.0
# Weight of the history model's probabilities against the matches' vote shares in
# severity and category; chosen by cross-validation inside the training history
# (docs/EVALUATION.md, "How parameters were chosen").
MODEL_WEIGHT = 0.5
MODEL_EVIDENCE = "history model"
MAX_SUGGESTION_CHARS = 500
# A section with less prose than this, or fewer words, is passed over. Ticket
# exports often give a cause or fix in one short line ("Restarted the worker
# pods."), which must still count.
MIN_SUGGESTION_CHARS = 8
MIN_SUGGESTION_WORDS = 2
# Section texts that only hold a place, matched at the start of a text of at
# most PLACEHOLDER_WORDS words. Runbooks and tickets often leave "TODO", "TBD
# after RCA" or "See OPS-123" in a section they mean to fill in.
PLACEHOLDER = re.compile(
    r"^(?:root cause |cause |fix )?(?:todo|tbd|to do|to be \w+|unknown|n/?a|none|"
    r"nothing|pending|wip|under investigation|investigating|see (?:above|below|"
    r"[A-Z][A-Z0-9]*-\d+))\b",
    re.IGNORECASE,
)
PLACEHOLDER_WORDS = 4
K = TypeVar("K")
# Maximum lines of code shown with a fix, over all its blocks. The rest are
# counted, so that a cut block is not taken for the whole procedure.
MAX_CODE_LINES = 40
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


@dataclass
class Suggestion:
    """A suggested root cause or fix.

    Attributes:
        text: The cause or fix as the past record wrote it, shortened.
        confidence: In [0, 1]: the best supporting match score times the share of
            the considered matches' score that supports it.
        evidence: Ids of the matches whose text it is, best first.
        related: Ids of the other matches of the same root-cause category. They
            add to the confidence, but their own causes may read differently.
        category: Root-cause category label of those matches, when known.
        fix_type: Kind of fix the text describes (see recommender.fix_types).
        code: For fixes, the code blocks of the section the text comes from, as
            written, since shorten() leaves code out of the text.
        code_omitted_lines: Lines of those blocks past MAX_CODE_LINES, not shown.
        low_confidence: True when it comes from matches below the threshold, so it
            is a lead to check, not a known answer.
    """

    text: str
    confidence: float
    evidence: list[str]
    category: str | None = None
    fix_type: str | None = None
    low_confidence: bool = False
    related: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    code_omitted_lines: int = 0


@dataclass
class SeveritySuggestion:
    """The suggested severity.

    Attributes:
        value: SEV1 (most severe) to SEV4, or None when nothing carries a severity.
        confidence: Blended score of value in [0, 1]: the history model's
            probability and the share of the weighted votes (see blend_scores).
        evidence: Ids of the matches that voted for it, plus "alert label" when the
            alert's own severity label agreed and "history model" when the model
            gave it the highest probability.
        votes: Weighted votes per severity.
        model: History model probability per severity, empty without a model.
        alert_label: The level of the alert's own severity label, None when it
            has none. It differs from value when the matches outvoted it.
    """

    value: Severity | None
    confidence: float
    evidence: list[str] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)
    model: dict[str, float] = field(default_factory=dict)
    alert_label: str | None = None


@dataclass
class CategorySuggestion:
    """The suggested root-cause category.

    Attributes:
        value: The category with the highest blended score, or None when neither
            a match nor the history model has one.
        confidence: Blended score of value in [0, 1] (see blend_scores).
        evidence: Ids of the matches that voted for it, plus "history model" when
            the model gave it the highest probability.
        votes: Weighted votes per category.
        model: History model probability per category, empty without a model.
    """

    value: str | None
    confidence: float
    evidence: list[str] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)
    model: dict[str, float] = field(default_factory=dict)


def suggest_category(
    matches: list[Match], model: dict[str, float] | None = None
) -> CategorySuggestion:
    """Suggest a root-cause category from a score-weighted vote and the history model.

    Args:
        matches: Matches that vote with their score.
        model: History model probability per category, or None without a model.
    """
    votes: dict[str, float] = defaultdict(float)
    voters: dict[str, list[str]] = defaultdict(list)
    for match in matches:
        category = match.record.labels.get("category", "").strip().lower()
        if category:
            votes[category] += match.score
            voters[category].append(match.record.id)

    scores = blend_scores(model, votes)
    if not scores:
        return CategorySuggestion(value=None, confidence=0.0)
    best = min(scores, key=lambda c: (-scores[c], c))
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    strength = _strength(
        [m.score for m in matches if voters[best] and m.record.id in voters[best]],
        (model or {}).get(best),
    )
    return CategorySuggestion(
        value=best,
        confidence=round(scores[best] * strength, 4),
        evidence=voters[best] + _model_evidence(model, best),
        votes={category: round(weight, 4) for category, weight in ranked},
        model=_rounded(model),
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
    # Records that give the same fix, as repeated tickets do, make one suggestion
    # with all of them as evidence.
    groups: dict[str, list[tuple[Match, str]]] = defaultdict(list)
    for match in matches:
        text = _first_section(match, FIX_SECTIONS, code_only=True)
        if text:
            groups[" ".join(text.lower().split()).rstrip(".!;")].append((match, text))
    return _with_fix_details(_rank(groups, matches, limit, by_category=False), matches)


def suggest_severity(
    matches: list[Match],
    alert_severity: str | Severity | None,
    model: dict[str, float] | None = None,
) -> SeveritySuggestion:
    """Suggest a severity from a score-weighted vote, the alert label and the model.

    Args:
        matches: Matches that vote with their score.
        alert_severity: The alert's own severity label, which votes with weight
            ALERT_LABEL_WEIGHT: a level already mapped, or a label as tools
            write it (P1, critical), mapped here.
        model: History model probability per severity ("SEV1" to "SEV4"), or None.
    """
    votes: dict[Severity, float] = defaultdict(float)
    voters: dict[Severity, list[str]] = defaultdict(list)
    for match in matches:
        if match.record.severity is not None:
            votes[match.record.severity] += match.score
            voters[match.record.severity].append(match.record.id)

    own = (
        alert_severity
        if isinstance(alert_severity, Severity)
        else normalize_severity(alert_severity)
    )
    if own is not None:
        votes[own] += ALERT_LABEL_WEIGHT
        voters[own].append("alert label")

    model_levels = {Severity(k): v for k, v in (model or {}).items()}
    scores = blend_scores(model_levels, votes)
    label = own.value if own is not None else None
    if not scores:
        return SeveritySuggestion(value=None, confidence=0.0, alert_label=label)
    # Ties go to the more severe level: under-paging costs more than over-paging.
    best = min(scores, key=lambda s: (-scores[s], s.rank))
    strength = _strength(
        [m.score for m in matches if m.record.severity == best]
        + ([ALERT_LABEL_WEIGHT] if own == best else []),
        (model or {}).get(best.value),
    )
    return SeveritySuggestion(
        value=best,
        confidence=round(scores[best] * strength, 4),
        evidence=voters[best] + _model_evidence(model, best.value),
        votes={
            s.value: round(v, 4)
            for s, v in sorted(votes.items(), key=lambda i: i[0].rank)
        },
        model=_rounded(model),
        alert_label=label,
    )


def _strength(scores: list[float], model_probability: float | None) -> float:
    """Return how strong the best evidence for a label is, in [0, 1].

    A label's blended share alone is 1.0 when one weak match is all there is.
    Scaled by its strongest evidence (a match's score, the alert's own label or
    the model's probability), one 0.53 match gives 0.53, as a root cause from
    that match does.
    """
    candidates = [*scores, model_probability or 0.0]
    return min(max(candidates), 1.0)


def blend_scores(
    model: Mapping[K, float] | None, votes: Mapping[K, float]
) -> dict[K, float]:
    """Return MODEL_WEIGHT x model probability + the rest x vote share, per label.

    When only one side has anything, it decides alone. Scores are in [0, 1].
    """
    total = sum(votes.values())
    shares = {label: weight / total for label, weight in votes.items()} if total else {}
    if not model:
        return shares
    if not shares:
        return dict(model)
    return {
        label: MODEL_WEIGHT * model.get(label, 0.0)
        + (1 - MODEL_WEIGHT) * shares.get(label, 0.0)
        for label in set(model) | set(shares)
    }


def _model_evidence(model: dict[str, float] | None, label: str) -> list[str]:
    if model and max(model, key=lambda key: model[key]) == label:
        return [MODEL_EVIDENCE]
    return []


def _rounded(model: dict[str, float] | None) -> dict[str, float]:
    ranked = sorted((model or {}).items(), key=lambda item: -item[1])
    return {label: round(p, 4) for label, p in ranked}


def _rank(
    groups: dict[str, list[tuple[Match, str]]],
    matches: list[Match],
    limit: int,
    by_category: bool = True,
) -> list[Suggestion]:
    """Return the groups as suggestions, most supported first.

    With by_category, a group's key is its category unless it starts with
    "record:".
    """
    total = sum(m.score for m in matches) or 1.0
    suggestions = []
    for key, members in groups.items():
        support = sum(m.score for m, _ in members)
        best_match, best_text = max(members, key=lambda item: item[0].score)
        suggestions.append(
            Suggestion(
                text=best_text,
                confidence=round(best_match.score * support / total, 4),
                evidence=[m.record.id for m, text in members if text == best_text],
                category=key if by_category and not key.startswith("record:") else None,
                related=[m.record.id for m, text in members if text != best_text],
            )
        )
    suggestions.sort(key=lambda s: -s.confidence)
    return suggestions[:limit]


def _with_fix_details(
    suggestions: list[Suggestion], matches: list[Match]
) -> list[Suggestion]:
    """Give each fix its section's code blocks and the kind of fix it names.

    The kind is the one its excerpt names, else the one of its whole section.
    """
    records = {match.record.id: match.record for match in matches}
    for suggestion in suggestions:
        record = records.get(suggestion.evidence[0]) if suggestion.evidence else None
        sections = (
            [record.sections.get(name, "") for name in FIX_SECTIONS] if record else []
        )
        whole = next(
            (text for text in sections if _excerpt(text) == suggestion.text), ""
        )
        suggestion.code, suggestion.code_omitted_lines = code_blocks(whole)
        suggestion.fix_type = classify_fix(suggestion.text) or classify_fix(whole)
    return suggestions


def _first_section(
    match: Match, sections: tuple[str, ...], code_only: bool = False
) -> str:
    """Return the first of the sections with enough prose for a suggestion.

    With code_only, a section that contains only code counts too, by its first
    line, because a resolution written as a shell session is still a fix.
    """
    for name in sections:
        raw = match.record.sections.get(name, "")
        text = _excerpt(raw) if code_only else shorten(raw)
        if _is_prose(text):
            return text
        # Code is written on purpose, so one short command ("reboot") counts.
        if code_only and text and code_blocks(raw)[0]:
            return text
    return ""


def _excerpt(text: str) -> str:
    """Return a fix section's prose, else the first line of its code.

    A section whose only prose introduces its code ("Drained the node:") keeps
    that line, because it names what the code is for.
    """
    prose = shorten(text) or shorten(text, keep_intros=True)
    if prose:
        return prose
    blocks, _ = code_blocks(text)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return next((line for line in lines if line), "")[:MAX_SUGGESTION_CHARS]


def code_blocks(text: str) -> tuple[list[str], int]:
    """Return a section's code blocks as written, and the lines left out.

    Blocks are kept whole, with their prompts, output and continuation lines,
    because a command cut from its context can do something else than the
    one written. Past MAX_CODE_LINES over all blocks, lines are counted only.
    """
    blocks: list[str] = []
    lines_shown = omitted = 0
    for kind, lines in code_parts(text):
        if kind != "code":
            continue
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        if not lines:
            continue
        room = max(MAX_CODE_LINES - lines_shown, 0)
        if room:
            blocks.append("\n".join(lines[:room]))
        lines_shown += min(room, len(lines))
        omitted += max(len(lines) - room, 0)
    return blocks, omitted


def _is_prose(text: str) -> bool:
    """Return whether a shortened section contains prose, not only a placeholder."""
    words = text.split()
    if len(text) < MIN_SUGGESTION_CHARS or len(words) < MIN_SUGGESTION_WORDS:
        return False
    return len(words) > PLACEHOLDER_WORDS or not PLACEHOLDER.match(text)


def shorten(
    text: str, limit: int = MAX_SUGGESTION_CHARS, keep_intros: bool = False
) -> str:
    """Return the first items or sentences of a section, up to limit characters.

    Code blocks and the lines ending in a colon that introduce them are left
    out, and a Markdown table becomes one item per row (its first cell), so
    commands and table syntax never stand in for the suggestion.
    """
    lines = _prose_lines(text, keep_intros)
    if not lines:
        return ""
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


def _prose_lines(text: str, keep_intros: bool = False) -> list[str]:
    """Return the non-empty lines outside code blocks, with table rows as items.

    Without keep_intros, a line ending in a colon before a code block is left
    out with the code.
    """
    lines: list[str] = []
    in_table_body = False
    for kind, part in code_parts(text):
        if kind == "code":
            # A line that introduces the code ("On a PostgreSQL host:") means
            # nothing once the code is left out.
            if lines and lines[-1].endswith(":") and not keep_intros:
                lines.pop()
            continue
        line = part[0].strip()
        if not line:
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
