"""Keyword candidates come from rare terms only, so their cost stays bounded."""

import numpy as np
import pytest

from indexer import term_frequencies
from indexer.errors import ConfigurationError
from indexer.knowledge_base import KnowledgeBase
from indexer.normalize import tokenize
from indexer.record import IncidentRecord, Kind
from indexer.scoring_rows import ScoringRow, parse_rows, row_values
from indexer.settings import IndexerSettings
from indexer.terms import title_terms
from recommender import retrieval
from recommender.alerts import Alert, alert_from_text
from recommender.retrieval import Retriever


def _incident(number: int, summary: str) -> IncidentRecord:
    return IncidentRecord(
        id=f"INC-{number}",
        kind=Kind.INCIDENT,
        title=f"Latency on checkout shard {number}",
        sections={"summary": summary},
    )


@pytest.fixture(scope="module")
def knowledge_base(tmp_path_factory, embedder):
    records = [
        _incident(n, f"checkout latency high on shard {n}, requests slow")
        for n in range(6)
    ]
    records.append(_incident(6, "checkout latency high, error code ZX81Q in logs"))
    knowledge_base = KnowledgeBase(
        IndexerSettings(home=tmp_path_factory.mktemp("keyword-kb")), embedder=embedder
    )
    knowledge_base.build(records)
    return knowledge_base


@pytest.fixture
def searched(knowledge_base, monkeypatch) -> list[list[str]]:
    """Record the terms of every keyword search, which still runs for real."""
    calls: list[list[str]] = []
    original = knowledge_base.database.keyword_rows

    def spy(terms, limit):
        calls.append(list(terms))
        return original(terms, limit)

    monkeypatch.setattr(knowledge_base.database, "keyword_rows", spy)
    return calls


def test_rare_terms_select_candidates(knowledge_base, searched, monkeypatch):
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert searched == [["zx81q"]]
    assert matches[0].record.id == "INC-6"
    # Common terms still count towards how well each candidate covers the alert.
    assert {"checkout", "latency", "zx81q"} <= set(matches[0].terms)


def test_small_base_uses_every_term(knowledge_base, searched):
    Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert searched == [["checkout", "latency", "high", "zx81q"]]


def test_keyword_candidates_scored_without_dense_side(knowledge_base, monkeypatch):
    # With no dense candidates, the rows the keyword side read (labels,
    # passages, tokens) are all the scoring has.
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    monkeypatch.setattr(knowledge_base, "nearest_records", lambda vector, k: [])

    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert [m.record.id for m in matches] == ["INC-6"]
    assert matches[0].dense > 0.3
    assert matches[0].sections
    assert matches[0].terms[0] == "zx81q"


def test_excluded_keyword_candidate_not_returned(knowledge_base, monkeypatch):
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    monkeypatch.setattr(knowledge_base, "nearest_records", lambda vector, k: [])

    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3, exclude=("INC-6",)
    )

    assert matches == []


def test_search_embedding_error_waits_for_keyword_side(
    knowledge_base, searched, monkeypatch
):
    def broken(text):
        raise ConfigurationError("the stored vectors came from another model")

    monkeypatch.setattr(knowledge_base, "embed_query", broken)

    with pytest.raises(ConfigurationError, match="another model"):
        Retriever(knowledge_base).search(alert_from_text("checkout ZX81Q"), top_k=3)
    # The keyword search had finished before the error reached the caller.
    assert searched == [["checkout", "zx81q"]]


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("disk full on node-3", "disk", True),
        ("disk full on node-3", "dis", False),
        ("disk full on node-3", "node", True),
        ("disk full on node-3", "3", True),
        ("highly available, then high load", "high", True),
        ("highly available", "high", False),
        ("thigh", "high", False),
        ("io_wait rose", "io", True),
        ("io_wait rose", "wait", True),
        ("", "disk", False),
    ],
)
def test_coverage_finds_whole_tokens(text, term, expected):
    values = row_values(1, "INC-1", {}, [], np.zeros((0, 384)), {"symptom": text})

    coverage = retrieval._keyword_coverage(
        [term], {term: 1}, 10, parse_rows([values]), set()
    )

    found = 1.0 - retrieval.TITLE_SHARE
    assert (coverage["INC-1"] == (pytest.approx(found), [term])) is expected
    if not expected:
        assert coverage["INC-1"] == (0.0, [])


def test_coverage_weighs_rare_terms_most():
    rows = [_row("A", " disk full "), _row("B", " disk zx81q ")]
    frequencies = {"disk": 90, "full": 50, "zx81q": 1}

    coverage = retrieval._keyword_coverage(
        ["disk", "full", "zx81q"], frequencies, 100, rows, set()
    )

    idf = {t: retrieval._idf(f, 100) for t, f in frequencies.items()}
    total = sum(idf.values())
    found = 1.0 - retrieval.TITLE_SHARE
    assert coverage["A"][0] == pytest.approx(
        found * (idf["disk"] + idf["full"]) / total
    )
    assert coverage["B"][0] == pytest.approx(
        found * (idf["disk"] + idf["zx81q"]) / total
    )
    assert coverage["B"][1] == ["zx81q", "disk"]
    assert coverage["B"][0] > coverage["A"][0]


