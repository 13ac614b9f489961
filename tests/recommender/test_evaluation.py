import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from indexer.database import Database
from indexer.errors import SourceError
from indexer.settings import IndexerSettings
from recommender.cli import main
from recommender.evaluation import Prediction, predict, score
from recommender.evaluation_report import render_evaluation
from recommender.queries import LabelledQuery, read_queries
from recommender.recommendation import DEFAULT_THRESHOLD, Recommender
from tests.conftest import REPO_ROOT, SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"
QUERIES = ALERTS / "queries.jsonl"

ALERTMANAGER_ALERT = {
    "status": "resolved",
    "labels": {"alertname": "KubePodCrashLooping", "severity": "warning"},
    "annotations": {"summary": "Pod auth/auth-service-7c9 is crash looping"},
    "endsAt": "2025-03-01T10:00:00Z",
}


def _write(tmp_path, *lines):
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(**fields):
    return json.dumps(fields)


@pytest.fixture(scope="module")
def recommender(sample_kb):
    return Recommender(sample_kb)


@pytest.fixture(scope="module")
def sample_queries():
    return read_queries(QUERIES)


@pytest.fixture(scope="module")
def sample_predictions(recommender, sample_queries):
    return predict(recommender, sample_queries, top_k=10)


# Reading query files ------------------------------------------------------


def test_read_queries_sample_file(sample_queries):
    assert len(sample_queries) == 52
    first = sample_queries[0]
    assert first.id == "line-1"
    assert first.text.startswith("CertificateExpiringSoon")
    assert first.relevant_ids == (
        "PM-2024-007",
        "Q1VN5HE9RM3BQW",
        "RB-certificate-expiring-soon",
    )
    assert first.severity == "SEV3"
    assert first.category == "certificate expiry"


def test_read_queries_each_alert_kind(tmp_path):
    webhook = json.loads((ALERTS / "alertmanager-disk-full.json").read_text())
    webhook["alerts"] = webhook["alerts"][:1]
    plain = json.loads((ALERTS / "alert-cert-expiry.json").read_text())
    path = _write(
        tmp_path,
        _line(id="text", query="orders-db replica lag", severity="critical"),
        "",
        _line(id="plain", alert=plain, category=" Certificate Expiry "),
        _line(id="bare", alert=ALERTMANAGER_ALERT, fix_type="Restart"),
        "   ",
        _line(alert=webhook, relevant_ids=[], exclude_ids=["PM-2023-011"]),
    )

    queries = read_queries(path)

    assert [q.id for q in queries] == ["text", "plain", "bare", "line-6"]
    assert queries[0].severity == "SEV1"
    assert queries[0].to_alert().title == "orders-db replica lag"
    assert queries[1].category == "certificate expiry"
    assert queries[1].to_alert().alertname == "CertificateExpiringSoon"
    assert queries[2].fix_type == "restart"
    bare = queries[2].to_alert()
    assert bare.alertname == "KubePodCrashLooping"
    assert bare.status == "resolved"
    assert queries[3].relevant_ids == ()
    assert queries[3].exclude_ids == ("PM-2023-011",)
    assert queries[3].to_alert().alertname == "NodeFilesystemSpaceFillingUp"


def test_read_queries_skips_byte_order_mark(tmp_path):
    path = tmp_path / "queries.jsonl"
    line = _line(id="bom", query="orders-db replica lag")
    path.write_bytes(b"\xef\xbb\xbf" + line.encode("utf-8") + b"\n")

    [query] = read_queries(path)

    assert query.id == "bom"


def test_read_queries_accepts_documented_examples(tmp_path):
    guide = (REPO_ROOT / "docs" / "EVALUATE.md").read_text(encoding="utf-8")
    block = re.search(r"One line of each kind:\n\n```json\n(.*?)```", guide, re.S)
    assert block is not None

    queries = read_queries(_write(tmp_path, block.group(1)))

    assert [q.id for q in queries] == [
        "text-1",
        "plain-1",
        "alert-1",
        "webhook-1",
        "novel-1",
    ]
    assert queries[2].severity == "SEV2"
    assert queries[4].relevant_ids == ()


