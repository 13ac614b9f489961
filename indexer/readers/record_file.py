"""Record files: one record in the JSON shape that POST /v1/incidents takes.

The API saves each JSON record it receives as such a file under
INCIDENT_HOME/uploads, so that `indexer build` reads it back whole, with the
labels and sections it was given. People can write these files by hand too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.readers.base import ReadProblem, ReadResult
from indexer.readers.dates import ends_before_start
from indexer.readers.export_fields import json_kind
from indexer.readers.export_rows import LONG_NUMBER, JsonTooDeepError, clean_json
from indexer.record import SECTION_NAMES, IncidentRecord, Kind, id_problem

# A name ending in this marks a record file, and other .json files are exports.
RECORD_FILE_SUFFIX = ".record.json"
RECORD_FIELDS = (
    "id",
    "kind",
    "title",
    "sections",
    "labels",
    "severity",
    "started_at",
    "ended_at",
)


class _FieldError(ValueError):
    """A field of a record file that cannot be used."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def is_record_file(path: Path) -> bool:
    """Return whether the file name marks one record rather than an export."""
    return path.name.lower().endswith(RECORD_FILE_SUFFIX)


def record_document(record: IncidentRecord) -> dict[str, Any]:
    """Return the record in the shape of a record file and of the API's body."""
    return {
        "id": record.id,
        "kind": record.kind.value,
        "title": record.title,
        "sections": dict(record.sections),
        "labels": dict(record.labels),
        "severity": record.severity_raw,
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "ended_at": record.ended_at.isoformat() if record.ended_at else None,
    }


def record_file_text(record: IncidentRecord) -> str:
    """Return the text of the record file that contains this record."""
    return json.dumps(record_document(record), ensure_ascii=False, indent=2) + "\n"


def read_record_file(path: Path, default_id: str) -> ReadResult:
    """Read one record file; a file that breaks the shape is a problem, not a record."""
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except OSError as error:
        return _problem(source, None, f"cannot read the file: {error.strerror}")
    except UnicodeDecodeError as error:
        return _problem(
            source, None, f"byte {error.start} is not UTF-8; save the file as UTF-8"
        )
    try:
        document = clean_json(json.loads(text))
    except json.JSONDecodeError as error:
        return _problem(source, f"line {error.lineno}", f"invalid JSON: {error.msg}")
    except (RecursionError, JsonTooDeepError):
        return _problem(source, None, "invalid JSON: nested too deep to read")
    except ValueError:
        return _problem(source, None, LONG_NUMBER)

    try:
        # The reader's default id keeps all but the last suffix.
        default_id = re.sub(r"\.record$", "", default_id, flags=re.IGNORECASE)
        record = _record(document, default_id, source)
    except _FieldError as error:
        return _problem(source, error.field, _naming_the_id(document, str(error)))
    return ReadResult(records=[record])


def _record(document: object, default_id: str, source: str) -> IncidentRecord:
    if not isinstance(document, dict):
        raise _FieldError(
            "",
            "invalid record file: expected one JSON object with the fields of a record",
        )
    unknown = sorted(set(document) - set(RECORD_FIELDS))
    if unknown:
        raise _FieldError(
            unknown[0],
            f"unknown field {unknown[0]!r}; the fields are {', '.join(RECORD_FIELDS)}. "
            f"A name ending in {RECORD_FILE_SUFFIX} marks a file of one record; "
            "rename an export to end in plain .json",
        )

    given_id = document.get("id")
    if isinstance(given_id, str) and not given_id.strip():
        raise _FieldError("id", "id is blank; give the record an id or leave id out")
    record_id = _text(document, "id") or default_id
    problem = id_problem(record_id)
    if problem:
        raise _FieldError("id", f"id {record_id[:80]!r} is invalid: it {problem}")
    kind = _text(document, "kind") or Kind.INCIDENT.value
    if kind not in {member.value for member in Kind}:
        kinds = ", ".join(member.value for member in Kind)
        raise _FieldError("kind", f"kind {kind[:40]!r} is not one of {kinds}")
    # Kept as written, as the API stores it, so a build changes nothing.
    title = _text(document, "title")
    if not title.strip():
        raise _FieldError("title", "title is missing or empty; every record needs one")
    sections = _strings(document, "sections")
    unknown_sections = sorted(set(sections) - set(SECTION_NAMES))
    if unknown_sections:
        raise _FieldError(
            f"sections.{unknown_sections[0]}",
            f"unknown section {unknown_sections[0]!r}; use {', '.join(SECTION_NAMES)}",
        )

    started_at = _time(document, "started_at")
    ended_at = _time(document, "ended_at")
    if started_at and ended_at and ends_before_start(started_at, ended_at):
        raise _FieldError(
            "ended_at",
            f"ended_at ({ended_at.isoformat()}) is before started_at "
            f"({started_at.isoformat()}); check the two times and their time zones",
        )
    severity = document.get("severity")
    return IncidentRecord(
        id=record_id,
        kind=Kind(kind),
        title=title,
        sections={name: text for name, text in sections.items() if text.strip()},
        labels=_strings(document, "labels"),
        severity_raw=None if severity is None else _text(document, "severity"),
        started_at=started_at,
        ended_at=ended_at,
        source=source,
    )


def _naming_the_id(document: object, reason: str) -> str:
    """Put the record's id in front of a reason, since the file is named by a hash."""
    if isinstance(document, dict):
        record_id = document.get("id")
        if isinstance(record_id, str) and record_id.strip():
            return f"record {record_id[:80]!r}: {reason}"
    return reason


def _text(document: dict[str, Any], field: str) -> str:
    value = document.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _FieldError(field, f"{field} must be a string, got {json_kind(value)}")
    return value


def _strings(document: dict[str, Any], field: str) -> dict[str, str]:
    value = document.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _FieldError(field, f"{field} must be an object, got {json_kind(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _FieldError(
                f"{field}.{key}",
                f"{field}.{key} must be a string, got {json_kind(item)}",
            )
    return dict(value)


def _time(document: dict[str, Any], field: str) -> datetime | None:
    value = _text(document, field).strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise _FieldError(
            field,
            f"{value[:40]!r} is not an ISO 8601 time such as 2026-12-04T09:30:00Z",
        ) from error


def _problem(source: str, location: str | None, reason: str) -> ReadResult:
    return ReadResult(problems=[ReadProblem(source, location or None, reason)])
