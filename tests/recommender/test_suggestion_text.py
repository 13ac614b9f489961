"""How suggestions and scores read: a record's prose without its commands, only
the quoted records as evidence, and no score rounded onto the threshold."""

import pytest

from indexer.readers import read_sources
from indexer.record import IncidentRecord, Kind
from indexer.severity import Severity
from recommender.recommendation import score_text
from recommender.report import render_recommendation
from recommender.retrieval import Match
from recommender.schemas import (
    CategoryOut,
    RecommendationOut,
    SeverityOut,
    SuggestionOut,
)
from recommender.suggestions import (
    code_blocks,
    shorten,
    suggest_fixes,
    suggest_root_causes,
    suggest_severity,
)
from recommender.web.rendering import templates

FENCE = "`" * 3


def test_code_labels_left_out_with_code():
    text = "\n".join(
        [
            "On a PostgreSQL host:",
            FENCE,
            "$ du -sh /var/lib/postgresql/*/main/pg_wal",
            FENCE,
            "On a Kubernetes node:",
            FENCE,
            "$ kubectl describe node NODE",
            FENCE,
        ]
    )

    assert shorten(text) == ""


def test_prose_around_code_kept():
    text = "\n".join(
        [
            "The WAL volume filled because a replication slot was inactive.",
            "Check the slots:",
            FENCE,
            "SELECT slot_name FROM pg_replication_slots;",
            FENCE,
            "Archiving had also failed: the bucket credentials expired.",
        ]
    )

    assert shorten(text) == (
        "The WAL volume filled because a replication slot was inactive. "
        "Archiving had also failed: the bucket credentials expired."
    )


def test_colon_line_without_code_kept():
    text = "Two causes:\n- a paused CDC connector\n- no cap on retained WAL"

    assert shorten(text) == "a paused CDC connector; no cap on retained WAL"


def test_table_rows_become_items():
    text = "\n".join(
        [
            "| Cause | Owner |",
            "|---|---|",
            "| Expired certificate | edge |",
            "| Bad DNS | net |",
        ]
    )

    assert shorten(text) == "Expired certificate; Bad DNS"


def _match(record_id: str, score: float, cause: str) -> Match:
    record = IncidentRecord(
        id=record_id,
        kind=Kind.POSTMORTEM,
        title=record_id,
        sections={"root_cause": cause},
        labels={"category": "crash loop"},
    )
    return Match(record=record, score=score, dense=score, keyword=0.0, labels=0.0)


def test_root_cause_evidence_is_its_own_records():
    lock = "The pod that held the migration lock was OOMKilled and never freed it."
    slow = "The JVM took longer to start than the liveness probe allowed it to."
    matches = [
        _match("PM-1", 0.8, lock),
        _match("PM-2", 0.7, slow),
        _match("OPS-3", 0.6, lock),
    ]

    [cause] = suggest_root_causes(matches)

    # Only the records whose cause this is are its evidence. The other match of
    # the category adds to the confidence but is listed apart, since its cause
    # differs.
    assert cause.text == lock
    assert cause.evidence == ["PM-1", "OPS-3"]
    assert cause.related == ["PM-2"]
    assert cause.category == "crash loop"
    assert cause.confidence == 0.8


def test_short_ticket_cause_is_suggested():
    matches = [
        _match("REP-0", 0.95, "Memory leak in the worker process."),
        _match("REP-1", 0.8, "Memory leak in the worker process."),
    ]

    [cause] = suggest_root_causes(matches)

    assert cause.text == "Memory leak in the worker process."
    assert cause.evidence == ["REP-0", "REP-1"]


def test_same_fix_of_tickets_is_one_suggestion():
    matches = [_match(f"REP-{n}", 0.9 - n / 10, "") for n in range(3)]
    for match in matches:
        match.record.sections["resolution"] = "Restarted the worker  pods."
    matches[1].record.sections["resolution"] = "restarted the worker pods"

    [fix] = suggest_fixes(matches)

    assert fix.text == "Restarted the worker  pods."
    assert fix.evidence == ["REP-0", "REP-2"]
    assert fix.related == ["REP-1"]
    assert fix.confidence == 0.9
    assert fix.category is None
    assert fix.fix_type == "restart"


@pytest.mark.parametrize(
    "placeholder",
    [
        "TODO",
        "To be added.",
        "unknown",
        "n/a",
        "Root cause unknown",
        "Under investigation.",
        "TBD after RCA",
        "Pending postmortem",
        "See OPS-2001",
    ],
)
def test_placeholder_cause_is_passed_over(placeholder):
    assert suggest_root_causes([_match("RB-1", 0.9, placeholder)]) == []


@pytest.mark.parametrize(
    "cause",
    ["Unknown client flooded the login API", "None of the replicas had quorum"],
)
def test_prose_starting_like_placeholder_is_kept(cause):
    [suggestion] = suggest_root_causes([_match("PM-1", 0.9, cause)])

    assert suggestion.text == cause


