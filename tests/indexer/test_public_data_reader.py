"""Tests that read the public incident, postmortem and runbook data end to end."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from indexer.readers import read_sources
from indexer.record import Kind

CLOUD = "IntelligentDDS+Post-mortems-Analysis"


def test_dfds_postmortems(shared_data: Path) -> None:
    result = read_sources([shared_data / "dfds+postmortems"])

    assert not result.problems
    assert len(result.records) == 39
    assert sorted(Path(path).name for path in result.skipped) == [
        "LICENSE",
        "PMyyyy-nnn - Postmortem template.md",
        "README.md",
    ]
    assert {r.kind for r in result.records} == {Kind.POSTMORTEM}
    assert all("summary" in r.sections for r in result.records)

    by_id = {r.id.split("/", 1)[1]: r for r in result.records}
    alb = by_id["PM2022-006 - ALB 502 errors"]
    assert alb.labels["category"] == "Kubernetes network"
    assert alb.title == "ALB 502 Errors"

    outage = by_id["PM2021-005 - All services returning 503 in Kubernetes"]
    assert set(outage.sections) == {
        "summary",
        "timeline",
        "contributing_factors",
        "action_items",
        "lessons",
        "other",
    }
    assert outage.sections["summary"].startswith("On Tuesday 22nd June 2021")
    assert "Create ingress test suite." in outage.sections["action_items"]
    assert "## Attendees" in outage.sections["other"]
    assert outage.labels["time_to_recovery"] == "25 minutes"

    no_suffix = by_id["PM2022-009 - Bad AWS EKS AMI causing Kubernetes issues"]
    assert no_suffix.title == "Bad AWS EKS AMI"
    assert "rolling the EC2 AutoScaling group" in no_suffix.sections["summary"]


def test_prometheus_operator_runbooks(shared_data: Path) -> None:
    result = read_sources([shared_data / "prometheus-operator+runbooks"])

    assert len(result.records) == 109
    assert result.problems == []
    # These two pages only link to another page, and are kept for their alert name.
    stubs = {
        r.labels["alertname"] for r in result.records if not r.sections.get("meaning")
    }
    assert {"NodeRAIDDiskFailure", "PrometheusOutOfOrderTimestamps"} <= stubs
    assert Counter(Path(p).name for p in result.skipped) == {
        "_index.md": 9,
        "LICENSE": 1,
    }
    assert {r.kind for r in result.records} == {Kind.RUNBOOK}
    assert all(r.labels.get("alertname") for r in result.records)

    crash = next(r for r in result.records if r.id.endswith("/KubePodCrashLooping"))
    assert crash.id == (
        "prometheus-operator+runbooks/content/runbooks/kubernetes/KubePodCrashLooping"
    )
    assert crash.title == "Kube Pod Crash Looping"
    assert crash.labels == {"alertname": "KubePodCrashLooping"}
    assert set(crash.sections) == {"meaning", "impact", "diagnosis", "mitigation"}
    assert crash.sections["meaning"].startswith("Pod is in CrashLoop")
    assert "kubectl -n $NAMESPACE logs $POD" in crash.sections["diagnosis"]


def test_openshift_runbooks(shared_data: Path) -> None:
    result = read_sources([shared_data / "openshift+runbooks" / "alerts"])

    assert len(result.records) == 271
    assert result.problems == []
    assert {r.kind for r in result.records} == {Kind.RUNBOOK}
    with_alert = [r for r in result.records if "alertname" in r.labels]
    assert len(with_alert) == 259

    by_stem = {r.id.rsplit("/", 1)[1]: r for r in result.records}
    coredns = by_stem["CoreDNSErrorsHigh"]
    assert coredns.labels["alertname"] == "CoreDNSErrorsHigh"
    assert set(coredns.sections) >= {"meaning", "impact", "diagnosis", "mitigation"}
    assert "oc get co/dns" in coredns.sections["diagnosis"]
    pivot = by_stem["MachineConfigDaemonPivotError"]
    assert pivot.labels["alertname"] == "MachineConfigDaemonPivotError, MCDPivotError"
    assert "alertname" not in by_stem["accessToolbox"].labels


def test_icco_postmortems(shared_data: Path) -> None:
    result = read_sources([shared_data / "icco+postmortems"])

    assert not result.problems
    assert len(result.records) == 242
    assert all(r.title and r.sections.get("summary") for r in result.records)
    assert sum(1 for r in result.records if r.started_at) == 169

    by_uuid = {r.id.rsplit("/", 1)[1]: r for r in result.records}
    simpledb = by_uuid["00b7f759-21f8-4767-8803-f09d863005cd"]
    assert simpledb.title == "Amazon SimpleDB US East Region Disruption on June 13"
    assert simpledb.kind is Kind.POSTMORTEM
    assert simpledb.sections["summary"].startswith("Multiple SimpleDB storage nodes")
    assert simpledb.sections["details"].startswith("On June 13, the Amazon SimpleDB")
    assert simpledb.labels["company"] == "Amazon"
    assert simpledb.labels["category"] == "cloud"
    eve = by_uuid["01494547-7ee9-4169-a0c0-d921fa309d83"]
    assert eve.started_at is not None
    assert eve.started_at.isoformat() == "2007-12-05T22:04:00+00:00"


def test_cloud_postmortems_preset(shared_data: Path) -> None:
    result = read_sources([shared_data / CLOUD / "anomaly_collection"])

    assert not result.problems
    assert len(result.records) == 274
    assert len({r.id for r in result.records}) == 274
    categories = Counter(r.labels.get("category") for r in result.records)
    assert categories["software bugs"] == 159
    assert categories["hardware failures"] == 37
    assert categories[None] == 32

    by_id = {r.id: r for r in result.records}
    aws = by_id["aws-1"]
    assert aws.title == "Summary of the AWS Service Event in the Sydney Region"
    assert aws.started_at == datetime(2011, 6, 4)
    assert aws.labels["category"] == "software bugs"
    assert aws.labels["category_layer1"] == "internal causes"
    assert "EC2 instances" in aws.labels["service"]
    assert aws.sections["summary"].startswith("We’d like to share more detail")
    # The same incident has a preliminary and a final report in two files.
    assert by_id["azure-20180904-1~2"].title == "RCA - South Central US"
    assert by_id["azure-20180904-1~2"].started_at == datetime(2018, 9, 4)


def test_wikimedia_reports(shared_data: Path) -> None:
    folder = shared_data / CLOUD / "raw-public" / "wikitech" / "meta_txt"

    result = read_sources([folder])

    assert len(result.records) == 355
    reasons = Counter(p.reason.split(";")[0] for p in result.problems)
    assert reasons == {
        "the file is the wiki's placeholder for a page with no text": 20,
        "the file is empty": 1,
    }
    by_stem = {r.id.rsplit("/", 1)[1]: r for r in result.records}
    report = by_stem["20190208-logstash-mediawiki"]
    assert report.kind is Kind.POSTMORTEM
    assert report.title == "logstash mediawiki"
    assert report.started_at == datetime(2019, 2, 8)
    assert report.sections["summary"].startswith("A single database host down")
    assert report.sections["timeline"] == "- 12:18 db1114 DOWN alert fires, see also"
    assert "ratelimit protection" in report.sections["action_items"]
