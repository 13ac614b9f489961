"""Tests for reading Markdown postmortems and runbooks."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from indexer.readers import read_sources
from indexer.readers.base import ReadResult
from indexer.record import Kind
from indexer.severity import Severity


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def _read_one(folder: Path) -> ReadResult:
    result = read_sources([folder])
    assert not result.problems, [str(p) for p in result.problems]
    assert len(result.records) == 1
    return result


POSTMORTEM_WITH_FRONT_MATTER = """\
---
id: PM-2023-021
title: Checkout outage
kind: postmortem
service: payments-service
team: payments
alertname: [PaymentProviderErrorRateHigh, HTTP5xxRateHigh]
categories: [dependency, network]
severity: P1
started_at: 2023-11-24T18:06:00Z
resolved_at: 2023-11-24 19:22
company: Example Ltd
labels:
  region: eu-west-1
weight: 20
---

# Ignored heading title

## Executive Summary

The acquirer slowed down and checkout stopped.

## 1. Root Cause(s)

One shared HTTP pool for all payment methods.

## Action Items

- Split the pools.
"""


def test_front_matter_fields(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "checkout.md", POSTMORTEM_WITH_FRONT_MATTER)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.id == "PM-2023-021"
    assert record.title == "Checkout outage"
    assert record.kind is Kind.POSTMORTEM
    assert record.severity_raw == "P1"
    assert record.severity is Severity.SEV1
    assert record.started_at == datetime(2023, 11, 24, 18, 6, tzinfo=timezone.utc)
    assert record.ended_at == datetime(2023, 11, 24, 19, 22)
    assert record.labels == {
        "service": "payments-service",
        "team": "payments",
        "alertname": "PaymentProviderErrorRateHigh, HTTP5xxRateHigh",
        "category": "dependency, network",
        "company": "Example Ltd",
        "region": "eu-west-1",
    }
    assert (
        record.sections["summary"] == "The acquirer slowed down and checkout stopped."
    )
    assert (
        record.sections["root_cause"] == "One shared HTTP pool for all payment methods."
    )
    assert record.sections["action_items"] == "- Split the pools."
    assert record.source == str(tmp_path / "pm" / "checkout.md")


def test_no_front_matter_uses_h1_and_path_id(tmp_path: Path) -> None:
    text = (
        "# Logs not shipped\n\n"
        "## Summary\n\nFluentd stopped shipping logs.\n\n"
        "## Timeline\n\n| Time | Event |\n|---|---|\n| 10:00 | alert |\n\n"
        "## Contributing Factors\n\n- disk full\n\n"
        "## Attendees\n\n- RF, PW\n\n"
        "## Stats\n\n- Category: Kubernetes network\n"
        "- Time to detection: ?\n- Time to recovery: 25 minutes [^3]\n"
    )
    _write(tmp_path / "team-postmortems", "PM2021-001 - Logs.md", text)

    record = _read_one(tmp_path / "team-postmortems").records[0]

    assert record.id == "team-postmortems/PM2021-001 - Logs"
    assert record.title == "Logs not shipped"
    assert record.kind is Kind.POSTMORTEM
    assert record.labels == {
        "category": "Kubernetes network",
        "time_to_recovery": "25 minutes",
    }
    assert record.sections["summary"] == "Fluentd stopped shipping logs."
    assert "| 10:00 | alert |" in record.sections["timeline"]
    assert record.sections["contributing_factors"] == "- disk full"
    assert "## Attendees\n- RF, PW" in record.sections["other"]
    assert "## Stats" in record.sections["other"]


def test_setext_headings(tmp_path: Path) -> None:
    text = (
        "Database failover\n=================\n\n"
        "Summary\n-------\nThe primary failed over.\n\n"
        "Root Cause\n----------\nA kernel bug.\n"
    )
    _write(tmp_path / "src", "failover.md", text)

    record = _read_one(tmp_path / "src").records[0]

    assert record.title == "Database failover"
    assert record.sections == {
        "summary": "The primary failed over.",
        "root_cause": "A kernel bug.",
    }


def test_fenced_hash_lines_stay_in_section(tmp_path: Path) -> None:
    text = (
        "# KubeJobFailed\n\n"
        "## Meaning\n\nA job failed.\n\n"
        "## Diagnosis\n\n```shell\n# which job?\nkubectl get jobs\n```\n\n"
        "~~~\n## not a heading either\n~~~\n\n"
        "## Mitigation\n\nDelete the job.\n"
    )
    _write(tmp_path / "runbooks", "KubeJobFailed.md", text)

    record = _read_one(tmp_path / "runbooks").records[0]

    assert record.kind is Kind.RUNBOOK
    assert record.labels == {"alertname": "KubeJobFailed"}
    assert "# which job?" in record.sections["diagnosis"]
    assert "## not a heading either" in record.sections["diagnosis"]
    assert record.sections["mitigation"] == "Delete the job."
    assert "other" not in record.sections


def test_nested_unknown_heading_stays_in_parent(tmp_path: Path) -> None:
    text = (
        "# etcdNoLeader\n\n## Meaning\n\nNo leader.\n\n"
        "## Diagnosis\n\nCheck members.\n\n### Slow disk\n\nLook at fsync.\n\n"
        "## Notes\n\nSee the etcd docs.\n"
    )
    _write(tmp_path / "rb", "etcdNoLeader.md", text)

    record = _read_one(tmp_path / "rb").records[0]

    assert record.sections["diagnosis"] == (
        "Check members.\n\n### Slow disk\nLook at fsync."
    )
    assert record.sections["other"] == "## Notes\nSee the etcd docs."
    assert record.labels["alertname"] == "etcdNoLeader"


def test_synonyms_joined_with_blank_line(tmp_path: Path) -> None:
    text = (
        "# Cache stampede\n\n## Overview\n\nCache flushed.\n\n"
        "## What happened\n\nAll keys expired.\n\n"
        "## Recovery\n\nWarmed the cache.\n\n## Fix\n\nStaggered TTLs.\n"
    )
    _write(tmp_path / "pm", "cache.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.sections["summary"] == "Cache flushed.\n\nAll keys expired."
    assert record.sections["resolution"] == "Warmed the cache.\n\nStaggered TTLs."


def test_preamble_goes_to_summary_or_details(tmp_path: Path) -> None:
    front = "---\nsummary: Short version.\ncompany: Acme\n---\n\n"
    _write(tmp_path / "a", "one.md", front + "Long story of the outage.\n")
    _write(tmp_path / "b", "two.md", "# Outage\n\nIntro text.\n\n## Impact\n\nSlow.\n")

    first = _read_one(tmp_path / "a").records[0]
    second = _read_one(tmp_path / "b").records[0]

    assert first.sections == {
        "summary": "Short version.",
        "details": "Long story of the outage.",
    }
    assert second.sections == {"summary": "Intro text.", "impact": "Slow."}


def test_invalid_yaml_front_matter(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "bad.md", "---\ntitle: ok\nservice: [a, b\n---\n# T\n")
    _write(tmp_path / "pm", "good.md", "# Good\n\n## Summary\n\nFine.\n")

    result = read_sources([tmp_path / "pm"])

    assert [r.title for r in result.records] == ["Good"]
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.source == str(tmp_path / "pm" / "bad.md")
    assert problem.location == "3"
    assert "invalid YAML front matter" in problem.reason


def test_front_matter_alias_is_rejected(tmp_path: Path) -> None:
    text = "---\nteam: &t sre\nservice: *t\n---\n# T\n\n## Summary\n\nx\n"
    _write(tmp_path / "pm", "alias.md", text)

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert result.problems[0].location == "3"
    assert "YAML alias *t" in result.problems[0].reason


def test_front_matter_duplicate_key_is_rejected(tmp_path: Path) -> None:
    front = "---\nid: PM-1\nseverity: SEV1\nseverity: SEV3\n---\n"
    text = front + "# T\n\n## Summary\n\nx\n"
    _write(tmp_path / "pm", "twice.md", text)

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert result.problems[0].location == "4"
    assert "duplicate key 'severity'" in result.problems[0].reason


@pytest.mark.parametrize(
    ("front", "message"),
    [
        (
            "severity: SEV1\nSeverity: SEV3\n",
            "the front matter gives 'severity' and 'Severity', which name the same "
            "field, with different values",
        ),
        (
            "labels:\n  2024-01-01: a\n  '2024-01-01': b\n",
            "'labels' gives '2024-01-01' twice, once quoted and once as a date",
        ),
        (
            "team: infra\nlabels: {team: payments}\n",
            "gives team as 'infra' and in 'labels' as 'payments'; keep one",
        ),
        (
            "category: dns\nlabels: {category: network}\n",
            "gives category as 'dns' and in 'labels' as 'network'; keep one",
        ),
    ],
)
def test_front_matter_keys_naming_one_field(tmp_path: Path, front, message) -> None:
    _write(tmp_path / "pm", "twice.md", f"---\n{front}---\n# T\n\n## Summary\n\nx\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert message in result.problems[0].reason


def test_front_matter_same_label_twice_is_fine(tmp_path: Path) -> None:
    front = (
        "---\nteam: infra\nTags: db\ntags: db\ncategory: dns\n"
        "categories: [dns, network]\n"
        "labels: {team: infra, Zone: eu-1, category: 'dns,network'}\n---\n"
    )
    _write(tmp_path / "pm", "same.md", front + "# T\n\n## Summary\n\nx\n")

    record = _read_one(tmp_path / "pm").records[0]

    assert record.labels["team"] == "infra"
    assert record.labels["Zone"] == "eu-1"
    assert record.labels["tags"] == "db"
    assert record.labels["category"] == "dns, network"


def test_front_matter_end_before_start_warned(tmp_path: Path, caplog) -> None:
    front = (
        "---\nstarted_at: 2024-05-03T10:00:00Z\nended_at: 2024-05-03T09:00:00\n---\n"
    )
    _write(tmp_path / "pm", "late.md", front + "# Disk full\n\n## Summary\n\nx\n")

    record = _read_one(tmp_path / "pm").records[0]

    assert record.ended_at == datetime(2024, 5, 3, 9, 0)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    assert "late.md: the end time 2024-05-03T09:00:00 is before" in warned[0]


def test_deep_front_matter_is_a_problem(tmp_path: Path) -> None:
    deep = "x: " + "[" * 2000 + "]" * 2000
    _write(tmp_path / "pm", "deep.md", f"---\n{deep}\n---\n# T\n\n## Summary\n\nx\n")
    _write(tmp_path / "pm", "good.md", "# Good\n\n## Summary\n\nFine.\n")

    result = read_sources([tmp_path / "pm"])

    assert [r.title for r in result.records] == ["Good"]
    assert "nested too deeply" in result.problems[0].reason


def test_unclosed_front_matter(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "open.md", "---\ntitle: x\n\n# Title\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert "never closed" in result.problems[0].reason


def test_invalid_kind_lists_allowed(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "x.md", "---\nkind: outage\n---\n# X\n\n## Summary\n\ny\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert "'outage'" in result.problems[0].reason
    assert "incident, postmortem, runbook" in result.problems[0].reason


def test_invalid_front_matter_date(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "x.md", "---\nstart_time: last tuesday\n---\n# X\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    reason = result.problems[0].reason
    assert "'start_time'" in reason
    assert "'last tuesday'" in reason
    assert "MM/DD/YYYY" in reason


def test_titled_stub_is_kept(tmp_path: Path) -> None:
    _write(tmp_path / "runbooks", "KubeAPIDown.md", "# KubeAPIDown\n\nThis moved.\n")

    result = read_sources([tmp_path / "runbooks"])

    assert not result.problems
    [record] = result.records
    assert record.kind is Kind.RUNBOOK
    assert record.labels["alertname"] == "KubeAPIDown"
    assert "This moved." in " ".join(record.sections.values())


def test_untitled_stub_is_problem(tmp_path: Path) -> None:
    _write(tmp_path / "rb", "notes.md", "This alert moved.\n")

    result = read_sources([tmp_path / "rb"])

    assert not result.records
    assert "no recognised sections" in result.problems[0].reason


def test_title_without_text_is_problem(tmp_path: Path) -> None:
    _write(tmp_path / "rb", "KubeAPIDown.md", "# KubeAPIDown\n")

    result = read_sources([tmp_path / "rb"])

    assert not result.records
    assert "no recognised sections" in result.problems[0].reason


def test_long_text_without_headings_is_kept(tmp_path: Path) -> None:
    words = " ".join(["word"] * 30)
    _write(tmp_path / "notes", "3f2a9c1e-1111-2222-3333-444455556666.md", words)

    record = _read_one(tmp_path / "notes").records[0]

    assert record.kind is Kind.POSTMORTEM
    assert record.sections == {"summary": words}
    assert record.title.startswith("word word")


def test_file_without_extension(tmp_path: Path) -> None:
    name = "PM2022-009 - Bad AWS EKS AMI causing Kubernetes issues"
    _write(tmp_path / "pm", name, "# Bad AMI\n\n## Summary\n\nNodes flapped.\n")
    _write(tmp_path / "pm", "notes", "plain words, not markdown\n")
    _write(
        tmp_path / "pm", "v1.2 upgrade", "---\ntitle: Upgrade\n---\n## Impact\n\nx\n"
    )

    result = read_sources([tmp_path / "pm"])

    assert not result.problems
    ids = sorted(record.id for record in result.records)
    assert ids == [f"pm/{name}", "pm/v1.2 upgrade"]
    assert result.skipped == [str(tmp_path / "pm" / "notes")]


def test_cp1252_markdown_is_decoded(tmp_path: Path) -> None:
    text = "# Café outage – naïve retry\n\n## Summary\n\nThe “résumé” service failed.\n"
    _write(tmp_path / "pm", "cafe.md", text, encoding="cp1252")

    record = _read_one(tmp_path / "pm").records[0]

    assert record.title == "Café outage – naïve retry"
    assert record.sections["summary"] == "The “résumé” service failed."


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (
            "---\nid: PM-1\n---\n# Panne du service café\n\n## Root Cause\n\n"
            "Le service était arrêté à Zürich; déjà-vu.\n",
            "latin-1",
        ),
        (
            "# Сбой сервиса оплаты\n\n## Root Cause\n\n"
            "Переполнение диска на сервере базы данных.\n",
            "cp1251",
        ),
    ],
)
def test_windows_code_pages_decoded(tmp_path: Path, text: str, encoding: str) -> None:
    _write(tmp_path / "pm", "outage.md", text, encoding=encoding)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.title == text.split("# ", 1)[1].split("\n", 1)[0]
    assert record.sections["root_cause"] == text.rstrip().rsplit("\n", 1)[1]


def test_bom_is_stripped(tmp_path: Path) -> None:
    _write(
        tmp_path / "pm", "bom.md", "\ufeff---\ntitle: With BOM\n---\n## Impact\n\nx\n"
    )

    record = _read_one(tmp_path / "pm").records[0]

    assert record.title == "With BOM"


def test_runbook_alert_names_from_stem_and_h1(tmp_path: Path) -> None:
    body = "\n\n## Meaning\n\nm\n\n## Mitigation\n\nfix\n"
    _write(
        tmp_path / "rb", "MachineConfigDaemonPivotError.md", "# MCDPivotError" + body
    )
    _write(
        tmp_path / "rb", "SSPOperatorDown.md", "# SSPOperatorDown [Deprecated]" + body
    )
    _write(
        tmp_path / "rb" / "helpers", "accessToolbox.md", "# Access the Toolbox" + body
    )

    result = read_sources([tmp_path / "rb"])

    labels = {
        r.id.rsplit("/", 1)[-1]: r.labels.get("alertname") for r in result.records
    }
    assert labels == {
        "MachineConfigDaemonPivotError": "MachineConfigDaemonPivotError, MCDPivotError",
        "SSPOperatorDown": "SSPOperatorDown",
        "accessToolbox": None,
    }


def test_kind_from_folder_name(tmp_path: Path) -> None:
    # The folder decides the kind only when no heading names a decisive section.
    text = "# Check node status\n\n" + "Run oc get nodes and look for NotReady. " * 5
    _write(tmp_path / "openshift+runbooks" / "helpers", "checkNodes.md", text)
    _write(tmp_path / "notes", "checkNodes.md", text)

    helper = _read_one(tmp_path / "openshift+runbooks").records[0]
    note = _read_one(tmp_path / "notes").records[0]

    assert helper.kind is Kind.RUNBOOK
    assert "alertname" not in helper.labels
    assert note.kind is Kind.POSTMORTEM


def test_front_matter_labels_mapping(tmp_path: Path) -> None:
    text = "---\nlabels:\n  service: api\n  category: dns\n---\n## Impact\n\nx\n"
    _write(tmp_path / "pm", "x.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.labels == {"service": "api", "category": "dns"}


def test_front_matter_yes_and_no_stay_text(tmp_path: Path) -> None:
    text = (
        "---\nid: PM-NO\nservice: no\nteam: on\ncustomer_facing: yes\n"
        "paged: true\n---\n# Norway outage\n\n## Impact\n\nx\n"
    )
    _write(tmp_path / "pm", "x.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.labels["service"] == "no"
    assert record.labels["team"] == "on"
    assert record.labels["customer_facing"] == "yes"
    assert record.labels["paged"] == "true"


GOOGLE_STYLE = """\
# Shakespeare Sonnet++ Postmortem (incident #465)