def _empty_recommendation(no_close_precedent: bool) -> RecommendationOut:
    return RecommendationOut(
        no_close_precedent=no_close_precedent,
        message="5 similar past record(s)",
        threshold=0.42,
        matches=[],
        root_causes=[],
        severity=SeverityOut(value=None, confidence=0.0, evidence=[], votes={}),
        category=CategoryOut(value=None, confidence=0.0, evidence=[], votes={}),
        fixes=[],
        latency_ms=1.0,
    )


def test_report_tells_missing_cause_from_no_precedent():
    with_precedent = render_recommendation(_empty_recommendation(False))
    without = render_recommendation(_empty_recommendation(True))

    assert "none: the close matches record no root cause" in with_precedent
    assert "none: the close matches record no fix" in with_precedent
    assert "no close precedent" not in with_precedent
    assert without.count("none: no close precedent") == 2


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.8123, "0.81"), (0.4249, "0.42"), (0.4169, "0.417"), (0.4199, "0.4199")],
)
def test_score_below_threshold_never_prints_as_it(score, expected):
    assert score_text(score, 0.42) == expected


def test_outvoted_alert_label_is_kept_and_shown():
    def voter(record_id: str, score: float) -> Match:
        record = IncidentRecord(
            id=record_id, kind=Kind.INCIDENT, title=record_id, severity_raw="SEV3"
        )
        return Match(record=record, score=score, dense=score, keyword=0.0, labels=0.0)

    severity = suggest_severity([voter("OPS-1", 0.9), voter("OPS-2", 0.8)], "critical")

    assert severity.value == Severity.SEV3
    assert severity.alert_label == "SEV1"
    assert "alert label" not in severity.evidence

    recommendation = RecommendationOut(
        no_close_precedent=False,
        message="2 similar past record(s)",
        threshold=0.42,
        matches=[],
        root_causes=[],
        severity=SeverityOut(
            value="SEV3",
            confidence=0.63,
            evidence=["OPS-1", "OPS-2"],
            votes=severity.votes,
            alert_label=severity.alert_label,
        ),
        category=CategoryOut(value=None, confidence=0.0, evidence=[], votes={}),
        fixes=[],
        latency_ms=1.0,
    )
    text = " ".join(render_recommendation(recommendation).split())
    assert (
        "the alert's own label (SEV1) was outvoted (votes: SEV1 1.00, SEV3 1.70)"
        in text
    )
    written = " ".join(render_recommendation(recommendation, "critical").split())
    assert "the alert's own label (critical, SEV1) was outvoted" in written
    same = " ".join(render_recommendation(recommendation, "sev1").split())
    assert "the alert's own label (SEV1) was outvoted" in same


def test_page_scores_never_round_onto_threshold():
    template = templates.from_string(
        "{{ 0.4191|score(0.42) }} {{ 0.8123|score(0.42) }}"
    )
    assert template.render() == "0.419 0.81"


def test_report_labels_related_fix_records():
    recommendation = _empty_recommendation(False)
    recommendation.fixes = [
        SuggestionOut(
            text="Restarted the worker pods.",
            confidence=0.9,
            evidence=["REP-0"],
            related=["REP-1"],
            fix_type="restart",
        )
    ]

    text = render_recommendation(recommendation)

    assert "from REP-0; same fix: REP-1" in text
    assert "same category" not in text


def _severity_match(record_id: str, score: float, severity: Severity) -> Match:
    record = IncidentRecord(
        id=record_id,
        kind=Kind.INCIDENT,
        title=record_id,
        severity=severity,
        labels={"category": "token validation"},
    )
    return Match(record=record, score=score, dense=score, keyword=0.0, labels=0.0)


def test_one_weak_match_gives_no_full_confidence():
    from recommender.suggestions import suggest_category, suggest_severity

    matches = [_severity_match("INC-104", 0.53, Severity.SEV2)]

    severity = suggest_severity(matches, None)
    category = suggest_category(matches)

    assert severity.value is Severity.SEV2
    assert severity.confidence == 0.53
    assert category.confidence == 0.53
    # The alert's own label is full evidence for the level it names, which
    # then has the share of the votes as its confidence.
    labelled = suggest_severity(matches, "warning")
    assert labelled.value is Severity.SEV3
    assert labelled.confidence == round(1.0 / 1.53, 4)
    strong = [*matches, _severity_match("INC-200", 0.9, Severity.SEV2)]
    assert suggest_severity(strong, None).confidence == 0.9


