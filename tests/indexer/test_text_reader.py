"""Tests for reading plain-text incident reports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from indexer.readers import read_sources
from indexer.readers.text import first_sentence, title_from_stem
from indexer.record import Kind

REPORT = """\
A single database host down caused an influx of log entries, which overloaded logstash.
• 12:18 db1114 DOWN alert fires
• 2019-02-08 12:40 logstash catches up

MediaWiki alone was able to cause a logstash overload.

A deeper understanding of logstash performance is needed.
• A dependency being down should not cause log spam
• Aug 24 17:58 indexes frozen
"""


def test_report_sections(tmp_path: Path) -> None:
    folder = tmp_path / "wikitech"
    folder.mkdir()
    (folder / "20190208-logstash-mediawiki.txt").write_text(REPORT, encoding="utf-8")

    result = read_sources([folder])

    assert not result.problems
    record = result.records[0]
    assert record.id == "wikitech/20190208-logstash-mediawiki"
    assert record.kind is Kind.POSTMORTEM
    assert record.title == "logstash mediawiki"
    assert record.started_at == datetime(2019, 2, 8)
    assert record.sections["summary"].startswith("A single database host down")
    assert record.sections["timeline"] == (
        "- 12:18 db1114 DOWN alert fires\n"
        "- 2019-02-08 12:40 logstash catches up\n"
        "- Aug 24 17:58 indexes frozen"
    )
    assert record.sections["action_items"] == (
        "- A dependency being down should not cause log spam"
    )
    assert record.sections["details"] == (
        "MediaWiki alone was able to cause a logstash overload.\n\n"
        "A deeper understanding of logstash performance is needed."
    )


def test_empty_and_placeholder_reports(tmp_path: Path) -> None:
    folder = tmp_path / "wikitech"
    folder.mkdir()
    (folder / "20181025-train.txt").write_text("", encoding="utf-8")
    placeholder = (
        "There is currently no text in this page. You can search for this page "
        "title in other pages."
    )
    (folder / "20170126-API Slowdown.txt").write_text(placeholder, encoding="utf-8")

    result = read_sources([folder])

    assert not result.records
    reasons = sorted(p.reason for p in result.problems)
    assert reasons[0].startswith("the file is empty")
    assert "placeholder" in reasons[1]


def test_title_from_first_sentence_when_name_has_none(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "20200101.txt").write_text("Mail was down. It came back.\n")

    record = read_sources([folder]).records[0]

    assert record.title == "Mail was down."
    assert record.started_at == datetime(2020, 1, 1)


@pytest.mark.parametrize(
    ("stem", "title"),
    [
        ("20110524-PlannedMaintenance", "Planned Maintenance"),
        ("20120528-MWCoreVersions", "MW Core Versions"),
        ("20170126-API Slowdown", "API Slowdown"),
        ("Wikidata-ZeroRatedMobileAccess", "Wikidata Zero Rated Mobile Access"),
        ("04f5afd8-09fc-4314-9c60-7f942faca125", ""),
        ("20200101", ""),
    ],
)
def test_title_from_stem(stem: str, title: str) -> None:
    assert title_from_stem(stem) == title


def test_first_sentence_is_cut_at_word() -> None:
    text = "word " * 60

    sentence = first_sentence(text, limit=20)

    assert sentence == "word word word word…"
