"""Plain messages for request validation errors, in place of pydantic's wording.

pydantic's text, such as "Input should be greater than or equal to 1", names
neither the parameter nor what to send instead. An error body here names the field, what
was wrong with the value and what would be accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Description of each expected kind, for a value sent in its place.
_KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a list",
}


def plain_message(
    error: Mapping[str, Any], field: str | None, fields: Sequence[str] = ()
) -> str | None:
    """Return a plain message for one pydantic error, or None to keep pydantic's.

    Args:
        error: One item of ValidationError.errors().
        field: The dotted name of the field or parameter.
        fields: The fields the body accepts, named in the message of an
            unknown field.
    """
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    value = error.get("input")
    name = field or "the value"

    if kind == "extra_forbidden":
        # The accepted fields are the body's, and a nested object has its own.
        top_level = "." not in name
        accepted = (
            f"; the accepted fields are {', '.join(fields)}"
            if fields and top_level
            else ""
        )
        return f"unknown field {name}{accepted}"
    if kind == "missing":
        return f"missing field {name}; add it"
    if kind in _KINDS:
        return f"{name} must be {_KINDS[kind]}, got {_shown(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{name} must be {_bound(kind, context)}, got {_shown(value)}"
    if kind == "string_too_long":
        limit = context.get("max_length")
        return (
            f"{name} has {_length(value)} characters, more than the limit of "
            f"{limit}; shorten it"
        )
    if kind == "string_too_short":
        if context.get("min_length") == 1:
            return f"{name} is empty; give it a value"
        return f"{name} must have at least {context.get('min_length')} characters"
    if kind == "too_long":
        actual = context.get("actual_length")
        count = f"has {actual} items, " if actual is not None else "has "
        return f"{name} {count}more than the limit of {context.get('max_length')}"
    if kind == "too_short":
        return f"{name} must have at least {context.get('min_length')} item(s)"
    if kind == "literal_error":
        return f"{name} must be {context.get('expected')}, got {_shown(value)}"
    return None


def _bound(kind: str, context: Mapping[str, Any]) -> str:
    if kind == "greater_than_equal":
        return f"at least {context.get('ge')}"
    if kind == "greater_than":
        return f"more than {context.get('gt')}"
    if kind == "less_than_equal":
        return f"at most {context.get('le')}"
    return f"less than {context.get('lt')}"


def _shown(value: object) -> str:
    """Return a short quotation of a value sent, so that long input is not echoed."""
    if isinstance(value, (dict, list)):
        return "a JSON object" if isinstance(value, dict) else "a list"
    # JSON's spelling, which is what the client sent.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


def _length(value: object) -> str:
    return f"{len(value):,}" if isinstance(value, str) else "too many"