def test_fix_keeps_the_code_of_its_section():
    session = [
        "# confirm what the edge serves",
        "$ openssl s_client -connect shop.example.com:443 | openssl x509 -enddate",
        "notAfter=Mar 12 02:13:59 2024 GMT",
        "$ kubectl -n zebra set env deployment/api \\",
        "    --containers=api JAVA_OPTS=-Xmx2g",
    ]
    query = [
        "postgres=# SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
        "postgres-#   WHERE state = 'idle';",
    ]
    resolution = "\n".join(
        [
            FENCE,
            *session,
            FENCE,
            "",
            "The certificate was issued at 03:27.",
            "",
            FENCE + "sql",
            *query,
            FENCE,
        ]
    )
    match = _match("PM-1", 0.9, "")
    match.record.sections["resolution"] = resolution

    [fix] = suggest_fixes([match])

    # Blocks stay whole: a continuation line cut off would change the command.
    assert fix.text == "The certificate was issued at 03:27."
    assert fix.code == ["\n".join(session), "\n".join(query)]
    assert fix.code_omitted_lines == 0


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        # A ``` line inside a ```` block is code, as in CommonMark.
        (["````", "```bash", "echo inner", "```", "````", "Rolled back."], 3),
        # ~~~ does not close a ``` block.
        (["```", "~~~", "numbatctl status", "```", "Rolled back."], 2),
    ],
    ids=["nested fence", "mixed fences"],
)
def test_fences_close_as_in_commonmark(lines, code):
    match = _match("PM-1", 0.9, "")
    match.record.sections["resolution"] = "\n".join(lines)

    [fix] = suggest_fixes([match])

    assert fix.text == "Rolled back."
    assert len(fix.code[0].splitlines()) == code


@pytest.mark.parametrize(
    ("resolution", "code"),
    [
        ("> ```sh\n> systemctl restart nginx\n> ```", ["systemctl restart nginx"]),
        # An unquoted line ends the block, though it would continue a quoted
        # paragraph.
        (
            "> ```\n> systemctl restart nginx\nRestarted nginx.",
            ["systemctl restart nginx"],
        ),
        ("> > ~~~\n> > SELECT pg_promote();\n> > ~~~", ["SELECT pg_promote();"]),
        (
            "Ran:\n\n    redis-cli ping\n\n    redis-cli info",
            ["redis-cli ping\n\nredis-cli info"],
        ),
        ("Ran:\n\n\tredis-cli ping\n", ["redis-cli ping"]),
        ("> Ran:\n>\n>     redis-cli ping", ["redis-cli ping"]),
        ("- Drained node-7:\n\n      kubectl drain node-7", ["kubectl drain node-7"]),
        (
            "- Drained node-7:\n\n    ```\n    kubectl drain node-7\n    ```",
            ["kubectl drain node-7"],
        ),
        ("- Drained node-7.\n\n    The pods moved to other nodes.", []),
        ("1. Drained node-7.\n\n    The pods moved to other nodes.", []),
        ("10. Drained node-7.\n\n    The pods moved to other nodes.", []),
        ("Restarted the pods\n    one by one.", []),
    ],
    ids=[
        "quoted fence",
        "quoted fence ended by the quote",
        "fence in a nested quote",
        "indented by spaces",
        "indented by a tab",
        "indented in a quote",
        "indented in a list item",
        "fence in a list item",
        "list item paragraph",
        "ordered list item paragraph",
        "wide list marker paragraph",
        "paragraph continuation",
    ],
)
def test_code_blocks_follow_commonmark(resolution, code):
    assert code_blocks(resolution)[0] == code


def test_fix_text_leaves_out_quoted_and_indented_code():
    match = _match("PM-1", 0.9, "")
    match.record.sections["resolution"] = "\n".join(
        [
            "Failed over to the replica:",
            "",
            "> ```sql",
            "> SELECT pg_promote();",
            "> ```",
            "",
            "Then rolled the API back:",
            "",
            "    kubectl rollout undo deploy/api",
            "    kubectl rollout status deploy/api",
            "",
            "Errors stopped at 10:42.",
        ]
    )

    [fix] = suggest_fixes([match])

    # The lines that introduce the code go with it.
    assert fix.text == "Errors stopped at 10:42."
    assert fix.code == [
        "SELECT pg_promote();",
        "kubectl rollout undo deploy/api\nkubectl rollout status deploy/api",
    ]
    assert fix.code_omitted_lines == 0


def test_fix_code_from_markdown_file(tmp_path):
    text = (
        "# API errors\n\n**Root cause:**\n\nA release with a broken config.\n\n"
        "**Resolution**\n\n    kubectl rollout undo deploy/api\n\n"
        "Rolled back the release.\n"
    )
    (tmp_path / "api-errors.md").write_text(text, encoding="utf-8")
    [record] = read_sources([tmp_path]).records
    match = Match(record=record, score=0.9, dense=0.9, keyword=0.0, labels=0.0)

    [cause] = suggest_root_causes([match])
    [fix] = suggest_fixes([match])

    assert cause.text == "A release with a broken config."
    assert fix.text == "Rolled back the release."
    assert fix.code == ["kubectl rollout undo deploy/api"]


