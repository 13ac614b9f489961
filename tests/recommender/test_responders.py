import json

import pytest

from indexer.errors import ConfigurationError
from recommender.alerts import Alert
from recommender.cli import main
from recommender.recommendation import Recommender
from recommender.report import render_result
from recommender.responders import (
    RespondersConfig,
    load_responders_config,
    suggest_responders,
)
from recommender.schemas import AlertResult
from tests.conftest import SAMPLE_DATA


@pytest.fixture(scope="module")
def cert_matches(sample_kb):
    alert = Alert(
        fingerprint="f1",
        alertname="CertificateExpiringSoon",
        title="A TLS certificate expires within 7 days",
        labels={"alertname": "CertificateExpiringSoon", "service": "api-gateway"},
    )
    recommendation = Recommender(sample_kb).recommend(alert)
    return alert, [(m.record, m.score) for m in recommendation.matches]


def test_service_map_names_owner(cert_matches):
    alert, matches = cert_matches
    config = RespondersConfig.model_validate(
        {"services": {"api-gateway": {"team": "edge", "owner": "Sam"}}}
    )

    suggestion = suggest_responders(alert, matches, config, threshold=0.42)

    assert suggestion.owning_team == "edge"
    by_role = {r.role: r for r in suggestion.responders}
    assert by_role["subject_matter_expert"].name == "edge on-call"
    assert by_role["subject_matter_expert"].reason == (
        "service map entry api-gateway: edge"
    )
    assert by_role["service_owner"].name == "Sam"
    assert by_role["incident_commander"].name == "on-call incident commander"


def test_matched_teams_consulted_with_evidence(cert_matches):
    alert, matches = cert_matches

    suggestion = suggest_responders(alert, matches, RespondersConfig(), 0.42)

    consulted = [r for r in suggestion.responders if r.role == "consulted"]
    assert consulted
    precedent_ids = {record.id for record, score in matches if score >= 0.42}
    for responder in consulted:
        assert responder.evidence
        assert set(responder.evidence) <= precedent_ids
        assert responder.name != suggestion.owning_team
    diagnose = suggestion.raci["diagnose and mitigate"]
    assert diagnose["consulted"] == [r.name for r in consulted]
    assert diagnose["accountable"] == ["on-call incident commander"]


def test_owner_falls_back_to_matches(cert_matches):
    alert, matches = cert_matches
    bare = Alert(fingerprint="f2", alertname=alert.alertname, title=alert.title)

    suggestion = suggest_responders(bare, matches, RespondersConfig(), 0.42)

    assert suggestion.owning_team is not None
    [expert] = [r for r in suggestion.responders if r.role == "subject_matter_expert"]
    assert expert.reason.startswith("most likely team of the matched past incidents")
    assert expert.evidence


def test_weak_matches_pull_in_nobody(cert_matches):
    _, matches = cert_matches
    bare = Alert(fingerprint="f3", alertname="Unknown")

    suggestion = suggest_responders(bare, matches, RespondersConfig(), threshold=1.0)

    assert suggestion.owning_team is None
    assert {r.role for r in suggestion.responders} == {
        "incident_commander",
        "communications_lead",
    }
    assert suggestion.raci["diagnose and mitigate"]["responsible"] == []


def test_unknown_role_rejected(tmp_path):
    path = tmp_path / "incident.yaml"
    path.write_text("responders:\n  roles: {janitor: Pat}\n", encoding="utf-8")

    with pytest.raises(ConfigurationError) as error:
        load_responders_config(path)

    assert "responders.roles: Value error, unknown role(s) janitor" in str(error.value)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("roles: {incident_commander: '{tema} IC'}", "role incident_commander: {tema}"),
        (
            "raci: {triage: {informed: ['{matched_team}']}}",
            "triage informed: {matched_team} is not a placeholder",
        ),
    ],
)
def test_misspelt_placeholder_rejected(tmp_path, section, problem):
    path = tmp_path / "incident.yaml"
    path.write_text(f"responders:\n  {section}\n", encoding="utf-8")

    with pytest.raises(ConfigurationError) as error:
        load_responders_config(path)

    assert problem in str(error.value)


def test_example_configuration_valid():
    config = load_responders_config(SAMPLE_DATA / "config" / "incident.yaml")

    assert config.services["orders-db"].team == "data"
    assert "communicate status" in config.raci


def test_suggest_output_lists_responders(sample_home, capsys, monkeypatch):
    monkeypatch.setenv("INCIDENT_CONFIG", str(SAMPLE_DATA / "config" / "incident.yaml"))
    alert_file = SAMPLE_DATA / "alerts" / "alertmanager-disk-full.json"
    arguments = ["--home", str(sample_home), "suggest", "--file", str(alert_file)]

    assert main([*arguments, "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    result = output["results"][0]
    responders = result["recommendation"]["responders"]
    assert responders["owning_team"] == "data"
    roles = {r["role"]: r["name"] for r in responders["responders"]}
    assert roles["subject_matter_expert"] == "data on-call"
    assert roles["service_owner"] == "Priya Raman"
    activities = [row["activity"] for row in responders["raci"]]
    assert activities[0] == "coordinate the response"

    text = render_result(AlertResult.model_validate(result))
    assert "Suggested responders:" in text
    assert "subject matter expert: data on-call" in text
