"""CSV, JSON and JSON Lines exports, turned into records through a field mapping."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.readers.base import ReadProblem, ReadResult
from indexer.readers.dates import (
    ends_before_start,
    is_ambiguous_numeric,
    numeric_order_evidence,
    parse_datetime,
)
from indexer.readers.mapping import (
    KEY_PATH,
    FieldMapping,
    find_value,
    get_preset,
    parse_path,
    preset_names,
    render_value,
)
from indexer.readers.text import decode_text
from indexer.record import IncidentRecord, Kind

logger = logging.getLogger(__name__)

# json.loads raises a plain ValueError, not a JSONDecodeError, for an integer
# longer than Python converts (4,300 digits by default,
# sys.get_int_max_str_digits()).
_LONG_NUMBER = (
    "invalid JSON: a number too long to read (over 4,300 digits); write it as a string"
)
# The csv module rejects a field over 131,072 characters as if it were badly
# quoted. Files are read up to 20 MiB (MAX_FILE_BYTES), so one field may be as long.
MAX_FIELD_CHARS = 20 * 2**20

CSV_SUFFIXES = frozenset({".csv", ".tsv"})
JSON_SUFFIXES = frozenset({".json"})
JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})

# Exports nest records a few levels deep. Rendering a record recurses twice per
# level, so a document 500 levels deep stopped a whole build with RecursionError.
MAX_JSON_DEPTH = 100

_DELIMITERS = (",", ";", "\t", "|")
_SURROGATE = re.compile("[\ud800-\udfff]")
# How many records auto-detection looks at for the id and title paths.
_DETECTION_SAMPLE = 5


@dataclass(frozen=True)
class _RawRecord:
    """One record of an export before mapping.

    Attributes:
        data: The CSV row (column to value) or JSON object.
        location: Line number, key or list index, for messages.
        source: Path plus ":line" or "#key", stored on the record.
        key: The key in a JSON object keyed by id.
        flat: True for CSV rows, whose paths are column names.
    """

    data: Mapping[str, Any]
    location: str
    source: str
    key: str | None = None
    flat: bool = False


class _RecordError(Exception):
    """A record that cannot be mapped. Its message becomes the ReadProblem reason."""


class _TooDeepError(Exception):
    """A JSON value nested deeper than MAX_JSON_DEPTH."""


def clean_json(value: Any, depth: int = 0) -> Any:
    """Return a parsed JSON value with lone surrogates replaced by U+FFFD.

    json.loads accepts an escaped half of a surrogate pair ("\\ud83d" from a
    truncated emoji), which neither SQLite nor the tokenizer can encode. Paired
    halves were already joined into one character.

    Raises:
        _TooDeepError: The value is nested deeper than MAX_JSON_DEPTH, which the
            rendering of records would not survive.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value
    if depth >= MAX_JSON_DEPTH:
        raise _TooDeepError
    if isinstance(value, dict):
        return {
            clean_json(key): clean_json(item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    return value


def read_tabular(
    path: Path, default_id: str, mapping: FieldMapping | None = None
) -> ReadResult:
    """Read a CSV, TSV, JSON or JSON Lines export into records.

    Args:
        path: The export file. Its suffix chooses the format.
        default_id: Prefix of derived ids, used when the mapping has no id path.
        mapping: The field mapping. None picks the first preset whose id and title
            paths exist in the file.

    Returns:
        The records, and a problem for each record or file that could not be read.
    """
    source = str(path)
    try:
        text = decode_text(path.read_bytes())
    except (OSError, ValueError) as error:
        return _file_problem(source, None, f"cannot read the file: {error}")
    if not text.strip():
        return _file_problem(source, None, "the file is empty; export the data again")

    suffix = path.suffix.lower()
    result = ReadResult()
    if suffix in CSV_SUFFIXES:
        delimiter = "\t" if suffix == ".tsv" else _sniff_delimiter(text)
        rows = _csv_rows(source, text, delimiter, result.problems)
        records_for = _constant(rows)
    elif suffix in JSON_LINES_SUFFIXES:
        records_for = _constant(_json_lines(source, text, result.problems))
    else:
        try:
            document = clean_json(json.loads(text))
        except (RecursionError, _TooDeepError):
            return _file_problem(
                source,
                None,
                f"invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep; "
                "incident exports need a few levels",
            )
        except json.JSONDecodeError as error:
            return _file_problem(
                source,
                f"{error.lineno}:{error.colno}",
                f"invalid JSON: {error.msg} at line {error.lineno}, column "
                f"{error.colno}; fix the syntax there",
            )
        except ValueError:
            return _file_problem(source, None, _LONG_NUMBER)
        records_for = functools.partial(_json_records, source, document)

    _map_records(source, records_for, default_id, mapping, result)
    return result


def _constant(
    raws: list[_RawRecord],
) -> Callable[[FieldMapping], list[_RawRecord]]:
    return lambda _mapping: raws


def _sniff_delimiter(text: str) -> str:
    """Return the candidate delimiter that occurs most often in the header line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = "".join(header.split('"')[::2])
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _csv_rows(
    source: str, text: str, delimiter: str, problems: list[ReadProblem]
) -> list[_RawRecord]:
    """Parse CSV rows into column-to-value records, located by their first line.

    Blank lines are skipped. A row that the csv module rejects, or that has more
    fields than the header, goes to problems and the next rows are still read.
    """
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[_RawRecord] = []
    short_rows: list[int] = []
    end = 0
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            reason = f"invalid CSV record: {error}; check the quoting of this record"
            problems.append(ReadProblem(source, str(start), reason))
            end = reader.line_num
            continue
        end = reader.line_num

        if not any(value.strip() for value in fields):
            continue
        if header is None:
            header = [name.strip() for name in fields]
        elif len(fields) > len(header):
            reason = (
                f"the row has {len(fields)} fields but the header has {len(header)}; "
                f"quote values that contain the delimiter {delimiter!r}"
            )
            problems.append(ReadProblem(source, str(start), reason))
        else:
            if len(fields) < len(header):
                short_rows.append(start)
            data = _row_dict(header, fields)
            rows.append(_RawRecord(data, str(start), f"{source}:{start}", flat=True))

    if short_rows and header is not None:
        # Some exports leave out trailing empty fields, but a short row may also
        # be one that an unquoted line break cut in two. One line per file.
        logger.warning(
            "%s: %d rows have fewer fields than the header's %d (first on line %d); "
            "their missing fields are taken as empty. Quote values that contain a "
            "line break",
            source,
            len(short_rows),
            len(header),
            short_rows[0],
        )
    return rows


def _row_dict(header: list[str], fields: list[str]) -> dict[str, str]:
    # Jira repeats a column such as "Labels" once per value, so the values of
    # columns with the same name are joined instead of keeping only the last.
    # Missing trailing fields are empty.
    row: dict[str, str] = {}
    padded = fields + [""] * (len(header) - len(fields))
    for name, raw_value in zip(header, padded, strict=True):
        value = raw_value.strip()
        if row.get(name) and value:
            row[name] = f"{row[name]}, {value}"
        elif value or name not in row:
            row[name] = value
    return row


def _json_lines(
    source: str, text: str, problems: list[ReadProblem]
) -> list[_RawRecord]:
    raws: list[_RawRecord] = []
    # Only a line feed ends a record: JSON strings may hold U+2028 and the other
    # breaks that str.splitlines() would split on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = clean_json(json.loads(line))
        except json.JSONDecodeError as error:
            message = error.msg.removesuffix(" at")
            reason = (
                f"invalid JSON: {message} at column {error.colno}; "
                "each line must be one complete JSON object"
            )
            problems.append(ReadProblem(source, str(number), reason))
            continue
        except (RecursionError, _TooDeepError):
            reason = f"invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep"
            problems.append(ReadProblem(source, str(number), reason))
            continue
        except ValueError:
            problems.append(ReadProblem(source, str(number), _LONG_NUMBER))
            continue
        raws.append(_RawRecord(data, str(number), f"{source}:{number}"))
    return raws


def _json_records(
    source: str, document: Any, mapping: FieldMapping
) -> list[_RawRecord]:
    """Find the records in a JSON document.

    The records are a list, an object keyed by id, or else the one object.

    A document that is a list is the list of records, even when the mapping names
    a records path. Where the records path ("incidents") is missing but its
    singular holds an object ({"incident": {...}}, as a REST API returns one
    resource), that object is the one record, and so is a document that has
    the mapping's id and title itself.

    Raises:
        _RecordError: The records path does not exist, or the records are not
            a list or object.
    """
    container = document
    prefix = ""
    if mapping.records and isinstance(document, dict):
        found, container = find_value(document, mapping.records)
        first_key = parse_path(mapping.records)[0]
        if not found and container == [] and first_key in document:
            # A records path with [*] or a filter that matched nothing.
            return []
        singular = mapping.records.removesuffix("s")
        if not found and isinstance(document.get(singular), dict):
            item = document[singular]
            return [_RawRecord(item, singular, f"{source}#{singular}")]
        whole = _RawRecord(document, "", source)
        if not found and _has_paths(whole, mapping):
            return [whole]
        if not found:
            raise _RecordError(
                f"no {mapping.records!r} in the JSON document, but mapping "
                f"{mapping.name} expects the records there; pass a mapping whose "
                "'records' path exists in the file"
            )
        prefix = mapping.records

    if (
        isinstance(container, list)
        and container
        and all(isinstance(item, list) for item in container)
    ):
        # records: pages[*].incidents gives one list per page.
        container = [item for page in container for item in page]
    if isinstance(container, list):
        return [
            _RawRecord(item, f"{prefix}[{index}]", f"{source}#{prefix}[{index}]")
            for index, item in enumerate(container)
        ]
    if container is None or container == {}:
        # {"data": null} or {"data": {}}: an export with no records.
        return []
    if isinstance(container, dict):
        whole = _RawRecord(container, prefix, source)
        # A null or text entry among objects is one record that fails on its
        # own, not a reason to read the whole object as one record.
        objects = sum(isinstance(value, dict) for value in container.values())
        keyed = objects > 0 and objects * 2 >= len(container)
        # Every value of one ServiceNow record fetched with display values is
        # an object too, but the record has the mapping's id and title itself.
        if keyed and not _has_paths(whole, mapping):
            return [
                _RawRecord(value, str(key), f"{source}#{key}", key=str(key))
                for key, value in container.items()
            ]
        return [whole]
    raise _RecordError(
        f"the JSON records are a {type(container).__name__}; "
        "expected a list of objects or an object"
    )


def _map_records(
    source: str,
    records_for: Callable[[FieldMapping], list[_RawRecord]],
    default_id: str,
    mapping: FieldMapping | None,
    result: ReadResult,
) -> None:
    """Map the records of one file into result.

    A mapping of None means: detect the preset from the records first.
    """
    detected = None
    if mapping is None:
        detected, empty = _detect_preset(records_for)
        if detected is None:
            # A file without records has nothing to map, so no preset is needed.
            if not empty:
                result.problems.append(_no_preset_problem(source))
            return
        logger.info("%s: read with mapping preset %s", source, detected.name)
        mapping = detected

    try:
        raws = records_for(mapping)
    except _RecordError as error:
        result.problems.append(ReadProblem(source, None, str(error)))
        return
    explicit_file = detected is None and mapping.name not in preset_names()
    if explicit_file and raws and raws[0].flat:
        missing = _missing_columns(source, raws[0], mapping)
        if missing is not None:
            result.problems.append(ReadProblem(source, None, missing))
            return
    context = _FileContext(source, _day_first(source, raws, mapping))
    for raw in raws:
        try:
            result.records.append(_build_record(raw, mapping, default_id, context))
        except _RecordError as error:
            result.problems.append(
                ReadProblem(source, raw.location or None, str(error))
            )


def _detect_preset(
    records_for: Callable[[FieldMapping], list[_RawRecord]],
) -> tuple[FieldMapping | None, bool]:
    """Find the first preset whose id and title paths exist in a sample record.

    Returns:
        The preset or None, and whether the file contains no records. That is
        so when no preset found any, or when one found its records path with an
        empty list, as in an emptied PagerDuty export {"incidents": []}.
    """
    empty = True
    records_path_empty = False
    # Presets that name the path of their records come first, because a path
    # that exists is stronger evidence than a single-key object read as keyed
    # by id.
    presets = sorted(
        (get_preset(name) for name in preset_names()),
        key=lambda preset: preset.records is None,
    )
    for preset in presets:
        try:
            sample = records_for(preset)[:_DETECTION_SAMPLE]
        except _RecordError:
            continue
        empty = empty and not sample
        records_path_empty = records_path_empty or (bool(preset.records) and not sample)
        if any(_has_paths(raw, preset) for raw in sample):
            return preset, False
    return None, empty or records_path_empty


def _has_paths(raw: _RawRecord, mapping: FieldMapping) -> bool:
    if not isinstance(raw.data, Mapping):
        return False
    required = [mapping.title, mapping.id] if mapping.id else [mapping.title]
    return all(
        any(find_value(raw.data, path, raw.key, raw.flat)[0] for path in paths)
        for paths in required
    )


def _no_preset_problem(source: str) -> ReadProblem:
    tried = "; ".join(
        f"{name} (id {_describe(get_preset(name).id)}, "
        f"title {_describe(get_preset(name).title)})"
        for name in preset_names()
    )
    return ReadProblem(
        source,
        None,
        f"no mapping preset matches the file's columns or keys. Tried: {tried}. "
        "Write a mapping YAML file that names your columns or JSON paths and pass "
        "it with --mapping FILE",
    )


def _build_record(
    raw: _RawRecord,
    mapping: FieldMapping,
    default_id: str,
    context: _FileContext | None = None,
) -> IncidentRecord:
    """Map one raw record to an IncidentRecord.

    context is shared by the records of one file: the order of its numeric
    dates, and the warnings already given for it.

    Raises:
        _RecordError: The record is not an object, the title or a mapped id is
            missing, or the kind or a date is invalid.
    """
    if not isinstance(raw.data, Mapping):
        raise _RecordError(
            f"the record is {_json_kind(raw.data)}, expected a JSON object"
        )

    title = _required_text(raw, mapping.title, "title")
    started_raw = _text(raw, mapping.started_at)
    if mapping.id:
        record_id = _required_text(raw, mapping.id, "id")
    else:
        record_id = _derived_id(default_id, title, started_raw)

    context = context or _FileContext(raw.source)
    sections = {
        name: _field_text(raw, "section", name, paths, context)
        for name, paths in mapping.sections.items()
    }
    labels = {
        name: _field_text(raw, "label", name, paths, context)
        for name, paths in mapping.labels.items()
    }
    started_at = _datetime(raw, mapping.started_at, "started_at", context)
    ended_at = _datetime(raw, mapping.ended_at, "ended_at", context)
    if ended_at and started_at and ends_before_start(started_at, ended_at):
        context.warn_once(
            "time order",
            "ended_at",
            "record %s ends (%s) before it starts (%s); both times are kept as "
            "written, so check them and their time zones (later records of this "
            "file with the same problem are not listed)",
            record_id,
            ended_at.isoformat(),
            started_at.isoformat(),
        )
    return IncidentRecord(
        id=record_id,
        kind=_kind(raw, mapping),
        title=" ".join(title.split()),
        sections={name: text for name, text in sections.items() if text},
        labels={name: text for name, text in labels.items() if text},
        severity_raw=_text(raw, mapping.severity) or None,
        started_at=started_at,
        ended_at=ended_at,
        source=raw.source,
    )


def _derived_id(default_id: str, title: str, started: str) -> str:
    """Return an id for a record whose mapping names no id path.

    The id is the file's own id (its path under the source root, without suffix),
    "-" and 12 hex digits of the SHA-256 of title and raw start time. It stays the
    same as long as neither value changes. Rows with equal title and start time
    get equal ids, and read_sources then numbers the later ones.
    """
    digest = hashlib.sha256(f"{title}\n{started}".encode()).hexdigest()[:12]
    return f"{default_id}-{digest}"


def _text(raw: _RawRecord, paths: Sequence[str]) -> str:
    """Return the first non-empty rendered value among alternative paths."""
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        text = render_value(value) if found else ""
        if text:
            return text
    return ""


@dataclass
class _FileContext:
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


def _field_text(
    raw: _RawRecord,
    kind: str,
    name: str,
    paths: Sequence[str],
    context: _FileContext,
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


def _day_first(source: str, raws: list[_RawRecord], mapping: FieldMapping) -> bool:
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
        _text(raw, (path,))
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


def _missing_columns(
    source: str, first: _RawRecord, mapping: FieldMapping
) -> str | None:
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
        f"the {field_name} column {_describe(paths)}"
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
        f"{key} ({_describe(paths)})"
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


def _required_text(raw: _RawRecord, paths: Sequence[str], field_name: str) -> str:
    text = _text(raw, paths)
    if not text:
        where = "column" if raw.flat else "path"
        raise _RecordError(
            f"missing {field_name}: {where} {_describe(paths)} is empty or absent; "
            f"fill it in or map {field_name} to another {where}"
        )
    return text


def _kind(raw: _RawRecord, mapping: FieldMapping) -> Kind:
    value = _text(raw, mapping.kind_field)
    if not value:
        return mapping.kind
    try:
        return Kind(value.lower())
    except ValueError:
        allowed = ", ".join(kind.value for kind in Kind)
        raise _RecordError(
            f"invalid kind {value!r} in {_describe(mapping.kind_field)}; "
            f"allowed kinds are {allowed}"
        ) from None


def _datetime(
    raw: _RawRecord,
    paths: Sequence[str],
    field_name: str,
    context: _FileContext,
) -> datetime | None:
    for path in paths:
        found, value = find_value(raw.data, path, raw.key, raw.flat)
        listed = value if found and isinstance(value, list) else []
        non_empty = [item for item in listed if render_value(item)]
        if len(non_empty) > 1:
            raise _RecordError(
                f"{field_name} ({path!r}): the path gives {len(non_empty)} values; add "
                "[0] after its last [*] or [field=value] to take the first"
            )
        if found and render_value(value):
            break
    value = _text(raw, paths)
    try:
        return parse_datetime(value, day_first=context.day_first)
    except ValueError as error:
        raise _RecordError(
            f"{field_name} ({_describe(paths)}): {error}. Fix the value, or map "
            f"{field_name} to another field"
        ) from error


def _describe(paths: Sequence[str]) -> str:
    return " or ".join(repr(path) for path in paths) or "(none)"


def _file_problem(source: str, location: str | None, reason: str) -> ReadResult:
    return ReadResult(problems=[ReadProblem(source, location, reason)])


def _json_kind(value: object) -> str:
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