def test_fix_written_only_as_code_is_suggested():
    match = _match("PM-1", 0.9, "")
    # The fence is never closed, so the block runs to the end of the section.
    match.record.sections["resolution"] = "\n".join(
        [FENCE + "bash", "kubectl rollout undo deploy/api", "kubectl get pods"]
    )

    [fix] = suggest_fixes([match])

    assert fix.text == "kubectl rollout undo deploy/api"
    assert fix.code == ["kubectl rollout undo deploy/api\nkubectl get pods"]
    assert fix.fix_type == "rollback"


def test_long_code_is_counted_not_cut_silently():
    match = _match("PM-1", 0.9, "")
    lines = [f"kubectl delete pod api-{n}" for n in range(50)]
    match.record.sections["resolution"] = "\n".join(
        ["Deleted the stuck pods.", FENCE, *lines, FENCE]
    )

    [fix] = suggest_fixes([match])

    assert fix.code == ["\n".join(lines[:40])]
    assert fix.code_omitted_lines == 10


def test_report_prints_code_and_marks_leads():
    recommendation = _empty_recommendation(True)
    recommendation.category = CategoryOut(
        value="database failover", confidence=0.0, evidence=["OPS-1"], votes={}
    )
    recommendation.fixes = [
        SuggestionOut(
            text="Ran a Sentinel failover.",
            confidence=0.01,
            evidence=["OPS-1"],
            code=["$ redis-cli -p 26379 SENTINEL FAILOVER mymaster\nOK"],
            code_omitted_lines=3,
            low_confidence=True,
        )
    ]

    text = render_recommendation(recommendation)

    assert "Likely category" not in text
    assert "Category of the nearest records: database failover" in text
    recommendation.category.evidence = ["history model"]
    by_model = render_recommendation(recommendation)
    assert "Category by the history model, no close precedent: database" in by_model
    recommendation.category.evidence = ["OPS-1"]
    assert "Suggested fixes" not in text
    assert "Fixes of the nearest records (low confidence, leads to check):" in text
    assert "\n            $ redis-cli -p 26379 SENTINEL FAILOVER mymaster\n" in text
    assert "\n            OK\n" in text
    assert "(3 more lines of code in OPS-1)" in text

    recommendation.no_close_precedent = False
    recommendation.fixes.append(
        SuggestionOut(text="Restarted the worker pods.", confidence=0.6, evidence=["A"])
    )
    mixed = render_recommendation(recommendation)
    assert "Suggested fixes:" in mixed
    assert "[low confidence] Ran a Sentinel failover." in mixed
    assert "Likely category: database failover" in mixed


@pytest.mark.parametrize(
    ("resolution", "text"),
    [
        (
            "Cleared the widget cache with the script:\n```html\n<b>x</b>\n```",
            "Cleared the widget cache with the script:",
        ),
        ("```\nreboot\n```", "reboot"),
    ],
    ids=["intro line only", "one short command"],
)
def test_fix_of_code_with_little_prose_is_kept(resolution, text):
    match = _match("PM-1", 0.9, "")
    match.record.sections["resolution"] = resolution

    [fix] = suggest_fixes([match])

    assert fix.text == text
    assert len(fix.code) == 1


def test_terminal_control_characters_are_escaped():
    recommendation = _empty_recommendation(False)
    recommendation.fixes = [
        SuggestionOut(
            text="Restarted the widget.",
            confidence=0.6,
            evidence=["ZT-1"],
            code=["safe line \x1b]0;pwned\x07 \x1b[2J\x1b[31mred"],
            code_omitted_lines=1,
        )
    ]

    text = render_recommendation(recommendation)

    assert "\x1b" not in text
    assert "\x07" not in text
    assert "safe line \\x1b]0;pwned\\x07 \\x1b[2J\\x1b[31mred" in text
    assert "(1 more line of code in ZT-1)" in text


def test_fix_code_under_nested_bold_labels(tmp_path):
    text = (
        "## Resolution\n\n"
        "**Mitigation:**\n\n"
        "    kubectl -n shop rollout undo deploy/checkout\n\n"
        "**Fix:**\n\n"
        "    helm upgrade checkout charts/checkout --set readiness.enabled=true\n"
    )
    (tmp_path / "checkout.md").write_text(text, encoding="utf-8")
    [record] = read_sources([tmp_path]).records
    match = Match(record=record, score=0.9, dense=0.9, keyword=0.0, labels=0.0)

    [fix] = suggest_fixes([match])

    assert fix.code == [
        "kubectl -n shop rollout undo deploy/checkout",
        "helm upgrade checkout charts/checkout --set readiness.enabled=true",
    ]
    assert fix.code_omitted_lines == 0