def test_coverage_weighs_body_terms_less():
    symptom = ScoringRow(1, "A", "{}", [], [], np.zeros((0, 0)), " disk zx81q ", [])
    body_only = ScoringRow(2, "B", "{}", [], [], np.zeros((0, 0)), " disk ", [])
    elsewhere = ScoringRow(3, "C", "{}", [], [], np.zeros((0, 0)), " disk ", [])
    frequencies = {"disk": 90, "zx81q": 2}

    coverage = retrieval._keyword_coverage(
        ["disk", "zx81q"],
        frequencies,
        100,
        [symptom, body_only, elsewhere],
        set(),
        {"zx81q": {1, 2}},
    )

    idf = {t: retrieval._idf(f, 100) for t, f in frequencies.items()}
    total = sum(idf.values())
    found = 1.0 - retrieval.TITLE_SHARE
    assert coverage["A"][0] == pytest.approx(found)
    assert coverage["B"][0] == pytest.approx(
        found * (idf["disk"] + retrieval.BODY_SHARE * idf["zx81q"]) / total
    )
    assert coverage["C"][0] == pytest.approx(found * idf["disk"] / total)
    assert coverage["B"][1] == ["zx81q", "disk"]
    assert coverage["C"][1] == ["disk"]


def test_body_matches_leave_out_common_terms(sample_kb):
    database = sample_kb.database
    with database.engine.connect() as conn:
        pk_of = dict(conn.exec_driver_sql("SELECT id, pk FROM records").all())
    everything = database.keyword_text(list(pk_of))
    symptoms = database.keyword_text(list(pk_of), symptom_only=True)
    in_body = {
        pk_of[record_id]
        for record_id, text in everything.items()
        if "lsn" in tokenize(text) and "lsn" not in tokenize(symptoms[record_id])
    }

    assert pk_of["PM-2023-011"] in in_body
    assert pk_of["RB-node-filesystem-space-filling-up"] in in_body
    assert database.body_matches(["lsn", "the"], 20) == {"lsn": in_body}
    assert database.body_matches(["lsn"], len(in_body) - 1) == {}
    assert database.body_matches([], 20) == {}


def test_search_finds_body_only_identifier(sample_kb):
    """A column name from a diagnosis query finds the postmortem and runbook."""
    matches = Retriever(sample_kb).search(alert_from_text("restart_lsn"), top_k=3)

    ids = [match.record.id for match in matches]
    assert ids[0] == "PM-2023-011"
    assert "RB-node-filesystem-space-filling-up" in ids
    assert matches[0].terms == ["lsn", "restart"]


def _postmortem(record_id: str, cause: str) -> IncidentRecord:
    return IncidentRecord(
        id=record_id,
        kind=Kind.POSTMORTEM,
        title="Payments ledger writes stalled",
        sections={"summary": "Ledger writes queued for minutes.", "root_cause": cause},
    )


def test_body_terms_after_add_and_accented(tmp_path, embedder, monkeypatch):
    """A term searched before its record was added, or written with accents."""
    # As in a large knowledge base, where a few new records keep the cached counts.
    monkeypatch.setattr(term_frequencies, "MAX_DRIFT", 10.0)
    knowledge_base = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    knowledge_base.build(
        [
            _postmortem(f"PM-{n}", f"Disk {n} of the ledger host was full.")
            for n in range(3)
        ]
    )
    retriever = Retriever(knowledge_base)
    before = retriever.search(alert_from_text("zzledgerlock"), top_k=3)
    assert all(match.terms == [] for match in before)

    knowledge_base.add(
        [
            _postmortem("PM-LOCK", "Writers waited on the zzledgerlock advisory lock."),
            _postmortem("PM-PARSER", "A naïve parser dropped the ledger's last field."),
        ]
    )
    locked = retriever.search(alert_from_text("zzledgerlock"), top_k=3)
    accented = retriever.search(alert_from_text("naïve"), top_k=3)

    assert locked[0].record.id == "PM-LOCK"
    assert locked[0].terms == ["zzledgerlock"]
    assert accented[0].record.id == "PM-PARSER"
    assert accented[0].terms == ["naïve"]


def test_stored_tokens_agree_with_keyword_text(sample_kb):
    database = sample_kb.database
    ids = sorted(database.record_hashes())
    texts = database.keyword_text(ids, symptom_only=True)
    rows = parse_rows(
        database.keyword_rows(["the", "alert", "disk", "latency"], len(ids))
    )
    assert len(rows) > 20
    for row in rows:
        assert set(row.tokens.split()) == set(tokenize(texts[row.record_id]))
        assert row.tokens.startswith(" ")
        assert row.tokens.endswith(" ")


