"""Action items of postmortems, and whether each is still open.

Readers store the action-item section as the text under its heading: bullet or
numbered lists, task lists (`- [ ]`, `- [x]`) or a Markdown table with a status
column. An item counts as open unless it is checked or marked done or closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that close an item when they are a table cell, a bracketed or trailing
# marker ("(done)", "- DONE"), or the status after a colon ("Status: closed").
CLOSED_WORDS = frozenset(
    {"done", "closed", "complete", "completed", "fixed", "resolved", "finished"}
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<text>.+)$")
_TASK_BOX = re.compile(r"^\[(?P<mark>[ xX])\]\s*(?P<text>.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
# A bracketed note at the end, "(platform, done)", or a trailing "- done".
_BRACKETED = re.compile(r"\((?P<note>[^()]*)\)\s*\.?\s*$")
_TRAILING = re.compile(r"\s[-–—:]\s*(?P<word>\w+)\s*\.?\s*$")
_NOTE_SEPARATOR = re.compile(r"\s*[,;]\s*")
# Words that keep an item open although a closing word follows: "not done",
# "to be done by Q3", "not yet fixed", "partially complete".
OPEN_WORDS = frozenset({"not", "no", "to", "yet", "pending", "partially", "partly"})
_WORD = re.compile(r"[a-z]+")
_STRIKE = re.compile(r"^~~.*~~$")


@dataclass(frozen=True)
class ActionItem:
    """One follow-up from a postmortem.

    Attributes:
        record_id: Id of the postmortem or incident it belongs to.
        text: The item as written, without list markers and status cells.
        open: False when it is checked, struck through or marked done or closed.
    """

    record_id: str
    text: str
    open: bool


def parse_action_items(record_id: str, section: str) -> list[ActionItem]:
    """Parse the action-item section of one record into items."""
    lines = [line.rstrip() for line in section.splitlines() if line.strip()]
    table = [line for line in lines if line.lstrip().startswith("|")]
    items = _table_items(record_id, table) if table else []

    # List items may stand beside a table, above or below it. Beside a table,
    # other lines are prose about it, not items.
    listed: list[ActionItem] = []
    for line in lines:
        if line.lstrip().startswith("|"):
            continue
        match = _LIST_ITEM.match(line)
        if match is None and listed and line.startswith((" ", "\t")):
            # A wrapped continuation: join it and read the status markers again.
            last = listed.pop()
            joined = _item(record_id, f"{last.text} {line.strip()}")
            listed.append(ActionItem(record_id, joined.text, last.open and joined.open))
            continue
        if match is None and table:
            continue
        text = (match.group("text") if match else line).strip()
        listed.append(_item(record_id, text))
    return items + listed


def _item(record_id: str, text: str) -> ActionItem:
    closed = False
    box = _TASK_BOX.match(text)
    if box is not None:
        closed = box.group("mark").lower() == "x"
        text = box.group("text").strip()
    if _STRIKE.match(text):
        closed = True
        text = text.strip("~").strip()

    bracketed = _BRACKETED.search(text)
    trailing = _TRAILING.search(text)
    if bracketed is not None:
        phrases = [p for p in _NOTE_SEPARATOR.split(bracketed.group("note")) if p]
        remaining = [p for p in phrases if not closes(p)]
        if len(remaining) < len(phrases):
            closed = True
            note = f" ({', '.join(remaining)})" if remaining else ""
            text = text[: bracketed.start()].rstrip() + note
    elif trailing is not None and trailing.group("word").lower() in CLOSED_WORDS:
        closed = True
        text = text[: trailing.start()].rstrip()
    return ActionItem(record_id=record_id, text=text, open=not closed)


def closes(phrase: str) -> bool:
    """Return whether a status phrase marks an item closed.

    A closing word anywhere counts ("n/a **DONE**" in a table cell), unless a
    word such as "not" or "to" marks it as still to happen.
    """
    words = set(_WORD.findall(phrase.lower()))
    return bool(words & CLOSED_WORDS) and not words & OPEN_WORDS


def _table_items(record_id: str, lines: list[str]) -> list[ActionItem]:
    """Read a Markdown table; the first column is the item, a status cell closes it."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in lines
        if line.lstrip().startswith("|") and not _TABLE_RULE.match(line)
    ]
    if not rows:
        return []

    header = [cell.lower() for cell in rows[0]]
    status_column = header.index("status") if "status" in header else None
    items = []
    for row in rows[1:]:
        if not row or not row[0]:
            continue
        closed = any(closes(cell) for cell in row[1:])
        if status_column is not None and status_column < len(row):
            closed = closes(row[status_column])
        item = _item(record_id, row[0])
        items.append(ActionItem(record_id, item.text, item.open and not closed))
    return items
