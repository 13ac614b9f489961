"""Plain-text incident reports, and the decoding of file bytes that all readers use."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

from charset_normalizer import from_bytes

from indexer.readers.base import ReadProblem, ReadResult
from indexer.record import IncidentRecord, Kind

logger = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*(?:[•●▪◦*-]|\d+[.)])\s+")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# A bullet is a timeline entry when it starts with a time, optionally after a
# date: "12:18 db1114 DOWN", "2017-02-23 09:37 - ...", "Aug 24 17:58 ...".
_TIMELINE_ENTRY = re.compile(
    rf"^(?:(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH} \d{{1,2}},?(?: \d{{4}})?"
    rf"|\d{{1,2}} {_MONTH}(?: \d{{4}})?)[ T,:-]*)?\d{{1,2}}:\d{{2}}\b"
    r"|^\d{4}-\d{2}-\d{2}\b",
    re.IGNORECASE,
)
_LEADING_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[-_ ]+|$)")
# Text of the wiki export for a page that had no content.
_EMPTY_WIKI_PAGE = "There is currently no text in this page"
_MAX_TITLE = 120
# A suffix is one short run of letters or digits after the last dot, so the
# extensionless "PM2023-001 - v1.2 upgrade" has none.
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")

# charset-normalizer's chaos scores within which two code pages count as equally
# good.
_CHAOS_TOLERANCE = 0.02
# cp1252 wins from further behind. Short French Latin-1 files scored 0.0 as the
# Baltic cp1257, which turns "à" into "ą", and 0.032 and 0.066 as cp1252.
_CP1252_TOLERANCE = 0.1


def decode_text(data: bytes) -> str:
    """Decode file bytes to text.

    UTF-8 comes first, with a byte order mark stripped. Other encodings are
    detected with charset-normalizer. When several encodings decode the bytes
    about equally well, cp1252 wins, because short Western European texts from
    Windows tools (Excel CSV exports) otherwise come back as cp1250 or cp1257
    with wrong letters, and after it the other Windows code pages.

    Raises:
        ValueError: No encoding decodes the bytes as text.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass

    matches = list(from_bytes(data))
    if not matches:
        raise ValueError("the file is not text in any known encoding")
    best = matches[0]
    # Language coherence is a weak signal on short texts, so code pages that
    # decode with about as little noise as the best one tie with it.
    western = [
        m
        for m in matches
        if "cp1252" in m.could_be_from_charset
        and m.chaos <= best.chaos + _CP1252_TOLERANCE
    ]
    # Files that are not UTF-8 mostly come from Windows tools, so among equals a
    # Windows code page wins over Mac, DOS and ISO ones: cp1251 over mac_cyrillic.
    tied = [m for m in matches if m.chaos <= best.chaos + _CHAOS_TOLERANCE]
    windows = [m for m in tied if m.encoding.startswith("cp125")]
    chosen = best
    if western:
        chosen = western[0]
    elif windows:
        chosen = windows[0]
    text = str(chosen)
    if "\x00" in text:
        raise ValueError("the file is binary, not text")
    logger.debug("decoded as %s (not UTF-8)", chosen.encoding)
    return text


def file_suffix(path: Path) -> str:
    """Return the file suffix with its dot, or "" when the name has none."""
    return path.suffix if _SUFFIX.fullmatch(path.suffix) else ""


def file_stem(path: Path) -> str:
    """Return the file name without its suffix."""
    suffix = file_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def first_sentence(text: str, limit: int = _MAX_TITLE) -> str:
    """Return the first sentence of text, cut at a word boundary to limit characters."""
    flat = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0] + "…"


def title_from_stem(stem: str) -> str:
    """Turn a file name stem into title words, or "" when it has none.

    "20190208-logstash-mediawiki" gives "logstash mediawiki", and
    "PlannedMaintenance" gives "Planned Maintenance". A stem that is only a date,
    digits, a UUID or the hash of an upload has no words.
    """
    stem = _LEADING_DATE.sub("", stem)
    # An upload saved by the API is named by a hash of its id.
    if re.fullmatch(r"[0-9a-fA-F-]*|upload-[0-9a-f]{16}", stem):
        return ""
    words = re.sub(r"[-_]+", " ", stem)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    words = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z]{2})", " ", words)
    return " ".join(words.split())


def read_text_report(path: Path, default_id: str) -> ReadResult:
    """Read a plain-text incident report, such as a Wikimedia incident page export.

    The first paragraph is the summary and later paragraphs are details. Bullets
    that start with a time (optionally after a date) form the timeline, and other
    bullets are action items. A leading YYYYMMDD in the file name is the start
    date, and the other words of the name are the title.
    """
    source = str(path)
    try:
        text = decode_text(path.read_bytes())
    except (OSError, ValueError) as error:
        return _problem(source, f"cannot read the file: {error}")

    if not text.strip():
        return _problem(source, "the file is empty; delete it or add the report text")
    if _EMPTY_WIKI_PAGE in text and len(text.split()) < 60:
        return _problem(
            source,
            "the file is the wiki's placeholder for a page with no text; "
            "export the page again or delete the file",
        )

    sections = _split_report(text)
    stem = file_stem(path)
    title = title_from_stem(stem) or first_sentence(sections.get("summary", text))
    record = IncidentRecord(
        id=default_id,
        kind=Kind.POSTMORTEM,
        title=title,
        sections=sections,
        started_at=_date_from_stem(stem),
        source=source,
    )
    return ReadResult(records=[record])


def _split_report(text: str) -> dict[str, str]:
    paragraphs: list[list[str]] = [[]]
    timeline: list[str] = []
    actions: list[str] = []
    for line in text.splitlines():
        bullet = _BULLET.match(line)
        if bullet:
            item = line[bullet.end() :].strip()
            (timeline if _TIMELINE_ENTRY.match(item) else actions).append(f"- {item}")
            paragraphs.append([])
        elif line.strip():
            paragraphs[-1].append(line.strip())
        else:
            paragraphs.append([])

    texts = [" ".join(lines) for lines in paragraphs if lines]
    sections = {
        "summary": texts[0] if texts else "",
        "details": "\n\n".join(texts[1:]),
        "timeline": "\n".join(timeline),
        "action_items": "\n".join(actions),
    }
    return {name: value for name, value in sections.items() if value}


def _date_from_stem(stem: str) -> datetime | None:
    match = _LEADING_DATE.match(stem)
    if not match:
        return None
    try:
        year, month, day = (int(part) for part in match.groups())
        return datetime(year, month, day)
    except ValueError:
        logger.debug("%s: leading digits are not a valid date", stem)
        return None


def _problem(source: str, reason: str) -> ReadResult:
    return ReadResult(
        problems=[ReadProblem(source=source, location=None, reason=reason)]
    )
