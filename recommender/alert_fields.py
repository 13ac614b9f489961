"""Checks of alert fields shared by every intake format: types, lengths, counts."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from recommender.errors import InvalidAlertError

# Limits that keep one alert from holding up the service; real alerts are far smaller.
MAX_ALERTS = 1_000
MAX_LABELS = 200
MAX_VALUE_CHARS = 10_000
MAX_KEY_CHARS = 500
MAX_TEXT_CHARS = 50_000
# An RFC 3339 date-time as Alertmanager, Grafana and PagerDuty send it. Go writes
# up to nine fraction digits.
# RFC 3339, and offsets without a colon (+0000) as PagerDuty's Events API
# examples write them.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?[0-5]\d)"
)


def string_map(value: object, where: str) -> dict[str, str]:
    """Read labels or annotations: an object of scalars, each kept as a string.

    Numbers and booleans are kept in their JSON spelling, such as "5" and "true".
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidAlertError(
            where, f"expected an object of strings, got {json_kind(value)}"
        )
    if len(value) > MAX_LABELS:
        raise InvalidAlertError(
            where, f"{len(value)} entries is more than the limit of {MAX_LABELS}"
        )
    result = {}
    for key, item in value.items():
        if len(key) > MAX_KEY_CHARS:
            raise InvalidAlertError(
                where,
                f"a key of {len(key)} characters is more than the limit of "
                f"{MAX_KEY_CHARS}; shorten the label or annotation name",
            )
        if isinstance(item, (dict, list)):
            raise InvalidAlertError(
                f"{where}.{key}", f"expected a string, got {json_kind(item)}"
            )
        text = scalar_text(item)
        check_length(text, f"{where}.{key}", MAX_VALUE_CHARS)
        result[str(key)] = text
    return result


def scalar_text(value: str | int | float | bool | None) -> str:
    """Return a JSON scalar as text: strings as sent, null as "", others as in JSON.

    Booleans become "true" and "false", not Python's "True" and "False".
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def optional_string(value: object, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Return a string field, "" when it is null or missing."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidAlertError(where, f"expected a string, got {json_kind(value)}")
    check_length(value, where, limit)
    return value


def optional_time(value: object, where: str) -> str | None:
    """Return an RFC 3339 time as sent, None when it is null, missing or empty.

    The text is kept as sent because it is part of the alert's idempotency key.
    """
    text = optional_string(value, where, limit=64)
    if not text:
        return None
    if not _RFC3339.fullmatch(text) or not _is_real_time(text):
        raise InvalidAlertError(
            where,
            f"{preview(text)} is not an RFC 3339 time; send a time such as "
            "2026-12-04T10:00:00Z",
        )
    return text


def _is_real_time(text: str) -> bool:
    """Check the fields of a time that matches the RFC 3339 pattern: month 13 fails."""
    normalized = text.upper().replace("Z", "+00:00")
    if normalized[-3] != ":":
        normalized = f"{normalized[:-2]}:{normalized[-2:]}"
    head, dot, tail = normalized.partition(".")
    if dot:
        # Python reads at most six fraction digits.
        fraction = tail[: len(tail) - 6]
        normalized = f"{head}.{fraction[:6]}{tail[-6:]}"
    try:
        datetime.fromisoformat(normalized)
    except ValueError:
        return False
    return True


def optional_count(value: object, where: str) -> int:
    """Return a non-negative whole number, 0 when the value is null or missing."""
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidAlertError(
            where, f"expected a whole number of 0 or more, got {preview(value)}"
        )
    return value


def check_length(value: str, where: str, limit: int) -> None:
    """Reject a string longer than limit characters."""
    if len(value) > limit:
        raise InvalidAlertError(
            where,
            f"{len(value)} characters is more than the limit of "
            f"{limit}; shorten the value",
        )


def preview(value: object, limit: int = 80) -> str:
    """Return the repr of a value for an error message, cut to limit characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")
