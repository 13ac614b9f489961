"""Checks of alert fields shared by every intake format: types, lengths, counts."""

from __future__ import annotations

from typing import Any

from recommender.errors import InvalidAlertError

# Limits that keep one alert from holding up the service; real alerts are far smaller.
MAX_ALERTS = 1_000
MAX_LABELS = 200
MAX_VALUE_CHARS = 10_000
MAX_KEY_CHARS = 500
MAX_TEXT_CHARS = 50_000


def string_map(value: object, where: str) -> dict[str, str]:
    """Read labels or annotations: an object of scalars, each kept as a string."""
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
        text = "" if item is None else str(item)
        check_length(text, f"{where}.{key}", MAX_VALUE_CHARS)
        result[str(key)] = text
    return result


def optional_string(value: object, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Return a string field, "" when it is null or missing."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidAlertError(where, f"expected a string, got {json_kind(value)}")
    check_length(value, where, limit)
    return value


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
