import json
import time

import pytest

from recommender.cli import main
from recommender.coverage import (
    CoverageReport,
    alert_name,
    check_coverage,
    parse_rule_text,
)
from recommender.coverage_report import render_coverage
from recommender.recommendation import Recommender

PLAIN_RULES = """
groups:
  - name: disk
    rules:
      - alert: NodeFilesystemSpaceFillingUp
        expr: node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.15
        labels: {severity: warning}
        annotations:
          summary: Filesystem is predicted to run out of space within 4 hours.
          description: Filesystem on {{ $labels.device }} is filling up.
      - record: job:disk:avail
        expr: sum(node_filesystem_avail_bytes)
  - name: coffee
    rules:
      - alert: CoffeeBoilerTemperatureLow
        expr: coffee_boiler_celsius < 80
        labels: {severity: info}
        annotations:
          summary: The office coffee machine boiler is cold.
"""

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: certificates}
spec:
  groups:
    - name: certs
      rules:
        - alert: CertificateExpiringSoon
          expr: certmanager_certificate_expiration_timestamp_seconds - time() < 604800
          labels: {severity: warning}
          annotations:
            summary: A TLS certificate expires within 7 days.
"""

CATALOGUE = """
groups:
  - name: Basic resource monitoring
    services:
      - name: Host and hardware
        exporters:
          - slug: node-exporter
            rules:
              - name: Host out of disk space
                description: Disk is almost full (< 10% left)
                query: node_filesystem_avail_bytes < 0.1
                severity: critical
              - description: a rule without a name
"""

BAD_RULES = """
groups:
  - name: broken
    rules:
      - expr: up == 0
      - alert: LabelsAsList
        expr: up == 0
        labels: [severity, critical]
      - alert: NestedAnnotation
        expr: up == 0
        annotations: {description: [a, b]}
      - alert: StillRead
        expr: up == 0
