"""Tests for reading CSV, JSON and JSON Lines exports through field mappings."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from indexer.readers import load_mapping, read_sources
from indexer.readers.dates import parse_datetime
from indexer.readers.mapping import FieldMapping
from indexer.record import Kind
from indexer.severity import Severity

JIRA_HEADER = (
    "Issue key,Summary,Description,Priority,Component/s,Team,Labels,Labels,"
    "Category,Alert,Created,Resolved,Root Cause,Resolution Notes,Impact"
)


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_jira_csv_detected_and_mapped(tmp_path: Path) -> None:
    rows = [
        JIRA_HEADER,
        "OPS-1,Checkout 503s,Pods NotReady,High,checkout-api,storefront,"
        "payments,k8s,dependency,HTTP5xxRateHigh,2023-11-24 18:06,"
        "2023-11-24T19:22:00Z,Shared pool,Split pools,Lost orders",
    ]
    _write(tmp_path / "jira", "export.csv", "\n".join(rows) + "\n")

    result = read_sources([tmp_path / "jira"])

    assert not result.problems
    record = result.records[0]
    assert record.id == "OPS-1"
    assert record.kind is Kind.INCIDENT
    assert record.title == "Checkout 503s"
    assert record.severity is Severity.SEV2
    assert record.started_at == datetime(2023, 11, 24, 18, 6)
    assert record.ended_at == datetime(2023, 11, 24, 19, 22, tzinfo=timezone.utc)
    assert record.sections == {
        "description": "Pods NotReady",
        "impact": "Lost orders",
        "root_cause": "Shared pool",
        "resolution": "Split pools",
    }
    assert record.labels == {
        "service": "checkout-api",
        "team": "storefront",
        "tags": "payments, k8s",
        "category": "dependency",
        "alertname": "HTTP5xxRateHigh",
    }
    assert record.source == f"{tmp_path / 'jira' / 'export.csv'}:2"


def test_csv_with_bom(tmp_path: Path) -> None:
    text = "\ufeffIssue key,Summary\nOPS-7,Disk full\n"
    _write(tmp_path / "j", "bom.csv", text)

    result = read_sources([tmp_path / "j"])

    assert not result.problems
    assert [(r.id, r.title) for r in result.records] == [("OPS-7", "Disk full")]


def test_csv_in_cp1252(tmp_path: Path) -> None:
    text = (
        "Issue key;Summary;Description\n"
        "OPS-1;Café outage – naïve retry;Résumé of the “incident”\n"
        "OPS-2;Straße down;Ärger mit Größe\n"
    )
    _write(tmp_path / "j", "win.csv", text.encode("cp1252"))

    result = read_sources([tmp_path / "j"])

    assert not result.problems
    assert [r.title for r in result.records] == [
        "Café outage – naïve retry",
        "Straße down",
    ]
    assert result.records[0].sections["description"] == "Résumé of the “incident”"


def test_csv_semicolon_and_multiline_fields(tmp_path: Path) -> None:
    text = (
        "Issue key;Summary;Root Cause\n"
        'OPS-1;"Outage; part 1";"line one\nline two\nline three"\n'
        "\n"
        "OPS-2;Second;cause\n"
    )
    path = _write(tmp_path / "j", "multi.csv", text)

    result = read_sources([tmp_path / "j"])

    assert not result.problems
    first, second = result.records
    assert first.title == "Outage; part 1"
    assert first.sections["root_cause"] == "line one\nline two\nline three"
    assert second.id == "OPS-2"
    assert second.source == f"{path}:6"


def test_csv_bad_rows_reported_by_line(tmp_path: Path) -> None:
    text = (
        "Issue key,Summary,Created\n"
        "OPS-1,Good one,2023-01-01\n"
        'OPS-2,"multi\nline",2023-01-02\n'
        "OPS-3,,2023-01-03\n"
        "OPS-4,Bad date,31.13.2023\n"
        "OPS-5,Too,many,fields\n"
        "OPS-6,Good two,2023-01-06\n"
    )
    path = _write(tmp_path / "j", "mixed.csv", text)

    result = read_sources([tmp_path / "j"])

    assert [r.id for r in result.records] == ["OPS-1", "OPS-2", "OPS-6"]
    problems = {p.location: p for p in result.problems}
    assert sorted(problems) == ["5", "6", "7"]
    assert all(p.source == str(path) for p in result.problems)
    assert "missing title" in problems["5"].reason
    assert "'Summary'" in problems["5"].reason
    assert "started_at ('Created')" in problems["6"].reason
    assert "'31.13.2023'" in problems["6"].reason
    assert "4 fields but the header has 3" in problems["7"].reason


def test_csv_short_row_is_warned(tmp_path: Path, caplog) -> None:
    text = (
        "Issue key,Summary,Description,Team,Created\n"
        "OPS-1,Redis evicts keys,Eviction started after\n"
        "maxmemory too low,ops,2023-01-01\n"
        "OPS-2,Disk full,Volume at 100%,storage\n"
    )
    _write(tmp_path / "j", "split.csv", text)

    result = read_sources([tmp_path / "j"])

    assert [r.id for r in result.records] == ["OPS-1", "maxmemory too low", "OPS-2"]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert "split.csv: 3 rows have fewer fields than the header's 5" in warned[0]
    assert "(first on line 2)" in warned[0]
    assert "Quote values that contain a line break" in warned[0]


def test_csv_end_before_start_warned_once(tmp_path: Path, caplog) -> None:
    text = (
        "Issue key,Summary,Created,Resolved\n"
        "OPS-1,Disk full,2024-05-03 10:00,2024-05-03 09:00\n"
        "OPS-2,Redis evicts keys,2024-05-03 10:00,2024-05-02 09:00\n"
        "OPS-3,Queue backlog,2024-05-03 10:00,2024-05-03 11:00\n"
    )
    _write(tmp_path / "j", "times.csv", text)
    mapping = FieldMapping(
        name="times",
        id=("Issue key",),
        title=("Summary",),
        started_at=("Created",),
        ended_at=("Resolved",),
    )

    result = read_sources([tmp_path / "j"], mapping)

    assert [r.id for r in result.records] == ["OPS-1", "OPS-2", "OPS-3"]
    assert result.records[0].ended_at == datetime(2024, 5, 3, 9, 0)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert "times.csv: record OPS-1 ends (2024-05-03T09:00:00)" in warned[0]
    assert "before it starts (2024-05-03T10:00:00)" in warned[0]


def test_csv_field_over_csv_module_limit(tmp_path: Path) -> None:
    description = "x" * 200_000
    _write(
        tmp_path / "j",
        "long.csv",
        f"Issue key,Summary,Description\nOPS-1,Long,{description}\n",
    )

    result = read_sources([tmp_path / "j"])

    assert result.problems == []
    assert result.records[0].sections["description"] == description


def test_csv_missing_id_value(tmp_path: Path) -> None:
    _write(tmp_path / "j", "x.csv", "Issue key,Summary\n,No key\nOPS-2,Keyed\n")

    result = read_sources([tmp_path / "j"])

    assert [r.id for r in result.records] == ["OPS-2"]
    assert result.problems[0].location == "2"
    assert "missing id: column 'Issue key'" in result.problems[0].reason


def test_csv_unterminated_quote(tmp_path: Path) -> None:
    _write(tmp_path / "j", "x.csv", 'Issue key,Summary\nOPS-1,Fine\nOPS-2,"open\n')

    result = read_sources([tmp_path / "j"])

    assert [r.id for r in result.records] == ["OPS-1"]
    assert result.problems[0].location == "3"
    assert "invalid CSV record" in result.problems[0].reason


def test_csv_without_id_path_derives_stable_id(tmp_path: Path) -> None:
    mapping = FieldMapping.from_dict(
        {"title": "title", "started_at": "start"}, name="inline"
    )
    text = "title,start\nDisk full,2024-01-01\nDisk full,2024-02-01\n"
    _write(tmp_path / "exports", "ops.csv", text)

    first = read_sources([tmp_path / "exports"], mapping)
    second = read_sources([tmp_path / "exports"], mapping)

    ids = [r.id for r in first.records]
    assert ids == [r.id for r in second.records]
    assert ids[0] != ids[1]
    assert all(
        i.startswith("exports/ops-") and len(i) == len("exports/ops-") + 12 for i in ids
    )


def test_tsv_file(tmp_path: Path) -> None:
    _write(tmp_path / "j", "x.tsv", "Issue key\tSummary\nOPS-1\tTabbed, with comma\n")

    result = read_sources([tmp_path / "j"])

    assert [r.title for r in result.records] == ["Tabbed, with comma"]


def test_json_keyed_by_id_with_dotted_paths(tmp_path: Path) -> None:
    document = {
        "gcp-17001": {
            "title": "Network outage",
            "time": "9/4/2018",
            "summary": "Packets dropped.",
            "service name": ["VPC", "Load Balancing"],
            "root cause": {
                "label": [{"layer-1": "internal", "layer-2": "software bugs"}],
                "details": "Bad route push.",
            },
            "mitigation": {"label": ["roll back"], "details": "Rolled back."},
        },
        "gcp-17002": {
            "title": "Quota errors",
            "time": "01/02/2019",
            "service_name": ["IAM"],
            "root cause": {"label": None, "details": ""},
            "mitigation": None,
        },
    }
    path = _write(tmp_path / "cloud", "gcp.json", json.dumps(document))

    result = read_sources([tmp_path / "cloud"])

    assert not result.problems
    first, second = result.records
    assert first.id == "gcp-17001"
    assert first.kind is Kind.POSTMORTEM
    assert first.source == f"{path}#gcp-17001"
    assert first.started_at == datetime(2018, 9, 4)
    assert first.sections == {
        "summary": "Packets dropped.",
        "root_cause": "Bad route push.",
        "resolution": "Rolled back.",
    }
    assert first.labels["service"] == "VPC, Load Balancing"
    assert first.labels["category"] == "software bugs"
    assert first.labels["category_layer1"] == "internal"
    assert first.labels["mitigation_type"] == "roll back"
    assert second.labels == {"service": "IAM"}


def test_json_objects_rendered_readably(tmp_path: Path) -> None:
    mapping = FieldMapping.from_dict(
        {"id": "key", "title": "name", "sections": {"details": "extra"}}, name="t"
    )
    record = {"key": "a", "name": "A", "extra": {"owner": "ops", "tags": ["x", "y"]}}
    _write(tmp_path / "j", "one.json", json.dumps(record))

    result = read_sources([tmp_path / "j"], mapping)

    assert result.records[0].sections["details"] == "owner: ops\ntags: x, y"


def test_pagerduty_json(tmp_path: Path) -> None:
    incident = {
        "id": "Q1ABC",
        "incident_number": 42,
        "title": "Checkout latency",
        "description": "p99 over 2 s",
        "urgency": "high",
        "priority": None,
        "service": {"summary": "checkout-api"},
        "teams": [{"summary": "storefront"}, {"summary": "payments"}],
        "created_at": "2024-03-12T09:00:00Z",
        "resolved_at": "2024-03-12T10:00:00Z",
        "alert_name": "CheckoutLatencyHigh",
    }
    _write(tmp_path / "pd", "incidents.json", json.dumps({"incidents": [incident]}))

    result = read_sources([tmp_path / "pd"])

    assert not result.problems
    record = result.records[0]
    assert record.id == "Q1ABC"
    assert record.severity_raw == "high"
    assert record.severity is Severity.SEV2
    assert record.labels == {
        "service": "checkout-api",
        "team": "storefront, payments",
        "alertname": "CheckoutLatencyHigh",
        "incident_number": "42",
    }
    assert record.source.endswith("incidents.json#incidents[0]")


def test_object_as_title_fails_its_record(tmp_path: Path) -> None:
    good = {"id": "Q1", "title": "Checkout latency", "created_at": "2025-01-02"}
    bad = {"id": "Q2", "title": {"nested": "object"}, "created_at": "2025-01-02"}
    _write(tmp_path / "pd", "incidents.json", json.dumps({"incidents": [good, bad]}))

    result = read_sources([tmp_path / "pd"], load_mapping("pagerduty"))

    assert [r.id for r in result.records] == ["Q1"]
    [problem] = result.problems
    assert problem.source.endswith("incidents.json")
    assert problem.location == "incidents[1]"
    assert "invalid title: path 'title' contains an object, not text" in problem.reason
    assert problem.reason.endswith("such as title.nested")


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    _write(tmp_path / "j", "bad.json", '[\n  {"id": "a",\n   "title": }\n]\n')

    result = read_sources([tmp_path / "j"])

    assert not result.records
    assert result.problems[0].location == "3:13"
    assert "invalid JSON" in result.problems[0].reason


def test_json_lines_with_one_bad_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "First"}),
        "",
        '{"id": "b", "title": ',
        json.dumps({"id": "c", "title": "Third"}),
        json.dumps(["not", "an", "object"]),
    ]
    path = _write(tmp_path / "j", "events.jsonl", "\n".join(lines) + "\n")

    result = read_sources([tmp_path / "j"])

    assert [r.id for r in result.records] == ["a", "c"]
    assert result.records[1].source == f"{path}:4"
    assert [p.location for p in result.problems] == ["3", "5"]
    assert "invalid JSON" in result.problems[0].reason
    assert "expected a JSON object" in result.problems[1].reason


def test_unparseable_date_rejects_record(tmp_path: Path) -> None:
    document = [
        {"id": "a", "title": "A", "created_at": "next friday"},
        {"id": "b", "title": "B", "created_at": 1700000000},
    ]
    _write(tmp_path / "pd", "list.json", json.dumps(document))

    result = read_sources([tmp_path / "pd"])

    assert [r.id for r in result.records] == ["b"]
    assert result.records[0].started_at == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc
    )
    problem = result.problems[0]
    assert problem.location == "[0]"
    assert "started_at ('created_at')" in problem.reason
    assert "'next friday'" in problem.reason
    assert "ISO 8601" in problem.reason


def test_no_matching_preset(tmp_path: Path) -> None:
    _write(tmp_path / "j", "other.csv", "name,value\na,1\n")

    result = read_sources([tmp_path / "j"])

    assert not result.records
    reason = result.problems[0].reason
    assert "no mapping preset matches" in reason
    assert "cloud-postmortems" in reason
    assert "jira (id 'Issue key', title 'Summary')" in reason
    assert "--mapping FILE" in reason


def test_files_without_records(tmp_path: Path) -> None:
    _write(tmp_path / "j", "header.csv", JIRA_HEADER + "\n")
    _write(tmp_path / "j", "empty.json", "[]")
    _write(tmp_path / "j", "pagerduty.json", '{"incidents": []}')

    result = read_sources([tmp_path / "j"])

    assert not result.records
    assert not result.problems
    assert result.empty == [
        str(tmp_path / "j" / "empty.json"),
        str(tmp_path / "j" / "header.csv"),
        str(tmp_path / "j" / "pagerduty.json"),
    ]


def test_explicit_mapping_records_path_missing(tmp_path: Path) -> None:
    _write(tmp_path / "pd", "x.json", json.dumps({"data": {"a": 1}}))

    result = read_sources([tmp_path / "pd"], load_mapping("pagerduty"))

    assert not result.records
    assert "no 'incidents' in the JSON document" in result.problems[0].reason


def test_kind_field(tmp_path: Path) -> None:
    mapping = FieldMapping.from_dict(
        {"id": "id", "title": "t", "kind": "postmortem", "kind_field": "type"}, "m"
    )
    rows = [{"id": "1", "t": "a", "type": "Runbook"}, {"id": "2", "t": "b"}]
    rows.append({"id": "3", "t": "c", "type": "ticket"})
    _write(tmp_path / "j", "k.json", json.dumps(rows))

    result = read_sources([tmp_path / "j"], mapping)

    assert [r.kind for r in result.records] == [Kind.RUNBOOK, Kind.POSTMORTEM]
    assert "invalid kind 'ticket'" in result.problems[0].reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-06-22", datetime(2021, 6, 22)),
        ("2021-06-22T08:21:00Z", datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc)),
        ("2021-06-22 08:21", datetime(2021, 6, 22, 8, 21)),
        ("2021-06-22 08:21:05", datetime(2021, 6, 22, 8, 21, 5)),
        ("06/04/2011", datetime(2011, 6, 4)),
        ("9/4/2018", datetime(2018, 9, 4)),
        ("06-04-2011 10:28", datetime(2011, 6, 4, 10, 28)),
        ("31.12.2023", datetime(2023, 12, 31)),
        ("20250105", datetime(2025, 1, 5)),
        (20250105, datetime(2025, 1, 5)),
        ("1624350060000", datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc)),
        (1624350060000, datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc)),
        ("04.06.2011 10:28:05", datetime(2011, 6, 4, 10, 28, 5)),
        (
            "Tue, 22 Jun 2021 08:21:00 +0000",
            datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc),
        ),
        ("22/Jun/21 8:21 AM", datetime(2021, 6, 22, 8, 21)),
        ("1624350060", datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc)),
        (1624350060, datetime(2021, 6, 22, 8, 21, tzinfo=timezone.utc)),
        ("", None),
    ],
)
def test_parse_datetime_formats(value: object, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "2021-13", "31/Dec/2023", "123456789012345"]
)
def test_parse_datetime_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="accepted formats"):
        parse_datetime(value)


def test_short_cp1252_jira_export_keeps_accents(tmp_path: Path) -> None:
    text = (
        "Issue key,Summary,Description,Priority\n"
        "OPS-7,Café payments failing – naïve retry,Retries stormed the provider,High\n"
    )
    _write(tmp_path / "j", "jira.csv", text.encode("cp1252"))

    result = read_sources([tmp_path / "j"])

    assert [r.title for r in result.records] == ["Café payments failing – naïve retry"]


def test_json_lone_surrogate_replaced(tmp_path: Path) -> None:
    text = '[{"id": "PD-1", "title": "Truncated emoji \\ud83d", "summary": "x"}]'
    _write(tmp_path / "j", "incidents.json", text)

    result = read_sources([tmp_path / "j"])

    assert not result.problems
    assert result.records[0].title == "Truncated emoji \ufffd"
    assert result.records[0].title.encode("utf-8")


def test_json_nested_too_deep(tmp_path: Path) -> None:
    text = '{"a": ' * 500 + "1" + "}" * 500
    _write(tmp_path / "j", "deep.json", text)
    _write(tmp_path / "j", "deep.jsonl", text + "\n")

    result = read_sources([tmp_path / "j"])

    assert result.records == []
    assert [p.location for p in result.problems] == [None, "1"]
    assert all("nested more than 100 levels deep" in p.reason for p in result.problems)


def test_json_lines_keep_unicode_breaks(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "Pasted\u2028title"}, ensure_ascii=False),
        json.dumps({"id": "b", "title": "Second\u0085one"}, ensure_ascii=False),
    ]
    path = _write(tmp_path / "j", "events.jsonl", "\n".join(lines) + "\n")

    result = read_sources([tmp_path / "j"])

    assert not result.problems
    assert [r.id for r in result.records] == ["a", "b"]
    assert result.records[1].source == f"{path}:2"


def test_pagerduty_single_incident(tmp_path: Path) -> None:
    incident = {
        "id": "PT4KHLK",
        "title": "The server is on fire.",
        "description": "Disk full on web-1",
        "priority": {"summary": "P1"},
        "root_cause": "A log rotation job stopped",
    }
    _write(tmp_path / "pd", "PT4KHLK.json", json.dumps({"incident": incident}))
    _write(tmp_path / "pd", "bare.json", json.dumps({**incident, "id": "PT4KHLL"}))

    result = read_sources([tmp_path / "pd"])

    assert not result.problems
    assert [r.id for r in result.records] == ["PT4KHLK", "PT4KHLL"]
    record = result.records[0]
    assert record.kind is Kind.INCIDENT
    assert record.severity is Severity.SEV1
    assert record.sections["root_cause"] == "A log rotation job stopped"
    assert record.source.endswith("PT4KHLK.json#incident")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-02-30", "day is out of range for month"),
        ("2024-13-01 10:00", "month must be in 1..12"),
    ],
)
def test_parse_datetime_names_impossible_part(value: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_datetime(value)
    assert f"invalid date {value!r}: {reason}" in str(raised.value)
    assert "does not exist" in str(raised.value)


def test_parse_datetime_unaccepted_form_lists_formats() -> None:
    with pytest.raises(ValueError) as raised:
        parse_datetime("2024-03-01 10:00 UTC")
    assert "matches none of the accepted formats" in str(raised.value)
    assert "does not exist" not in str(raised.value)


SERVICENOW_HEADER = (
    "number,short_description,description,priority,state,category,cmdb_ci,"
    "assignment_group,opened_at,resolved_at,close_code,close_notes"
)


def test_servicenow_csv_export(tmp_path: Path) -> None:
    rows = [
        SERVICENOW_HEADER,
        'INC0010042,Checkout returns 503,"Pods NotReady after deploy",'
        "1 - Critical,Resolved,Software,checkout-api,Storefront SRE,"
        "2024-03-05 14:22:10,2024-03-05 15:02:00,Solved (Permanently),"
        '"Rolled back release 4.2"',
    ]
    _write(tmp_path / "snow", "incident.csv", "\n".join(rows) + "\n")

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    record = result.records[0]
    assert record.id == "INC0010042"
    assert record.title == "Checkout returns 503"
    assert record.severity is Severity.SEV1
    assert record.started_at == datetime(2024, 3, 5, 14, 22, 10)
    assert record.ended_at == datetime(2024, 3, 5, 15, 2)
    assert record.sections == {
        "description": "Pods NotReady after deploy",
        "resolution": "Rolled back release 4.2",
    }
    assert record.labels == {
        "service": "checkout-api",
        "team": "Storefront SRE",
        "category": "Software",
        "close_code": "Solved (Permanently)",
    }


def test_servicenow_table_api_with_display_values(tmp_path: Path) -> None:
    def field(display: str, value: str) -> dict[str, str]:
        return {"display_value": display, "value": value}

    incident = {
        "number": field("INC0010043", "INC0010043"),
        "short_description": field("Login latency high", "Login latency high"),
        "priority": field("2 - High", "2"),
        "cmdb_ci": field("auth-service", "a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        # The display value is in the exporting user's format and time zone.
        "opened_at": field("01-04-2024 10:00:00", "2024-04-01 08:00:00"),
        "u_root_cause": field("Connection pool exhausted", "Connection pool exhausted"),
        "close_notes": field("Raised the pool size", "Raised the pool size"),
    }
    # sysparm_display_value=true: plain strings, as in a CSV export.
    plain = {
        "number": "INC0010044",
        "short_description": "Queue backlog",
        "priority": "3 - Moderate",
        "cmdb_ci": "billing-worker",
    }
    document = {"result": [incident, plain]}
    _write(tmp_path / "snow", "incidents.json", json.dumps(document))

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    first, second = result.records
    assert first.id == "INC0010043"
    assert first.severity is Severity.SEV2
    assert first.labels == {"service": "auth-service"}
    assert first.sections == {
        "root_cause": "Connection pool exhausted",
        "resolution": "Raised the pool size",
    }
    assert first.started_at == datetime(2024, 4, 1, 8, 0)
    assert first.source.endswith("incidents.json#result[0]")
    assert (second.id, second.severity, second.labels) == (
        "INC0010044",
        Severity.SEV3,
        {"service": "billing-worker"},
    )


def test_opsgenie_alerts_and_single_alert(tmp_path: Path) -> None:
    listed = {
        "id": "70413a06-38d6-4c85-92b8-5ebc900d42e2",
        "tinyId": "1791",
        "message": "Disk usage above 90% on db-7",
        "status": "closed",
        "tags": ["database", "disk"],
        "createdAt": "2024-05-02T10:15:00.129Z",
        "source": "Prometheus",
        "priority": "P2",
    }
    single = {
        "id": "8743a1b2-11da-480e-8493-744660987bef",
        "tinyId": "1792",
        "message": "Replication lag on db-8",
        "description": "Replica 40 s behind the primary",
        "details": {"service": "orders-db", "alertname": "MySQLReplicationLag"},
        "priority": "P5",
        "createdAt": "2024-05-03T11:00:00Z",
    }
    _write(tmp_path / "og", "alerts.json", json.dumps({"data": [listed], "took": 0.1}))
    _write(tmp_path / "og", "alert.json", json.dumps({"data": single}))

    result = read_sources([tmp_path / "og"])

    assert not result.problems
    by_id = {record.id: record for record in result.records}
    alert = by_id["70413a06-38d6-4c85-92b8-5ebc900d42e2"]
    assert alert.title == "Disk usage above 90% on db-7"
    assert alert.severity is Severity.SEV2
    assert alert.labels == {
        "tags": "database, disk",
        "source": "Prometheus",
        "tiny_id": "1791",
    }
    assert alert.started_at == datetime(2024, 5, 2, 10, 15, 0, 129000, timezone.utc)
    other = by_id["8743a1b2-11da-480e-8493-744660987bef"]
    assert other.severity is Severity.SEV4
    assert other.labels["service"] == "orders-db"
    assert other.labels["alertname"] == "MySQLReplicationLag"
    assert other.sections["description"] == "Replica 40 s behind the primary"
    assert "service: orders-db" in other.sections["details"]


def test_incident_io_incidents(tmp_path: Path) -> None:
    incident = {
        "id": "01FDAG4SAP5TYPT98WGR2N7W91",
        "reference": "INC-123",
        "name": "Payments API returning 500s",
        "summary": "A bad config push broke the card processor client.",
        "severity": {"id": "01FH5TZRWMNAFB0DZ23FD1TV96", "name": "Major", "rank": 2},
        "incident_status": {"name": "Closed", "category": "closed"},
        "incident_type": {"name": "Production outage"},
        "created_at": "2024-06-10T09:30:00Z",
        "permalink": "https://app.incident.io/incidents/123",
        "custom_field_entries": [],
    }
    document = {"incidents": [incident], "pagination_meta": {"page_size": 25}}
    _write(tmp_path / "iio", "incidents.json", json.dumps(document))
    single = {**incident, "reference": "INC-124", "severity": {"name": "Critical"}}
    _write(tmp_path / "iio", "INC-124.json", json.dumps({"incident": single}))

    result = read_sources([tmp_path / "iio"])

    assert not result.problems
    by_id = {record.id: record for record in result.records}
    assert sorted(by_id) == ["INC-123", "INC-124"]
    record = by_id["INC-123"]
    assert record.title == "Payments API returning 500s"
    assert record.severity is Severity.SEV2
    assert record.sections == {
        "summary": "A bad config push broke the card processor client."
    }
    assert record.labels == {
        "category": "Production outage",
        "status": "Closed",
        "url": "https://app.incident.io/incidents/123",
    }
    assert record.started_at == datetime(2024, 6, 10, 9, 30, tzinfo=timezone.utc)
    assert by_id["INC-124"].severity is Severity.SEV1


def test_mapping_filters_custom_fields(tmp_path: Path) -> None:
    def entry(name: str, text: str) -> dict[str, object]:
        return {"custom_field": {"name": name}, "values": [{"value_text": text}]}

    incident = {
        "reference": "INC-7",
        "name": "Search index stale",
        "custom_field_entries": [
            entry("Affected service", "search-api"),
            entry("Root cause", "Indexer stuck on a poisoned message"),
        ],
        "incident_timestamp_values": [
            {
                "incident_timestamp": {"name": "Resolved at"},
                "value": {"value": "2024-06-10T11:00:00Z"},
            }
        ],
    }
    _write(tmp_path / "iio", "incidents.json", json.dumps({"incidents": [incident]}))
    mapping = tmp_path / "incident-io.yaml"
    fields = "custom_field_entries[custom_field.name={}].values[*].value_text"
    timestamp = "incident_timestamp_values[incident_timestamp.name=Resolved at]"
    mapping.write_text(
        "records: incidents\nid: reference\ntitle: name\n"
        f"sections:\n  root_cause: '{fields.format('Root cause')}'\n"
        f"labels:\n  service: '{fields.format('Affected service')}'\n"
        f"ended_at: '{timestamp}.value.value'\n",
        encoding="utf-8",
    )

    result = read_sources([tmp_path / "iio"], mapping=load_mapping(str(mapping)))

    assert not result.problems
    record = result.records[0]
    assert record.sections == {"root_cause": "Indexer stuck on a poisoned message"}
    assert record.labels == {"service": "search-api"}
    assert record.ended_at == datetime(2024, 6, 10, 11, 0, tzinfo=timezone.utc)


def test_servicenow_single_record_with_display_values(tmp_path: Path) -> None:
    def field(display: str, value: str) -> dict[str, str]:
        return {"display_value": display, "value": value}

    incident = {
        "number": field("INC0010050", "INC0010050"),
        "short_description": field("Disk full on db-3", "Disk full on db-3"),
        "priority": field("1 - Critical", "1"),
        "assignment_group": field("DBA", "287ebd7da9fe198100f92cc8d1d2154e"),
        "opened_at": field("05/01/2024 10:03:11", "2024-01-05 09:03:11"),
    }
    _write(tmp_path / "snow", "INC0010050.json", json.dumps({"result": incident}))

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    [record] = result.records
    assert (record.id, record.title, record.severity) == (
        "INC0010050",
        "Disk full on db-3",
        Severity.SEV1,
    )
    assert record.labels == {"team": "DBA"}
    assert record.started_at == datetime(2024, 1, 5, 9, 3, 11)


def test_servicenow_raw_references_left_out(tmp_path: Path, caplog) -> None:
    link = "https://dev1.service-now.com/api/now/table/cmdb_ci/1095"
    rows = [
        {
            "number": f"INC00100{n}",
            "short_description": f"Outage {n}",
            "priority": "",
            "impact": "1",
            "cmdb_ci": {"link": link, "value": "1095"},
        }
        for n in (60, 61)
    ]
    _write(tmp_path / "snow", "raw.json", json.dumps({"result": rows}))

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    assert [record.labels for record in result.records] == [{}, {}]
    # An empty priority gives no severity: impact is on another scale.
    assert [record.severity for record in result.records] == [None, None]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert (
        "label 'service' left out where its path 'cmdb_ci' holds a JSON"
        in (warnings[0])
    )
    assert "sysparm_display_value=true" in warnings[0]


def test_servicenow_csv_with_label_headers(tmp_path: Path) -> None:
    rows = [
        "Number,Short description,Priority,Configuration item,Assignment group,"
        "Opened,Resolution notes",
        "INC0010070,VPN drops every hour,2 - High,vpn-gw,Network,"
        "2024-02-01 09:00:00,Replaced the gateway certificate",
    ]
    _write(tmp_path / "snow", "incidents.csv", "\n".join(rows) + "\n")

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    [record] = result.records
    assert (record.id, record.title, record.severity) == (
        "INC0010070",
        "VPN drops every hour",
        Severity.SEV2,
    )
    assert record.labels == {"service": "vpn-gw", "team": "Network"}
    assert record.sections == {"resolution": "Replaced the gateway certificate"}


def test_statuspage_not_read_as_incident_io(tmp_path: Path) -> None:
    statuspage = {
        "page": {"id": "kctbh9vrtdwd", "name": "Shop"},
        "incidents": [
            {"id": "p2vx4b8y0bq5", "name": "Checkout errors", "impact": "major"}
        ],
    }
    _write(tmp_path / "sp", "incidents.json", json.dumps(statuspage))

    result = read_sources([tmp_path / "sp"])

    assert not result.records
    assert "no mapping preset matches" in result.problems[0].reason


def test_empty_data_objects_are_empty_exports(tmp_path: Path) -> None:
    _write(tmp_path / "og", "null.json", '{"data": null, "took": 0.01}')
    _write(tmp_path / "og", "empty.json", '{"data": {}, "took": 0.01}')

    result = read_sources([tmp_path / "og"])

    assert not result.problems
    assert result.empty == [
        str(tmp_path / "og" / "empty.json"),
        str(tmp_path / "og" / "null.json"),
    ]


def test_number_too_long_fails_only_its_file(tmp_path: Path) -> None:
    huge = "9" * 5000
    _write(
        tmp_path / "og", "huge.json", f'{{"data": [{{"id": {huge}, "message": "x"}}]}}'
    )
    _write(tmp_path / "og", "huge.jsonl", f'{{"id": {huge}, "message": "x"}}\n')
    _write(tmp_path / "og", "fine.json", '{"data": [{"id": "a1", "message": "ok"}]}')

    result = read_sources([tmp_path / "og"])

    assert [record.id for record in result.records] == ["a1"]
    assert sorted(problem.source for problem in result.problems) == [
        str(tmp_path / "og" / "huge.json"),
        str(tmp_path / "og" / "huge.jsonl"),
    ]
    assert all("over 4,300 digits" in p.reason for p in result.problems)


def test_servicenow_links_and_ids_warned(tmp_path: Path, caplog) -> None:
    link = "https://acme.service-now.com/api/now/table/problem/aa1"
    group = "8a4dde73c6112278017a6a4baf547aa7"
    rows = [
        {
            "number": f"INC00300{n}",
            "short_description": f"VPN tunnel flapping {n}",
            "u_root_cause": {"link": link, "value": "aa1"},
            "cmdb_ci": {"link": link, "value": "aa1"},
            "business_service": {"link": link, "value": "bb2"},
            "assignment_group": group,
        }
        for n in (1, 2)
    ]
    _write(tmp_path / "snow", "raw.json", json.dumps({"result": rows}))

    result = read_sources([tmp_path / "snow"])

    assert not result.problems
    assert [record.sections for record in result.records] == [{}, {}]
    assert [record.labels for record in result.records] == [
        {"team": group},
        {"team": group},
    ]
    warnings = sorted(
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    )
    # One warning per field and file, naming the first path passed over.
    assert len(warnings) == 3
    assert (
        "label 'service' left out where its path 'cmdb_ci' holds a JSON"
        in (warnings[0])
    )
    assert "label 'team' holds ids such as 8a4dde73" in warnings[1]
    assert (
        "section 'root_cause' left out where its path 'u_root_cause' holds a "
        in (warnings[2])
    )
    assert "a link to another record" in warnings[2]


def test_servicenow_empty_display_value_silent(tmp_path: Path, caplog) -> None:
    incident = {
        "number": {"display_value": "INC0040001", "value": "INC0040001"},
        "short_description": {"display_value": "Slow logins", "value": "Slow logins"},
        "cmdb_ci": {"display_value": "", "value": ""},
    }
    _write(tmp_path / "snow", "all.json", json.dumps({"result": [incident]}))

    result = read_sources([tmp_path / "snow"])

    assert [record.labels for record in result.records] == [{}]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_day_first_dates_read_from_the_file(tmp_path: Path, caplog) -> None:
    rows = [
        "Number,Short description,Opened",
        "INC1,First,01/05/2025 10:28:00",
        "INC2,Second,13/02/2025 09:00:00",
    ]
    _write(tmp_path / "dmy", "export.csv", "\n".join(rows) + "\n")
    ambiguous = ["Number,Short description,Opened", "INC3,Third,01/05/2025"]
    _write(tmp_path / "mdy", "export.csv", "\n".join(ambiguous) + "\n")

    day_first = read_sources([tmp_path / "dmy"])
    month_first = read_sources([tmp_path / "mdy"])

    assert not day_first.problems
    assert [record.started_at for record in day_first.records] == [
        datetime(2025, 5, 1, 10, 28),
        datetime(2025, 2, 13, 9, 0),
    ]
    assert [record.started_at for record in month_first.records] == [
        datetime(2025, 1, 5)
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "dates such as '01/05/2025' are read month first" in warnings[0]


def test_incident_io_csv_columns(tmp_path: Path) -> None:
    rows = [
        "ID,Reference,Name,Status,Severity,Incident Type,Summary,Created At",
        "01HX,INC-9,Queue stuck,Closed,Critical,Outage,Consumers stalled,"
        "2024-06-10 09:30:00",
    ]
    _write(tmp_path / "iio", "incidents.csv", "\n".join(rows) + "\n")

    result = read_sources([tmp_path / "iio"])

    assert not result.problems
    [record] = result.records
    assert (record.id, record.severity, record.started_at) == (
        "INC-9",
        Severity.SEV1,
        datetime(2024, 6, 10, 9, 30),
    )
    assert record.labels == {"category": "Outage", "status": "Closed"}
    assert record.sections == {"summary": "Consumers stalled"}


def test_mapping_columns_missing_from_header(tmp_path: Path, caplog) -> None:
    rows = ["Key,Summary,Priority"] + [f"OPS-{n},Outage {n},High" for n in range(40)]
    _write(tmp_path / "j", "export.csv", "\n".join(rows) + "\n")
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text("id: Key\ntitle: Sumary\n", encoding="utf-8")
    optional = tmp_path / "optional.yaml"
    optional.write_text("id: Key\ntitle: Summary\nseverity: Prio\n", encoding="utf-8")

    failed = read_sources([tmp_path / "j"], mapping=load_mapping(str(misspelt)))
    read = read_sources([tmp_path / "j"], mapping=load_mapping(str(optional)))

    assert not failed.records
    [problem] = failed.problems
    assert problem.location is None
    assert "the title column 'Sumary'" in problem.reason
    assert "is not in the file's header, whose columns are 'Key', 'Summary'" in (
        problem.reason
    )
    assert len(read.records) == 40
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "severity ('Prio')" in warnings[0]


def test_date_path_several_values(tmp_path: Path) -> None:
    incident = {
        "reference": "INC-5",
        "name": "Cache miss storm",
        "timestamps": [
            {"name": "Resolved at", "value": "2024-06-10T11:00:00Z"},
            {"name": "Resolved at", "value": "2024-06-10T12:00:00Z"},
        ],
    }
    _write(tmp_path / "iio", "incidents.json", json.dumps({"incidents": [incident]}))
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "records: incidents\nid: reference\ntitle: name\n"
        "ended_at: 'timestamps[name=Resolved at].value'\n",
        encoding="utf-8",
    )

    result = read_sources([tmp_path / "iio"], mapping=load_mapping(str(mapping)))

    assert not result.records
    assert "the path gives 2 values; add [0]" in result.problems[0].reason


def test_records_path_shapes(tmp_path: Path) -> None:
    pages = {
        "pages": [
            {"incidents": [{"reference": "INC-1", "name": "One"}]},
            {"incidents": [{"reference": "INC-2", "name": "Two"}]},
        ]
    }
    _write(tmp_path / "a", "pages.json", json.dumps(pages))
    _write(tmp_path / "b", "none.json", json.dumps({"pages": [{"mode": "test"}]}))
    keyed = {"INC-3": {"name": "Three"}, "INC-4": None}
    _write(tmp_path / "c", "keyed.json", json.dumps(keyed))
    paged = tmp_path / "paged.yaml"
    paged.write_text(
        "records: 'pages[*].incidents'\nid: reference\ntitle: name\n", encoding="utf-8"
    )
    filtered = tmp_path / "filtered.yaml"
    filtered.write_text(
        "records: 'pages[mode=standard]'\nid: reference\ntitle: name\n",
        encoding="utf-8",
    )
    by_key = tmp_path / "by-key.yaml"
    by_key.write_text("id: $key\ntitle: name\n", encoding="utf-8")

    flattened = read_sources([tmp_path / "a"], mapping=load_mapping(str(paged)))
    nothing = read_sources([tmp_path / "b"], mapping=load_mapping(str(filtered)))
    one_null = read_sources([tmp_path / "c"], mapping=load_mapping(str(by_key)))

    assert [record.id for record in flattened.records] == ["INC-1", "INC-2"]
    assert not flattened.problems
    assert not nothing.records
    assert not nothing.problems
    assert nothing.empty == [str(tmp_path / "b" / "none.json")]
    assert [record.id for record in one_null.records] == ["INC-3"]
    [problem] = one_null.problems
    assert problem.location == "INC-4"
    assert "the record is null" in problem.reason


def test_conflicting_date_orders_named(tmp_path: Path, caplog) -> None:
    rows = [
        "Number,Short description,Opened",
        "INC1,One,01/13/2025",
        "INC2,Two,13/05/2025",
        # Impossible either way, so it shows no order.
        "INC3,Three,02/30/2025",
        "INC4,Four,01/05/2025  10:28 PM",
    ]
    _write(tmp_path / "mixed", "export.csv", "\n".join(rows) + "\n")

    result = read_sources([tmp_path / "mixed"])

    by_id = {record.id: record.started_at for record in result.records}
    assert by_id == {
        "INC1": datetime(2025, 1, 13),
        "INC4": datetime(2025, 1, 5, 22, 28),
    }
    assert sorted(problem.location for problem in result.problems) == ["3", "4"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "show both orders ('13/05/2025' only day first, '01/13/2025'" in warnings[0]


def test_other_date_forms_and_single_values(tmp_path: Path) -> None:
    incident = {
        "reference": "INC-6",
        "name": "Slow search",
        "times": [None, "2025/05/01 10:00"],
    }
    _write(tmp_path / "iio", "incidents.json", json.dumps({"incidents": [incident]}))
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "records: incidents\nid: reference\ntitle: name\nstarted_at: 'times[*]'\n",
        encoding="utf-8",
    )

    result = read_sources([tmp_path / "iio"], mapping=load_mapping(str(mapping)))

    assert not result.problems
    assert result.records[0].started_at == datetime(2025, 5, 1, 10, 0)


def test_opsgenie_link_details_kept(tmp_path: Path) -> None:
    alert = {
        "id": "5c1f",
        "message": "Disk at 97%",
        "details": {"link": "https://grafana.example.com/d/disk", "value": "97%"},
    }
    _write(tmp_path / "og", "alert.json", json.dumps({"data": alert}))

    result = read_sources([tmp_path / "og"])

    assert result.records[0].sections["details"] == (
        "link: https://grafana.example.com/d/disk\nvalue: 97%"
    )


def test_field_problems_warned_once(tmp_path: Path, caplog) -> None:
    sys_id = "8a4dde73c6112278017a6a4baf547aa7"
    link = {
        "link": "https://acme.service-now.com/api/now/table/cmdb_ci/1",
        "value": "1",
    }
    rows = [
        {"number": "INC1", "short_description": "A", "cmdb_ci": sys_id},
        {"number": "INC2", "short_description": "B", "cmdb_ci": link},
        {"number": "INC3", "short_description": "C", "u_root_cause": sys_id},
    ]
    _write(tmp_path / "snow", "raw.json", json.dumps({"result": rows}))

    read_sources([tmp_path / "snow"])

    warnings = sorted(
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    )
    assert len(warnings) == 3
    assert "label 'service' holds ids such as 8a4dde73" in warnings[0]
    assert "not names" in warnings[0]
    assert (
        "label 'service' left out where its path 'cmdb_ci' holds a JSON"
        in (warnings[1])
    )
    assert "section 'root_cause' holds ids such as 8a4dde73" in warnings[2]
    assert "not text" in warnings[2]


def test_named_preset_skips_header_check(tmp_path: Path, caplog) -> None:
    _write(tmp_path / "j", "export.csv", "Issue key,Summary\nOPS-1,Disk full\n")
    _write(tmp_path / "k", "export.csv", "Key,Name\nOPS-2,Disk full\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("id: Issue key\ntitle: Summary\n", encoding="utf-8")

    read = read_sources([tmp_path / "j"], mapping=load_mapping("jira"))
    failed = read_sources([tmp_path / "k"], mapping=load_mapping(str(mapping)))

    assert [record.id for record in read.records] == ["OPS-1"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    [problem] = failed.problems
    assert "the title column 'Summary' and the id column 'Issue key'" in problem.reason
    assert "are not in the file's header" in problem.reason


def test_keyed_object_with_a_text_entry(tmp_path: Path) -> None:
    keyed = {"INC-1": {"name": "One"}, "INC-2": {"name": "Two"}, "INC-3": "oops"}
    _write(tmp_path / "k", "keyed.json", json.dumps(keyed))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("id: $key\ntitle: name\n", encoding="utf-8")

    result = read_sources([tmp_path / "k"], mapping=load_mapping(str(mapping)))

    assert [record.id for record in result.records] == ["INC-1", "INC-2"]
    [problem] = result.problems
    assert problem.location == "INC-3"


@pytest.mark.parametrize(
    ("record_id", "problem"),
    [
        ("evil/../PM-2024-007", "has a '.' or '..' part between slashes"),
        ("./PM-1", "has a '.' or '..' part between slashes"),
        ("/etc/PM-1", "starts with a slash"),
        ("PM\x001", "contains a control character"),
        ("PM\x851", "contains a control character"),
        ("PM\u20281", "or a line separator"),
        ("P" * 501, "is 501 characters long, over 500"),
    ],
)
def test_unusable_ids_fail_their_record(tmp_path: Path, record_id, problem) -> None:
    rows = [{"id": "Q1", "title": "Checkout latency"}, {"id": record_id, "title": "x"}]
    _write(tmp_path / "pd", "incidents.json", json.dumps({"incidents": rows}))
    markdown = f"---\nid: {json.dumps(record_id)}\n---\n# Title\n\n## Summary\nx y\n"
    _write(tmp_path / "md", "pm.md", markdown)

    exported = read_sources([tmp_path / "pd"], load_mapping("pagerduty"))
    written = read_sources([tmp_path / "md"])

    assert [r.id for r in exported.records] == ["Q1"]
    [row_problem] = exported.problems
    assert problem in row_problem.reason
    assert written.records == []
    [file_problem] = written.problems
    assert problem in file_problem.reason


def test_ids_with_spaces_and_slashes_are_kept(tmp_path: Path) -> None:
    rows = [{"id": "INC 42/a.b", "title": "Checkout latency"}]
    _write(tmp_path / "pd", "incidents.json", json.dumps({"incidents": rows}))

    result = read_sources([tmp_path / "pd"], load_mapping("pagerduty"))

    assert [r.id for r in result.records] == ["INC 42/a.b"]


def test_path_id_of_the_similar_route_fails(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "postmortems"
    folder.mkdir(parents=True)
    (folder / "similar.md").write_text("# Disk full\n\n## Summary\nThe disk filled.\n")
    (folder / "gecko.md").write_text(
        "---\nid: PM-X/similar\n---\n# Gecko\n\n## Summary\nx y\n"
    )

    result = read_sources([tmp_path / "src"])

    assert result.records == []
    reasons = sorted(problem.reason for problem in result.problems)
    assert len(reasons) == 2
    assert all("ends in '/similar'" in reason for reason in reasons)
    assert "rename the file" in reasons[1]
