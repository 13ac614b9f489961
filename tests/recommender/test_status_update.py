import json
from datetime import datetime, timezone

import pytest

from indexer.errors import ConfigurationError
from recommender.alerts import parse_plain
from recommender.cli import main
from recommender.recommendation import Recommender
from recommender.responders import RespondersConfig, suggest_responders
from recommender.status_update import StatusUpdateConfig, StatusUpdater
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"
NOW = datetime(2026, 12, 4, 2, 20, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def recommender(sample_kb):
    return Recommender(sample_kb)


@pytest.fixture(scope="module")
def updater():
    return StatusUpdater(StatusUpdateConfig())


def _alert(name):
    return parse_plain(json.loads((ALERTS / name).read_text(encoding="utf-8")))


def _render(updater, recommender, name, template=None):
    alert = _alert(name)
    recommendation = recommender.recommend(alert)
    responders = suggest_responders(
        alert,
        [(m.record, m.score) for m in recommendation.matches],
        RespondersConfig(),
        recommendation.threshold,
    )
    return updater.render([alert], recommendation, responders, template, now=NOW)


def test_stakeholder_update_states_suspected_cause(updater, recommender):
    update = _render(updater, recommender, "alert-cert-expiry.json")

    assert update.template == "stakeholder"
    assert update.text.startswith("# [SEV3] CertificateExpiringSoon on api-gateway")
    assert "Suspected, not confirmed." in update.text
    [first_cause] = update.context["causes"][:1]
    assert first_cause["text"][:60] in update.text
    assert ", ".join(first_cause["evidence"]) in update.text
    assert "## Next steps" in update.text
    assert "subject matter expert: platform on-call" in update.text
    # SEV3 updates every 240 minutes by default.
    assert "Next update by 2026-12-04 06:20 UTC (every 240 minutes at SEV3)." in (
        update.text
    )


def test_no_precedent_update_invents_no_cause(updater, recommender):
    update = _render(updater, recommender, "alert-novel.json")
    chat = _render(updater, recommender, "alert-novel.json", template="chat")

    assert update.context["no_close_precedent"] is True
    assert "No close precedent" in update.text
    assert "The cause is unknown" in update.text
    assert "Suspected" not in update.text
    assert update.context["next_steps"] == []
    assert "no past fix applies yet" in update.text
    assert "Cause unknown: no close precedent" in chat.text
    assert len(chat.text.splitlines()) <= 5


def test_interval_by_severity_configurable(recommender):
    config = StatusUpdateConfig(update_interval_minutes={"SEV3": 15})
    update = _render(StatusUpdater(config), recommender, "alert-cert-expiry.json")

    assert update.context["update_interval_minutes"] == 15
    assert update.context["next_update_at"] == "2026-12-04 02:35 UTC"


def test_syntax_error_names_template_and_line():
    config = StatusUpdateConfig(templates={"broken": "ok\n{{ alert.name }\n"})

    with pytest.raises(ConfigurationError) as error:
        StatusUpdater(config)

    assert "template 'broken' has a syntax error at line 2" in str(error.value)


def test_unknown_variable_fails_at_load():
    config = StatusUpdateConfig(templates={"typo": "one\ntwo {{ alert.nme }}\n"})

    with pytest.raises(ConfigurationError) as error:
        StatusUpdater(config)

    message = str(error.value)
    assert "template 'typo' failed at line 2" in message
    assert "no attribute 'nme'" in message
    assert "next_update_at" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("one\n{{ 1/0 }}\n", "ZeroDivisionError"),
        ("{% for i in range(10**9) %}{% endfor %}", "OverflowError"),
    ],
)
def test_python_errors_in_a_template_name_it(text, reason):
    config = StatusUpdateConfig(templates={"maths": text})

    with pytest.raises(ConfigurationError) as error:
        StatusUpdater(config)

    assert "status update template 'maths' failed" in str(error.value)
    assert reason in str(error.value)


def test_branch_the_check_missed_fails_with_its_line(recommender):
    text = (
        "{{ alert.name }}\n"
        '{% if alert.service == "api-gateway" %}{{ nope }}{% endif %}\n'
    )
    updater = StatusUpdater(StatusUpdateConfig(templates={"branchy": text}))

    with pytest.raises(ConfigurationError) as error:
        _render(updater, recommender, "alert-cert-expiry.json", "branchy")

    assert "template 'branchy' failed at line 2" in str(error.value)
    assert "'nope' is undefined" in str(error.value)


def test_sandbox_blocks_attribute_escape():
    config = StatusUpdateConfig(templates={"escape": "{{ ''.__class__.__mro__ }}"})

    with pytest.raises(ConfigurationError, match="unsafe"):
        StatusUpdater(config)


