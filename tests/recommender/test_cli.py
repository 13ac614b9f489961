import json
import shutil

import pytest

from recommender.alert_store import AlertStore
from recommender.alerts import Alert
from recommender.cli import main
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"


def _run(capsys, *args):
    status = main([*args])
    out, err = capsys.readouterr()
    return status, out, err


def test_undecodable_argument_is_clear_error(sample_home, tmp_path, capsys):
    home = tmp_path / "kb"
    shutil.copytree(sample_home, home)

    status, _, err = _run(capsys, "--home", str(home), "feedback", "list", "PM\udcff")

    assert status == 2
    assert err.startswith("error: the text 'PM\\udcff' is not valid Unicode")


def test_suggest_from_webhook_file(sample_home, capsys):
    status, out, _ = _run(
        capsys,
        "--home",
        str(sample_home),
        "suggest",
        "--file",
        str(ALERTS / "alertmanager-disk-full.json"),
    )
    assert status == 0
    assert "== NodeFilesystemSpaceFillingUp" in out
    assert "Likely root causes:" in out
    assert "Suggested severity: SEV" in out


SUGGEST_FORMATS = [
    # (case, payload, alertname of the first result)
    (
        "Grafana",
        {
            "version": "1",
            "orgId": 1,
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighDiskUsage"},
                    "annotations": {"summary": "Disk almost full on orders-db"},
                    "startsAt": "2026-12-04T20:00:00Z",
                }
            ],
        },
        "HighDiskUsage",
    ),
    (
        "PagerDuty",
        {
            "event_action": "trigger",
            "payload": {
                "summary": "kafka broker down",
                "source": "kafka-1",
                "severity": "error",
                "custom_details": {"alertname": "KafkaBrokerDown"},
            },
        },
        "KafkaBrokerDown",
    ),
]


@pytest.mark.parametrize(
    ("payload", "alertname"),
    [case[1:] for case in SUGGEST_FORMATS],
    ids=[case[0] for case in SUGGEST_FORMATS],
)
def test_suggest_reads_api_formats(sample_home, tmp_path, capsys, payload, alertname):
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    status, out, err = _run(
        capsys, "--home", str(sample_home), "suggest", "--json", "--file", str(path)
    )
    assert status == 0, err
    [result] = json.loads(out)["results"]
    assert result["outcome"] == "recommended"
    assert result["alert"]["alertname"] == alertname


def test_suggest_json_output_for_text(sample_home, capsys):
    status, out, _ = _run(
        capsys,
        "--home",
        str(sample_home),
        "suggest",
        "--json",
        "x509: certificate has expired on checkout",
    )
    assert status == 0
    [result] = json.loads(out)["results"]
    assert result["outcome"] == "recommended"
    assert result["recommendation"]["matches"]


def test_suggest_applies_configured_aliases(sample_home, tmp_path, capsys):
    config = tmp_path / "incident.yaml"
    config.write_text("severity:\n  aliases:\n    urgent: SEV1\n")
    args = ["--home", str(sample_home), "suggest", "--json", "--file"]
    alert = tmp_path / "alert.json"
    alert.write_text(
        json.dumps({"title": "Disk on orders-db fills up", "severity": "urgent"})
    )

    status, out, _ = _run(capsys, *args, str(alert))
    assert status == 0
    [result] = json.loads(out)["results"]
    assert result["recommendation"]["severity"]["alert_label"] is None

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INCIDENT_CONFIG", str(config))
        status, out, _ = _run(capsys, *args, str(alert))
    assert status == 0
    [result] = json.loads(out)["results"]
    assert result["recommendation"]["severity"]["alert_label"] == "SEV1"


def test_suggest_mixed_group_reports_resolved(sample_home, capsys):
    status, out, _ = _run(
        capsys,
        "--home",
        str(sample_home),
        "suggest",
        "--json",
        "--file",
        str(ALERTS / "alertmanager-mixed.json"),
    )
    outcomes = [r["outcome"] for r in json.loads(out)["results"]]
    assert "resolved" in outcomes
    assert "recommended" in outcomes
    assert status == (1 if "rejected" in outcomes else 0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"title": "disk", "value": NaN}', "NaN is not a JSON number"),
        ('{"title": "disk', "Unterminated string starting at line 1 column 11"),
        ('{"title": "a", "title": "b"}', "the key 'title' appears twice"),
        ("[" * 100_000, "nested more than 32 levels deep"),
    ],
)
def test_suggest_file_is_strict_json(sample_home, tmp_path, capsys, text, problem):
    path = tmp_path / "alert.json"
    path.write_text(text)
    status, _, err = _run(
        capsys, "--home", str(sample_home), "suggest", "--file", str(path)
    )
    assert status == 2
    assert problem in err


