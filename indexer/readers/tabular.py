"""CSV, JSON and JSON Lines exports, turned into records through a field mapping."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from indexer.readers.base import ReadProblem, ReadResult
from indexer.readers.dates import (
    ends_before_start,
)
from indexer.readers.export_fields import (
    FileContext,
    RecordError,
    describe_paths,
    field_text,
    file_day_first,
    json_kind,
    missing_columns,
    record_datetime,
    record_kind,
    required_text,
    text_at,
)
from indexer.readers.export_rows import (
    CSV_SUFFIXES,
    JSON_LINES_SUFFIXES,
    LONG_NUMBER,
    MAX_JSON_DEPTH,
    JsonTooDeepError,
    RawRecord,
    clean_json,
    csv_rows,
    json_lines,
    sniff_delimiter,
)
from indexer.readers.mapping import (
    FieldMapping,
    find_value,
    get_preset,
    parse_path,
    preset_names,
)
from indexer.readers.text import decode_text
from indexer.record import IncidentRecord, id_problem

logger = logging.getLogger(__name__)

# How many records auto-detection looks at for the id and title paths.
_DETECTION_SAMPLE = 5


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
        delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(text)
        rows = csv_rows(source, text, delimiter, result.problems)
        records_for = _constant(rows)
    elif suffix in JSON_LINES_SUFFIXES:
        records_for = _constant(json_lines(source, text, result.problems))
    else:
        try:
            document = clean_json(json.loads(text))
        except (RecursionError, JsonTooDeepError):
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
                f"invalid JSON: {error.msg.removesuffix(' at')} at line "
                f"{error.lineno}, column "
                f"{error.colno}; fix the syntax there",
            )
        except ValueError:
            return _file_problem(source, None, LONG_NUMBER)
        records_for = functools.partial(_json_records, source, document)

    _map_records(source, records_for, default_id, mapping, result)
    return result


def _constant(
    raws: list[RawRecord],
) -> Callable[[FieldMapping], list[RawRecord]]:
    return lambda _mapping: raws


def _json_records(source: str, document: Any, mapping: FieldMapping) -> list[RawRecord]:
    """Find the records in a JSON document.

    The records are a list, an object keyed by id, or else the one object.

    A document that is a list is the list of records, even when the mapping names
    a records path. Where the records path ("incidents") is missing but its
    singular holds an object ({"incident": {...}}, as a REST API returns one
    resource), that object is the one record, and so is a document that has
    the mapping's id and title itself.

    Raises:
        RecordError: The records path does not exist, or the records are not
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
            return [RawRecord(item, singular, f"{source}#{singular}")]
        whole = RawRecord(document, "", source)
        if not found and _has_paths(whole, mapping):
            return [whole]
        if not found:
            raise RecordError(
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
            RawRecord(item, f"{prefix}[{index}]", f"{source}#{prefix}[{index}]")
            for index, item in enumerate(container)
        ]
    if container is None or container == {}:
        # {"data": null} or {"data": {}}: an export with no records.
        return []
    if isinstance(container, dict):
        whole = RawRecord(container, prefix, source)
        # A null or text entry among objects is one record that fails on its
        # own, not a reason to read the whole object as one record.
        objects = sum(isinstance(value, dict) for value in container.values())
        keyed = objects > 0 and objects * 2 >= len(container)
        # Every value of one ServiceNow record fetched with display values is
        # an object too, but the record has the mapping's id and title itself.
        if keyed and not _has_paths(whole, mapping):
            return [
                RawRecord(value, str(key), f"{source}#{key}", key=str(key))
                for key, value in container.items()
            ]
        return [whole]
    raise RecordError(
        f"the JSON records are a {type(container).__name__}; "
        "expected a list of objects or an object"
    )


def _map_records(
    source: str,
    records_for: Callable[[FieldMapping], list[RawRecord]],
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
    except RecordError as error:
        result.problems.append(ReadProblem(source, None, str(error)))
        return
    explicit_file = detected is None and mapping.name not in preset_names()
    if explicit_file and raws and raws[0].flat:
        missing = missing_columns(source, raws[0], mapping)
        if missing is not None:
            result.problems.append(ReadProblem(source, None, missing))
            return
    context = FileContext(source, file_day_first(source, raws, mapping))
    for raw in raws:
        try:
            result.records.append(_build_record(raw, mapping, default_id, context))
        except RecordError as error:
            result.problems.append(
                ReadProblem(source, raw.location or None, str(error))
            )


def _detect_preset(
    records_for: Callable[[FieldMapping], list[RawRecord]],
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
        except RecordError:
            continue
        empty = empty and not sample
        records_path_empty = records_path_empty or (bool(preset.records) and not sample)
        if any(_has_paths(raw, preset) for raw in sample):
            return preset, False
    return None, empty or records_path_empty


def _has_paths(raw: RawRecord, mapping: FieldMapping) -> bool:
    if not isinstance(raw.data, Mapping):
        return False
    required = [mapping.title, mapping.id] if mapping.id else [mapping.title]
    return all(
        any(find_value(raw.data, path, raw.key, raw.flat)[0] for path in paths)
        for paths in required
    )


def _no_preset_problem(source: str) -> ReadProblem:
    tried = "; ".join(
        f"{name} (id {describe_paths(get_preset(name).id)}, "
        f"title {describe_paths(get_preset(name).title)})"
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
    raw: RawRecord,
    mapping: FieldMapping,
    default_id: str,
    context: FileContext | None = None,
) -> IncidentRecord:
    """Map one raw record to an IncidentRecord.

    context is shared by the records of one file: the order of its numeric
    dates, and the warnings already given for it.

    Raises:
        RecordError: The record is not an object, the title or a mapped id is
            missing, or the kind or a date is invalid.
    """
    if not isinstance(raw.data, Mapping):
        raise RecordError(
            f"the record is {json_kind(raw.data)}, expected a JSON object"
        )

    title = required_text(raw, mapping.title, "title")
    started_raw = text_at(raw, mapping.started_at)
    if mapping.id:
        record_id = required_text(raw, mapping.id, "id")
        problem = id_problem(record_id)
        if problem:
            raise RecordError(
                f"id {record_id[:80]!r} is invalid: it {problem}; fix the id in the "
                "export or map id to another column"
            )
    else:
        record_id = _derived_id(default_id, title, started_raw)

    context = context or FileContext(raw.source)
    sections = {
        name: field_text(raw, "section", name, paths, context)
        for name, paths in mapping.sections.items()
    }
    labels = {
        name: field_text(raw, "label", name, paths, context)
        for name, paths in mapping.labels.items()
    }
    started_at = record_datetime(raw, mapping.started_at, "started_at", context)
    ended_at = record_datetime(raw, mapping.ended_at, "ended_at", context)
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
        kind=record_kind(raw, mapping),
        title=" ".join(title.split()),
        sections={name: text for name, text in sections.items() if text},
        labels={name: text for name, text in labels.items() if text},
        severity_raw=text_at(raw, mapping.severity) or None,
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


def _file_problem(source: str, location: str | None, reason: str) -> ReadResult:
    return ReadResult(problems=[ReadProblem(source, location, reason)])
