"""The rows and objects of CSV, JSON and JSON Lines exports, before any mapping.

Parsing is kept apart from mapping: a file yields raw records here, located by
line or key for messages, and indexer/readers/tabular.py maps them to incident
records.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from indexer.readers.base import ReadProblem

logger = logging.getLogger(__name__)

# json.loads raises a plain ValueError, not a JSONDecodeError, for an integer
# longer than Python converts (4,300 digits by default,
# sys.get_int_max_str_digits()).
LONG_NUMBER = (
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


@dataclass(frozen=True)
class RawRecord:
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


class JsonTooDeepError(Exception):
    """A JSON value nested deeper than MAX_JSON_DEPTH."""


def clean_json(value: Any, depth: int = 0) -> Any:
    """Return a parsed JSON value with lone surrogates replaced by U+FFFD.

    json.loads accepts an escaped half of a surrogate pair ("\\ud83d" from a
    truncated emoji), which neither SQLite nor the tokenizer can encode. Paired
    halves were already joined into one character.

    Raises:
        JsonTooDeepError: The value is nested deeper than MAX_JSON_DEPTH, which the
            rendering of records would not survive.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value
    if depth >= MAX_JSON_DEPTH:
        raise JsonTooDeepError
    if isinstance(value, dict):
        return {
            clean_json(key): clean_json(item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    return value


def sniff_delimiter(text: str) -> str:
    """Return the candidate delimiter that occurs most often in the header line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = "".join(header.split('"')[::2])
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def csv_rows(
    source: str, text: str, delimiter: str, problems: list[ReadProblem]
) -> list[RawRecord]:
    """Parse CSV rows into column-to-value records, located by their first line.

    Blank lines are skipped. A row that the csv module rejects, or that has more
    fields than the header, goes to problems and the next rows are still read.
    """
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[RawRecord] = []
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
            rows.append(RawRecord(data, str(start), f"{source}:{start}", flat=True))

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


def json_lines(source: str, text: str, problems: list[ReadProblem]) -> list[RawRecord]:
    raws: list[RawRecord] = []
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
        except (RecursionError, JsonTooDeepError):
            reason = f"invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep"
            problems.append(ReadProblem(source, str(number), reason))
            continue
        except ValueError:
            problems.append(ReadProblem(source, str(number), LONG_NUMBER))
            continue
        raws.append(RawRecord(data, str(number), f"{source}:{number}"))
    return raws