**Date**: 2015-10-21

**Summary**: Shakespeare Search down for 66 minutes.

**Impact**: Estimated 1.21B queries lost.

**Root Causes**: Cascading failure from a resource leak on unknown terms.

**Resolution**: Directed traffic to a sacrificial cluster.

## Lessons Learned

### What went well
* Monitoring alerted quickly.

### What went wrong
* We're out of practice in responding to cascading failure.

## Timeline

14:51 News reports that a new sonnet was discovered.
"""


def test_bold_labels_start_sections(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "2015-10-21-sonnet.md", GOOGLE_STYLE)

    [record] = _read_one(tmp_path / "pm").records

    assert record.title == "Shakespeare Sonnet++ Postmortem (incident #465)"
    assert record.sections["root_cause"] == (
        "Cascading failure from a resource leak on unknown terms."
    )
    assert record.sections["impact"] == "Estimated 1.21B queries lost."
    assert record.sections["resolution"] == "Directed traffic to a sacrificial cluster."
    assert "**Date**: 2015-10-21" in record.sections["details"]
    assert "out of practice" in record.sections["lessons"]
    assert "out of practice" not in record.sections["root_cause"]


def test_bold_label_in_runbook_step_stays(tmp_path: Path) -> None:
    text = (
        "# DiskFull\n\n## Meaning\n\nThe disk fills up.\n\n## Diagnosis\n\n"
        "**Root cause:** check which directory grows.\n\n## Mitigation\n\n"
        "Grow the volume.\n"
    )
    _write(tmp_path / "runbooks", "DiskFull.md", text)

    [record] = _read_one(tmp_path / "runbooks").records

    assert record.kind is Kind.RUNBOOK
    assert "root_cause" not in record.sections
    assert "check which directory grows" in record.sections["diagnosis"]


def test_section_headings_are_not_title(tmp_path: Path) -> None:
    text = (
        "# Incident summary\n\nPayments failed for 20 minutes.\n\n"
        "# Leadup\n\nA config push at 10:02.\n\n# Fault\n\nThe pool size was 0.\n\n"
        "# Response\n\nThe on-call engineer rolled back.\n"
    )
    _write(tmp_path / "pm", "2024-03-02-payments-pool.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.title not in ("Leadup", "Response")
    assert record.sections["trigger"] == "A config push at 10:02."
    assert record.sections["root_cause"] == "The pool size was 0."


def test_start_time_makes_postmortem(tmp_path: Path) -> None:
    text = (
        "---\nstarted_at: 2024-05-02T10:00:00Z\nseverity: SEV2\n---\n"
        "# Payments backlog\n\n## Investigation\n\nThe queue grew.\n\n"
        "## Mitigation\n\nScaled the consumers.\n"
    )
    _write(tmp_path / "pm", "payments-backlog.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.kind is Kind.POSTMORTEM


def test_impossible_front_matter_date(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "a.md", "---\nstarted_at: 2024-02-30 10:00:00\n---\n# A\n")
    _write(tmp_path / "pm", "b.md", POSTMORTEM_WITH_FRONT_MATTER)

    result = read_sources([tmp_path / "pm"])

    assert [r.id for r in result.records] == ["PM-2023-021"]
    [problem] = result.problems
    assert problem.source.endswith("a.md")
    assert "front matter 'started_at': invalid date '2024-02-30 10:00:00'" in (
        problem.reason
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [("{jira: OPS-9, pd: PX1}", "mapping"), ("[INC-1, INC-2]", "list")],
)
def test_front_matter_id_must_be_one(tmp_path: Path, value: str, kind: str) -> None:
    _write(tmp_path / "pm", "a.md", f"---\nid: {value}\n---\n# A\n\n## Summary\n\nx\n")

    result = read_sources([tmp_path / "pm"])

    assert result.records == []
    [problem] = result.problems
    assert f"front matter 'id' is a YAML {kind}, expected one id" in problem.reason


def test_compound_title_stays_title(tmp_path: Path) -> None:
    text = (
        "# Checkout outage, root cause and fixes\n\nOn 3 March checkout "
        "returned 502 for 40 minutes.\n\n## Resolution\n\nRolled back.\n"
    )
    _write(tmp_path / "pm", "2024-03-03-checkout.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.title == "Checkout outage, root cause and fixes"
    assert "root_cause" not in record.sections
    assert record.sections["summary"].startswith("On 3 March checkout")


def test_bold_label_under_other_heading_stays(tmp_path: Path) -> None:
    text = (
        "---\nalertname: JobStuck\n---\n# JobStuck\n\n## Meaning\n\nA job hangs.\n\n"
        "## Triage\n\n**Cause:** a lock held by a dead worker.\n\n"
        "**Fix:** release the lock.\n\n## Mitigation\n\nRestart the worker.\n"
    )
    _write(tmp_path / "runbooks", "JobStuck.md", text)

    [record] = _read_one(tmp_path / "runbooks").records

    assert record.kind is Kind.RUNBOOK
    assert "root_cause" not in record.sections
    assert "resolution" not in record.sections


def test_bold_label_under_later_h1_stays(tmp_path: Path) -> None:
    text = (
        "---\nalertname: DiskSlow\n---\n## Meaning\n\nWrites are slow.\n\n"
        "# Triage\n\n**Cause:** a slow disk.\n\n# Mitigation\n\nMove the pod.\n"
    )
    _write(tmp_path / "runbooks", "DiskSlow.md", text)

    [record] = _read_one(tmp_path / "runbooks").records

    assert record.kind is Kind.RUNBOOK
    assert "root_cause" not in record.sections


def test_analysis_named_for_incident_is_title(tmp_path: Path) -> None:
    text = (
        "# Root Cause Analysis (INC-4521)\n\nCheckout returned 502 for an hour.\n\n"
        "## Root Cause\n\nThe connection pool was set to 0.\n"
    )
    _write(tmp_path / "pm", "rca-inc-4521.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.title == "Root Cause Analysis (INC-4521)"
    assert record.sections["summary"] == "Checkout returned 502 for an hour."
    assert record.sections["root_cause"] == "The connection pool was set to 0."


@pytest.mark.parametrize(
    "huge",
    ["9" * 4400, "0x" + "f" * 3600, "0b" + "1" * 20_000, "1" + ":59" * 3000],
    ids=["decimal", "hexadecimal", "binary", "base 60"],
)
def test_front_matter_numbers_stay_text(tmp_path: Path, huge) -> None:
    front = f"---\nseverity: {huge}\nalertname: 012\nservice: 1_000\n---\n"
    _write(tmp_path / "pm", "big.md", front + "# T\n\nx\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.problems
    [record] = result.records
    assert record.severity_raw == huge
    assert record.labels["alertname"] == "012"
    assert record.labels["service"] == "1_000"


def test_front_matter_bare_time_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "t.md", "---\nstart_time: 10:28\n---\n# T\n\nx\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.records
    assert "invalid date '10:28'" in result.problems[0].reason


def test_front_matter_dates_read_in_one_order(tmp_path: Path) -> None:
    front = "---\nstarted_at: 03/05/2025 10:28\nended_at: 14/05/2025 11:00\n---\n"
    _write(tmp_path / "pm", "outage.md", front + "# Outage\n\n## Summary\n\nx\n")

    result = read_sources([tmp_path / "pm"])

    assert not result.problems
    [record] = result.records
    assert record.started_at == datetime(2025, 5, 3, 10, 28)
    assert record.ended_at == datetime(2025, 5, 14, 11, 0)


BOLD_HEADINGS = """\
# Payments API outage