def test_missing_default_template_rejected():
    with pytest.raises(ConfigurationError, match="default_template 'nope'"):
        StatusUpdater(StatusUpdateConfig(default_template="nope"))


def test_templates_dir_overrides_builtin(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "chat.j2").write_text("custom {{ alert.name }}\n", encoding="utf-8")
    config_file = tmp_path / "incident.yaml"
    config_file.write_text("status_update:\n  templates_dir: templates\n")

    from recommender.status_update import load_status_updater

    updater = load_status_updater(config_file)

    assert set(updater.templates) >= {"chat", "stakeholder"}
    assert updater.templates["chat"].render(alert={"name": "X"}) == "custom X\n"


def test_example_configuration_loads():
    from recommender.status_update import load_status_updater

    updater = load_status_updater(SAMPLE_DATA / "config" / "incident.yaml")

    assert {"chat", "stakeholder", "pager", "status-page"} <= set(updater.templates)


def test_cli_renders_chat_update(sample_home, capsys):
    status = main(
        [
            "--home",
            str(sample_home),
            "status-update",
            "--file",
            str(ALERTS / "alertmanager-disk-full.json"),
            "--template",
            "chat",
        ]
    )

    assert status == 0
    text = capsys.readouterr().out
    assert text.startswith("[SEV")
    assert "NodeFilesystemSpaceFillingUp on orders-db" in text
    assert "Suspected cause" in text
    assert "Next update by" in text


def test_cli_unknown_template_lists_names(sample_home, capsys):
    arguments = ["--home", str(sample_home), "status-update"]
    arguments += ["--file", str(ALERTS / "alert-novel.json"), "--template", "nope"]

    assert main(arguments) == 2
    assert "available: chat, stakeholder" in capsys.readouterr().err


def test_precedents_without_cause_are_named(updater, recommender):
    alert = _alert("alert-cert-expiry.json")
    recommendation = recommender.recommend(alert)
    recommendation.root_causes = []
    precedent_ids = [m.record.id for m in recommendation.matches[:2]]

    update = updater.render([alert], recommendation, None, now=NOW)
    chat = updater.render([alert], recommendation, None, "chat", now=NOW)

    assert recommendation.no_close_precedent is False
    assert "No close precedent" not in update.text
    assert "no cause. The cause is unknown and under investigation." in update.text
    assert precedent_ids[0] in update.text
    assert "Cause unknown: similar past incidents" in chat.text
    assert "no close precedent" not in chat.text


@pytest.mark.parametrize(
    ("intervals", "problem"),
    [
        ("{SEV1: -5}", "greater than or equal to 1"),
        ("{SEV9: 5}", "names SEV9, which is neither a level of the severity scale"),
        ("{SEV1: 10000000000}", "less than or equal to 10080"),
        ("{SEV1: true}", "valid integer"),
    ],
)
def test_update_intervals_are_checked(tmp_path, intervals, problem):
    from recommender.status_update import load_status_updater

    config = tmp_path / "incident.yaml"
    config.write_text(f"status_update:\n  update_interval_minutes: {intervals}\n")

    with pytest.raises(ConfigurationError) as error:
        load_status_updater(config)

    assert problem in str(error.value)


def test_alert_name_is_not_repeated_as_its_title(updater, recommender):
    alert = parse_plain(
        {"title": "RedisEvictionsHigh", "labels": {"alertname": "RedisEvictionsHigh"}}
    )
    update = updater.render([alert], recommender.recommend(alert), now=NOW)
    assert "- Alert: RedisEvictionsHigh\n" in update.text


def test_unwritable_report_folder_says_so(sample_home, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    output = blocker / "report"

    status = main(["--home", str(sample_home), "patterns", "--output", str(output)])

    assert status == 2
    err = capsys.readouterr().err
    assert "cannot read" not in err
    assert str(output) in err


def test_custom_scale_level_and_interval(tmp_path, recommender):
    from recommender.status_update import load_status_updater

    config = tmp_path / "incident.yaml"
    config.write_text(
        "severity:\n"
        "  levels:\n"
        "    - {name: P1, definition: customers affected}\n"
        "    - {name: P2, definition: degraded}\n"
        "    - {name: P3, definition: no impact}\n"
        "status_update:\n"
        "  update_interval_minutes: {P1: 15}\n"
    )
    updater = load_status_updater(config)
    alert = parse_plain({"title": "Checkout down", "labels": {"severity": "critical"}})

    update = updater.render([alert], recommender.recommend(alert), now=NOW)

    assert update.context["severity"] == "P1"
    assert update.context["update_interval_minutes"] == 15
    assert "every 15 minutes at P1" in update.text