def test_read_queries_lists_every_bad_line(tmp_path):
    path = _write(
        tmp_path,
        _line(query="fine", relevant_ids=["RB-x"]),
        '{"query": "unterminated',
        _line(relevant_ids=["RB-x"]),
        _line(query="disk full", relevant_ids="RB-x"),
        _line(query="disk full", severity="urgent"),
    )

    with pytest.raises(SourceError) as raised:
        read_queries(path)

    message = str(raised.value)
    assert "4 invalid line(s)" in message
    assert "line 2: invalid JSON: Unterminated string" in message
    assert (
        "line 3, field query: give either the alert text as 'query' or the alert "
        "object as 'alert'" in message
    )
    assert (
        "line 4, field relevant_ids: expected a list of record ids, got a string"
        in message
    )
    assert "line 5, field severity: unknown severity 'urgent'" in message
    assert "line 1" not in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            _line(query="a", alert={"title": "b"}),
            "field query: give either the alert text as 'query' or the alert "
            "object as 'alert', not both",
        ),
        (
            _line(query="a", relevant_id=["RB-x"]),
            "field relevant_id: unknown field; the fields are id, query, alert",
        ),
        (
            _line(query="a", relevant_ids=["RB-x", 3]),
            "field relevant_ids[1]: expected a non-empty record id string, "
            "got a number",
        ),
        (_line(query="a", fix_type="rollbak"), "unknown fix type 'rollbak'"),
        (_line(query=""), "line 1, field query: is empty"),
        ("[1, 2]", "line 1: expected a JSON object, got a list"),
        (
            _line(alert={"labels": {"team": "x"}}),
            "field alert: the alert has no text to match",
        ),
        (
            _line(alert={"title": 5}),
            "field alert.title: expected a string, got a number",
        ),
        (
            _line(alert={"version": "4", "alerts": [ALERTMANAGER_ALERT] * 2}),
            "field alert.alerts: the webhook holds 2 alerts; put each alert on "
            "its own line",
        ),
        (
            _line(alert={"alerts": [{"labels": ["x"]}]}),
            "field alert.alerts[0].labels: expected an object of strings",
        ),
    ],
)
def test_read_queries_rejects_invalid_line(tmp_path, line, expected):
    with pytest.raises(SourceError, match="1 invalid line") as raised:
        read_queries(_write(tmp_path, line))
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"id": "a", "query": "disk full", "severity": "SEV2", "severity": "SEV3"}',
            "line 1, field severity: the field is given twice in one object",
        ),
        (
            '{"id": "a", "alert": {"title": "x", "title": "y"}}',
            "line 1, field title: the field is given twice in one object",
        ),
        (
            '{"id": "a", "alert": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "line 1: invalid JSON: nested too deeply",
        ),
        (
            '{"id": "a", "query": "x", "severity": ' + "9" * 5_000 + "}",
            "line 1: invalid JSON: a number too long to read",
        ),
        (
            '{"id": "a", "query": "disk full", "category": "disk\\ud800"}',
            "line 1, field category: contains an unpaired UTF-16 surrogate",
        ),
        (
            '{"id": "q\\ud800", "query": "disk full"}',
            "line 1, field id: contains an unpaired UTF-16 surrogate",
        ),
    ],
)
def test_read_queries_rejects_unreadable_json(tmp_path, line, expected):
    with pytest.raises(SourceError, match="1 invalid line") as raised:
        read_queries(_write(tmp_path, line))
    assert expected in str(raised.value)


def test_read_queries_rejects_duplicate_id(tmp_path):
    path = _write(tmp_path, _line(id="q1", query="a"), _line(id="q1", query="b"))
    with pytest.raises(SourceError) as raised:
        read_queries(path)
    assert "line 2, field id: 'q1' is already used on line 1" in str(raised.value)


def test_read_queries_missing_file(tmp_path):
    with pytest.raises(SourceError, match="queries file not found"):
        read_queries(tmp_path / "absent.jsonl")


def test_read_queries_blank_file(tmp_path):
    with pytest.raises(SourceError, match="no queries; write one JSON object"):
        read_queries(_write(tmp_path, "", "  "))