"""


@pytest.fixture(scope="module")
def recommender(sample_kb):
    return Recommender(sample_kb)


def test_plain_rules_skip_recording_rules():
    result = parse_rule_text(PLAIN_RULES, "node.yaml")

    assert [rule.alert for rule in result.rules] == [
        "NodeFilesystemSpaceFillingUp",
        "CoffeeBoilerTemperatureLow",
    ]
    assert result.rules[0].labels == {"severity": "warning"}
    assert result.rules[0].source == "node.yaml"
    assert result.problems == []


def test_manifest_ignores_other_documents():
    result = parse_rule_text(MANIFEST, "certs.yaml")

    assert [rule.alert for rule in result.rules] == ["CertificateExpiringSoon"]
    assert result.problems == []


def test_catalogue_layout_names_alerts():
    result = parse_rule_text(CATALOGUE, "rules.yml")

    [rule] = result.rules
    assert rule.alert == "HostOutOfDiskSpace"
    assert rule.labels == {"severity": "critical"}
    assert rule.annotations["description"] == "Disk is almost full (< 10% left)"
    [problem] = result.problems
    assert "services[0].exporters[0].rules[1]" in problem.rule
    assert "no 'name'" in problem.message


def test_bad_rules_reported_others_kept():
    result = parse_rule_text(BAD_RULES, "bad.yaml")

    assert [rule.alert for rule in result.rules] == ["StillRead"]
    messages = {problem.rule: problem.message for problem in result.problems}
    assert "missing 'alert' name" in messages["broken[0]"]
    assert "'labels' must be a mapping" in messages["LabelsAsList"]
    assert "annotations.description must be a string" in messages["NestedAnnotation"]
    assert all(problem.file == "bad.yaml" for problem in result.problems)


def test_invalid_yaml_names_line():
    result = parse_rule_text("groups: [\n  - name: x\n", "broken.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert problem.file == "broken.yaml"
    assert "not valid YAML at line" in problem.message


def test_duplicate_rule_key_names_line():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    expr: up\n"
    )

    result = parse_rule_text(text, "twice.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert "not valid YAML at line 6" in problem.message
    assert "duplicate key 'expr'" in problem.message


def test_merge_key_may_be_overridden():
    text = (
        "defaults: &d {for: 5m, labels: {severity: warning}}\n"
        "groups:\n- name: g\n  rules:\n"
        "  - <<: *d\n    alert: A\n    expr: up == 0\n    for: 10m\n"
    )

    result = parse_rule_text(text, "merged.yaml")

    assert result.problems == []
    [rule] = result.rules
    assert rule.alert == "A"
    assert rule.labels == {"severity": "warning"}


def test_yaml_11_boolean_words_are_label_names():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"
        "    labels: {on: x, yes: y, severity: warning, paging: true}\n"
    )

    result = parse_rule_text(text, "words.yaml")

    assert result.problems == []
    [rule] = result.rules
    assert rule.labels == {
        "on": "x",
        "yes": "y",
        "severity": "warning",
        "paging": "true",
    }


def test_empty_annotation_is_empty_text():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: DiskFull\n    expr: up == 0\n"
        "    labels: {team: ~}\n    annotations:\n      summary: Disk full\n"
        "      description:\n"
    )

    result = parse_rule_text(text, "empty.yaml")

    assert result.problems == []
    [rule] = result.rules
    assert rule.annotations == {"summary": "Disk full", "description": ""}
    assert rule.labels == {"team": ""}


def test_unpaired_surrogate_fails_its_rule_only():
    text = (
        'groups:\n- name: g\n  rules:\n  - alert: "Disk\\ud800Full"\n'
        "    expr: up == 0\n  - alert: Noisy\n    expr: up == 1\n"
        '    annotations: {summary: "disk \\ud800 full"}\n'
        "  - alert: Fine\n    expr: up == 2\n"
    )

    result = parse_rule_text(text, "surrogates.yaml")

    assert [rule.alert for rule in result.rules] == ["Fine"]
    messages = {problem.rule: problem.message for problem in result.problems}
    assert set(messages) == {"Disk\\ud800Full", "Noisy"}
    assert messages["Noisy"].startswith("annotations.summary: contains an unpaired")
    assert all(str(problem).encode("utf-8") for problem in result.problems)


def test_alias_bomb_rejected_not_expanded():
    # Nine levels of nine aliases would be 9**9 strings if turned into text.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        levels.append(f"a{level}: &a{level} [{refs}]")
    text = "\n".join(levels) + (
        "\ngroups:\n  - name: g\n    rules:\n      - alert: Bomb\n"
        "        expr: up\n        annotations: {description: *a8}\n"
    )

    result = parse_rule_text(text, "bomb.yaml")

    assert result.rules == []
    # Refused from its events, before a single alias is expanded.
    assert "expands to more than 1,000,000 values" in result.problems[0].message


def test_deep_yaml_is_a_problem():
    result = parse_rule_text("groups: " + "[" * 2000 + "]" * 2000, "deep.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert "nested too deeply" in problem.message


def test_alert_name_from_catalogue_title():
    assert alert_name("Prometheus target missing") == "PrometheusTargetMissing"
    assert alert_name("Host OOM kill detected") == "HostOOMKillDetected"


def test_coverage_marks_known_and_unknown(recommender):
    rules = parse_rule_text(PLAIN_RULES, "node.yaml").rules
    rules += parse_rule_text(MANIFEST, "certs.yaml").rules

    rows = {row.alert: row for row in check_coverage(recommender, rules)}

    disk = rows["NodeFilesystemSpaceFillingUp"]
    assert disk.covered is True
    assert disk.best_match == "RB-node-filesystem-space-filling-up"
    assert disk.best_match_kind == "runbook"
    assert disk.score >= recommender.threshold
    assert rows["CertificateExpiringSoon"].covered is True
    coffee = rows["CoffeeBoilerTemperatureLow"]
    assert coffee.covered is False
    assert coffee.score < recommender.threshold
    assert coffee.severity == "info"


def test_report_formats_list_uncovered_first(recommender):
    rules = parse_rule_text(PLAIN_RULES, "node.yaml").rules
    report = CoverageReport(
        rows=check_coverage(recommender, rules),
        problems=parse_rule_text(BAD_RULES, "bad.yaml").problems,
        threshold=recommender.threshold,
    )

    text = render_coverage(report, "text")
    assert text.index("CoffeeBoilerTemperatureLow") < text.index(
        "NodeFilesystemSpaceFillingUp"
    )
    assert "1 of 2 alerts covered (50%)" in text
    assert "bad.yaml: rule LabelsAsList" in text
    markdown = render_coverage(report, "markdown")
    assert markdown.startswith("| alert | file | severity |")
    assert "| no |" in markdown
    data = json.loads(render_coverage(report, "json"))
    assert data["alerts"] == 2
    assert data["covered"] == 1
    assert data["ratio"] == 0.5
    assert len(data["problems"]) == 3


def test_cli_fail_under_sets_exit_code(sample_home, tmp_path, capsys):
    rules = tmp_path / "node.yaml"
    rules.write_text(PLAIN_RULES, encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups: [", encoding="utf-8")
    base = ["--home", str(sample_home), "coverage", str(rules), str(broken)]

    assert main([*base[:-1], "--format", "json", "--fail-under", "0.5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["covered"] == 1

    # A file that cannot be read fails the run, although the ratio passes.
    assert main([*base, "--format", "json", "--fail-under", "0.5"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["problems"][0]["file"] == str(broken)
    assert "1 rule file(s) or rule(s) could not be read" in captured.err

    assert main([*base, "--fail-under", "0.75"]) == 1
    captured = capsys.readouterr()
    assert "1 of 2 alerts covered" in captured.out
    assert "below --fail-under 0.75" in captured.err


def test_cli_without_rules_exits_2(sample_home, tmp_path, capsys):
    missing = tmp_path / "missing.yaml"

    assert main(["--home", str(sample_home), "coverage", str(missing)]) == 2
    error = capsys.readouterr().err
    assert "no alerting rules could be read" in error
    assert f"{missing}: cannot read" in error


def test_public_rule_files_read(shared_data):
    manifests = sorted(
        (shared_data / "prometheus-operator+kube-prometheus" / "manifests").glob(
            "*-prometheusRule.yaml"
        )
    )
    catalogue = shared_data / "samber+awesome-prometheus-alerts" / "_data" / "rules.yml"

    results = [
        parse_rule_text(p.read_text(encoding="utf-8"), p.name) for p in manifests
    ]
    alerts = [rule.alert for result in results for rule in result.rules]
    assert len(manifests) >= 8
    assert all(result.problems == [] for result in results)
    assert "KubePodCrashLooping" in alerts
    assert "NodeFilesystemSpaceFillingUp" in alerts
    catalogue_rules = parse_rule_text(
        catalogue.read_text(encoding="utf-8"), "rules.yml"
    )
    assert len(catalogue_rules.rules) > 300
    assert "PrometheusTargetMissing" in {r.alert for r in catalogue_rules.rules}


@pytest.mark.parametrize("huge", ["9" * 4400, "0x" + "f" * 3600])
def test_yaml_with_a_huge_number_is_a_problem(huge):
    text = f"groups:\n- name: g\n  rules:\n  - alert: {huge}\n    expr: up\n"
    result = parse_rule_text(text, "big.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert "a number too long to read" in problem.message


def test_yaml_values_that_cannot_be_built_are_problems():
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
        "    annotations: {since: 2024-02-30}\n"
    )

    result = parse_rule_text(text, "feb30.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert "day is out of range for month" in problem.message


def test_alias_expansion_is_bounded_before_loading():
    lines = ["l0: &l0 x"]
    for level in range(1, 8):
        lines.append(
            f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]"
        )
    text = "\n".join(lines) + "\ngroups:\n- name: *l7\n"

    result = parse_rule_text(text, "aliases.yaml")

    assert result.rules == []
    [problem] = result.problems
    assert "expands to more than 1,000,000 values" in problem.message
    assert len(problem.message) < 500


def test_deep_brackets_are_refused_before_scanning():
    started = time.monotonic()

    result = parse_rule_text("groups: " + "[" * 100_000 + "]" * 100_000, "deep.yaml")

    assert "nested too deeply" in result.problems[0].message
    assert time.monotonic() - started < 10


AGREEMENT_RULES = """
groups:
  - name: mixed
    rules:
      - alert: KafkaBrokerDiskFull
        expr: kafka_log_dir_free_bytes < 1e9
        labels: {severity: critical}
        annotations:
          summary: Kafka broker disk almost full
          description: The disk of the Kafka broker log directory is 97% full.
      - alert: NodeFilesystemSpaceFillingUp
        expr: node_filesystem_avail_bytes < 0.15
        annotations: {summary: Filesystem is predicted to run out of space.}
      - alert: CoffeeBoilerTemperatureLow
        expr: coffee_boiler_celsius < 80
        annotations: {summary: The office coffee machine boiler is cold.}
