"""Query and path parameters of the search pages, checked so that errors are pages.

FastAPI's own checks return the API's JSON error body, which a browser shows as
raw text. The pages read their parameters with these functions instead, and
show a PageParameterError as an HTML page with status 422.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import Request

# Link trackers add campaign parameters (utm_source, utm_medium and the like) to
# links shared in chat or email, so the pages ignore them.
IGNORED_PREFIX = "utm_"
# Names and values are echoed cut to this many characters.
MAX_SHOWN = 60
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


class PageParameterError(Exception):
    """A page parameter that is unknown, repeated, too long or has an invalid value.

    Attributes:
        name: The parameter's name.
        message: What is wrong and what to do, in sentences for the page.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def check_names(request: Request, takes: Sequence[str]) -> None:
    """Raise PageParameterError for a query parameter the page does not take or repeats.

    Campaign parameters, whose names start with utm_, are ignored.
    """
    for name in dict.fromkeys(request.query_params.keys()):
        if name.startswith(IGNORED_PREFIX):
            continue
        shown = _shown(name)
        if not name:
            raise PageParameterError(
                name,
                "The address has a parameter without a name (an “=” right after "
                f"“?” or “&”). Remove it from the address. {_takes(takes)}",
            )
        if name not in takes:
            raise PageParameterError(
                name,
                f"This page does not take the parameter “{shown}”. {_takes(takes)} "
                f"Remove “{shown}” from the address.",
            )
        count = len(request.query_params.getlist(name))
        if count > 1:
            raise PageParameterError(
                name,
                f"The parameter “{shown}” is given {count} times. Give it once.",
            )


def whole_number(
    request: Request, name: str, *, default: int, minimum: int, maximum: int, hint: str
) -> int:
    """Return a whole-number query parameter, or default when it is absent.

    Args:
        request: The page request.
        name: The parameter's name.
        default: The value when the address does not give the parameter.
        minimum: The smallest value allowed.
        maximum: The largest value allowed.
        hint: A sentence that tells the user what to do instead, shown after the error.
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
    if value is None or not minimum <= value <= maximum:
        raise PageParameterError(
            name,
            f"The parameter “{name}” must be a whole number from {minimum} to "
            f"{maximum}, but it is {_value_text(raw)}. {hint}",
        )
    return value


def choice(
    request: Request, name: str, *, choices: Sequence[str], hint: str
) -> str | None:
    """Return a query parameter that must be one of choices, or None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in choices:
        allowed = " or ".join(choices)
        raise PageParameterError(
            name,
            f"The parameter “{name}” must be {allowed}, but it is {_value_text(raw)}. "
            f"{hint}",
        )
    return raw


def check_length(name: str, value: str, maximum: int, what: str, hint: str) -> None:
    """Raise PageParameterError for a parameter longer than maximum characters.

    what names the value in the message, such as "The search text q".
    """
    if len(value) > maximum:
        raise PageParameterError(
            name,
            f"{what} is {len(value):,} characters long, over the limit of "
            f"{maximum:,}. {hint}",
        )


def _takes(takes: Sequence[str]) -> str:
    if not takes:
        return "It takes no parameters."
    if len(takes) == 1:
        return f"It takes only {takes[0]}."
    return "It takes " + ", ".join(takes[:-1]) + f" and {takes[-1]}."


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def _value_text(raw: str) -> str:
    return f"“{_shown(raw)}”" if raw else "empty"