def test_read_queries_keeps_unicode_line_separators(tmp_path):
    pasted = "disk full\u2028on db-1\u0085now"
    path = tmp_path / "queries.jsonl"
    lines = [
        json.dumps({"id": "a", "query": pasted}, ensure_ascii=False),
        json.dumps({"id": "b", "query": "x", "relevant_ids": "RB-1"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(SourceError) as raised:
        read_queries(path)

    message = str(raised.value)
    assert "1 invalid line(s)" in message
    assert "line 2, field relevant_ids" in message


def test_read_queries_invalid_json_column(tmp_path):
    with pytest.raises(SourceError) as raised:
        read_queries(_write(tmp_path, '{"query": "unterminated'))
    message = str(raised.value)
    assert "invalid JSON: Unterminated string starting at column 11" in message
    assert "at at" not in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            _line(query="a", relevenat_ids=[], sevrity="P1"),
            "line 1, field relevenat_ids, sevrity: unknown fields",
        ),
        (_line(id="", query="a"), "line 1, field id: is empty"),
        (_line(query="a", category=" "), "line 1, field category: is empty"),
        (
            _line(query="a", severity=1.5),
            "field severity: expected a string such as SEV2 or a whole number",
        ),
    ],
)
def test_read_queries_names_field_problem(tmp_path, line, expected):
    with pytest.raises(SourceError) as raised:
        read_queries(_write(tmp_path, line))
    assert expected in str(raised.value)


def test_read_queries_caps_listed_problems(tmp_path):
    path = _write(tmp_path, *[_line(query="a", severity="urgent")] * 25)
    with pytest.raises(SourceError) as raised:
        read_queries(path)
    message = str(raised.value)
    assert "25 invalid line(s)" in message
    assert "line 20, field severity" in message
    assert "line 21," not in message
    assert "... and 5 more" in message


def test_read_queries_spots_json_document(tmp_path):
    document = json.dumps([{"query": "disk full"}, {"query": "cert"}], indent=2)
    path = tmp_path / "queries.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(SourceError, match="one JSON document over several lines"):
        read_queries(path)