**Summary**

Checkout failed for 25 minutes.

**Root cause:**

The connection pool was capped at 10,
so requests queued behind it.

__Resolution__:
Raised the pool to 100 and restarted the API.

**Action Items**

- Alert on pool saturation.

**Notes**

The **root cause** review is on Friday.
"""


def test_bold_line_headings_start_sections(tmp_path: Path) -> None:
    _write(tmp_path / "pm", "2024-05-02-payments.md", BOLD_HEADINGS)

    [record] = _read_one(tmp_path / "pm").records

    assert record.title == "Payments API outage"
    assert record.kind is Kind.POSTMORTEM
    assert record.sections == {
        "summary": "Checkout failed for 25 minutes.",
        "root_cause": (
            "The connection pool was capped at 10,\nso requests queued behind it."
        ),
        "resolution": "Raised the pool to 100 and restarted the API.",
        "action_items": (
            "- Alert on pool saturation.\n\n**Notes**\n\n"
            "The **root cause** review is on Friday."
        ),
    }


def test_bold_line_heading_stays_text_in_code(tmp_path: Path) -> None:
    text = (
        "# Disk full\n\n## Root Cause\n\nA cron job wrote debug logs.\n\n"
        "## Resolution\n\nDeleted the logs with the cleanup script:\n\n"
        "```text\n**Root cause**\nprinted by the script\n```\n"
    )
    _write(tmp_path / "pm", "disk-full.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections["root_cause"] == "A cron job wrote debug logs."
    assert record.sections["resolution"].endswith(
        "```text\n**Root cause**\nprinted by the script\n```"
    )


def test_bold_line_heading_under_lessons_stays(tmp_path: Path) -> None:
    text = (
        "# Cache stampede\n\n## Root Cause\n\nAll keys expired at once.\n\n"
        "## Lessons Learned\n\n**What went wrong**\n\nNo alert on the miss rate.\n"
    )
    _write(tmp_path / "pm", "cache.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections["root_cause"] == "All keys expired at once."
    assert record.sections["lessons"] == (
        "**What went wrong**\n\nNo alert on the miss rate."
    )


def test_bold_line_heading_under_unknown_heading(tmp_path: Path) -> None:
    text = (
        "# Login outage\n\n## Incident details\n\nStarted at 09:12.\n\n"
        "**Root Cause**\n\nAn expired signing key.\n\n"
        "**Resolution**\n\nRotated the key.\n"
    )
    _write(tmp_path / "pm", "login.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections == {
        "other": "## Incident details\nStarted at 09:12.",
        "root_cause": "An expired signing key.",
        "resolution": "Rotated the key.",
    }


def test_bold_line_heading_in_runbook_diagnosis(tmp_path: Path) -> None:
    text = (
        "# DeprecatedMachineType\n\n## Meaning\n\nVMs use an old machine type.\n\n"
        "## Diagnosis\n\nFind the VMs in the alert.\n\n**Root cause:**\n"
        "The machine type field names a removed type.\n\n"
        "## Mitigation\n\nSet a supported machine type.\n"
    )
    _write(tmp_path / "runbooks", "DeprecatedMachineType.md", text)

    [record] = _read_one(tmp_path / "runbooks").records

    assert record.kind is Kind.RUNBOOK
    assert "root_cause" not in record.sections
    assert record.sections["diagnosis"] == (
        "Find the VMs in the alert.\n\n**Root cause:**\n"
        "The machine type field names a removed type."
    )


def test_bold_labels_under_bold_heading(tmp_path: Path) -> None:
    text = (
        "# Search outage\n\n**Summary**\n\nSearch was down for 66 minutes.\n\n"
        "**Root Causes**: Cascading failure from a resource leak.\n"
    )
    _write(tmp_path / "pm", "search.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections == {
        "summary": "Search was down for 66 minutes.",
        "root_cause": "Cascading failure from a resource leak.",
    }


def test_section_keeps_indented_code_start(tmp_path: Path) -> None:
    text = (
        "# API errors\n\n## Summary\n\nThe API returned 502.\n\n## Resolution\n\n"
        "    kubectl rollout undo deploy/api\n\nRolled back the release.\n"
    )
    _write(tmp_path / "pm", "api.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections["resolution"] == (
        "    kubectl rollout undo deploy/api\n\nRolled back the release."
    )


def test_bold_line_heading_keeps_blank_lines(tmp_path: Path) -> None:
    text = (
        "## Resolution\n\n**Mitigation:**\n\n"
        "    kubectl -n shop rollout undo deploy/checkout\n\n"
        "**Fix:**\n\n"
        "    helm upgrade checkout charts/checkout\n"
    )
    _write(tmp_path / "pm", "checkout.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections == {
        "resolution": (
            "**Mitigation:**\n\n"
            "    kubectl -n shop rollout undo deploy/checkout\n\n"
            "**Fix:**\n\n"
            "    helm upgrade checkout charts/checkout"
        )
    }


def test_bold_line_headings_after_unknown_subheading(tmp_path: Path) -> None:
    text = (
        "# Checkout outage on 2025-03-02\n\n"
        "**Summary**\n"
        "Checkout returned 502s for 40 minutes after a bad deploy.\n\n"
        "### Customer communication\n"
        "We posted on the status page at 10:05.\n\n"
        "**Root Cause**\n"
        "The new release removed the readiness probe, so pods got traffic "
        "before warm-up.\n\n"
        "**Resolution**\n"
        "Rolled back the deploy with `kubectl rollout undo deploy/checkout`.\n"
    )
    _write(tmp_path / "pm", "checkout.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.kind is Kind.POSTMORTEM
    assert record.sections == {
        "summary": (
            "Checkout returned 502s for 40 minutes after a bad deploy.\n\n"
            "### Customer communication\n"
            "We posted on the status page at 10:05."
        ),
        "root_cause": (
            "The new release removed the readiness probe, so pods got traffic "
            "before warm-up."
        ),
        "resolution": (
            "Rolled back the deploy with `kubectl rollout undo deploy/checkout`."
        ),
    }


def test_bold_italic_line_heading(tmp_path: Path) -> None:
    text = (
        "# Disk full\n\n**Root Cause**\n\nDebug logs filled the disk.\n\n"
        "***Action Items***\n\n- Rotate logs daily.\n"
    )
    _write(tmp_path / "pm", "disk.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections == {
        "root_cause": "Debug logs filled the disk.",
        "action_items": "- Rotate logs daily.",
    }


@pytest.mark.parametrize(
    ("outer", "section"),
    [
        ("## What happened", "summary"),
        ("Timeline\n========", "timeline"),
    ],
    ids=["summary", "setext timeline"],
)
def test_bold_line_heading_of_other_group(
    tmp_path: Path, outer: str, section: str
) -> None:
    text = (
        f"# Queue backlog\n\n{outer}\n\nOrders stopped at 10:02.\n\n"
        "**Root Cause**\n\nA consumer deadlocked on a lock.\n\n"
        "**Resolution**\n\nRestarted the consumers.\n"
    )
    _write(tmp_path / "pm", "queue.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.kind is Kind.POSTMORTEM
    assert record.sections == {
        section: "Orders stopped at 10:02.",
        "root_cause": "A consumer deadlocked on a lock.",
        "resolution": "Restarted the consumers.",
    }


def test_bold_line_headings_under_investigation(tmp_path: Path) -> None:
    text = (
        "# Queue backlog\n\n## Investigation\n\nOrders stopped at 10:02.\n\n"
        "**Root Cause**\n\nA consumer deadlocked on a lock.\n\n"
        "**Resolution**\n\nRestarted the consumers.\n"
    )
    _write(tmp_path / "pm", "queue.md", text)

    [record] = _read_one(tmp_path / "pm").records

    # Investigation and Root Cause are both cause sections, Resolution is not.
    assert record.sections == {
        "diagnosis": (
            "Orders stopped at 10:02.\n\n"
            "**Root Cause**\n\nA consumer deadlocked on a lock."
        ),
        "resolution": "Restarted the consumers.",
    }


def test_bold_line_heading_of_same_group_stays(tmp_path: Path) -> None:
    text = (
        "# Queue backlog\n\n## Resolution\n\nRestarted the consumers.\n\n"
        "**Mitigation:**\n\nPaused the producers.\n\n"
        "## Impact\n\nOrders were late.\n\n**Detection**\n\nA lag alert.\n"
    )
    _write(tmp_path / "pm", "queue.md", text)

    [record] = _read_one(tmp_path / "pm").records

    assert record.sections == {
        "resolution": (
            "Restarted the consumers.\n\n**Mitigation:**\n\nPaused the producers."
        ),
        "impact": "Orders were late.\n\n**Detection**\n\nA lag alert.",
    }


def test_runbook_with_bold_line_headings(tmp_path: Path) -> None:
    text = (
        "# KafkaConsumerLagHigh\n\n"
        "**Meaning**\n\nA consumer group falls behind its topic.\n\n"
        "**Diagnosis**\n\n"
        "**Cause:** a consumer is stuck on a poison message. "
        "**Fix:** skip the offset with `kafka-consumer-groups --reset-offsets`.\n\n"
        "**Mitigation**\n\nScale the consumer deployment up.\n"
    )
    _write(tmp_path / "runbooks", "KafkaConsumerLagHigh.md", text)

    [record] = _read_one(tmp_path / "runbooks").records

    assert record.kind is Kind.RUNBOOK
    assert record.sections == {
        "meaning": "A consumer group falls behind its topic.",
        "diagnosis": (
            "**Cause:** a consumer is stuck on a poison message. "
            "**Fix:** skip the offset with `kafka-consumer-groups --reset-offsets`."
        ),
        "mitigation": "Scale the consumer deployment up.",
    }
    assert record.labels["alertname"] == "KafkaConsumerLagHigh"


def test_bold_labels_after_label_of_other_group(tmp_path: Path) -> None:
    text = (
        "# Search outage\n\n**Summary**\n\nSearch was down for 66 minutes.\n\n"
        "**Root Causes**: Cascading failure from a resource leak.\n\n"
        "**Impact**: 1.2 billion queries failed.\n"
    )
    _write(tmp_path / "pm", "search.md", text)

    [record] = _read_one(tmp_path / "pm").records

    # Impact and Summary are one group, but the Impact label follows the root
    # cause, not the summary.
    assert record.sections == {
        "summary": "Search was down for 66 minutes.",
        "root_cause": "Cascading failure from a resource leak.",
        "impact": "1.2 billion queries failed.",
    }


def test_html_comments_start_no_section(tmp_path: Path) -> None:
    """Template guidance in a comment is not shown, so it is no section either."""
    text = (
        "# Orders DB disk full\n\n## Root Cause\n\nWAL archiving was stuck.\n\n"
        "<!--\nGuidance, delete before publishing:\n\n**Resolution**\n\n"
        "Describe how it was resolved.\n\n## Action Items\n-->\n\n"
        "## Timeline\n\n- 10:02 paged <!-- by whom? -->\n\n"
        "```html\n<!-- kept in code -->\n```\n"
    )
    _write(tmp_path / "pm", "comment.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.sections == {
        "root_cause": "WAL archiving was stuck.",
        "timeline": "- 10:02 paged \n\n```html\n<!-- kept in code -->\n```",
    }


def test_fence_open_in_list_item_ends_with_item(tmp_path: Path) -> None:
    text = (
        "# Incident 42\n\n## Summary\n\nUsers saw errors.\n\n- step one\n  ```\n"
        "  echo unterminated\n- step two\n\n## Root Cause\n\nThe cache died.\n\n"
        "## Resolution\n\n```\n## not a heading\n```\n\nRestarted the cache.\n"
    )
    _write(tmp_path / "pm", "fence.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert sorted(record.sections) == ["resolution", "root_cause", "summary"]
    assert record.sections["root_cause"] == "The cache died."
    assert record.sections["resolution"].startswith("```\n## not a heading\n```")


COMMENT_CASES = {
    # A fence inside a comment is no code, so later comments still go.
    "fence in comment": (
        "## Summary\nSlow.\n\n<!--\nStart a block with\n```\n-->\n\n## Root Cause\n"
        "Keys expired.\n\n## Resolution\nCoalesced requests.\n\n"
        "<!-- **Resolution** Describe it -->\n<!--\n## Action Items\nList them.\n-->\n",
        {
            "summary": "Slow.",
            "root_cause": "Keys expired.",
            "resolution": "Coalesced requests.",
        },
    ),
    # An opener in a code span or left unclosed in a paragraph is text.
    "unclosed in paragraph": (
        "## Summary\nA stray `<!--` broke it. <!-- a --> Then <!-- b\n\n"
        "## Root Cause\nA stray opener.\n",
        {
            "summary": "A stray `<!--` broke it.  Then <!-- b",
            "root_cause": "A stray opener.",
        },
    ),
    "short comments": (
        "## Summary\nDisk filled. <!--> gone\n\n## Root Cause\nArchiving broke.\n",
        {"summary": "Disk filled.  gone", "root_cause": "Archiving broke."},
    ),
    # Comments inside code are code.
    "indented code": (
        "## Resolution\nThe fragment:\n\n    <!-- banner -->\n    <div></div>\n",
        {"resolution": "The fragment:\n\n    <!-- banner -->\n    <div></div>"},
    ),
}


@pytest.mark.parametrize("case", sorted(COMMENT_CASES))
def test_html_comment_rules(tmp_path: Path, case: str) -> None:
    body, sections = COMMENT_CASES[case]
    _write(tmp_path / "pm", "case.md", "# Cache stampede\n\n" + body)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.sections == sections


def test_tab_indented_line_stays_in_list_fence(tmp_path: Path) -> None:
    text = (
        "# Deploy tool crash\n\n## Resolution\n- Patch the handler:\n  ```go\n"
        "  func main() {\n\tfmt.Println(1)\n  }\n  ```\n- Redeploy.\n\n"
        "## Action Items\nAdd a canary stage.\n"
    )
    _write(tmp_path / "pm", "tab.md", text)

    record = _read_one(tmp_path / "pm").records[0]

    assert record.sections["action_items"] == "Add a canary stage."
    assert record.sections["resolution"].endswith("  ```\n- Redeploy.")
