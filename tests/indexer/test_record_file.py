"""Record files: one record in the JSON shape of POST /v1/incidents."""

import json
from datetime import datetime, timezone

import pytest

from indexer.readers import read_sources
from indexer.readers.record_file import read_record_file, record_file_text
from indexer.record import IncidentRecord, Kind

RECORD = IncidentRecord(
    id="PM-FILE-001",
    kind=Kind.POSTMORTEM,
    title="Ledger exporter stalled",
    sections={
        "summary": "Batches stopped.",
        "resolution": "Pinned the library.\n\n```sh\nkubectl rollout undo x\n```",
    },
    labels={"service": "ledger-exporter", "alertname": "LedgerExportStalled"},
    severity_raw="SEV2",
    started_at=datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc),
    ended_at=None,
    source="",
)


def test_record_file_reads_back_the_same_record(tmp_path):
    path = tmp_path / "upload-1.record.json"
    path.write_text(record_file_text(RECORD), encoding="utf-8")

    result = read_sources([tmp_path])

    assert result.problems == []
    [record] = result.records
    assert record.id == "PM-FILE-001"
    assert record.kind is Kind.POSTMORTEM
    assert record.sections == RECORD.sections
    assert record.labels == RECORD.labels
    assert record.severity_raw == "SEV2"
    assert record.started_at == RECORD.started_at
    assert record.ended_at is None
    assert record.source == str(path)


def test_other_json_files_stay_exports(tmp_path):
    """Only the .record.json ending marks a record file."""
    (tmp_path / "export.json").write_text(
        json.dumps(json.loads(record_file_text(RECORD)))
    )

    result = read_sources([tmp_path])

    # A preset maps its id and title, but not the record's own sections.
    assert [record.sections for record in result.records] == [{}]


@pytest.mark.parametrize(
    ("document", "location", "reason"),
    [
        (
            {**json.loads(record_file_text(RECORD)), "colour": "red"},
            "colour",
            "unknown field 'colour'",
        ),
        (
            {"id": "PM-X", "kind": "outage", "title": "t"},
            "kind",
            "kind 'outage' is not one of",
        ),
        ({"id": "PM-X", "title": " "}, "title", "title is missing or empty"),
        (
            {"id": "PM-X", "title": "t", "labels": {"team": 7}},
            "labels.team",
            "labels.team must be a string, got a number",
        ),
        (
            {"id": "PM-X", "title": "t", "sections": {"cause": "x"}},
            "sections.cause",
            "unknown section 'cause'",
        ),
        (
            {"id": "PM-X", "title": "t", "sections": ["x"]},
            "sections",
            "sections must be an object, got a list",
        ),
        (
            {"id": "PM-X", "title": "t", "started_at": "yesterday"},
            "started_at",
            "'yesterday' is not an ISO 8601 time",
        ),
        ({"id": "a/../b", "title": "t"}, "id", "has a '.' or '..' part"),
        ([], None, "expected one JSON object"),
    ],
)
def test_broken_record_file_is_a_problem(tmp_path, document, location, reason):
    path = tmp_path / "x.record.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    result = read_record_file(path, "default/x")

    assert result.records == []
    [problem] = result.problems
    assert problem.location == location
    assert reason in problem.reason


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "x.record.json"
    path.write_text('{\n  "id": "PM-X",\n  "title": }\n', encoding="utf-8")

    [problem] = read_record_file(path, "default/x").problems

    assert problem.location == "line 3"
    assert problem.reason.startswith("invalid JSON")


def test_record_file_without_id_or_kind_takes_defaults(tmp_path):
    path = tmp_path / "x.record.json"
    path.write_text(json.dumps({"title": "Queue stalled"}), encoding="utf-8")

    [record] = read_record_file(path, "folder/x").records

    assert record.id == "folder/x"
    assert record.kind is Kind.INCIDENT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"title": ' + "1" * 5000 + "}", "a number too long to read"),
        ("[" * 200_000, "nested too deep to read"),
    ],
)
def test_unreadable_json_is_a_problem(tmp_path, text, reason):
    path = tmp_path / "x.record.json"
    path.write_text(text, encoding="utf-8")

    [problem] = read_sources([tmp_path]).problems

    assert reason in problem.reason


@pytest.mark.parametrize(
    ("document", "location", "reason"),
    [
        ({"id": " ", "title": "t"}, "id", "id is blank"),
        (
            {
                "id": "PM-X",
                "title": "t",
                "started_at": "2026-01-01T10:00:00Z",
                "ended_at": "2026-01-01T09:00:00Z",
            },
            "ended_at",
            "record 'PM-X': ended_at (2026-01-01T09:00:00+00:00) is before started_at",
        ),
        (
            {"incidents": []},
            "incidents",
            "rename an export to end in plain .json",
        ),
    ],
)
def test_record_rules_of_the_api_apply(tmp_path, document, location, reason):
    path = tmp_path / "x.record.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    [problem] = read_record_file(path, "default/x").problems

    assert problem.location == location
    assert reason in problem.reason


def test_record_file_keeps_values_as_written(tmp_path):
    """The API stores title and severity as sent, so a rebuild changes neither."""
    path = tmp_path / "kept.record.json"
    document = {"title": "Queue\tstalled  twice", "severity": ""}
    path.write_text(json.dumps(document), encoding="utf-8")

    [record] = read_sources([tmp_path]).records

    assert record.id == f"{tmp_path.name}/kept"
    assert record.title == "Queue\tstalled  twice"
    assert record.severity_raw == ""


def test_lone_surrogate_is_replaced(tmp_path):
    path = tmp_path / "x.RECORD.JSON"
    path.write_text('{"title": "bad \\ud800 half"}', encoding="utf-8")

    [record] = read_sources([tmp_path]).records

    assert record.title == "bad \ufffd half"
    assert record.id == f"{tmp_path.name}/x"
