"""Strict JSON (RFC 8259) for alert payloads, with errors that name the field."""

from __future__ import annotations

import json
import math
from typing import Any

from recommender.errors import InvalidAlertError

__all__ = ["MAX_DEPTH", "MAX_INTEGER_DIGITS", "decode_json"]

# Alerts are three or four levels deep; far deeper JSON is an attack or a bug.
MAX_DEPTH = 32
# Digits Python converts to int by default (sys.int_info, Python 3.11 and later).
MAX_INTEGER_DIGITS = 4_300


def decode_json(text: str, field: str) -> Any:
    """Parse strict JSON (RFC 8259), raising InvalidAlertError that names field.

    Python's json module also reads NaN and Infinity, overflows 1e999 to infinity,
    keeps the last of repeated keys and raises ValueError for integers of more than
    4,300 digits, so each of those is rejected here with a message instead.
    """

    def reject_constant(name: str) -> Any:
        raise InvalidAlertError(
            field,
            f"not valid JSON: {name} is not a JSON number (RFC 8259); send a "
            "number, or the value as a string",
        )

    def parse_integer(digits: str) -> int:
        count = len(digits.lstrip("-"))
        if count > MAX_INTEGER_DIGITS:
            raise InvalidAlertError(
                field,
                f"contains an integer of {count} digits, more than the limit of "
                f"{MAX_INTEGER_DIGITS}; send long numbers as strings",
            )
        return int(digits)

    def parse_float(digits: str) -> float:
        value = float(digits)
        if not math.isfinite(value):
            raise InvalidAlertError(
                field,
                f"contains the number {digits[:40]}, which is too large for a "
                "64-bit float; send it as a string",
            )
        return value

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise InvalidAlertError(
                    field,
                    f"the key {key[:80]!r} appears twice in one object, so its "
                    "value is ambiguous; send each key once",
                )
            document[key] = value
        return document

    try:
        return json.loads(
            text,
            object_pairs_hook=unique_keys,
            parse_constant=reject_constant,
            parse_int=parse_integer,
            parse_float=parse_float,
        )
    except RecursionError:
        raise InvalidAlertError(
            field,
            f"nested more than {MAX_DEPTH} levels deep; alerts need at most three "
            "or four",
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidAlertError(
            field,
            # Some messages end in "at" and expect the position after them.
            f"not valid JSON: {error.msg.removesuffix(' at')} at line "
            f"{error.lineno} column {error.colno}",
        ) from None