"""


def test_coverage_agrees_with_the_recommendation(recommender):
    from recommender.coverage import _alert

    rules = parse_rule_text(AGREEMENT_RULES, "mixed.yaml").rules
    rows = {row.alert: row for row in check_coverage(recommender, rules)}

    for rule in rules:
        recommendation = recommender.recommend(_alert(rule))
        row = rows[rule.alert]
        assert row.covered is not recommendation.no_close_precedent, rule.alert
        assert row.bar == round(recommendation.precedent_bar, 4)
    # A disk alert named for Kafka scores above the threshold against the
    # sample's filesystem records, which are named for another alert.
    kafka = rows["KafkaBrokerDiskFull"]
    assert kafka.score >= recommender.threshold
    assert kafka.bar > recommender.threshold
    assert kafka.covered is False

    # Its matches are listed as low confidence, as without a precedent.
    from recommender.schemas import recommendation_out

    kafka_rule = next(rule for rule in rules if rule.alert == "KafkaBrokerDiskFull")
    out = recommendation_out(recommender.recommend(_alert(kafka_rule)))
    assert out.matches[0].score >= recommender.threshold
    assert {match.confidence for match in out.matches} == {"low"}


def test_coverage_counts_feedback(tmp_path, sample_home, embedder):
    import shutil

    from indexer.knowledge_base import KnowledgeBase
    from indexer.settings import IndexerSettings
    from recommender.feedback import FeedbackEntry

    home = tmp_path / "kb"
    shutil.copytree(sample_home, home)
    knowledge_base = KnowledgeBase(IndexerSettings(home=home), embedder=embedder)
    recommender = Recommender(knowledge_base)
    rules = parse_rule_text(PLAIN_RULES, "node.yaml").rules
    [before] = [
        row
        for row in check_coverage(recommender, rules)
        if row.alert == "NodeFilesystemSpaceFillingUp"
    ]

    # An engineer marked the covering runbook wrong for this alert, so a
    # recommendation no longer offers it, and coverage must not count it.
    recommender.feedback.add(
        FeedbackEntry(
            record_id=before.best_match,
            verdict="wrong",
            alertname="NodeFilesystemSpaceFillingUp",
        )
    )
    [after] = [
        row
        for row in check_coverage(recommender, rules)
        if row.alert == "NodeFilesystemSpaceFillingUp"
    ]

    assert after.best_match != before.best_match
    assert after.score < before.score