def test_read_queries_non_utf8_line(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_bytes(b'{"query": "a"}\n{"query": "caf\xe9"}\n')
    with pytest.raises(SourceError) as raised:
        read_queries(path)
    message = str(raised.value)
    assert "line 2, byte 15 of the line: not valid UTF-8" in message
    assert "save the file as UTF-8" in message


def test_labelled_query_needs_text_or_alert():
    with pytest.raises(ValueError, match="set exactly one of text and alert"):
        LabelledQuery(id="q")


# Scoring hand-made predictions ---------------------------------------------


def _prediction(query_id, ranked, best, severity=None, category=None, fixes=()):
    return Prediction(
        query_id=query_id,
        ranked_ids=ranked,
        scores=[best] * len(ranked),
        best_score=best,
        no_close_precedent=best < DEFAULT_THRESHOLD,
        severity=severity,
        category=category,
        fix_types=list(fixes),
    )


def test_score_hand_made_predictions():
    queries = [
        LabelledQuery("a", text="x", relevant_ids=("R1",), severity="SEV1"),
        LabelledQuery("b", text="x", relevant_ids=("R2",), severity="SEV2"),
        LabelledQuery("c", text="x", relevant_ids=(), category="dns"),
        LabelledQuery("d", text="x", fix_type="rollback"),
    ]
    predictions = [
        _prediction("a", ["R1", "R9"], 0.8, severity="SEV1"),
        _prediction("b", ["R9", "R2"], 0.5, severity="SEV1"),
        _prediction("c", ["R9"], 0.2, category="DNS"),
        _prediction("d", ["R9"], 0.7, fixes=["restart", "rollback"]),
    ]

    result = score(queries, predictions, threshold=0.42, bootstrap=200)

    retrieval = result["retrieval"]
    assert retrieval["recall@1"]["value"] == pytest.approx(0.5)
    assert retrieval["recall@1"]["n"] == 2
    assert retrieval["recall@5"]["value"] == pytest.approx(1.0)
    assert retrieval["mrr@10"]["value"] == pytest.approx(0.75)
    assert retrieval["missed_at_5"] == []
    assert result["severity"]["accuracy"]["value"] == pytest.approx(0.5)
    assert result["severity"]["labels"] == ["SEV1", "SEV2"]
    assert result["severity"]["confusion_matrix"] == [[1, 0], [1, 0]]
    assert result["category"]["accuracy"]["value"] == pytest.approx(1.0)
    assert result["fix_type"]["agreement"]["value"] == pytest.approx(1.0)
    assert result["fix_type"]["agreement"]["n"] == 1

    flag = result["no_close_precedent"]
    # a, b and c have relevant_ids: a and b are answered, c is flagged.
    assert flag["answered"]["value"] == pytest.approx(2 / 3)
    assert flag["accuracy"]["value"] == pytest.approx(0.5)
    assert flag["flagged"]["value"] == pytest.approx(1.0)
    assert flag["flagged"]["n"] == 1
    assert len(flag["curve"]) == 101
    assert json.loads(json.dumps(result)) == result


def test_score_leaves_out_unknown_ids():
    queries = [LabelledQuery("a", text="x", relevant_ids=("R1", "GONE"))]
    only_gone = [LabelledQuery("b", text="x", relevant_ids=("GONE",))]

    result = score(queries, [_prediction("a", ["GONE"], 0.9)], 0.42, known_ids={"R1"})
    flagged = score(only_gone, [_prediction("b", ["R1"], 0.1)], 0.42, known_ids={"R1"})

    assert result["retrieval"]["recall@1"]["value"] == 0.0
    assert result["unknown_relevant_ids"] == ["GONE"]
    report = render_evaluation(result)
    listed = "Relevant ids not in the knowledge base, left out of their queries: GONE"
    assert listed in report
    assert flagged["retrieval"]["recall@1"]["n"] == 0
    assert flagged["no_close_precedent"]["flagged"]["value"] == 1.0


def test_score_flags_by_raised_bar():
    # The recommender asked 0.67 of an alert named on no nearby record, so a
    # best score of 0.55 was flagged although it passes the threshold 0.42.
    queries = [
        LabelledQuery("named", text="x", relevant_ids=("R1",)),
        LabelledQuery("plain", text="y", relevant_ids=("R2",)),
    ]
    raised = replace(_prediction("named", ["R1"], 0.55), precedent_bar=0.67)
    raised = replace(raised, no_close_precedent=True)
    predictions = [raised, _prediction("plain", ["R2"], 0.55)]

    flag = score(queries, predictions, threshold=0.42, bootstrap=0)[
        "no_close_precedent"
    ]

    assert flag["answered"]["value"] == pytest.approx(0.5)
    assert flag["accuracy"]["value"] == pytest.approx(1.0)
    by_threshold = {round(point["threshold"], 2): point for point in flag["curve"]}
    assert by_threshold[0.42]["answered"] == 1
    assert by_threshold[0.3]["answered"] == 2
    assert by_threshold[0.56]["answered"] == 0


def test_score_rejects_mismatched_predictions():
    queries = [LabelledQuery("a", text="x"), LabelledQuery("b", text="y")]
    with pytest.raises(ValueError, match="got 2 queries but 1 predictions"):
        score(queries, [_prediction("a", [], 0.0)], 0.42)
    with pytest.raises(ValueError, match="prediction 1 is for query 'c'"):
        score(queries, [_prediction("a", [], 0.0), _prediction("c", [], 0.0)], 0.42)


# The recommender on the sample knowledge base ------------------------------


def test_sample_queries_scores(sample_queries, sample_predictions):
    result = score(sample_queries, sample_predictions, DEFAULT_THRESHOLD)

    retrieval = result["retrieval"]
    # Measured: Recall@1 1.000, Recall@5 1.000, MRR@10 1.000, nDCG@10 0.959.
    assert retrieval["recall@5"]["value"] >= 0.95
    assert retrieval["recall@5"]["n"] == 52
    assert retrieval["recall@1"]["value"] >= 0.9
    assert retrieval["mrr@10"]["value"] >= 0.9
    assert retrieval["ndcg@10"]["value"] >= 0.9
    low = retrieval["ndcg@10"]["ci_low"]
    high = retrieval["ndcg@10"]["ci_high"]
    assert low <= retrieval["ndcg@10"]["value"] <= high
    # Measured: severity accuracy 0.904, category accuracy 0.981.
    assert result["severity"]["accuracy"]["value"] >= 0.8
    assert result["severity"]["labels"][:4] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert result["category"]["accuracy"]["value"] >= 0.9
    assert result["no_close_precedent"]["answered"]["value"] >= 0.9
    assert json.loads(json.dumps(result)) == result


def test_predict_keeps_query_order(sample_queries, sample_predictions):
    assert [p.query_id for p in sample_predictions] == [q.id for q in sample_queries]
    for prediction in sample_predictions:
        assert len(prediction.ranked_ids) == 10
        assert prediction.scores == sorted(prediction.scores, reverse=True)
        assert prediction.best_score == prediction.scores[0]


def test_predict_honours_exclude_ids(recommender, sample_queries, sample_predictions):
    query = sample_queries[0]
    excluded = replace(query, exclude_ids=query.relevant_ids)

    [prediction] = predict(recommender, [excluded], top_k=10)

    assert sample_predictions[0].ranked_ids[0] in query.relevant_ids
    assert not set(prediction.ranked_ids) & set(query.relevant_ids)
    assert len(prediction.ranked_ids) == 10
    result = score([excluded], [prediction], DEFAULT_THRESHOLD, bootstrap=0)
    assert result["retrieval"]["recall@5"]["n"] == 0
    assert result["no_close_precedent"]["flagged"]["n"] == 1


def test_novel_alert_is_flagged(recommender):
    novel = json.loads((ALERTS / "alert-novel.json").read_text())
    query = LabelledQuery("novel", alert=novel, relevant_ids=())

    [prediction] = predict(recommender, [query])
    result = score([query], [prediction], DEFAULT_THRESHOLD, bootstrap=0)

    assert prediction.no_close_precedent
    assert prediction.severity == "SEV4"  # from the alert's own "info" label
    assert result["no_close_precedent"]["flagged"]["value"] == 1.0
    assert result["no_close_precedent"]["answered"]["value"] == 0.0


# The evaluate command ------------------------------------------------------


def _sample_lines(count):
    return QUERIES.read_text(encoding="utf-8").splitlines()[:count]


def test_evaluate_command_report_and_json(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(3))
    output = tmp_path / "result.json"

    status = main(
        [
            "--home",
            str(sample_home),
            "evaluate",
            "--queries",
            str(queries),
            "--output",
            str(output),
            "--bootstrap",
            "100",
        ]
    )
    out, err = capsys.readouterr()

    assert status == 0, err
    assert "Evaluation of 3 queries" in out
    assert "Recall@5" in out
    assert "confusion matrix (rows expected, columns suggested):" in out
    assert "Coverage against accuracy" in out
    assert f"wrote {output}" in out
    result = json.loads(output.read_text(encoding="utf-8"))
    assert result["queries"] == 3
    assert result["top_k"] == 10
    assert result["bootstrap"]["resamples"] == 100
    assert result["retrieval"]["recall@5"]["n"] == 3
    assert f"{result['retrieval']['recall@5']['value']:.3f}" in out
    assert [p["query_id"] for p in result["predictions"]] == [
        "line-1",
        "line-2",
        "line-3",
    ]
    assert json.loads(json.dumps(result)) == result


def test_evaluate_command_without_intervals(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(2))
    status = main(
        [
            "--home",
            str(sample_home),
            "evaluate",
            "--queries",
            str(queries),
            "--bootstrap",
            "0",
        ]
    )
    out, _ = capsys.readouterr()
    assert status == 0
    assert "Intervals: none (--bootstrap 0)" in out
    assert "[" not in out.split("Retrieval", 1)[1].split("Severity", 1)[0]


def test_evaluate_command_invalid_queries(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, _line(query="disk full", severity="urgent"))
    status = main(["--home", str(sample_home), "evaluate", "--queries", str(queries)])
    _, err = capsys.readouterr()
    assert status == 2
    assert "line 1, field severity: unknown severity 'urgent'" in err
    assert "Traceback" not in err


def test_evaluate_command_missing_queries(sample_home, tmp_path, capsys):
    missing = tmp_path / "absent.jsonl"
    status = main(["--home", str(sample_home), "evaluate", "--queries", str(missing)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"error: {missing}: queries file not found" in err


def test_evaluate_command_without_knowledge_base(tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    home = tmp_path / "nothing-here"
    status = main(["--home", str(home), "evaluate", "--queries", str(queries)])
    _, err = capsys.readouterr()
    assert status == 2
    assert "error: no knowledge base at" in err
    assert str(home) in err
    assert not home.exists()


def test_evaluate_command_empty_knowledge_base(tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    home = tmp_path / "empty"
    Database(IndexerSettings(home=home).resolved_database_url)
    status = main(["--home", str(home), "evaluate", "--queries", str(queries)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"the knowledge base in {home} has no records" in err
    assert "Traceback" not in err


def test_evaluate_command_output_folder_missing(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    output = tmp_path / "no-such-folder" / "result.json"
    status = main(
        [
            "--home",
            str(sample_home),
            "evaluate",
            "--queries",
            str(queries),
            "--output",
            str(output),
        ]
    )
    _, err = capsys.readouterr()
    assert status == 2
    assert "folder" in err
    assert "does not exist" in err


@pytest.mark.parametrize("value", ["-1", "many"])
def test_evaluate_command_rejects_bad_bootstrap(capsys, value):
    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--queries", str(QUERIES), "--bootstrap", value])
    assert raised.value.code == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_evaluate_command_with_foreign_ids(sample_home, tmp_path, capsys):
    queries = _write(
        tmp_path,
        _line(query="disk full", relevant_ids=["OTHER-1"]),
        _line(query="cert expired", relevant_ids=["OTHER-2"]),
    )
    status = main(["--home", str(sample_home), "evaluate", "--queries", str(queries)])
    _, err = capsys.readouterr()
    assert status == 2
    assert "error: none of the 2 relevant ids" in err
    assert "'OTHER-1'" in err


def test_evaluate_command_warns_about_unknown_ids(sample_home, tmp_path, capsys):
    queries = _write(
        tmp_path,
        _line(
            query="certificate expired on checkout",
            relevant_ids=["PM-2024-007", "GONE-1"],
            exclude_ids=["GONE-2"],
        ),
    )
    status = main(
        [
            "--home",
            str(sample_home),
            "evaluate",
            "--queries",
            str(queries),
            "--bootstrap",
            "0",
        ]
    )
    _, err = capsys.readouterr()
    assert status == 0
    assert "warning: 1 of the 2 ids in relevant_ids are not in" in err
    assert "GONE-1" in err
    assert "warning: 1 of the 1 ids in exclude_ids are not in" in err
    assert "GONE-2" in err


def _evaluate(home, queries, *extra):
    arguments = ["--home", str(home), "evaluate", "--queries", str(queries)]
    return main([*arguments, "--bootstrap", "0", *extra])


def test_evaluate_command_names_near_labels(sample_home, tmp_path, capsys):
    queries = _write(
        tmp_path,
        _line(
            query="certificate expired on checkout",
            relevant_ids=["pm-2024-007"],
            category="certificate-expiry",
        ),
        _line(query="disk full on orders-db", relevant_ids=["PM-2023-011"]),
    )

    status = _evaluate(sample_home, queries)
    _, err = capsys.readouterr()

    assert status == 0
    assert "pm-2024-007 (the knowledge base has PM-2024-007)" in err
    assert (
        "1 of the 1 categories in the queries are on no record, so they are never "
        "suggested: 'certificate-expiry' (records use 'certificate expiry')" in err
    )


def test_evaluate_command_warns_short_top_k(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    status = _evaluate(sample_home, queries, "--top-k", "3")
    _, err = capsys.readouterr()
    assert status == 0
    assert "warning: --top-k 3 retrieves fewer than 10 matches" in err


@pytest.mark.parametrize("target", ["queries", "folder"])
def test_evaluate_command_rejects_output_first(sample_home, tmp_path, capsys, target):
    queries = _write(tmp_path, *_sample_lines(1))
    before = queries.read_bytes()
    output = queries if target == "queries" else tmp_path

    status = _evaluate(sample_home, queries, "--output", str(output))
    out, err = capsys.readouterr()

    assert status == 2
    assert f"error: --output {output}:" in err
    assert "Evaluation of" not in out
    assert queries.read_bytes() == before


def test_evaluate_command_failed_write_keeps_old(
    sample_home, tmp_path, capsys, monkeypatch
):
    queries = _write(tmp_path, *_sample_lines(1))
    output = tmp_path / "result.json"
    output.write_text('{"earlier": true}\n', encoding="utf-8")

    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recommender.evaluate_command.os.replace", full_disk)
    status = _evaluate(sample_home, queries, "--output", str(output))
    _, err = capsys.readouterr()

    assert status == 2
    assert f"error: cannot write {output}: No space left on device" in err
    assert json.loads(output.read_text(encoding="utf-8")) == {"earlier": True}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "queries.jsonl",
        "result.json",
    ]


def test_evaluate_command_caps_bootstrap(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--queries", str(QUERIES), "--bootstrap", "100001"])
    assert raised.value.code == 2
    assert "must be between 0 and 100000" in capsys.readouterr().err


def test_label_values_of_sample(sample_kb):
    categories = sample_kb.database.label_values("category")
    assert "certificate expiry" in categories
    assert "disk full" in categories
    assert all(value == value.strip().lower() for value in categories)


def test_evaluate_command_writes_through_link(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    real = tmp_path / "results" / "real.json"
    real.parent.mkdir()
    real.write_text("{}\n", encoding="utf-8")
    link = tmp_path / "latest.json"
    link.symlink_to(real)

    status = _evaluate(sample_home, queries, "--output", str(link))
    capsys.readouterr()

    assert status == 0
    assert link.is_symlink()
    assert json.loads(real.read_text(encoding="utf-8"))["queries"] == 1


def test_evaluate_command_ids_only_in_case(sample_home, tmp_path, capsys):
    queries = _write(
        tmp_path, _line(query="disk full on orders-db", relevant_ids=["pm-2023-011"])
    )

    status = _evaluate(sample_home, queries)
    _, err = capsys.readouterr()

    assert status == 2
    assert "ids differ in case only (the knowledge base has 'PM-2023-011')" in err


def test_evaluate_command_appends_to_redirected_stdout(sample_home, tmp_path):
    queries = _write(tmp_path, *_sample_lines(1))
    log = tmp_path / "eval.log"
    log.write_text("earlier run\n", encoding="utf-8")
    command = [sys.executable, "-m", "recommender.cli", "--home", str(sample_home)]
    command += ["evaluate", "--queries", str(queries), "--bootstrap", "0"]

    with log.open("a", encoding="utf-8") as stdout:
        process = subprocess.run(
            [*command, "--output", "/dev/stdout"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=300,
        )

    assert process.returncode == 0, process.stderr
    earlier, result = log.read_text(encoding="utf-8").split("\n", 1)
    assert earlier == "earlier run"
    assert json.loads(result)["queries"] == 1
    assert b"Evaluation of 1 queries" in process.stderr


def test_evaluate_command_case_hint_any_id(sample_home, tmp_path, capsys):
    queries = _write(
        tmp_path,
        _line(query="disk full on orders-db", relevant_ids=["pm-2023-011"]),
        _line(query="cert expired", relevant_ids=["AAA-1"]),
    )

    status = _evaluate(sample_home, queries)
    _, err = capsys.readouterr()

    assert status == 2
    assert "(the knowledge base has 'PM-2023-011')" in err


def test_evaluate_command_dangling_link_folder(sample_home, tmp_path, capsys):
    queries = _write(tmp_path, *_sample_lines(1))
    link = tmp_path / "result.json"
    link.symlink_to(tmp_path / "missing" / "result.json")

    status = _evaluate(sample_home, queries, "--output", str(link))
    _, err = capsys.readouterr()

    assert status == 2
    assert f"folder {tmp_path / 'missing'} does not exist" in err
