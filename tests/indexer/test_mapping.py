"""Tests for field mapping validation, presets and path lookup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from indexer.errors import ConfigurationError
from indexer.readers import load_mapping, preset_names
from indexer.readers.mapping import (
    FieldMapping,
    ItemFilter,
    find_value,
    parse_path,
    render_value,
)
from indexer.record import Kind


def test_preset_names() -> None:
    assert preset_names() == [
        "cloud-postmortems",
        "incident-io",
        "jira",
        "opsgenie",
        "pagerduty",
        "servicenow",
    ]


def test_presets_load() -> None:
    cloud = load_mapping("cloud-postmortems")
    jira = load_mapping("jira")
    pagerduty = load_mapping("pagerduty")

    assert cloud.id == ("$key",)
    assert cloud.kind is Kind.POSTMORTEM
    assert cloud.labels["category"] == ("root cause.label[0].layer-2",)
    assert jira.title == ("Summary",)
    assert jira.labels["service"] == ("Component/s",)
    assert pagerduty.records == "incidents"
    assert pagerduty.severity == ("priority.summary", "urgency")


def test_load_mapping_from_file(tmp_path: Path) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text(
        "kind: runbook\nid: key\ntitle: [name, headline]\n"
        "sections:\n  resolution: fix.steps\nlabels:\n  team: owner\n",
        encoding="utf-8",
    )

    mapping = load_mapping(str(path))

    assert mapping.name == str(path)
    assert mapping.kind is Kind.RUNBOOK
    assert mapping.title == ("name", "headline")
    assert mapping.sections == {"resolution": ("fix.steps",)}
    assert mapping.labels == {"team": ("owner",)}


def test_unknown_section_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("title: t\nsections:\n  rootcause: rc\n", encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        load_mapping(str(path))

    assert str(caught.value) == (
        f"mapping {path}: unknown section 'rootcause' under 'sections'; allowed "
        "sections are summary, description, impact, detection, meaning, root_cause, "
        "trigger, contributing_factors, diagnosis, resolution, mitigation, "
        "action_items, timeline, lessons, details, other"
    )


def test_unknown_key_message() -> None:
    with pytest.raises(ConfigurationError, match="unknown key 'titel'; allowed keys"):
        FieldMapping.from_dict({"titel": "x", "title": "t"}, "m")


def test_missing_title_message() -> None:
    with pytest.raises(ConfigurationError, match="mapping m: missing 'title'"):
        FieldMapping.from_dict({"id": "key"}, "m")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "t", "kind": "ticket"}, "invalid kind 'ticket'"),
        ({"title": ["t", 3]}, "invalid path for 'title'"),
        ({"title": "t", "labels": {"team": None}}, "invalid path for 'labels.team'"),
        ({"title": "a..b"}, "separate keys with single dots"),
        ({"title": "a[x]"}, "invalid path 'a[x]'"),
        ({"title": "t", "sections": ["summary"]}, "'sections' must map names"),
    ],
)
def test_invalid_mappings(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        FieldMapping.from_dict(data, "m")


def test_load_mapping_unknown_name() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_mapping("remedy")

    message = str(caught.value)
    assert "'remedy' is neither a preset name nor a file" in message
    assert "cloud-postmortems, incident-io, jira, opsgenie, pagerduty" in message


def test_load_mapping_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("title: [a\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="not valid YAML at line 2, column 1"):
        load_mapping(str(path))


def test_load_mapping_duplicate_field(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("fields:\n  title: name\n  title: summary\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="duplicate key 'title'"):
        load_mapping(str(path))


def test_parse_path() -> None:
    assert parse_path("root cause.label[0].layer-2") == (
        "root cause",
        "label",
        0,
        "layer-2",
    )
    assert parse_path("teams[*].summary") == ("teams", None, "summary")
    assert parse_path("fields[custom_field.name=Root cause].values[0]") == (
        "fields",
        ItemFilter("custom_field.name", "Root cause"),
        "values",
        0,
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a[b]", "write list steps as [0], [*] or [field=value]"),
        ("a[0", "its [ and ] do not pair up"),
        ("a]", "its [ and ] do not pair up"),
        ("a[b[0]=x]", "with no brackets inside a step"),
        ("a[=x]", "a filter needs both a field and a value"),
        ("a[b=]", "a filter needs both a field and a value"),
        ("a[b!=x]", "a filter compares with = only"),
        ("a[b==x]", "a filter compares with = only"),
    ],
)
def test_parse_path_rejects_bad_list_steps(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_path(path)


def test_filter_value_may_be_quoted() -> None:
    assert parse_path("a[name='Root cause']") == ("a", ItemFilter("name", "Root cause"))
    assert parse_path('a[name="x"]') == ("a", ItemFilter("name", "x"))


def test_find_value_filters_list_items() -> None:
    incident = {
        "custom_field_entries": [
            {
                "custom_field": {"name": "Affected services"},
                "values": [{"value_text": "checkout"}, {"value_text": "cart"}],
            },
            {
                "custom_field": {"name": "Root cause"},
                "values": [{"value_text": "Expired TLS certificate"}],
            },
            "not an object",
        ],
        "timestamps": [{"name": "Resolved at", "value": "2024-06-10T11:00:00Z"}],
    }
    fields = "custom_field_entries[custom_field.name={}].values[*].value_text"

    assert find_value(incident, fields.format("root CAUSE ")) == (
        True,
        ["Expired TLS certificate"],
    )
    assert find_value(incident, fields.format("Affected services")) == (
        True,
        ["checkout", "cart"],
    )
    assert find_value(incident, fields.format("Impact")) == (False, [])
    assert find_value(incident, "timestamps[name=Resolved at].value") == (
        True,
        ["2024-06-10T11:00:00Z"],
    )
    assert find_value(incident, "custom_field_entries[0].values[x=1]") == (False, [])
    # An index after a filter picks among the matches.
    assert find_value(incident, "timestamps[name=Resolved at][0].value") == (
        True,
        ["2024-06-10T11:00:00Z"],
    )
    assert (
        find_value(incident, "custom_field_entries[custom_field.name=Root cause][1]")[0]
        is False
    )
    # On an object, a filter keeps the object when it matches.
    severity = {"severity": {"name": "Minor", "rank": 3}}
    assert find_value(severity, "severity[name=minor].rank") == (True, [3])
    assert find_value(severity, "severity[name=Major].rank") == (False, [])


def test_bad_records_path_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="records: invalid path"):
        FieldMapping.from_dict({"title": "t", "records": "incidents[mode=x"}, "m")


def test_find_value() -> None:
    record = {
        "root cause": {"label": [{"layer-2": "software bugs"}]},
        "teams": [{"summary": "a"}, {"summary": "b"}],
    }

    assert find_value(record, "root cause.label[0].layer-2") == (True, "software bugs")
    assert find_value(record, "root cause.label[3].layer-2") == (False, None)
    assert find_value(record, "teams[*].summary") == (True, ["a", "b"])
    assert find_value(record, "$key", key="gcp-1") == (True, "gcp-1")
    assert find_value({"Issue Key ": "X-1"}, "issue key", flat=True) == (True, "X-1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("  padded ", "padded"),
        (True, "true"),
        (12, "12"),
        (["a", "", "b"], "a, b"),
        ({"layer-1": "internal", "layer-2": None}, "layer-1: internal"),
        ([{"a": 1}, {"a": 2}], "a: 1\n\na: 2"),
        ({"outer": {"inner": "x"}}, "outer: inner: x"),
        ({"outer": {"a": 1, "b": 2}}, "outer:\n  a: 1\n  b: 2"),
    ],
)
def test_render_value(value: object, text: str) -> None:
    assert render_value(value) == text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a[name='']", "a filter needs both a field and a value"),
        ("a[name=~x]", "a filter compares with = only"),
        ("a[name~=x]", "a filter compares with = only"),
        ("a[²]", "write list steps as [0], [*] or [field=value]"),
    ],
)
def test_parse_path_rejects_odd_filters(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_path(path)


def test_mapping_file_with_a_huge_number(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("title: t\nid: " + "9" * 4400 + "\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="over 4,300 digits"):
        load_mapping(str(path))


def test_mapping_file_with_an_impossible_date(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("title: t\ndescription: 2024-02-30\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="day is out of range for month"):
        load_mapping(str(path))
