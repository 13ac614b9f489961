"""Parsing of the date and time formats that incident exports and front matter use."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime

# Listed in every error message, so a user can see what to change the value to.
ACCEPTED_FORMATS = (
    "ISO 8601 (2021-06-22, 2021-06-22T08:21:00Z, 2021-06-22T08:21:00+02:00), "
    "MM/DD/YYYY, YYYY-MM-DD HH:MM[:SS], RFC 2822 (Tue, 22 Jun 2021 08:21:00 +0000), "
    "Jira's DD/Mon/YY h:mm AM, or epoch seconds"
)

# Formats that datetime.fromisoformat does not take. Jira's default CSV export
# writes dates as "22/Jun/21 8:21 AM".
_STRPTIME_FORMATS = (
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
)

# An ISO 8601 date with or without a time: YYYY-MM-DD, then T or a space.
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
_EPOCH = re.compile(r"^\d{9,11}(\.\d+)?$")


def parse_datetime(value: object) -> datetime | None:
    """Parse a date or timestamp as incident exports write it.

    Naive values stay naive, because the source did not say which zone it meant.
    A date without a time becomes midnight of that day. Numbers are epoch seconds
    and come back in UTC.

    Args:
        value: A string, a number, or a date or datetime that a YAML or JSON
            parser already built.

    Returns:
        The datetime, or None when the value is None or an empty string.

    Raises:
        ValueError: The value matches none of ACCEPTED_FORMATS. The message shows
            the value and lists the formats.
    """
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(value)

    text = str(value).strip()
    if not text:
        return None
    parsed = _parse_text(text)
    if parsed is None and _ISO_SHAPE.match(text):
        # For a date of the right shape with a part out of range (2024-02-30),
        # the message names that part instead of listing the formats.
        try:
            datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
        except ValueError as error:
            if "range" in str(error) or "must be in" in str(error):
                raise ValueError(
                    f"invalid date {text!r}: {error}; the date or time does not exist"
                ) from None
    if parsed is None:
        raise ValueError(
            f"invalid date {text!r}: it matches none of the accepted formats, "
            f"which are {ACCEPTED_FORMATS}"
        )
    return parsed


def _parse_text(text: str) -> datetime | None:
    try:
        # Python 3.10 reads "+00:00" but not "Z".
        return datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        pass

    for pattern in _STRPTIME_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue

    if _EPOCH.match(text):
        return _from_epoch(float(text))
    return _parse_rfc2822(text)


def _parse_rfc2822(text: str) -> datetime | None:
    # The lenient email parser accepts odd strings, so ask for "D Mon YYYY HH:MM" first.
    if not re.search(r"\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}", text):
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as error:
        raise ValueError(
            f"invalid epoch timestamp {seconds!r}: {error}; "
            "give epoch seconds, not milliseconds"
        ) from error
