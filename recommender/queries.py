"""Labelled queries for evaluation: the JSON Lines format and its reader.

Each line is one alert (free text, an Alertmanager alert or webhook, or a plain
alert) with what a responder should get back: relevant record ids, severity,
category and kind of fix. docs/EVALUATE.md documents the fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import SourceError
from indexer.severity import normalize_severity
from recommender.alerts import (
    Alert,
    alert_from_text,
    check_unicode,
    parse_alertmanager,
    parse_plain,
)
from recommender.errors import InvalidAlertError
from recommender.fix_types import FIX_TYPES

QUERY_FIELDS = (
    "id",
    "query",
    "alert",
    "relevant_ids",
    "severity",
    "category",
    "fix_type",
    "exclude_ids",
)
# Top-level keys that mark an alert object as a plain alert, not an Alertmanager one.
_PLAIN_ALERT_KEYS = ("title", "description", "service", "severity")
# Invalid lines listed in an error. A file that repeats one mistake on every line
# would otherwise get one line of error per line of input.
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class LabelledQuery:
    """An alert with the records and labels the recommender is expected to return.

    Attributes:
        id: Query id, unique within a query file.
        text: Free alert text. Exactly one of text and alert is set.
        alert: Alertmanager alert, Alertmanager webhook with one alert, or plain
            alert object, as JSON.
        relevant_ids: Ids of the records a responder should find. An empty tuple
            means that no precedent is expected, and None that retrieval is not
            labelled.
        severity: Expected severity. read_queries stores "SEV1" to "SEV4", and
            score normalises other spellings.
        category: Expected root-cause category, compared without case.
        fix_type: Expected kind of fix, one of recommender.fix_types.FIX_TYPES.
        exclude_ids: Records the query must never retrieve, such as itself.
    """

    id: str
    text: str | None = None
    alert: dict[str, Any] | None = None
    relevant_ids: tuple[str, ...] | None = None
    severity: str | None = None
    category: str | None = None
    fix_type: str | None = None
    exclude_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.text is None) == (self.alert is None):
            raise ValueError(
                f"query {self.id!r}: set exactly one of text and alert, got "
                f"{'both' if self.text is not None else 'neither'}"
            )

    def to_alert(self) -> Alert:
        """Parse the text or alert payload into an Alert.

        Raises:
            InvalidAlertError: The payload is invalid; the field path starts with
                "query" or "alert" as in the query file.
        """
        if self.text is not None:
            return alert_from_text(self.text, field="query")
        assert self.alert is not None
        return _alert_from_payload(self.alert)

    def expected_ids(self) -> frozenset[str]:
        """Return the relevant ids that the query is allowed to retrieve."""
        return frozenset(self.relevant_ids or ()) - frozenset(self.exclude_ids)


def read_queries(path: str | Path) -> list[LabelledQuery]:
    """Read a JSON Lines query file; blank lines are skipped.

    Raises:
        SourceError: The file cannot be read, contains no query, or has invalid
            lines. The message gives the number and field of the first
            MAX_PROBLEMS_SHOWN invalid lines and counts the rest.
    """
    path = Path(path)
    text = _read_text(path)

    queries: list[LabelledQuery] = []
    problems: list[str] = []
    lines_by_id: dict[str, int] = {}
    # Only a line feed ends a line: JSON strings may hold U+2028 and the other
    # breaks that str.splitlines() would split on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            query = _parse_line(line, number)
        except _LineError as error:
            problems.append(error.describe(number))
            continue
        if query.id in lines_by_id:
            problems.append(
                f"line {number}, field id: {query.id!r} is already used on line "
                f"{lines_by_id[query.id]}; give each query its own id"
            )
            continue
        lines_by_id[query.id] = number
        queries.append(query)

    if problems:
        raise SourceError(_problem_listing(path, text, problems))
    if not queries:
        raise SourceError(f"{path}: no queries; write one JSON object per line")
    return queries


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(
            f"{path}: queries file not found; pass a JSON Lines file with one "
            "labelled query per line (see docs/EVALUATE.md)"
        ) from None
    except IsADirectoryError:
        raise SourceError(
            f"{path}: is a folder; pass the JSON Lines file of labelled queries"
        ) from None
    try:
        # utf-8-sig drops the byte order mark that Windows editors write.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SourceError(
            f"{path}: line {line}, byte {column} of the line: not valid UTF-8 "
            f"({error.reason}); save the file as UTF-8"
        ) from None


def _problem_listing(path: Path, text: str, problems: list[str]) -> str:
    """Return the error for a file with invalid lines, the first few listed."""
    if len(problems) > 1 and _is_json_document(text):
        return (
            f"{path}: is one JSON document over several lines, not JSON Lines; "
            "write each query as one JSON object on a line of its own"
        )
    listing = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    if more > 0:
        listing += f"\n  ... and {more} more"
    return (
        f"{path}: {len(problems)} invalid line(s); fix them and run again:\n  {listing}"
    )


def _is_json_document(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class _DuplicateKeyError(ValueError):
    """A JSON object that gives one key twice, of which json keeps the last."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, raising _DuplicateKeyError for a repeated key."""
    item: dict[str, Any] = {}
    for key, value in pairs:
        if key in item:
            raise _DuplicateKeyError(key)
        item[key] = value
    return item


