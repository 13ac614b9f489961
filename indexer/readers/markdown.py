"""Markdown postmortems and runbooks, with optional YAML front matter."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from indexer import limited_yaml
from indexer.limited_yaml import LimitedLoader
from indexer.readers.base import ReadProblem, ReadResult
from indexer.readers.dates import (
    ends_before_start,
    numeric_day_first,
    parse_datetime,
)
from indexer.readers.mapping import render_value
from indexer.readers.sections import (
    Block,
    normalize_heading,
    section_for_heading,
    split_blocks,
)
from indexer.readers.text import (
    decode_text,
    file_stem,
    first_sentence,
    title_from_stem,
)
from indexer.record import (
    CAUSE_SECTIONS,
    FIX_SECTIONS,
    SYMPTOM_SECTIONS,
    IncidentRecord,
    Kind,
    id_problem,
)

logger = logging.getLogger(__name__)

# Front matter keys with a meaning of their own. Other keys become labels.
_START_KEYS = ("started_at", "start_time", "start", "date")
_END_KEYS = ("ended_at", "end_time", "end", "resolved_at")
_SEVERITY_KEYS = ("severity", "priority")
_LIST_LABEL_KEYS = ("service", "team", "alertname", "category", "categories")
_OWN_KEYS = frozenset(
    {"id", "kind", "title", "summary", "labels", *_START_KEYS, *_END_KEYS}
    | {*_SEVERITY_KEYS, *_LIST_LABEL_KEYS}
)
# Page settings of static site generators (Hugo, Jekyll), which carry no
# information about the incident. Keys starting with "book" belong to the Hugo
# Book theme.
_SITE_KEYS = frozenset({"weight", "draft", "layout", "aliases", "menu", "toc", "slug"})

_RUNBOOK_SECTIONS = frozenset({"meaning", "diagnosis", "mitigation"})
_POSTMORTEM_SECTIONS = frozenset(
    {"root_cause", "timeline", "contributing_factors", "trigger", "lessons"}
    | {"action_items"}
)
_STATS_HEADINGS = frozenset({"stats", "statistics"})
# The groups of sections that _same_group compares: symptoms, causes and fixes.
_SECTION_GROUPS = (SYMPTOM_SECTIONS, CAUSE_SECTIONS, FIX_SECTIONS)
# A paragraph that opens with a bold label, "**Root Causes**: ..." or
# "**Impact:** ...", as in the postmortem example of Google's SRE book.
# A remark in brackets that names an incident: (INC-4521), (#465), (2024-03-01).
_INCIDENT_REMARK = re.compile(
    r"[(\[]\s*(?:[A-Za-z]+-\d+|#\d+|\d{4}-\d{2}-\d{2})\s*[)\]]"
)
_INLINE_LABEL = re.compile(r"^\*\*([^*\n]{1,60}?)\s*:?\s*\*\*\s*:?\s*(.*)$")
_STATS_ITEM = re.compile(r"^\s*[-*+]\s+([^:\n]{1,40}):\s*(.+?)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"^(?:n/?a|tbd|unknown|none|x+|y+|z+)$", re.IGNORECASE)
_ALERT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TRAILING_REMARK = re.compile(r"\s*[\[(][^\])]*[\])]\s*$")
_LEADING_BLANK_LINES = re.compile(r"^(?:[ \t]*\n)+")
# Below this many words, an untitled file with no known heading is a stub.
_MIN_WORDS = 20


class _MarkdownError(Exception):
    """A file that cannot become a record. Its args are the line (or None), reason."""


@dataclass
class _FrontMatter:
    """Values that the front matter of one file sets."""

    record_id: str | None = None
    kind: Kind | None = None
    title: str | None = None
    summary: str | None = None
    severity_raw: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)


def read_markdown(path: Path, default_id: str) -> ReadResult:
    """Read one Markdown postmortem or runbook.

    Args:
        path: The file.
        default_id: The record id when the front matter sets none: the path under
            the source root without suffix, prefixed with the root's name.

    Returns:
        One record, or one problem that gives the reason the file was not read.
    """
    source = str(path)
    try:
        text = decode_text(path.read_bytes())
    except (OSError, ValueError) as error:
        reason = f"cannot read the file: {error}"
        return ReadResult(problems=[ReadProblem(source, None, reason)])

    try:
        record = _parse(text, path, default_id)
    except _MarkdownError as error:
        line, reason = error.args
        location = str(line) if line else None
        return ReadResult(problems=[ReadProblem(source, location, reason)])
    return ReadResult(records=[record])


def _parse(text: str, path: Path, default_id: str) -> IncidentRecord:
    raw_front, body = _split_front_matter(text)
    front = _front_matter(raw_front)
    blocks = _split_inline_labels(split_blocks(body))
    title_index = _title_block(blocks)
    h1 = blocks[title_index].heading if title_index else None

    sections, stats, recognised = _assemble(blocks, title_index, front.summary)
    # A short text is kept when something names it: front matter labels (company,
    # url) or a title. A titled stub such as "This alert has been moved" still tells
    # which alert it is about; an untitled scrap of text does not.
    words = _word_count(sections)
    named = bool(front.labels or front.title or h1)
    if (
        front.kind is None
        and not recognised
        and (words == 0 or (words < _MIN_WORDS and not named))
    ):
        raise _MarkdownError(
            None,
            "no recognised sections and almost no text; add headings such as "
            "Summary or Root Cause, or set 'kind' in the front matter",
        )

    labels = {**stats, **front.labels}
    kind = front.kind or _infer_kind(sections, path, front.started_at)
    if kind is Kind.RUNBOOK and "alertname" not in labels:
        names = _alert_names(file_stem(path), h1)
        if names:
            labels["alertname"] = ", ".join(names)

    title = front.title or h1 or title_from_stem(file_stem(path))
    title = title or first_sentence(_first_text(sections))
    if ends_before_start(front.started_at, front.ended_at):
        logger.warning(
            "%s: the end time %s is before the start time %s; both are kept as "
            "written, so check them and their time zones",
            path,
            front.ended_at.isoformat() if front.ended_at else "",
            front.started_at.isoformat() if front.started_at else "",
        )
    record_id = front.record_id or default_id
    if record_id and (problem := id_problem(record_id)):
        # An id made from the file's path, such as postmortems/similar.
        raise _MarkdownError(
            None,
            f"the id {record_id[:80]!r} made from the file's path is invalid: it "
            f"{problem}; set 'id' in the front matter or rename the file",
        )
    return IncidentRecord(
        id=record_id,
        kind=kind,
        title=" ".join(title.split()),
        sections=sections,
        labels=labels,
        severity_raw=front.severity_raw,
        started_at=front.started_at,
        ended_at=front.ended_at,
        source=str(path),
    )


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return the parsed front matter and the body, which keeps its line count.

    The front matter lines are blanked in the body rather than cut, so that line
    numbers in the body are line numbers in the file.
    """
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return {}, text

    end = next(
        (i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None
    )
    if end is None:
        raise _MarkdownError(
            1,
            "front matter opened with '---' on line 1 is never closed; "
            "add a closing '---' line after it",
        )
    front_text = "\n".join(lines[1:end])
    try:
        # The depth first, as PyYAML's scanner is slow on deep brackets.
        limited_yaml.check_depth(front_text)
        _reject_aliases(front_text)
        data = yaml.load(front_text, Loader=_FrontMatterLoader)
    except yaml.YAMLError as error:
        raise _MarkdownError(*_yaml_problem(error)) from error
    except RecursionError:
        # PyYAML builds nested lists and mappings by recursion.
        raise _MarkdownError(
            2,
            "the front matter is nested too deeply to read; front matter needs "
            "key: value lines with at most a list or mapping inside",
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _MarkdownError(
            2,
            f"the front matter is a YAML {type(data).__name__}, expected key: value "
            "lines; fix the YAML between the '---' lines",
        )
    body = "\n" * end + "\n".join(lines[end + 1 :])
    return data, body


class _FrontMatterLoader(LimitedLoader):
    """A safe YAML loader that reads only true and false as booleans, and no numbers.

    PyYAML follows YAML 1.1, where yes, no, on and off are booleans too, so
    `service: no` or `team: on` would be stored as "false" and "true".
    """


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    """Build a date, or keep the text of an impossible one such as 2024-02-30.

    PyYAML raises a bare ValueError for it, and the date check of the key then
    names the key and the accepted formats.
    """
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)

_BOOL_TAG = "tag:yaml.org,2002:bool"
# Numbers stay text too: YAML 1.1 reads alertname: 012 as octal 10, 1_000 as
# 1000 and start_time: 10:28 as the base-60 number 628 (a time in 1970).
_TEXT_TAGS = (_BOOL_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _TEXT_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FrontMatterLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _reject_aliases(front_text: str) -> None:
    """Reject YAML aliases before loading, because each one copies its anchor.

    Nested aliases grow exponentially: a front matter of 300 bytes can load as
    millions of strings. Front matter of postmortems has no use for them.
    """
    for event in yaml.parse(front_text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            # The YAML text starts on line 2 of the file, and marks count from 0.
            line = event.start_mark.line + 2 if event.start_mark else None
            raise _MarkdownError(
                line,
                f"the front matter uses the YAML alias *{event.anchor}, which is "
                "not supported; write the value out in full",
            )


def _yaml_problem(error: yaml.YAMLError) -> tuple[int | None, str]:
    mark = getattr(error, "problem_mark", None)
    # The YAML text starts on line 2 of the file, and marks count from 0.
    line = mark.line + 2 if mark is not None else None
    detail = " ".join(
        str(part)
        for part in (getattr(error, "context", None), getattr(error, "problem", None))
        if part
    )
    return line, (
        f"invalid YAML front matter: {detail or error}; "
        "fix the YAML between the '---' lines"
    )


def front_matter_keys(text: str) -> tuple[str | None, Kind | None] | None:
    """Return the id and kind that a Markdown text's front matter sets.

    None where a key is unset, and None for both when the front matter cannot
    be read.
    """
    try:
        data, _ = _split_front_matter(text)
        front = _front_matter(data)
    except _MarkdownError:
        return None
    return front.record_id, front.kind


def _front_matter(data: Mapping[str, Any]) -> _FrontMatter:
    """Interpret front matter keys.

    Raises:
        _MarkdownError: The kind or a date is invalid.
    """
    values = _folded_keys(data, "the front matter")
    # The start and end are read in one order, as the dates of an export are.
    dates = [str(values[key]) for key in (*_START_KEYS, *_END_KEYS) if key in values]
    day_first = bool(numeric_day_first(dates))
    front = _FrontMatter(
        record_id=_front_id(values.get("id")),
        kind=_kind(values.get("kind")),
        title=_text_or_none(values.get("title")),
        summary=_text_or_none(values.get("summary")),
        severity_raw=_first_text_value(values, _SEVERITY_KEYS),
        started_at=_front_date(values, _START_KEYS, day_first),
        ended_at=_front_date(values, _END_KEYS, day_first),
    )
    front.labels = _front_labels(values)
    return front


def _front_id(value: object) -> str | None:
    """Return the front matter id, which must be one text or number."""
    if isinstance(value, (dict, list)):
        kind = "mapping" if isinstance(value, dict) else "list"
        raise _MarkdownError(
            None,
            f"front matter 'id' is a YAML {kind}, expected one id such as "
            "PM-2024-007; put other tools' ids under labels",
        )
    record_id = _text_or_none(value)
    problem = id_problem(record_id) if record_id else None
    if record_id and problem:
        raise _MarkdownError(
            None,
            f"front matter 'id' {record_id[:80]!r} is invalid: it {problem}; change "
            "the id, such as to PM-2024-007",
        )
    return record_id


def _folded_keys(
    data: Mapping[Any, Any], where: str, lower: bool = True
) -> dict[str, Any]:
    """Return data keyed by text, lower-case unless lower is False.

    YAML keeps `severity` and `Severity` apart, and an unquoted date key apart
    from the same date quoted, but each pair names one field here. With equal
    values that does no harm; with different values one would silently replace
    the other, so they raise a _MarkdownError.
    """
    folded: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in data.items():
        name = str(key).strip().lower() if lower else str(key)
        if name in folded and folded[name] != value:
            first, second = written[name], str(key)
            spellings = (
                f"{first!r} and {second!r}, which name the same field"
                if first != second
                else f"{first!r} twice, once quoted and once as a date"
            )
            raise _MarkdownError(
                None,
                f"{where} gives {spellings}, with different values; keep one of them",
            )
        folded[name] = value
        written[name] = str(key)
    return folded


def _front_labels(values: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in values.items():
        if key in _OWN_KEYS or key in _SITE_KEYS or key.startswith("book"):
            continue
        labels[key] = _label_text(value)

    extra = values.get("labels")
    if isinstance(extra, Mapping):
        for key, value in _folded_keys(extra, "'labels'", lower=False).items():
            text = _label_text(value)
            if labels.get(key) and text and labels[key] != text:
                raise _MarkdownError(
                    None,
                    f"the front matter gives {key} as {labels[key]!r} and in "
                    f"'labels' as {text!r}; keep one of them",
                )
            labels[key] = text

    for key in ("service", "team", "alertname"):
        text = _label_text(values.get(key))
        if not text:
            continue
        if labels.get(key) and labels[key] != text:
            raise _MarkdownError(
                None,
                f"the front matter gives {key} as {text!r} and in 'labels' as "
                f"{labels[key]!r}; keep one of them",
            )
        labels[key] = text
    categories = [_label_text(values.get(k)) for k in ("category", "categories")]
    if any(categories):
        text = _joined_parts(categories)
        labelled = labels.get("category")
        if labelled and _joined_parts([labelled]) != text:
            raise _MarkdownError(
                None,
                f"the front matter gives category as {text!r} and in 'labels' as "
                f"{labels['category']!r}; keep one of them",
            )
        labels["category"] = text
    return {key: value for key, value in labels.items() if value}


def _joined_parts(texts: list[str]) -> str:
    """Return the distinct comma-separated parts of texts, joined by ", "."""
    parts = [part.strip() for text in texts for part in text.split(",")]
    return ", ".join(dict.fromkeys(part for part in parts if part))


def _kind(value: object) -> Kind | None:
    text = _text_or_none(value)
    if text is None:
        return None
    try:
        return Kind(text.lower())
    except ValueError:
        allowed = ", ".join(kind.value for kind in Kind)
        raise _MarkdownError(
            None,
            f"invalid kind {text!r} in the front matter; allowed kinds are {allowed}",
        ) from None


def _front_date(
    values: Mapping[str, Any], keys: Sequence[str], day_first: bool
) -> datetime | None:
    for key in keys:
        value = values.get(key)
        if value is None or value == "":
            continue
        try:
            return parse_datetime(value, day_first=day_first)
        except ValueError as error:
            raise _MarkdownError(
                None, f"front matter {key!r}: {error}. Fix the value or remove the key"
            ) from error
    return None


def _split_inline_labels(blocks: list[Block]) -> list[Block]:
    """Start a section at each bold label that names one, as a heading would.

    "**Root Causes**: Cascading failure ..." becomes a block under the heading
    "Root Causes", one level below the nearest # heading, with the text after
    the label as its first line. Only the text before the first # heading and
    under a level-1 title is read this way, because that example puts its labels
    there. A bold-line heading does not end that text. Labels that name no
    section ("**Date**:") and labels under other headings, such as a "**Cause:**"
    step of a runbook's triage, stay text. So does a label in the text of a
    bold-line heading, before any other label, when both name sections of one
    group, as "**Cause:** ..." under "**Diagnosis**" does.
    """
    result = []
    first_heading = next(
        (i for i, block in enumerate(blocks) if block.level and not block.bold_line), -1
    )
    read_labels = True
    for index, block in enumerate(blocks):
        if not block.bold_line:
            # Under a bold-line heading, labels are read where they would be
            # read without it.
            title = index == first_heading and block.level == 1
            read_labels = block.level == 0 or (title and not _names_section(block))
        if not read_labels:
            result.append(block)
            continue
        current = Block(
            block.heading, block.level, block.line, bold_line=block.bold_line
        )
        label_level = block.level
        if not block.bold_line:
            label_level = min(max(block.level, 1) + 1, 6)
        result.append(current)
        # The section of the bold-line heading whose text the lines go to, until
        # a label starts a block of its own.
        enclosing = section_for_heading(block.heading) if block.bold_line else None
        fenced = False
        for offset, line in enumerate(block.lines, start=1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            match = None if fenced else _INLINE_LABEL.match(line)
            section = section_for_heading(match.group(1)) if match else None
            if (
                match
                and match.group(2).strip()
                and section is not None
                and not (enclosing and _same_group(section, enclosing))
            ):
                enclosing = None
                current = Block(match.group(1), label_level, block.line + offset)
                current.lines.append(match.group(2))
                result.append(current)
            else:
                current.lines.append(line)
    return result


def _title_block(blocks: Sequence[Block]) -> int:
    """Return the index of the level-1 title heading, or 0 when there is none.

    The title is a level-1 heading that names no section and comes before every
    heading that does. In a template whose level-1 headings are its sections
    (Incident summary, Leadup, Fault, ...), a later one such as "Response" is
    one more section, not the title.
    """
    for index, block in enumerate(blocks):
        if block.level and _names_section(block):
            return 0
        if block.level == 1:
            return index
    return 0


def _names_section(block: Block) -> bool:
    """Return whether a heading names a section rather than titling the record.

    A level-1 heading that names its incident, as "Root Cause Analysis
    (INC-4521)" does, is the title of an analysis, not its root cause section.
    """
    if block.level == 1 and _INCIDENT_REMARK.search(block.heading):
        return False
    return section_for_heading(block.heading) is not None


def _assemble(
    blocks: Sequence[Block], title_index: int, front_summary: str | None
) -> tuple[dict[str, str], dict[str, str], bool]:
    """Group heading blocks into canonical sections.

    An unknown heading nested below a known one stays in that section. So does
    a known heading nested below Lessons, and a bold-line heading whose section
    is in the same group as the one it is nested in (see _same_group), such as
    "**Root cause:**" under a runbook's Diagnosis. Other unknown headings, with
    their text, go to "other". Text before the first heading, or under the
    title, is the summary unless one exists, else details.

    Returns:
        The sections, labels found in a Stats list, and whether any heading or the
        front matter named a known section.
    """
    parts: dict[str, list[str]] = {"summary": [front_summary or ""]}
    preamble: list[str] = []
    stats: dict[str, str] = {}
    recognised = bool(front_summary)
    current, level = "", 0
    for index, block in enumerate(blocks):
        if index == title_index or block.level == 0:
            preamble.append(block.text)
            continue

        section = section_for_heading(block.heading)
        nested = current not in ("", "other") and block.level > level
        # "What went wrong" under "Lessons learned" is a lesson, not the cause.
        stays = (
            section is not None
            and nested
            and (
                current == "lessons"
                or (bool(block.bold_line) and _same_group(section, current))
            )
        )
        if stays:
            parts[current].append(_heading_and_text(block))
        elif section is not None:
            recognised = True
            current, level = section, block.level
            parts.setdefault(section, []).append(block.text)
        elif nested:
            parts[current].append(_heading_and_text(block))
        else:
            current, level = "other", block.level
            parts.setdefault("other", []).append(_heading_and_text(block))
            if normalize_heading(block.heading) in _STATS_HEADINGS:
                stats.update(_stats_labels(block.text))

    target = "details" if _join(parts["summary"]) else "summary"
    parts.setdefault(target, []).extend(preamble)
    sections = {name: _join(texts) for name, texts in parts.items()}
    return {name: text for name, text in sections.items() if text}, stats, recognised


def _heading_and_text(block: Block) -> str:
    """Return a block's heading line and text, for a section that contains it.

    A bold-line heading is a paragraph, so it keeps the blank lines after it:
    without them, an indented code block under it would continue its paragraph.
    """
    if block.bold_line:
        return "\n".join([block.bold_line, *block.lines]).rstrip()
    return f"{'#' * block.level} {block.heading}\n{block.text}"


def _same_group(section: str, other: str) -> bool:
    """Return whether both sections are in one group: symptom, cause or fix.

    A bold line that names a section of the same group as the heading above it
    labels a part of that section, as "**Root cause:**" under Diagnosis or
    "**Mitigation:**" under Resolution do. One of another group starts its own
    section, as "**Root Cause**" under "What happened" does.

    NOTE: Diagnosis and root cause are one group, so "**Root Cause**" under a
    postmortem's "Investigation" stays in its diagnosis, as in a runbook.
    """
    return any(section in group and other in group for group in _SECTION_GROUPS)


def _stats_labels(text: str) -> dict[str, str]:
    """Return "- Key: value" items of a Stats list as labels with snake_case keys.

    Footnote marks such as "[^3]" are removed, and placeholders such as "?" and
    "N/A" are left out.
    """
    labels = {}
    for key, raw_value in _STATS_ITEM.findall(text):
        value = re.sub(r"\[\^[^\]]*\]", "", raw_value).strip()
        if re.search(r"[0-9A-Za-z]", value) and not _PLACEHOLDER.match(value):
            labels[normalize_heading(key).replace(" ", "_")] = value
    return labels


def _infer_kind(
    sections: Mapping[str, str], path: Path, started_at: datetime | None = None
) -> Kind:
    # A start time dates an incident. Runbooks describe alerts and carry none.
    if started_at is not None:
        return Kind.POSTMORTEM
    names = set(sections)
    if names & _RUNBOOK_SECTIONS and not names & {"root_cause", "timeline"}:
        return Kind.RUNBOOK
    if names & _POSTMORTEM_SECTIONS:
        return Kind.POSTMORTEM
    # Nothing decisive: a page filed under a runbooks folder is a runbook.
    folders = path.resolve().parent.parts
    if any("runbook" in folder.lower() for folder in folders):
        return Kind.RUNBOOK
    return Kind.POSTMORTEM


def _alert_names(stem: str, h1: str | None) -> list[str]:
    """Return the alert names that the file name and the H1 spell, in that order.

    An alert name is one CamelCase word, such as KubePodCrashLooping. A name that
    starts lower-case, such as etcdNoLeader, counts only when file name and H1
    agree, because helper pages have lower-case names like accessToolbox. The
    file name comes first because alert rules link runbooks by file name.
    """
    heading = _TRAILING_REMARK.sub("", h1 or "").strip()
    names = []
    for name in (stem, heading):
        if not _ALERT_NAME.match(name) or name.islower() or name.isupper():
            continue
        if name[0].islower() and stem != heading:
            continue
        names.append(name)
    return list(dict.fromkeys(names))


def _label_text(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return render_value(value)


def _text_or_none(value: object) -> str | None:
    text = _label_text(value) if value is not None else ""
    return text or None


def _first_text_value(values: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        text = _text_or_none(values.get(key))
        if text:
            return text
    return None


def _join(texts: Sequence[str]) -> str:
    # The first line keeps its indentation, which can make it an indented code
    # block.
    joined = "\n\n".join(text for text in texts if text.strip())
    return _LEADING_BLANK_LINES.sub("", joined).rstrip()


def _word_count(sections: Mapping[str, str]) -> int:
    return sum(len(text.split()) for text in sections.values())


def _first_text(sections: Mapping[str, str]) -> str:
    return next(iter(sections.values()), "")
