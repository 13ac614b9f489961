"""Markdown headings: finding them and mapping their wording to canonical sections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# Heading wordings seen in postmortem and runbook templates, by canonical section.
# Headings are compared after normalize_heading, so case, punctuation and numbering
# do not matter. Headings that match none of these are kept under "other".
HEADING_SYNONYMS: dict[str, tuple[str, ...]] = {
    "summary": (
        "summary",
        "overview",
        "executive summary",
        "what happened",
        "description",
        "incident summary",
        "incident description",
        "tldr",
        "tl dr",
        "abstract",
    ),
    "impact": (
        "impact",
        "customer impact",
        "user impact",
        "business impact",
        "blast radius",
        "impact assessment",
    ),
    "root_cause": (
        "root cause",
        "root causes",
        "root cause analysis",
        "rca",
        "cause",
        "causes",
        "why it happened",
        "what went wrong",
        "fault",
        "blameless root cause",
    ),
    "trigger": ("trigger", "triggers", "leadup", "lead up"),
    # The chain of "why" questions leads to the cause; the Atlassian template
    # states the cause itself under Fault.
    "contributing_factors": (
        "contributing factors",
        "contributing factor",
        "contributing causes",
        "five whys",
        "whys",
    ),
    "detection": ("detection", "how it was detected", "how was it detected"),
    "resolution": (
        "resolution",
        "recovery",
        "fix",
        "the fix",
        "how we fixed it",
        "remediation",
        "resolution and recovery",
    ),
    "mitigation": (
        "mitigation",
        "mitigating",
        "mitigation steps",
        "workaround",
        "workarounds",
        "immediate actions",
    ),
    "timeline": (
        "timeline",
        "incident timeline",
        "timeline of events",
        "chronology",
        "sequence of events",
    ),
    "action_items": (
        "action items",
        "follow up",
        "follow ups",
        "followups",
        "corrective actions",
        "next steps",
        "remediation items",
        "prevention",
        "preventive actions",
    ),
    "lessons": (
        "lessons learned",
        "lessons learnt",
        "lessons",
        "learnings",
        "what went well",
        "where we got lucky",
    ),
    "meaning": ("meaning", "alert description"),
    # "Possible causes" in a runbook lists what to check, so it is diagnosis, and
    # mapping it to root_cause would turn the runbook into a postmortem.
    "diagnosis": (
        "diagnosis",
        "diagnosis and mitigation",
        "investigation",
        "troubleshooting",
        "possible causes",
    ),
}

_SECTION_BY_HEADING = {
    wording: section
    for section, wordings in HEADING_SYNONYMS.items()
    for wording in wordings
}

# "1.", "2.3", "1)", "iv.", "b)", "Step 2:". Letters need the dot or bracket, so
# that "a fix" keeps its "a".
_NUMBERING = re.compile(
    r"^(?:(?:step|part)\s+)?(?:\d+(?:\.\d+)*[.):]?|[ivx]+[.)]|[a-z][.)])\s+"
)
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# Words an unknown part of a compound heading may have, as "Response" in
# "Detection and Response" or "Customer Communication" in "Impact & Customer
# Communication". Longer parts describe an incident, as a title does.
COMPOUND_MAX_WORDS = 2
# The joints of a compound heading: "Root Cause and Contributing Factors",
# "Resolution & Recovery", "Action Items / Follow-ups".
_COMPOUND = re.compile(r"\s+(?:and|&)\s+|\s*[/,+]\s*", re.IGNORECASE)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# A line that opens an HTML comment block, and the rest of a line that closes
# the comment at once. CommonMark counts "<!-->" and "<!--->" as whole comments.
_COMMENT_BLOCK = re.compile(r"^ {0,3}<!--")
_COMMENT_CLOSED = re.compile(r"-?>|.*-->", re.DOTALL)
# A comment inside a line, closed on that line.
_INLINE_COMMENT = re.compile(r"<!--(?:-?>|.*?-->)")
_CODE_SPAN = re.compile(r"(`+[^`]*`+)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
# A line of bold text alone, which many postmortem templates use as a heading:
# "**Root Cause**", "**Root cause:**", "__Resolution__:", and in bold italics
# "***Action Items***". It must start in the first column, because an indented
# one is usually part of a list item. CommonMark reads "** Root cause **" as
# plain text, so the bold text must not start or end with a space.
_BOLD_LINE = re.compile(
    r"^(?:\*\*(?P<star_italic>\*?)(?P<stars>[^*\s](?:[^*]*[^*\s])?)"
    r"(?P=star_italic)\*\*"
    r"|__(?P<underscore_italic>_?)(?P<underscores>[^_\s](?:[^_]*[^_\s])?)"
    r"(?P=underscore_italic)__)[ \t]*:?[ \t]*$"
)
# Lines that cannot be the text of a Setext heading: list items, tables, quotes,
# HTML and thematic breaks.
_NOT_SETEXT_TEXT = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|[|>]|<|[-*_=]{3,}\s*$)")


def normalize_heading(text: str) -> str:
    """Return heading text lower-cased, without markup, numbering or punctuation.

    "1. Root Cause(s):" becomes "root causes" and "**Follow-up**" "follow up".
    """
    text = text.lower().replace("(s)", "s")
    text = re.sub(r"[*_`'’\"]", "", text).strip()
    text = _NUMBERING.sub("", text)
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return text.strip()


def section_for_heading(text: str) -> str | None:
    """Return the canonical section for a heading, or None for unknown wording.

    A trailing remark in brackets ("Contributing Factors (findings)") is dropped
    when the whole heading is not known. A compound heading ("Root Cause and
    Contributing Factors", "Detection and Response") takes the section of its
    first part when that part is known and every other part is known or at most
    COMPOUND_MAX_WORDS words. So a title such as "Root cause and resolution of
    the login outage" maps to no section. A plural such as "Mitigations" or
    "Fixes" takes the section of its singular.
    """
    plain = _PARENTHESES.sub("", text)
    section = _lookup(text) or _lookup(plain)
    if section is None:
        parts = [part for part in _COMPOUND.split(plain) if part.strip()]
        first = _lookup(parts[0]) if len(parts) > 1 else None
        rest_fits = all(
            _lookup(part) or len(part.split()) <= COMPOUND_MAX_WORDS
            for part in parts[1:]
        )
        if first and rest_fits:
            section = first
    return section


def _lookup(text: str) -> str | None:
    key = normalize_heading(text)
    section = _SECTION_BY_HEADING.get(key)
    for ending in ("s", "es"):
        if section is None and key.endswith(ending):
            section = _SECTION_BY_HEADING.get(key.removesuffix(ending))
    return section


@dataclass
class Block:
    """A heading and the Markdown lines under it, up to the next heading.

    Attributes:
        heading: Heading text without the #s, or "" for text before any heading.
        level: 1 to 6, or 0 for text before any heading.
        line: Line number of the heading in the body, starting at 1.
        lines: The lines under the heading.
        bold_line: The heading's line as written when the heading is a line of
            bold text, else "".
    """

    heading: str
    level: int
    line: int
    lines: list[str] = field(default_factory=list)
    bold_line: str = ""

    @property
    def text(self) -> str:
        """The lines under the heading, without leading and trailing blank lines."""
        return "\n".join(self.lines).strip("\n").rstrip()


def split_blocks(body: str) -> list[Block]:
    """Split Markdown text at its ATX, Setext and bold-line headings.

    Lines inside fenced code blocks are never headings. A Setext underline counts
    only under a one-line paragraph. CommonMark would also take a longer paragraph
    as the heading text, but in practice such a "---" is meant as a rule.

    A line of bold (or bold italic) text alone that starts a paragraph in the
    first column and names a known section ("**Root Cause**", "__Resolution:__")
    is a heading. CommonMark reads it as a paragraph, but templates use it as a
    heading. Bold text that names no section stays text, because templates also
    put labels such as "**Note**" in bold.

    A bold-line heading takes the level of the previous bold-line heading, so
    that "**Summary**", "**Root Cause**" and "**Resolution**" are siblings even
    with a "### Customer communication" heading between them. After an ATX or
    Setext heading at that level or above (a number no greater), the next
    bold-line heading goes one level below the nearest ATX or Setext heading
    instead, or at level 2 before any heading.
    """
    blocks = [Block(heading="", level=0, line=0)]
    # The level of the nearest ATX or Setext heading, which bold lines go under.
    outer_level = 0
    # The level of the previous bold-line heading, until a heading at that level
    # or above comes.
    bold_level: int | None = None
    lines = _without_html_comments(body.splitlines())
    for number, line, kind in _classify_lines(lines):
        if kind == "text":
            blocks[-1].lines.append(line)
            continue

        if kind == "bold":
            if bold_level is None:
                bold_level = min(max(outer_level, 1) + 1, 6)
            heading = _bold_line_text(line) or ""
            blocks.append(Block(heading, bold_level, number, bold_line=line))
            continue

        if kind == "setext":
            # The previous line is the heading text, not body text.
            heading = blocks[-1].lines.pop().strip()
            outer_level = 1 if line.strip().startswith("=") else 2
            blocks.append(Block(heading=heading, level=outer_level, line=number - 1))
        else:
            match = _ATX.match(line)
            assert match is not None
            heading = (match.group(2) or "").strip()
            outer_level = len(match.group(1))
            blocks.append(Block(heading=heading, level=outer_level, line=number))
        if bold_level is not None and outer_level <= bold_level:
            bold_level = None
    return blocks


def _bold_line_text(line: str) -> str | None:
    """Return the text of a line that contains only bold text, else None.

    Bold italic text ("***Action Items***") counts as bold. A colon inside or
    after the bold text is dropped: "**Root cause:**" and "**Root cause**:" both
    give "Root cause".
    """
    match = _BOLD_LINE.match(line)
    if match is None:
        return None
    text = match.group("stars") or match.group("underscores")
    return text.removesuffix(":").rstrip()


def _without_html_comments(lines: list[str]) -> list[str]:
    """Blank out HTML comments outside code, which Markdown never shows.

    Templates keep their guidance in comments ("<!-- Describe the fix -->"), and
    a heading inside one must not start a section. As in CommonMark, a line
    that starts with "<!--" opens a comment block that ends at the line with
    "-->", while inside a line only a comment closed on it is removed. An
    unclosed "<!--" in a paragraph is text. Lines keep their numbers.
    """
    result = []
    in_comment = False
    code = _FencedCode()
    for line in lines:
        if in_comment:
            in_comment = "-->" not in line
            result.append("")
            continue
        if code.step(line) or _indent(line) >= 4 or line.lstrip().startswith(">"):
            # Code, or a quote, whose fences this reader does not follow.
            result.append(line)
            continue

        if _COMMENT_BLOCK.match(line):
            in_comment = not _COMMENT_CLOSED.match(line.lstrip()[4:])
            result.append("")
            continue
        # Code spans keep their text, comments included.
        parts = _CODE_SPAN.split(line)
        parts[::2] = [_INLINE_COMMENT.sub("", part) for part in parts[::2]]
        result.append("".join(parts))
    return result


def _classify_lines(lines: list[str]) -> Iterator[tuple[int, str, str]]:
    """Yield each line with its number and its kind.

    The kind is "atx", "setext", "bold" (a bold-line heading) or "text".
    """
    # True when the current line starts a block: it is the first line, or it
    # follows a blank line, a heading or the end of a fenced code block.
    block_start = True
    previous_in_code = False
    for index, (line, in_code) in enumerate(
        zip(lines, _in_fenced_code(lines), strict=True)
    ):
        number = index + 1
        if in_code:
            previous_in_code = True
            yield number, line, "text"
            continue
        if previous_in_code:
            block_start = True
            previous_in_code = False

        kind = "text"
        if _ATX.match(line):
            kind = "atx"
        elif _is_setext_underline(lines, index):
            kind = "setext"
        elif block_start and _is_bold_heading(lines, index):
            kind = "bold"
        block_start = kind != "text" or not line.strip()
        yield number, line, kind


def _in_fenced_code(lines: list[str]) -> list[bool]:
    """Return for each line whether it belongs to a fenced code block, fences too."""
    code = _FencedCode()
    return [code.step(line) for line in lines]


class _FencedCode:
    """A tracker of fenced code blocks, fed one line after another.

    A fence indented under a list item ends with the item, at the first line
    indented less than the fence, as CommonMark closes it. Other fences run to
    their closing fence or the end of the text.
    """

    def __init__(self) -> None:
        self.fence: str | None = None
        self.fence_indent = 0
        self.in_list = False

    def step(self, line: str) -> bool:
        """Return whether the line is fenced code, an opening or closing fence too."""
        indent = _indent(line)
        if self.fence is not None and line.strip() and indent < self.fence_indent:
            self.fence = None
        if self.fence is not None:
            if _closes_fence(line, self.fence):
                self.fence = None
            return True

        if _LIST_ITEM.match(line):
            self.in_list = True
        elif line.strip() and indent == 0:
            self.in_list = False
        opening = _FENCE.match(line)
        if opening:
            self.fence = opening.group(1)
            self.fence_indent = indent if self.in_list and indent >= 2 else 0
        return bool(opening)


def _indent(line: str) -> int:
    """Return the columns of a line's indentation, a tab reaching the next of 4."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _is_bold_heading(lines: list[str], index: int) -> bool:
    text = _bold_line_text(lines[index])
    if text is None or section_for_heading(text) is None:
        return False
    # "**Root Cause**" over a "---" line is the text of a Setext heading.
    return index + 1 == len(lines) or not _is_setext_underline(lines, index + 1)


def _closes_fence(line: str, fence: str) -> bool:
    # A closing fence uses the opening character, at least as many times, and
    # has no info string after it.
    stripped = line.strip()
    return stripped.startswith(fence) and not stripped.lstrip(fence[0])


def _is_setext_underline(lines: list[str], index: int) -> bool:
    if index == 0 or not _SETEXT.match(lines[index]):
        return False

    previous = lines[index - 1]
    if not previous.strip() or _NOT_SETEXT_TEXT.match(previous):
        return False
    if _ATX.match(previous) or _FENCE.match(previous):
        return False
    # A one-line paragraph: the line before the text is blank or absent.
    return index == 1 or not lines[index - 2].strip()
