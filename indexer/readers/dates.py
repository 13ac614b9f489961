"""Parsing of the date and time formats that incident exports and front matter use."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime

# Listed in every error message, so a user can see what to change the value to.
ACCEPTED_FORMATS = (
    "ISO 8601 (2021-06-22, 2021-06-22T08:21:00Z, 2021-06-22T08:21:00+02:00), "
    "YYYY-MM-DD HH:MM[:SS], YYYY/MM/DD, MM/DD/YYYY[ HH:MM[:SS][ AM]] (also "
    "with - between the numbers, and read DD/MM/YYYY when some dates of the "
    "export can be read no other way), DD.MM.YYYY, RFC 2822 (Tue, 22 Jun 2021 "
    "08:21:00 +0000), Jira's DD/Mon/YY h:mm AM, YYYYMMDD, or epoch seconds or "
    "milliseconds"
)

# Jira's default CSV export writes dates as "22/Jun/21 8:21 AM".
_STRPTIME_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
)

# Day and month as numbers, then a four-digit year, with an optional time:
# 06/04/2011, 04-06-2011 10:28, 04.06.2011 10:28:05. Which number is the day
# depends on the exporting user's settings (ServiceNow, Excel), so a file's
# dates are read together: see numeric_day_first().
_NUMERIC_DATE = re.compile(
    r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?)?$"
)
# An ISO 8601 date with or without a time: YYYY-MM-DD, then T or a space.
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")
_NUMBER = re.compile(r"^\d{8,13}(\.\d+)?$")


def ends_before_start(started: datetime | None, ended: datetime | None) -> bool:
    """Return whether a record's end is before its start.

    A time without a zone is taken as UTC, as the API does, so that a naive and
    an aware time compare instead of raising TypeError.
    """
    if started is None or ended is None:
        return False
    return _as_utc(ended) < _as_utc(started)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def numeric_day_first(values: Iterable[str]) -> bool | None:
    """Return whether numeric dates such as 01/05/2025 are written day first.

    A date whose first number is over 12 shows day first, one whose second is
    over 12 month first. Dates with dots (01.05.2025) are always day first and
    tell nothing about the others.

    Returns:
        True or False. None when no date shows the order, or when dates show
        both orders; the dates that do not fit are then reported one by one.
    """
    evidence = numeric_order_evidence(values)
    if bool(evidence[True]) != bool(evidence[False]):
        return bool(evidence[True])
    return None


def numeric_order_evidence(values: Iterable[str]) -> dict[bool, list[str]]:
    """Return the numeric dates that are valid only day first (True) or month first.

    A date that is impossible either way (02/30/2025) shows nothing.
    """
    evidence: dict[bool, list[str]] = {True: [], False: []}
    for value in values:
        match = _NUMERIC_DATE.match(value.strip())
        if match is None or match.group(2) == ".":
            continue
        first, second, year = (
            int(match.group(1)),
            int(match.group(3)),
            int(match.group(4)),
        )
        as_day_first = _exists(year, second, first)
        as_month_first = _exists(year, first, second)
        if as_day_first != as_month_first:
            evidence[as_day_first].append(value.strip())
    return evidence


def _exists(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def is_ambiguous_numeric(value: str) -> bool:
    """Return whether a date reads differently day first and month first."""
    match = _NUMERIC_DATE.match(value.strip())
    if match is None or match.group(2) == ".":
        return False
    return match.group(1).lstrip("0") != match.group(3).lstrip("0")


def parse_datetime(value: object, day_first: bool = False) -> datetime | None:
    """Parse a date or timestamp as incident exports write it.

    Naive values stay naive, because the source did not say which zone it meant.
    A date without a time becomes midnight of that day. Numbers are YYYYMMDD or
    epoch seconds or milliseconds (see _from_number); epoch values come back in
    UTC.

    Args:
        value: A string, a number, or a date or datetime that a YAML or JSON
            parser already built.
        day_first: Read 01/05/2025 as the 1st of May rather than January 5th.

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
        return _from_number(value)

    text = str(value).strip()
    if not text:
        return None
    if _NUMBER.match(text):
        return _from_number(float(text) if "." in text else int(text))
    numeric = _NUMERIC_DATE.match(text)
    if numeric is not None:
        return _numeric_date(text, numeric, day_first)
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


def _numeric_date(text: str, match: re.Match[str], day_first: bool) -> datetime:
    first, separator, second, year, hour, minute, seconds, half = match.groups()
    day, month = (first, second) if day_first or separator == "." else (second, first)
    hours = int(hour or 0)
    if half is not None:
        if not 1 <= hours <= 12:
            raise ValueError(
                f"invalid date {text!r}: hour {hours} with {half}; a 12-hour clock "
                "runs from 1 to 12"
            )
        hours = hours % 12 + (12 if half.lower() == "pm" else 0)
    try:
        return datetime(
            int(year), int(month), int(day), hours, int(minute or 0), int(seconds or 0)
        )
    except ValueError as error:
        order = "DD/MM/YYYY" if day_first or separator == "." else "MM/DD/YYYY"
        raise ValueError(
            f"invalid date {text!r}: {error}, read as {order}. The dates of an "
            "export are read day first only when some of them can be read no other "
            "way; write YYYY-MM-DD to leave no doubt"
        ) from None


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

    return _parse_rfc2822(text)


def _parse_rfc2822(text: str) -> datetime | None:
    # The lenient email parser accepts odd strings, so ask for "D Mon YYYY HH:MM" first.
    if not re.search(r"\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}", text):
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _from_number(value: float) -> datetime:
    """Read a number as YYYYMMDD, epoch seconds or epoch milliseconds.

    Eight digits are a date (20250105). Epoch seconds of incident data are from
    after 2001 (nine digits at least), and thirteen digits are milliseconds, as
    JavaScript writes them. Anything else is no date: 628 is what YAML makes of
    a bare 10:28.
    """
    if isinstance(value, int) and 19_000_101 <= value <= 21_001_231:
        text = str(value)
        try:
            return datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError as error:
            raise ValueError(f"invalid date {value!r}: {error}") from None
    # Ten digits of seconds or thirteen of milliseconds: 2001 to 2286.
    if 1e9 <= value < 1e10:
        return _from_epoch(value)
    if 1e12 <= value < 1e13:
        return _from_epoch(value / 1000)
    raise ValueError(
        f"invalid date {value!r}: a number is read as YYYYMMDD, epoch seconds "
        "(from 2001) or epoch milliseconds; write the date as YYYY-MM-DD"
    )


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as error:
        raise ValueError(
            f"invalid epoch timestamp {seconds!r}: {error}; "
            "give epoch seconds, not milliseconds"
        ) from error