def _parse_line(line: str, number: int) -> LabelledQuery:
    try:
        item = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        # Some messages end in "at" and expect the position after them.
        message = error.msg.removesuffix(" at")
        problem = f"invalid JSON: {message} at column {error.colno}"
        raise _LineError("", problem) from None
    except _DuplicateKeyError as error:
        # json would keep the last value, so a second "severity" would silently
        # replace the first label.
        raise _LineError(
            error.key[:100], "the field is given twice in one object; keep one"
        ) from None
    except RecursionError:
        raise _LineError("", "invalid JSON: nested too deeply") from None
    except ValueError:
        # Python converts integers of at most 4,300 digits from text.
        raise _LineError(
            "", "invalid JSON: a number too long to read; write it as a string"
        ) from None
    if not isinstance(item, dict):
        raise _LineError("", f"expected a JSON object, got {_kind(item)}")
    try:
        # Every field, not only the alert: a label such as category is printed
        # in the report, which cannot encode such text.
        check_unicode(item, "")
    except InvalidAlertError as error:
        raise _LineError(error.field, error.message) from None
    unknown = sorted(set(item) - set(QUERY_FIELDS))
    if unknown:
        names = ", ".join(unknown)
        raise _LineError(
            names,
            f"unknown field{'s' if len(unknown) > 1 else ''}; the fields are "
            f"{', '.join(QUERY_FIELDS)}",
        )
    text, payload = item.get("query"), item.get("alert")
    if (text is None) == (payload is None):
        raise _LineError(
            "query",
            "give either the alert text as 'query' or the alert object as 'alert'"
            + (", not both" if text is not None else ""),
        )

    query = LabelledQuery(
        id=_query_id(item.get("id"), number),
        text=_string(text, "query"),
        alert=_object(payload, "alert"),
        relevant_ids=_id_list(item.get("relevant_ids"), "relevant_ids"),
        severity=_severity(item.get("severity")),
        category=normalised_category(_label(item.get("category"), "category")),
        fix_type=_fix_type_name(item.get("fix_type")),
        exclude_ids=_id_list(item.get("exclude_ids"), "exclude_ids") or (),
    )
    try:
        query.to_alert()
    except InvalidAlertError as error:
        raise _LineError(error.field, error.message) from None
    return query


def _alert_from_payload(payload: dict[str, Any]) -> Alert:
    """Parse a webhook with one alert, a plain alert or an Alertmanager alert."""
    if "alerts" in payload:
        return _single_alert(payload, bare=False)
    if any(key in payload for key in _PLAIN_ALERT_KEYS):
        try:
            return parse_plain(payload)
        except InvalidAlertError as error:
            raise InvalidAlertError(_under_alert(error.field), error.message) from None
    return _single_alert({"version": "4", "alerts": [payload]}, bare=True)


def _single_alert(webhook: dict[str, Any], bare: bool) -> Alert:
    """Parse a webhook that must contain one alert, firing or resolved."""

    def where(field_path: str) -> str:
        if bare:
            return "alert" + field_path.removeprefix("alerts[0]")
        return _under_alert(field_path)

    try:
        parsed = parse_alertmanager(webhook)
    except InvalidAlertError as error:
        raise InvalidAlertError(where(error.field), error.message) from None
    if len(parsed) != 1:
        raise InvalidAlertError(
            "alert.alerts",
            f"the webhook holds {len(parsed)} alerts; put each alert on its own line",
        )

    [alert] = parsed
    if isinstance(alert, InvalidAlertError):
        raise InvalidAlertError(where(alert.field), alert.message)
    # The parser requires text of firing alerts only, but alerts from history are
    # mostly resolved.
    if not alert.query_text().strip():
        raise InvalidAlertError(
            where("alerts[0]"),
            "the alert has no alertname label, summary or description to match; "
            "add one of them",
        )
    return alert


def _under_alert(field_path: str) -> str:
    return "alert" if field_path == "body" else f"alert.{field_path}"


class _LineError(ValueError):
    """An invalid line of a query file; field is "" for invalid JSON or a non-object."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(message)
        self.field = field_path
        self.message = message

    def describe(self, number: int) -> str:
        where = f"line {number}, field {self.field}" if self.field else f"line {number}"
        return f"{where}: {self.message}"


def _query_id(value: object, number: int) -> str:
    if value is None:
        return f"line-{number}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _LineError("id", f"expected a non-empty string, got {_kind(value)}")
    if isinstance(value, str) and not value.strip():
        raise _LineError("id", "is empty; give the query an id or leave the field out")
    return str(value)


def _string(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _LineError(name, f"expected a string, got {_kind(value)}")
    return value


def _label(value: object, name: str) -> str | None:
    """Return an expected label, rejecting an empty one that would drop silently."""
    label = _string(value, name)
    if label is not None and not label.strip():
        raise _LineError(name, "is empty; give the label or leave the field out")
    return label


def _object(value: object, name: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise _LineError(name, f"expected a JSON object, got {_kind(value)}")
    return value


def _id_list(value: object, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _LineError(name, f"expected a list of record ids, got {_kind(value)}")
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _LineError(
                f"{name}[{position}]",
                f"expected a non-empty record id string, got {_kind(item)}",
            )
    return tuple(item.strip() for item in value)


def _severity(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _LineError(
            "severity",
            f"expected a string such as SEV2 or a whole number such as 2, got "
            f"{_kind(value)}",
        )
    severity = normalize_severity(value)
    if severity is None:
        raise _LineError(
            "severity",
            f"unknown severity {value!r}; use SEV1 to SEV4, P1 to P4, or a word "
            "such as critical, major, warning or info",
        )
    return severity.value


def _fix_type_name(value: object) -> str | None:
    name = _string(value, "fix_type")
    if name is None:
        return None
    if name.strip().lower() not in FIX_TYPES:
        raise _LineError(
            "fix_type",
            f"unknown fix type {name!r}; use one of: {', '.join(FIX_TYPES)}",
        )
    return name.strip().lower()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return kinds.get(type(value), "a number")


def normalised_category(value: str | None) -> str | None:
    return (value or "").strip().lower() or None
