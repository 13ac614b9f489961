"""Log lines: alert text cannot forge or reorder lines, and query values are hidden."""

import io
import logging

import pytest

from recommender.logs import (
    AccessLogFilter,
    escape_controls,
    make_handler,
    redact_target,
)

ESCAPES = [
    # (text, escaped)
    ("Disk\nERROR fake line", "Disk\\nERROR fake line"),
    ("carriage\rreturn", "carriage\\rreturn"),
    ("right-to-left \u202e override", "right-to-left \\u202e override"),
    ("bell \x07 and delete \x7f", "bell \\x07 and delete \\x7f"),
    ("Hebrew שלום and emoji \U0001f525 stay", "Hebrew שלום and emoji \U0001f525 stay"),
]


@pytest.mark.parametrize(("text", "escaped"), ESCAPES)
def test_escape_controls(text, escaped):
    assert escape_controls(text) == escaped


def test_text_log_keeps_one_line():
    handler = make_handler("text")
    stream = io.StringIO()
    handler.setStream(stream)
    record = logging.LogRecord(
        "recommender.recommendation",
        logging.INFO,
        __file__,
        1,
        "recommendation alertname=%s",
        ("Disk\n2026-12-04 20:41:00,000 ERROR recommender.auth [-]: FAKE",),
        None,
    )
    handler.handle(record)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "alertname=Disk\\n2026-12-04 20:41:00,000 ERROR recommender.auth [-]: FAKE"
    )


TARGETS = [
    # (request target, as logged)
    ("/v1/incidents?token=tok-AAAA", "/v1/incidents?token=REDACTED"),
    ("/v1/alerts?top_k=3&key=s3cret", "/v1/alerts?top_k=REDACTED&key=REDACTED"),
    ("/livez", "/livez"),
    ("/v1/incidents/" + "A" * 70_000, "/v1/incidents/" + "A" * 186 + "..."),
]


@pytest.mark.parametrize(("target", "logged"), TARGETS)
def test_redact_target(target, logged):
    assert redact_target(target) == logged


def test_access_log_hides_query_token():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/v1/incidents?token=tok-AAAA", "1.1", 401),
        None,
    )
    assert AccessLogFilter().filter(record) is True
    message = record.getMessage()
    assert "tok-AAAA" not in message
    assert message.endswith('"POST /v1/incidents?token=REDACTED HTTP/1.1" 401')
