"""Log set-up of the service and the command line: text or one JSON object a line."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import datetime, timezone

# The id of the HTTP request being served, added to every log record.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# C0 and C1 controls (CR and LF among them) and the Unicode bidirectional
# controls. Alert text in a message could otherwise start a forged log line or
# reorder what a terminal shows.
_CONTROL_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


class RequestIdFilter(logging.Filter):
    """Add the current request id to each record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def escape_controls(text: str) -> str:
    """Replace control characters with escapes such as \\n and \\u202e."""
    return _CONTROL_CHARACTERS.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class TextFormatter(logging.Formatter):
    """Format a record as one line of text, control characters escaped.

    A traceback still follows on its own lines, as the standard formatter writes it.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        return escape_controls(line)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_handler(log_format: str) -> logging.Handler:
    """Return a stderr handler with the formatter for "text" or "json"."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    return handler


class AccessLogFilter(logging.Filter):
    """Drop query values and cut long paths in uvicorn's access log lines.

    A sender that cannot set headers may put a token in the query string, and a
    path may be tens of kilobytes long.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn 0.55 logs (client, method, path with query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def redact_target(target: str, max_path_chars: int = 200) -> str:
    """Return a request target with query values replaced and the path cut."""
    path, _, query = target.partition("?")
    if len(path) > max_path_chars:
        path = path[:max_path_chars] + "..."
    if not query:
        return path
    names = [part.partition("=")[0][:40] for part in query.split("&")[:20]]
    return path + "?" + "&".join(f"{name}=REDACTED" for name in names)


def configure_logging(level: int, log_format: str) -> None:
    """Send all logs, uvicorn's included, to stderr in the given format."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(log_format))
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access_logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogFilter) for f in access_logger.filters):
        access_logger.addFilter(AccessLogFilter())
