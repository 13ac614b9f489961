"""The values of one export record: text, labels, kind and times, by mapping path.

Values are looked up by the mapping's paths, then checked and converted. A
problem of a whole file is reported once per file: its date order, its missing
columns, or a field in a form that cannot be used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from indexer.readers.dates import (
    is_ambiguous_numeric,
    numeric_order_evidence,
    parse_datetime,
)
from indexer.readers.export_rows import RawRecord
from indexer.readers.mapping import KEY_PATH, FieldMapping, find_value, render_value
from indexer.record import Kind

logger = logging.getLogger(__name__)


class RecordError(Exception):
    """A record that cannot be mapped. Its message becomes the ReadProblem reason."""


def text_at(raw: RawRecord, paths: Sequence[str]) -> str:
    """Return the first non-empty rendered value among alternative paths."""
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        text = render_value(value) if found else ""
        if text:
            return text
    return ""


@dataclass
class FileContext:
    """The state shared by the records of one file.

    Attributes:
        source: The file.
        day_first: Whether its numeric dates (01/05/2025) are written day first.
        warned: The fields already warned about, so each warning comes once.
    """

    source: str
    day_first: bool = False
    warned: set[tuple[str, str, str]] = field(default_factory=set)

    def warn_once(self, kind: str, name: str, message: str, *args: object) -> None:
        """Log a warning about one field of the file, once for each kind of problem."""
        if (kind, name, message) in self.warned:
            return
        self.warned.add((kind, name, message))
        logger.warning("%s: " + message, self.source, *args)


# A ServiceNow sys_id, which an export without display values gives in place of
# the name of a service, group or problem record.
_INTERNAL_ID = re.compile(r"^[0-9a-f]{32}$")


def field_text(
    raw: RawRecord,
    kind: str,
    name: str,
    paths: Sequence[str],
    context: FileContext,
) -> str:
    """Return the first text of a section or label among paths.

    A label takes text only, so a JSON object is passed over: rendered as "key:
    value" lines it would make the service a URL and an id. A section keeps an
    object's lines (an alert's details), except a link to another record
    ({"link": URL, "value": id}), which is no text of this one. A path passed
    over is warned about once per file, unless an earlier path of the field
    exists and is merely empty.
    """
    earlier_found = False
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        if not found:
            continue
        if _not_text(value, kind):
            if not earlier_found:
                context.warn_once(
                    kind,
                    name,
                    "%s %r left out where its path %r holds %s, not text; map it "
                    "to a text field inside (for ServiceNow, fetch with "
                    "sysparm_display_value=true)",
                    kind,
                    name,
                    path,
                    "a link to another record"
                    if kind == "section"
                    else "a JSON object",
                )
            earlier_found = True
            continue
        earlier_found = True
        text = render_value(value)
        if _INTERNAL_ID.match(text):
            context.warn_once(
                kind,
                name,
                "%s %r holds ids such as %s (32 hex digits, as a ServiceNow "
                "sys_id), not %s; for ServiceNow, fetch with "
                "sysparm_display_value=true",
                kind,
                name,
                text,
                "names" if kind == "label" else "text",
            )
        if text:
            return text
    return ""


def _not_text(value: Any, kind: str) -> bool:
    items = value if isinstance(value, list) else [value]
    if kind == "label":
        return any(isinstance(item, (Mapping, list)) for item in items)
    return any(
        isinstance(item, Mapping)
        and set(item) == {"link", "value"}
        and "/api/now/" in str(item["link"])
        for item in items
    )


def file_day_first(source: str, raws: list[RawRecord], mapping: FieldMapping) -> bool:
    """Return whether the file's numeric dates are written day first.

    They are when some of its dates can be read only day first (13/05/2025) and
    none only month first. Otherwise they are read month first, with a warning
    when that is a guess: when the dates show both orders, or none does and a
    date reads differently the other way.
    """
    paths = (*mapping.started_at, *mapping.ended_at)
    if not paths:
        return False
    values = [
        text_at(raw, (path,))
        for raw in raws
        if isinstance(raw.data, Mapping)
        for path in paths
    ]
    evidence = numeric_order_evidence(values)
    if evidence[True] and evidence[False]:
        logger.warning(
            "%s: numeric dates show both orders (%r only day first, %r only month "
            "first); they are read month first and those that do not fit fail. "
            "Export dates as YYYY-MM-DD",
            source,
            evidence[True][0],
            evidence[False][0],
        )
        return False
    if evidence[True]:
        return True
    ambiguous = next((value for value in values if is_ambiguous_numeric(value)), None)
    if ambiguous is not None and not evidence[False]:
        logger.warning(
            "%s: dates such as %r are read month first (MM/DD/YYYY), as none of the "
            "file's dates can be read only day first. If they are day first, export "
            "dates as YYYY-MM-DD: the order is judged per file, so it changes when "
            "a date such as 13/05/2025 is added or removed",
            source,
            ambiguous,
        )
    return False


def missing_columns(source: str, first: RawRecord, mapping: FieldMapping) -> str | None:
    """Check a CSV header against a mapping given by the user.

    Returns the problem of the whole file when the title or id column is not in
    the header, after warning about other mapped columns that are missing.
    """
    columns = list(first.data)
    folded = {column.strip().casefold() for column in columns}

    def absent(paths: Sequence[str]) -> bool:
        return bool(paths) and all(
            path.strip().casefold() not in folded and path != KEY_PATH for path in paths
        )

    column_list = ", ".join(repr(column) for column in columns[:30])
    required = [
        f"the {field_name} column {describe_paths(paths)}"
        for field_name, paths in (("title", mapping.title), ("id", mapping.id))
        if absent(paths)
    ]
    if required:
        verb = "is" if len(required) == 1 else "are"
        return (
            f"{' and '.join(required)} of mapping {mapping.name} {verb} not in the "
            f"file's header, whose columns are {column_list}; fix the mapping or "
            "the header"
        )
    optional = {
        **{f"sections.{name}": paths for name, paths in mapping.sections.items()},
        **{f"labels.{name}": paths for name, paths in mapping.labels.items()},
        "severity": mapping.severity,
        "started_at": mapping.started_at,
        "ended_at": mapping.ended_at,
    }
    missing = [
        f"{key} ({describe_paths(paths)})"
        for key, paths in optional.items()
        if absent(paths)
    ]
    if missing:
        logger.warning(
            "%s: mapping %s names columns that are not in the header, so these "
            "fields stay empty: %s. The columns are %s",
            source,
            mapping.name,
            "; ".join(missing),
            column_list,
        )
    return None


def required_text(raw: RawRecord, paths: Sequence[str], field_name: str) -> str:
    """Return the text of an id or title, which must be text, not a JSON object.

    Rendered as "key: value" lines, an object would become a title or an id
    that its author never wrote, so the record fails with the path to map.
    """
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        items = value if isinstance(value, list) else [value]
        if found and any(isinstance(item, (Mapping, list)) for item in items):
            keys = list(value)[:3] if isinstance(value, Mapping) else ["name"]
            inside = " or ".join(f"{path}.{key}" for key in keys)
            raise RecordError(
                f"invalid {field_name}: path {path!r} contains {json_kind(value)}, "
                f"not text; map {field_name} to a text field inside it, such as "
                f"{inside}"
            )
        if found and render_value(value):
            break
    text = text_at(raw, paths)
    if not text:
        where = "column" if raw.flat else "path"
        raise RecordError(
            f"missing {field_name}: {where} {describe_paths(paths)} is empty or "
            f"absent; fill it in or map {field_name} to another {where}"
        )
    return text


def record_kind(raw: RawRecord, mapping: FieldMapping) -> Kind:
    value = text_at(raw, mapping.kind_field)
    if not value:
        return mapping.kind
    try:
        return Kind(value.lower())
    except ValueError:
        allowed = ", ".join(kind.value for kind in Kind)
        raise RecordError(
            f"invalid kind {value!r} in {describe_paths(mapping.kind_field)}; "
            f"allowed kinds are {allowed}"
        ) from None


def record_datetime(
    raw: RawRecord,
    paths: Sequence[str],
    field_name: str,
    context: FileContext,
) -> datetime | None:
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        listed = value if found and isinstance(value, list) else []
        non_empty = [item for item in listed if render_value(item)]
        if len(non_empty) > 1:
            raise RecordError(
                f"{field_name} ({path!r}): the path gives {len(non_empty)} values; add "
                "[0] after its last [*] or [field=value] to take the first"
            )
        if found and render_value(value):
            break
    value = text_at(raw, paths)
    try:
        return parse_datetime(value, day_first=context.day_first)
    except ValueError as error:
        raise RecordError(
            f"{field_name} ({describe_paths(paths)}): {error}. Fix the value, or map "
            f"{field_name} to another field"
        ) from error


def describe_paths(paths: Sequence[str]) -> str:
    return " or ".join(repr(path) for path in paths) or "(none)"


def json_kind(value: object) -> str:
    """Return the JSON name of a value's type, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