def test_coverage_adds_title_share():
    """Of two siblings with the alert's words, the one whose title it names wins."""
    any_title = _row(
        "any", " ", title_terms("", "PrometheusErrorSendingAlertsToAnyAlertmanager")
    )
    some_title = _row(
        "some",
        " ",
        title_terms("Prometheus Error Sending Alerts To Some Alertmanagers"),
    )
    text = "Prometheus encounters errors sending alerts to any Alertmanager."

    coverage = retrieval._keyword_coverage(
        retrieval.query_terms(text),
        {},
        100,
        [any_title, some_title],
        set(title_terms(text)),
    )

    assert coverage["any"][0] == pytest.approx(retrieval.TITLE_SHARE)
    assert coverage["some"][0] == pytest.approx(retrieval.TITLE_SHARE * 5 / 6)


def test_search_prefers_named_runbook(tmp_path, embedder, monkeypatch):
    """Without the alert name, the runbook whose title the alert names comes first.

    Both runbooks share the alert's words; the degraded one repeats more of them.
    """
    degraded = IncidentRecord(
        id="RB-raid-degraded",
        kind=Kind.RUNBOOK,
        title="Node RAID Degraded",
        sections={
            "meaning": "RAID array on the node is degraded because a device failed. "
            "The array needs attention: swap the failed disk and check the device."
        },
        labels={"alertname": "NodeRAIDDegraded"},
    )
    failure = IncidentRecord(
        id="RB-raid-disk-failure",
        kind=Kind.RUNBOOK,
        title="Node RAID Disk Failure",
        sections={"meaning": "At least one device in a software RAID array failed."},
        labels={"alertname": "NodeRAIDDiskFailure"},
    )
    knowledge_base = KnowledgeBase(
        IndexerSettings(home=tmp_path / "kb"), embedder=embedder
    )
    knowledge_base.build([degraded, failure])
    alert = Alert(
        fingerprint="raid",
        alertname="NodeRAIDDiskFailure",
        description="At least one device in RAID array on the node failed. Array "
        "needs attention and possibly a disk swap.",
    )

    matches = Retriever(knowledge_base).search(alert, 2, include_alertname=False)
    monkeypatch.setattr(retrieval, "TITLE_SHARE", 0.0)
    before = Retriever(knowledge_base).search(alert, 2, include_alertname=False)

    assert [m.record.id for m in matches] == [
        "RB-raid-disk-failure",
        "RB-raid-degraded",
    ]
    # Alert coverage alone puts the degraded runbook first: it repeats more words.
    assert before[0].record.id == "RB-raid-degraded"


def _row(record_id: str, tokens: str, title_terms: list[str] = ()) -> ScoringRow:
    return ScoringRow(
        1, record_id, "{}", [], [], np.zeros((0, 0)), tokens, list(title_terms)
    )


def _labelled_row(record_id: str, labels: dict[str, str]) -> ScoringRow:
    values = row_values(1, record_id, labels, [], np.zeros((0, 384)), {})
    return ScoringRow(1, record_id, values[2], [], [], np.zeros((0, 0)), " ", [])


@pytest.mark.parametrize(
    "service", ["checkout", "Checkout", 'check"out', "check\\out", "kassé-önü"]
)
def test_shared_labels_found_whatever_the_value(service):
    alert = Alert(
        fingerprint="f",
        alertname="DiskFull",
        title="disk full",
        labels={"service": service, "team": "storage"},
    )
    rows = [
        _labelled_row("same-service", {"service": service.upper()}),
        _labelled_row("same-name", {"alertname": "Other, diskfull", "team": "x"}),
        _labelled_row("team-only", {"team": "STORAGE", "service": "billing"}),
        _labelled_row("nothing", {"service": "billing", "note": "checkout"}),
        _labelled_row("unlabelled", {}),
    ]

    shared = retrieval._shared_labels_of_rows(alert, rows, include_alertname=True)

    assert shared == {
        "same-service": {"service": service},
        "same-name": {"alertname": "DiskFull"},
        "team-only": {"team": "storage"},
        "nothing": {},
        "unlabelled": {},
    }
    without_name = retrieval._shared_labels_of_rows(alert, rows, False)
    assert without_name["same-name"] == {}


def test_keyword_limit_by_record_count():
    # 2% of the records, at least 200 and at most 2,000.
    assert retrieval.keyword_document_limit(380) == 200
    assert retrieval.keyword_document_limit(10_000) == 200
    assert retrieval.keyword_document_limit(50_000) == 1_000
    assert retrieval.keyword_document_limit(100_000) == 2_000
    assert retrieval.keyword_document_limit(1_000_000) == 2_000
