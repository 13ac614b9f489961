"""Plain-text rendering of recommendations and matches for the terminal."""

from __future__ import annotations

import re
import textwrap

from recommender.recommendation import score_text
from recommender.schemas import AlertResult, MatchOut, RecommendationOut, SuggestionOut
from recommender.suggestions import MODEL_EVIDENCE

WIDTH = 88
# C0 and C1 control characters but newline and tab, and the line separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def render_result(result: AlertResult) -> str:
    """Render the answer for one alert as text."""
    alert = result.alert
    name = (alert.alertname or "(no alertname)") if alert else f"alert {result.index}"
    name = printable(name)
    if result.outcome == "rejected" and result.error:
        return f"== {name}: rejected\n   {result.error.field}: {result.error.message}\n"
    if result.outcome == "resolved":
        return f"== {name}: resolved, nothing to recommend\n"
    assert result.recommendation is not None
    written = alert.severity if alert else None
    return f"== {name}\n" + render_recommendation(result.recommendation, written)


def render_recommendation(rec: RecommendationOut, label: str | None = None) -> str:
    """Render a recommendation: verdict, matches, root causes, severity, fixes.

    label is the alert's severity label as written, shown beside the level it
    maps to when the matches outvote it.
    """
    lines = [_wrap(rec.message), "", "Matches (score in [0, 1], higher is closer):"]
    lines += render_matches(rec.matches, rec.precedent_bar or rec.threshold)

    lines += ["", "Likely root causes:"]
    lines += _suggestions(rec.root_causes) or [
        "   none: no close precedent"
        if rec.no_close_precedent
        else "   none: the close matches record no root cause"
    ]
    severity = rec.severity
    lines += [
        "",
        "Suggested severity: "
        + (
            f"{severity.value} (confidence {severity.confidence:.2f}, from "
            f"{', '.join(severity.evidence)})"
            if severity.value
            else "unknown"
        ),
    ]
    if severity.alert_label and severity.alert_label != severity.value:
        votes = ", ".join(
            f"{level} {vote:.2f}" for level, vote in severity.votes.items()
        )
        own = severity.alert_label
        if label and label.strip().lower() != own.lower():
            own = f"{label.strip()}, {own}"
        lines.append(
            _wrap(
                f"the alert's own label ({own}) was outvoted (votes: {votes})",
                indent=20,
            )
        )
    category = rec.category
    if category.value:
        # Without a close precedent the category is only the nearest records',
        # or the history model's when none of them has one.
        head = "Likely category"
        if rec.no_close_precedent and category.evidence == [MODEL_EVIDENCE]:
            head = "Category by the history model, no close precedent"
        elif rec.no_close_precedent:
            head = "Category of the nearest records"
        lines += [
            f"{head}: {category.value} (confidence {category.confidence:.2f},"
            f" from {', '.join(category.evidence)})"
        ]
    all_low = bool(rec.fixes) and all(fix.low_confidence for fix in rec.fixes)
    if all_low:
        lines += ["", "Fixes of the nearest records (low confidence, leads to check):"]
    else:
        lines += ["", "Suggested fixes:"]
    lines += _suggestions(rec.fixes, mark_low=not all_low) or [
        "   none: no close precedent"
        if rec.no_close_precedent
        else "   none: the close matches record no fix"
    ]
    if rec.responders is not None:
        lines += ["", "Suggested responders:"]
        lines += [
            _wrap(f"   - {r.role.replace('_', ' ')}: {r.name} ({r.reason})", indent=5)
            for r in rec.responders.responders
        ] or ["   none: no owning team known"]
    return printable("\n".join(lines) + "\n")


def printable(text: str) -> str:
    """Return text with control characters other than newline and tab escaped.

    Records are written by many people and tools, and an escape sequence in a
    postmortem's code could retitle or clear the terminal it is printed on.
    """
    return _CONTROL.sub(lambda found: ascii(found.group())[1:-1], text)


def render_matches(matches: list[MatchOut], threshold: float) -> list[str]:
    """Render ranked matches with why each matched."""
    if not matches:
        return ["   none"]
    lines = []
    for rank, match in enumerate(matches, start=1):
        lines.append(
            f"{rank:>3}. {score_text(match.score, threshold)} "
            f"{match.confidence:<6} {match.id} "
            f"[{match.kind}] {match.title}"
        )
        why = []
        if match.shared_labels:
            why.append(
                "same " + ", ".join(f"{k}={v}" for k, v in match.shared_labels.items())
            )
        if match.matched_sections:
            closest = match.matched_sections[0]
            why.append(f"closest section {closest.section} ({closest.similarity:.2f})")
        if match.matched_terms:
            why.append("terms: " + ", ".join(match.matched_terms[:6]))
        if why:
            lines.append(_wrap("; ".join(why), indent=10))
    return lines


def _suggestions(suggestions: list[SuggestionOut], mark_low: bool = True) -> list[str]:
    lines = []
    for suggestion in suggestions:
        kind = f"[{suggestion.fix_type}] " if suggestion.fix_type else ""
        if suggestion.low_confidence and mark_low:
            kind = "[low confidence] " + kind
        head = f"   - ({suggestion.confidence:.2f}) "
        lines.append(_wrap(head + kind + suggestion.text, indent=len(head)))
        source = "from " + ", ".join(suggestion.evidence)
        if suggestion.related:
            # A fix's related records give the same fix in other case or
            # punctuation; a root cause's are the other matches of its category.
            label = "same category" if suggestion.category else "same fix"
            source += f"; {label}: " + ", ".join(suggestion.related)
        lines.append(_wrap(source, indent=len(head)))
        # Code is printed as written, unwrapped, so that it can be copied.
        for block in suggestion.code:
            lines.append("")
            lines += [" " * len(head) + line for line in block.splitlines()]
        if suggestion.code_omitted_lines:
            lines.append(
                " " * len(head)
                + f"({_more_lines(suggestion.code_omitted_lines)} of code in "
                + f"{suggestion.evidence[0]})"
            )
        if suggestion.code:
            lines.append("")
    return lines


def _more_lines(count: int) -> str:
    return f"{count} more line" + ("s" if count != 1 else "")


def _wrap(text: str, indent: int = 0) -> str:
    return textwrap.fill(
        text,
        WIDTH,
        subsequent_indent=" " * indent,
        initial_indent="" if text.startswith(" ") else " " * indent,
        break_on_hyphens=False,
    )