def test_suggest_file_with_bom(sample_home, tmp_path, capsys):
    path = tmp_path / "alert.json"
    path.write_text('\ufeff{"title": "Disk almost full on orders-db"}', "utf-8")
    status, out, _ = _run(
        capsys, "--home", str(sample_home), "suggest", "--file", str(path)
    )
    assert status == 0
    assert "similar past record(s)" in out


def test_suggest_bad_payload_file_is_clear(sample_home, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"alerts": [')
    status, _, err = _run(
        capsys, "--home", str(sample_home), "suggest", "--file", str(bad)
    )
    assert status == 2
    assert "bad.json: not valid JSON: Expecting value at line 1 column 13" in err
    assert "Traceback" not in err

    latin = tmp_path / "latin.json"
    latin.write_bytes('{"title": "caf\u00e9"}'.encode("latin-1"))
    status, _, err = _run(
        capsys, "--home", str(sample_home), "suggest", "--file", str(latin)
    )
    assert status == 2
    assert "latin.json: not valid UTF-8: byte 14 cannot be decoded" in err


def test_suggest_missing_file_is_clear(sample_home, tmp_path, capsys):
    status, _, err = _run(
        capsys,
        "--home",
        str(sample_home),
        "suggest",
        "--file",
        str(tmp_path / "absent.json"),
    )
    assert status == 2
    assert "absent.json" in err


def test_suggest_without_text_is_clear(sample_home, capsys):
    status, _, err = _run(capsys, "--home", str(sample_home), "suggest")
    assert status == 2
    assert "give alert text or --file" in err


def test_search_prints_ranked_matches(sample_home, capsys):
    status, out, _ = _run(
        capsys,
        "--home",
        str(sample_home),
        "search",
        "SERVFAIL",
        "from",
        "resolvers",
        "--top-k",
        "3",
    )
    assert status == 0
    assert out.count("\n  ") >= 1
    assert "  1. " in out


@pytest.mark.parametrize("top_k", ["0", "-1", "101", "many"])
def test_search_rejects_bad_top_k(sample_home, capsys, top_k):
    with pytest.raises(SystemExit) as raised:
        main(["--home", str(sample_home), "search", "disk", "--top-k", top_k])
    assert raised.value.code == 2
    assert "--top-k" in capsys.readouterr().err


def test_missing_knowledge_base_is_clear(tmp_path, capsys):
    status, _, err = _run(capsys, "--home", str(tmp_path / "typo"), "search", "disk")
    assert status == 2
    assert "no knowledge base at" in err
    assert "indexer build" in err
    assert not (tmp_path / "typo" / "knowledge.db").exists()


def test_corrupt_database_is_clear(tmp_path, capsys):
    (tmp_path / "knowledge.db").write_text("not a database")
    status, _, err = _run(capsys, "--home", str(tmp_path), "search", "disk")
    assert status == 2
    assert "cannot open the database" in err
    assert "Traceback" not in err


def test_invalid_setting_names_the_variable(sample_home, capsys, monkeypatch):
    monkeypatch.setenv("INCIDENT_THRESHOLD", "abc")
    status, _, err = _run(capsys, "--home", str(sample_home), "search", "disk")
    assert status == 2
    assert "INCIDENT_THRESHOLD" in err
    assert "'abc'" in err


def test_serve_rejects_bad_port(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--port", "99999"])
    assert raised.value.code == 2
    assert "between 1 and 65535" in capsys.readouterr().err


def test_suggest_empty_text_is_clear(sample_home, capsys):
    status, _, err = _run(capsys, "--home", str(sample_home), "suggest", "   ")
    assert status == 2
    assert "TEXT: is empty" in err


def test_alerts_prune_command(tmp_path, capsys):
    database = tmp_path / "alerts.db"
    AlertStore(database).receive([Alert(fingerprint="f", title="disk full")])
    status, out, _ = _run(
        capsys, "--home", str(tmp_path), "alerts", "prune", "--days", "1"
    )
    assert status == 0
    assert out.strip() == "removed 0 alerts last received more than 1 days ago"
    assert AlertStore(database).page(10, 0)[1] == 1


def test_serve_with_a_broken_configuration_file(
    sample_home, tmp_path, monkeypatch, capsys
):
    config = tmp_path / "incident.yaml"
    config.write_text("severity:\n  since: 2024-02-30\n", encoding="utf-8")
    monkeypatch.setenv("INCIDENT_CONFIG", str(config))

    status, _, err = _run(capsys, "--home", str(sample_home), "serve", "--port", "1")

    assert status == 2
    assert err.startswith(f"error: configuration file {config}: not valid YAML at")
    assert "day is out of range for month" in err
    assert "line 2" in err
