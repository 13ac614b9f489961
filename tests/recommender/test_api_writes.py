"""Write endpoints, bearer tokens, feedback, metrics, probes and logs of the API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import io
import itertools
import json
import logging
import shutil
import sqlite3
import threading
import time

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from indexer import scoring_rows, uploads
from indexer.knowledge_base import KnowledgeBase
from indexer.readers import read_sources
from recommender import cli
from recommender.api import create_app
from recommender.auth import load_policy
from recommender.logs import make_handler
from recommender.routes import records as records_routes
from recommender.settings import ServiceSettings
from tests.conftest import SAMPLE_DATA

KNOWLEDGE = SAMPLE_DATA / "knowledge"
TOKEN = "writer-token-" + "a1b2c3d4e5f6g7h8"
OTHER_TOKEN = "second-token-" + "z9y8x7w6v5u4t3s2"
WRONG_TOKEN = "wrong-token-" + "0000000000000000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_MINUTES = itertools.count()
ROUTING_KEY = "R0UTINGKEY" + "e93facc04764012d7bfb002500d5d1a6"
DISK_ALERT = {
    "title": "Disk almost full on orders-db",
    "description": "The filesystem /var/lib/postgresql on orders-db is 95% full and "
    "filling up; writes will fail when it reaches 100%.",
    "labels": {"alertname": "NodeFilesystemSpaceFillingUp", "team": "data"},
    "service": "orders-db",
    "severity": "critical",
}
NEW_RECORD = {
    "id": "PM-TEST-001",
    "kind": "postmortem",
    "title": "Ledger exporter stalled on a zeppelin checksum mismatch",
    "sections": {
        "summary": "The ledger exporter stopped writing batches because every "
        "zeppelin checksum failed validation.",
        "root_cause": "A library upgrade changed the checksum seed.",
        "resolution": "Pinned the checksum library and replayed the batches.",
    },
    "labels": {"service": "ledger-exporter", "alertname": "LedgerExportStalled"},
    "severity": "SEV2",
    "started_at": "2026-11-02T08:15:00Z",
}


def _sources() -> list:
    return [
        KNOWLEDGE / "runbooks",
        KNOWLEDGE / "postmortems" / "2023-06-18-orders-db-wal-disk-full.md",
        KNOWLEDGE / "postmortems" / "2024-10-02-search-indexer-log-disk-full.md",
        KNOWLEDGE / "postmortems" / "2024-03-12-checkout-cert-expiry.md",
    ]


@pytest.fixture(scope="module")
def home(tmp_path_factory, sample_home):
    """Copy the sample knowledge base, which these tests may change."""
    folder = tmp_path_factory.mktemp("writable-kb") / "kb"
    shutil.copytree(sample_home, folder)
    return folder


@pytest.fixture(scope="module")
def kb(home, embedder):
    return KnowledgeBase(ServiceSettings(home=home), embedder=embedder)


def _settings(home, **overrides) -> ServiceSettings:
    tokens = [SecretStr(TOKEN), SecretStr(OTHER_TOKEN)]
    return ServiceSettings(home=home, api_tokens=tokens, **overrides)


@pytest.fixture(scope="module")
def client(home, kb):
    app = create_app(_settings(home), knowledge_base=kb)
    with TestClient(app) as test_client:
        yield test_client


def _wait_until_ready(client) -> None:
    deadline = time.monotonic() + 20
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.05)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status
    return body


def _snapshot(kb: KnowledgeBase, client: TestClient) -> tuple:
    """Return everything a rejected write must leave unchanged."""
    stats = kb.stats()
    feedback = client.get("/v1/incidents/RB-node-filesystem-space-filling-up")
    uploads = kb.settings.home / "uploads"
    return (
        kb.database.record_hashes(),
        stats.data_version,
        stats.vectors,
        feedback.json()["feedback"],
        sorted(p.name for p in uploads.iterdir()) if uploads.is_dir() else [],
    )


WRITE_REQUESTS = [
    ("post", "/v1/incidents", {"json": NEW_RECORD}),
    (
        "post",
        "/v1/incidents",
        {
            "content": "---\nid: PM-MD-REJECTED\n---\n# Title\n\n## Summary\nText.\n",
            "headers": {"Content-Type": "text/markdown"},
        },
    ),
    ("delete", "/v1/incidents/RB-node-filesystem-space-filling-up", {}),
    ("post", "/v1/reindex", {}),
    (
        "post",
        "/v1/feedback",
        {
            "json": {
                "alertname": "NodeFilesystemSpaceFillingUp",
                "record_id": "RB-node-filesystem-space-filling-up",
                "verdict": "wrong",
            }
        },
    ),
]


@pytest.mark.parametrize(("method", "path", "options"), WRITE_REQUESTS)
def test_write_without_token_changes_nothing(client, kb, method, path, options):
    before = _snapshot(kb, client)
    headers = dict(options.get("headers", {}))
    send = getattr(client, method)
    arguments = {k: v for k, v in options.items() if k != "headers"}

    missing = send(path, headers=headers, **arguments)
    body = _error(missing, 401)
    assert body["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")

    wrong = send(
        path, headers={**headers, "Authorization": f"Bearer {WRONG_TOKEN}"}, **arguments
    )
    _error(wrong, 401)
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]

    basic = send(path, headers={**headers, "Authorization": "Basic dXNlcjpwYXNz"})
    _error(basic, 401)
    assert _snapshot(kb, client) == before


def test_writes_disabled_without_configured_token(home, kb):
    app = create_app(ServiceSettings(home=home), knowledge_base=kb)
    with TestClient(app) as no_token_client:
        before = kb.database.record_hashes()
        response = no_token_client.post("/v1/incidents", json=NEW_RECORD, headers=AUTH)
        body = _error(response, 403)
        assert "INCIDENT_API_TOKENS" in body["message"]
        assert (
            no_token_client.get("/v1/search", params={"q": "disk"}).status_code == 200
        )
    assert kb.database.record_hashes() == before


def test_reads_need_token_when_configured(home, kb):
    app = create_app(_settings(home, read_access="token"), knowledge_base=kb)
    with TestClient(app) as closed:
        _error(closed.get("/v1/search", params={"q": "disk"}), 401)
        _error(closed.post("/v1/alerts", json=DISK_ALERT), 401)
        second = {"Authorization": f"Bearer {OTHER_TOKEN}"}
        found = closed.get("/v1/search", params={"q": "disk"}, headers=second)
        assert found.status_code == 200
        assert closed.get("/livez").status_code == 200


def test_open_reads_still_reject_a_wrong_token(client):
    # Reads are open on loopback, but a token that is sent must be valid, so a
    # typo in Alertmanager's credentials shows before the service moves.
    wrong = {"Authorization": "Bearer not-the-configured-token-0000"}
    body = _error(client.post("/v1/alerts", json=DISK_ALERT, headers=wrong), 401)
    assert "not valid" in body["message"]
    _error(client.get("/v1/search", params={"q": "disk"}, headers=wrong), 401)

    assert client.get("/v1/search", params={"q": "disk"}).status_code == 200
    found = client.get("/v1/search", params={"q": "disk"}, headers=AUTH)
    assert found.status_code == 200
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert (
        client.get("/v1/search", params={"q": "disk"}, headers=basic).status_code == 200
    )


def test_token_is_checked_before_query_parameters(home, kb):
    app = create_app(_settings(home, read_access="token"), knowledge_base=kb)
    with TestClient(app) as closed:
        search = "/v1/search?q=disk&bogus=1"
        _error(closed.get(search), 401)
        _error(closed.get("/v1/search?q=disk&q=cert"), 401)
        _error(closed.post("/v1/incidents?bogus=1", json=NEW_RECORD), 401)
        _error(closed.post("/v1/notifications/abc/retry?bogus=1"), 401)

        body = _error(closed.get(search, headers=AUTH), 422)
        assert body["field"] == "bogus"
        before = kb.database.record_hashes()
        body = _error(
            closed.post("/v1/incidents?bogus=1", json=NEW_RECORD, headers=AUTH), 422
        )
        assert body["field"] == "bogus"
        assert kb.database.record_hashes() == before


@pytest.mark.parametrize(
    ("host", "read_access", "reads_need_token", "warned"),
    [
        ("127.0.0.1", "auto", False, False),
        ("::1", "auto", False, False),
        ("0.0.0.0", "auto", True, False),
        ("0.0.0.0", "open", False, True),
        ("127.0.0.1", "token", True, False),
    ],
)
def test_read_access_by_host(
    tmp_path, caplog, host, read_access, reads_need_token, warned
):
    settings = _settings(tmp_path, host=host, read_access=read_access)
    policy = load_policy(settings)
    assert policy.reads_need_token is reads_need_token
    assert ("open to anyone" in caplog.text) is warned
    assert TOKEN not in repr(policy)


def test_short_token_is_rejected_at_start(home):
    from indexer.errors import ConfigurationError

    settings = ServiceSettings(home=home, api_tokens=[SecretStr("short")])
    with pytest.raises(ConfigurationError, match="at least 16") as raised:
        create_app(settings)
    assert "short" not in str(raised.value)


def test_token_file_is_read(home, kb, tmp_path):
    token_file = tmp_path / "tokens"
    # As an editor on Windows may save it: a byte order mark and CRLF line ends.
    lines = [
        f"\ufeff{OTHER_TOKEN}  # ci runner",
        "# writers",
        "hash#in-token-0123456789",
    ]
    token_file.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    policy = load_policy(ServiceSettings(home=home, api_token_file=token_file))
    assert policy.tokens == (OTHER_TOKEN.encode(), b"hash#in-token-0123456789")
    settings = ServiceSettings(home=home, api_token_file=token_file)
    app = create_app(settings, knowledge_base=kb)
    with TestClient(app) as file_client:
        response = file_client.post(
            "/v1/feedback",
            json={"record_id": "missing-record", "verdict": "wrong", "alertname": "X"},
            headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
        )
        assert _error(response, 404)["field"] == "record_id"


def test_add_replace_and_remove_json_record(client, kb):
    added = client.post("/v1/incidents", json=NEW_RECORD, headers=AUTH)
    assert added.status_code == 200, added.text
    assert added.json()["added"] == 1
    assert added.json()["passages"] >= 2
    found = client.get("/v1/search", params={"q": "zeppelin checksum mismatch"})
    assert found.json()["matches"][0]["id"] == "PM-TEST-001"

    changed = {**NEW_RECORD, "title": "Ledger exporter stalled (revised)"}
    replaced = client.post("/v1/incidents", json=changed, headers=AUTH)
    assert replaced.json()["replaced"] == 1
    stored = client.get("/v1/incidents/PM-TEST-001").json()
    assert stored["title"] == "Ledger exporter stalled (revised)"
    assert stored["severity"] == "SEV2"

    removed = client.delete("/v1/incidents/PM-TEST-001", headers=AUTH)
    assert removed.json()["removed"] == 1
    _error(client.get("/v1/incidents/PM-TEST-001"), 404)
    found = client.get("/v1/search", params={"q": "zeppelin checksum mismatch"})
    assert "PM-TEST-001" not in [m["id"] for m in found.json()["matches"]]
    _error(client.delete("/v1/incidents/PM-TEST-001", headers=AUTH), 404)


def test_markdown_postmortem_is_saved_and_indexed(client, kb):
    text = (
        "---\nseverity: SEV3\n---\n# Gravel queue stuck after broker upgrade\n\n"
        "## Summary\nThe gravel queue stopped delivering messages after the broker "
        "upgrade.\n\n## Root cause\nThe new broker rejected the old client protocol.\n"
    )
    headers = {**AUTH, "Content-Type": "text/markdown; charset=utf-8"}
    response = client.post(
        "/v1/incidents", params={"id": "PM-MD-002"}, content=text, headers=headers
    )
    assert response.status_code == 200, response.text
    record = client.get("/v1/incidents/PM-MD-002").json()
    assert record["title"] == "Gravel queue stuck after broker upgrade"
    assert "old client protocol" in record["sections"]["root_cause"]
    path = uploads.upload_path(kb.settings.home, "PM-MD-002", ".md")
    with_id = text.replace("---\n", '---\nid: "PM-MD-002"\nkind: "postmortem"\n', 1)
    assert path.read_text(encoding="utf-8") == with_id

    client.delete("/v1/incidents/PM-MD-002", headers=AUTH)
    assert not path.exists()


@pytest.mark.parametrize(
    ("charset", "encoded"),
    [("iso-8859-1", "latin-1"), ("UTF-16", "utf-16"), ("cp1252", "cp1252")],
)
def test_markdown_in_declared_charset_is_read(client, charset, encoded):
    text = "# Café queue stalled\n\n## Summary\nThe café order queue stalled.\n"
    headers = {**AUTH, "Content-Type": f"text/markdown; charset={charset}"}
    response = client.post(
        "/v1/incidents",
        params={"id": "PM-CHARSET"},
        content=text.encode(encoded),
        headers=headers,
    )

    assert response.status_code == 200, response.text
    record = client.get("/v1/incidents/PM-CHARSET").json()
    assert record["title"] == "Café queue stalled"
    client.delete("/v1/incidents/PM-CHARSET", headers=AUTH)


def test_markdown_charset_errors_say_what_to_send(client):
    text = "# Café\n\n## Summary\nx y.\n".encode("latin-1")
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    unknown = {**AUTH, "Content-Type": "text/markdown; charset=klingon"}

    body = _error(client.post("/v1/incidents", content=text, headers=markdown), 422)
    assert body["message"].startswith("body is not valid UTF-8: byte 5 cannot")
    assert "text/markdown; charset=iso-8859-1" in body["message"]
    body = _error(client.post("/v1/incidents", content=text, headers=unknown), 415)
    assert body["field"] == "content-type"
    assert "charset 'klingon' is not known" in body["message"]
    for charset in ("rot13", "base64", "hex", "undefined", "unicode_escape", "utf-7"):
        headers = {**AUTH, "Content-Type": f"text/markdown; charset={charset}"}
        response = client.post("/v1/incidents", content=text, headers=headers)
        assert _error(response, 415)["field"] == "content-type", charset


REREAD_UPLOADS = [
    # (?id=, Markdown body)
    ("PM-helm-template-bug", "# Helm template bug\n\n## Summary\nEmpty image tag.\n"),
    ("README", "---\nseverity: SEV3\n---\n# Readme incident\n\n## Summary\nx y.\n"),
    ("1234", "# Numeric id\n\n## Summary\nThe id looks like a number.\n"),
]


@pytest.mark.parametrize(("record_id", "text"), REREAD_UPLOADS)
def test_upload_keeps_id_when_reread(client, kb, record_id, text):
    headers = {**AUTH, "Content-Type": "text/markdown"}
    response = client.post(
        "/v1/incidents", params={"id": record_id}, content=text, headers=headers
    )
    assert response.status_code == 200, response.text
    path = uploads.upload_path(kb.settings.home, record_id, ".md")

    result = read_sources([path.parent])
    reread = [r.id for r in result.records if r.source == str(path)]
    assert reread == [record_id]
    assert str(path) not in result.skipped

    client.delete(f"/v1/incidents/{record_id}", headers=AUTH)
    assert not path.exists()


def test_markdown_without_id_is_422(client):
    headers = {**AUTH, "Content-Type": "text/markdown"}
    body = "# A title\n\n## Summary\nSomething broke in the gravel queue.\n"
    error = _error(client.post("/v1/incidents", content=body, headers=headers), 422)
    assert error["field"] == "id"
    assert "?id=" in error["message"]


def test_record_list_body_is_422(client):
    response = client.post("/v1/incidents", json=[NEW_RECORD], headers=AUTH)
    body = _error(response, 422)
    assert body["field"] == "body"
    assert body["message"].startswith("expected a JSON object with the fields id, kind")
    assert "RecordIn" not in body["message"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"sections": {"cause": "x"}}, "sections.cause", "unknown section"),
        (
            {"colour": "red"},
            "colour",
            "unknown field colour; the accepted fields are ended_at, id, kind,",
        ),
        ({"started_at": "yesterday"}, "started_at", "ISO 8601"),
        ({"ended_at": "2026-11-02T08:00:00Z"}, "ended_at", "is before started_at"),
        ({"ended_at": "2026-11-02T08:00:00"}, "ended_at", "is before started_at"),
        ({"labels": {"service": "x" * 1001}}, "labels.service", "limit of 1000"),
        ({"kind": "ticket"}, "kind", "incident"),
        ({"id": "has space"}, "id", "invalid record id: use letters"),
        ({"id": "../x"}, "id", "invalid record id: use letters"),
        ({"id": "/tmp/x"}, "id", "invalid record id: use letters"),
        ({"id": "abc\u0000def"}, "id", "invalid record id: use letters"),
        ({"id": "runbooks/./x"}, "id", "invalid record id: use letters"),
        ({"id": "PM-2024-007/similar"}, "id", "may not end in '/similar'"),
        (
            {"sections": {f"part{n}": "x" for n in range(51)}},
            "sections",
            "sections has more than the limit of 50",
        ),
        ({"id": "a/Similar"}, "id", "may not end in '/similar'"),
    ],
)
def test_invalid_record_is_422(client, kb, change, field, message):
    before = kb.database.record_hashes()
    body = _error(
        client.post("/v1/incidents", json={**NEW_RECORD, **change}, headers=AUTH), 422
    )
    assert body["field"] == field
    assert message in body["message"]
    assert not body["message"].startswith("Value error")
    assert kb.database.record_hashes() == before


def test_json_record_with_other_query_id_is_422(client, kb):
    before = kb.database.record_hashes()
    response = client.post("/v1/incidents?id=OTHER-ID", json=NEW_RECORD, headers=AUTH)

    body = _error(response, 422)
    assert body["field"] == "id"
    assert "the JSON body's id is 'PM-TEST-001'" in body["message"]
    assert kb.database.record_hashes() == before


ALIAS_BOMB = (
    "---\nid: PM-BOMB\n"
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdef", "bcdefg", strict=True)
    )
    + "---\n# Bomb\n\n## Summary\nx\n"
)
INVALID_MARKDOWN = [
    # (case, ?id, Markdown body, field, message)
    ("YAML alias expansion", None, ALIAS_BOMB, "body", "YAML alias *a"),
    (
        "label value over the limit",
        None,
        "---\nid: PM-LONG\nteam: " + "x" * 1001 + "\n---\n# T\n\n## Summary\nx\n",
        "labels.team",
        "more than the limit of 1000",
    ),
    ("NUL in the id", "abc\x00def", "# T\n\n## Summary\nx\n", "id", "invalid"),
    ("absolute path id", "/tmp/pwned", "# T\n\n## Summary\nx\n", "id", "invalid"),
    (
        "id of the similar-records route",
        "PM-2024-007/similar",
        "# T\n\n## Summary\nx\n",
        "id",
        "may not end in '/similar'",
    ),
    (
        "front matter nested 2,000 deep",
        "PM-DEEP",
        "---\nx: " + "[" * 2000 + "]" * 2000 + "\n---\n# T\n\n## Summary\nx\n",
        "body",
        "nested too deeply",
    ),
    (
        "parent folder id",
        None,
        "---\nid: ../x\n---\n# T\n\n## Summary\nx\n",
        "id",
        "invalid",
    ),
    (
        "ends before it starts",
        "PM-BACKWARDS",
        "---\nstarted_at: 2026-01-02T10:00:00Z\nended_at: 2026-01-02T09:00:00Z\n"
        "---\n# T\n\n## Summary\nx\n",
        "ended_at",
        "is before started_at",
    ),
]


@pytest.mark.parametrize(
    ("record_id", "text", "field", "message"),
    [case[1:] for case in INVALID_MARKDOWN],
    ids=[case[0] for case in INVALID_MARKDOWN],
)
def test_invalid_markdown_is_422(client, kb, record_id, text, field, message):
    before = _snapshot(kb, client)
    headers = {**AUTH, "Content-Type": "text/markdown"}
    params = {"id": record_id} if record_id else {}
    response = client.post(
        "/v1/incidents", params=params, content=text, headers=headers
    )
    body = _error(response, 422)
    assert body["field"] == field
    assert message in body["message"]
    assert _snapshot(kb, client) == before


def test_chunked_body_over_limit_is_413(client, kb):
    before = kb.database.record_hashes()

    def chunks():
        for _ in range(12):
            yield b"# Title\n" + b"x" * 100_000

    headers = {**AUTH, "Content-Type": "text/markdown"}
    response = client.post("/v1/incidents", content=chunks(), headers=headers)
    body = _error(response, 413)
    assert "1048576 bytes" in body["message"]
    assert kb.database.record_hashes() == before


def _fresh(alert: dict) -> dict:
    """Return the alert with a new start time.

    A new start time makes each post a new firing, not a repeated delivery that
    would get the stored recommendation back.
    """
    minute = next(_MINUTES)
    return {**alert, "startsAt": f"2026-12-04T{minute // 60:02d}:{minute % 60:02d}:00Z"}


def _match_ids(client: TestClient, alert: dict) -> tuple[dict[str, float], dict]:
    response = client.post("/v1/alerts", json=_fresh(alert))
    assert response.status_code == 200, response.text
    recommendation = response.json()["results"][0]["recommendation"]
    return {m["id"]: m["score"] for m in recommendation["matches"]}, recommendation


def test_wrong_root_cause_sets_aside_only_that_cause(client):
    alert = {**DISK_ALERT, "labels": {**DISK_ALERT["labels"], "case": "root-cause"}}
    response = client.post("/v1/alerts", json=_fresh(alert))
    fingerprint = response.json()["results"][0]["alert"]["fingerprint"]
    _, before = _match_ids(client, alert)
    cause = before["root_causes"][0]
    record = cause["evidence"][0]
    fixes_before = [fix["text"] for fix in before["fixes"]]

    marked = client.post(
        "/v1/feedback",
        json={
            "fingerprint": fingerprint,
            "record_id": record,
            "verdict": "wrong",
            "target": "root_cause",
        },
        headers=AUTH,
    )
    assert marked.status_code == 201, marked.text

    ids, after = _match_ids(client, alert)
    # The record still matches and still gives its fix; only its cause is gone.
    assert record in ids
    assert after["feedback"]["hidden"] == []
    assert after["feedback"]["set_aside"] == {"root_cause": [record]}
    assert f"Did not use the root cause of {record}" in after["message"]
    assert cause["text"] not in [c["text"] for c in after["root_causes"]]
    assert all(record not in c["evidence"] for c in after["root_causes"])
    assert [fix["text"] for fix in after["fixes"]] == fixes_before

    # The latest verdict on the same part counts.
    client.post(
        "/v1/feedback",
        json={
            "fingerprint": fingerprint,
            "record_id": record,
            "verdict": "helpful",
            "target": "root_cause",
        },
        headers=AUTH,
    )
    _, again = _match_ids(client, alert)
    assert again["feedback"]["set_aside"] == {}
    assert again["root_causes"][0]["text"] == cause["text"]


def test_feedback_changes_ranking_for_that_alertname(client, kb, embedder):
    other_alert = {
        **DISK_ALERT,
        "labels": {**DISK_ALERT["labels"], "alertname": "OrdersDiskAlmostFull"},
    }
    before, _ = _match_ids(client, DISK_ALERT)
    other_before, _ = _match_ids(client, other_alert)
    top = next(iter(before))
    assert top in other_before

    marked = client.post(
        "/v1/feedback",
        json={
            "alertname": "NodeFilesystemSpaceFillingUp",
            "record_id": top,
            "verdict": "wrong",
            "note": "the runbook is for node disks, not database volumes",
            "author": "oncall@example.com",
        },
        headers=AUTH,
    )
    assert marked.status_code == 201, marked.text

    after, recommendation = _match_ids(client, DISK_ALERT)
    assert top not in after
    assert recommendation["feedback"]["hidden"] == [top]
    assert top in recommendation["message"]
    other_after, other_recommendation = _match_ids(client, other_alert)
    assert other_after == other_before
    assert other_recommendation["feedback"]["hidden"] == []

    runner_up = next(iter(after))
    client.post(
        "/v1/feedback",
        json={
            "alertname": "NodeFilesystemSpaceFillingUp",
            "record_id": runner_up,
            "verdict": "helpful",
        },
        headers=AUTH,
    )
    boosted, recommendation = _match_ids(client, DISK_ALERT)
    assert boosted[runner_up] == pytest.approx(min(after[runner_up] + 0.03, 1.0))
    assert recommendation["feedback"]["boosted"] == {runner_up: 0.03}

    summary = client.get(f"/v1/incidents/{top}").json()["feedback"]
    assert summary["wrong"] == 1
    assert summary["entries"][0]["author"] == "oncall@example.com"

    # Verdicts live apart from the records, so a full rebuild keeps them. The
    # rebuild keeps only the records later tests use, to embed less.
    kept_ids = {*before, runner_up, "RB-kube-node-not-ready"}
    records = [r for r in read_sources(_sources()).records if r.id in kept_ids]
    KnowledgeBase(kb.settings, embedder=embedder).build(records)
    rebuilt, _ = _match_ids(client, DISK_ALERT)
    assert top not in rebuilt


def test_feedback_needs_alert_and_known_record(client):
    missing_alert = {"record_id": "RB-kube-node-not-ready", "verdict": "wrong"}
    body = _error(client.post("/v1/feedback", json=missing_alert, headers=AUTH), 422)
    assert body["field"] == "alertname"
    unknown = {**missing_alert, "alertname": "X", "record_id": "PM-0000-404"}
    body = _error(client.post("/v1/feedback", json=unknown, headers=AUTH), 404)
    assert body["field"] == "record_id"
    bad_verdict = {**missing_alert, "alertname": "X", "verdict": "meh"}
    body = _error(client.post("/v1/feedback", json=bad_verdict, headers=AUTH), 422)
    assert body["field"] == "verdict"


def test_reindex_syncs_configured_sources(home, kb, tmp_path):
    source = tmp_path / "reviews"
    source.mkdir()
    (source / "PM-SYNC-1.md").write_text(
        "---\nid: PM-SYNC-1\n---\n# Tundra cache evicted every key\n\n## Summary\n"
        "The tundra cache evicted all keys at midnight.\n",
        encoding="utf-8",
    )
    app = create_app(_settings(home, sources=[source]), knowledge_base=kb)
    with TestClient(app) as sync_client:
        first = sync_client.post("/v1/reindex", headers=AUTH)
        assert first.status_code == 200, first.text
        assert first.json()["added"] == 1
        assert first.json()["ids"] == ["PM-SYNC-1"]
        second = sync_client.post("/v1/reindex", headers=AUTH).json()
        assert second["added"] == 0
        assert second["unchanged"] == 1
        assert second["ids"] == []

        with records_routes._reindex_lock:
            busy = _error(sync_client.post("/v1/reindex", headers=AUTH), 409)
        assert "already running" in busy["message"]

        assert second["problems"] == []
        tickets = source / "tickets.csv"
        tickets.write_text("Issue key,Summary\nOPS-77,Tundra cache cold\n")
        with_ticket = sync_client.post("/v1/reindex", headers=AUTH).json()
        assert with_ticket["added"] == 1
        assert with_ticket["ids"] == ["OPS-77"]
        tickets.write_text("Issue key,Summary\n")
        with_empty = sync_client.post("/v1/reindex", headers=AUTH).json()
        assert with_empty["problems"] == [
            f"{tickets}: no records read; its 1 stored record kept"
        ]
        assert "OPS-77" in kb.database.record_hashes()
        tickets.unlink()

        (source / "PM-SYNC-1.md").unlink()
        emptied = _error(sync_client.post("/v1/reindex", headers=AUTH), 409)
        assert "no records were read" in emptied["message"]
        assert "PM-SYNC-1" in kb.database.record_hashes()

    with TestClient(create_app(_settings(home), knowledge_base=kb)) as unset:
        body = _error(unset.post("/v1/reindex", headers=AUTH), 409)
        assert "INCIDENT_SOURCES" in body["message"]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_move_with_requests(client, kb):
    alert_route = (("method", "POST"), ("route", "/v1/alerts"), ("status", "200"))
    count_key = ("incident_http_request_duration_seconds_count", alert_route)
    before = _samples(client.get("/metrics").text)

    client.post("/v1/alerts", json=_fresh(DISK_ALERT))
    client.post("/v1/alerts", json=_fresh({"title": "qwzx vbnm plokij"}))
    client.get("/v1/incidents/RB-kube-node-not-ready")
    after = _samples(client.get("/metrics").text)

    assert after[count_key] == before.get(count_key, 0) + 2
    served = ("incident_recommendations_total", ())
    assert after[served] == before[served] + 2
    novel = ("incident_no_close_precedent_total", ())
    assert after[novel] == before[novel] + 1
    template = (
        ("method", "GET"),
        ("route", "/v1/incidents/{incident_id:path}"),
        ("status", "200"),
    )
    assert after[("incident_http_request_duration_seconds_count", template)] >= 1
    assert "RB-kube-node-not-ready" not in client.get("/metrics").text
    stats = kb.stats()
    assert after[("incident_index_records", ())] == stats.records
    assert after[("incident_data_version", ())] == stats.data_version
    assert after[("incident_ready", ())] == 1
    assert after[("incident_load_failed", ())] == 0


def test_repeated_delivery_counts_replay(client):
    replay_key = ("incident_recommendation_replays_total", ())
    served_key = ("incident_recommendations_total", ())
    alert = _fresh(DISK_ALERT)
    before = _samples(client.get("/metrics").text)

    first = client.post("/v1/alerts", json=alert).json()["results"][0]
    second = client.post("/v1/alerts", json=alert).json()["results"][0]
    after = _samples(client.get("/metrics").text)

    assert first["replayed"] is False
    assert second["replayed"] is True
    assert after[replay_key] == before[replay_key] + 1
    assert after[served_key] == before[served_key] + 1


def test_readiness_waits_for_loading(home, kb):
    release = threading.Event()

    def slow_open() -> KnowledgeBase:
        release.wait(30)
        return kb

    app = create_app(_settings(home, ready_wait=0.0), knowledge_base=slow_open)
    with TestClient(app) as starting:
        assert starting.get("/livez").json() == {"status": "alive"}
        loading = starting.get("/readyz")
        assert _error(loading, 503)["code"] == "unavailable"
        assert loading.headers["Retry-After"] == "5"
        _error(starting.post("/v1/alerts", json=DISK_ALERT), 503)

        release.set()
        _wait_until_ready(starting)
        ready = starting.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["records"] == kb.stats().records
        assert starting.get("/health").status_code == 200


def test_alerts_stored_during_loading(home, kb, tmp_path):
    release = threading.Event()

    def slow_open() -> KnowledgeBase:
        release.wait(60)
        return kb

    settings = _settings(home, ready_wait=0.0, alerts_database=tmp_path / "alerts.db")
    app = create_app(settings, knowledge_base=slow_open)
    alert = _fresh(DISK_ALERT)
    with TestClient(app) as starting:
        loading = starting.post("/v1/alerts", json=alert, headers=AUTH)
        assert _error(loading, 503)["code"] == "unavailable"
        # A bad alert is refused at once, not after the wait.
        bad = starting.post("/v1/alerts", json={"labels": "x"}, headers=AUTH)
        assert bad.status_code == 422
        page = starting.get("/ui/", params={"q": "disk"})
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "still loading" in page.text

        stored = starting.get("/v1/alerts", headers=AUTH).json()
        assert stored["total"] == 1
        assert stored["items"][0]["title"] == alert["title"]

        release.set()
        _wait_until_ready(starting)
        computed = starting.post("/v1/alerts", json=alert, headers=AUTH)
        assert computed.status_code == 200, computed.text
        assert computed.json()["results"][0]["recommendation"] is not None


def test_loading_wait_holds_no_thread(home, kb):
    release = threading.Event()

    def slow_open() -> KnowledgeBase:
        release.wait(60)
        return kb

    async def borrowed_threads() -> float:
        return anyio.to_thread.current_default_thread_limiter().borrowed_tokens

    app = create_app(_settings(home, ready_wait=30.0), knowledge_base=slow_open)
    # More waiting searches than the 40 threads of the default pool.
    with (
        TestClient(app) as starting,
        concurrent.futures.ThreadPoolExecutor(max_workers=45) as pool,
    ):
        waiting = [
            pool.submit(starting.get, "/v1/search", params={"q": f"disk {n}"})
            for n in range(45)
        ]
        time.sleep(1.0)
        assert not any(future.done() for future in waiting)
        assert starting.portal.call(borrowed_threads) == 0
        assert _error(starting.get("/readyz"), 503)["code"] == "unavailable"
        loading = _samples(starting.get("/metrics").text)
        assert loading[("incident_ready", ())] == 0
        assert loading[("incident_load_failed", ())] == 0

        release.set()
        statuses = [future.result(timeout=60).status_code for future in waiting]
    assert statuses == [200] * 45


def test_model_mismatch_fails_loading(home, embedder):
    def other_model() -> KnowledgeBase:
        return KnowledgeBase(
            _settings(home, model="paraphrase-MiniLM-L3-v2"), embedder=embedder
        )

    app = create_app(_settings(home, ready_wait=30.0), knowledge_base=other_model)
    with TestClient(app) as failed:
        deadline = time.monotonic() + 60
        while app.state.readiness.error is None:
            assert time.monotonic() < deadline, "loading never failed"
            time.sleep(0.05)

        response = failed.get("/readyz")
        body = _error(response, 503)
        assert "was embedded with model 'all-MiniLM-L6-v2'" in body["message"]
        assert "Retry-After" not in response.headers
        metrics = _samples(failed.get("/metrics").text)
        assert metrics[("incident_ready", ())] == 0
        assert metrics[("incident_load_failed", ())] == 1


def test_readiness_503_when_database_unreadable(tmp_path, embedder):
    settings = _settings(tmp_path / "kb")
    broken = KnowledgeBase(settings, embedder=embedder)
    with TestClient(create_app(settings, knowledge_base=broken)) as probe:
        _wait_until_ready(probe)

        broken.database.engine.dispose()
        database = tmp_path / "kb" / "knowledge.db"
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        database.write_bytes(b"this is not a SQLite database" * 100)

        body = _error(probe.get("/readyz"), 503)
        assert "cannot be read" in body["message"]
        assert probe.get("/livez").status_code == 200


def test_tokens_never_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/v1/feedback", json={"verdict": "wrong"}, headers=AUTH)
    client.post(
        "/v1/incidents",
        json=NEW_RECORD,
        headers={"Authorization": f"Bearer {WRONG_TOKEN}"},
    )
    client.post("/v1/alerts", json=_fresh(DISK_ALERT), headers=AUTH)
    client.delete("/v1/incidents/PM-0000-404", headers=AUTH)
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "disk-orders-db",
        "payload": {
            "summary": "Disk almost full on orders-db",
            "source": "orders-db",
            "severity": "critical",
        },
    }
    paged = client.post("/v1/alerts/pagerduty", json=event, headers=AUTH)
    assert paged.status_code == 200, paged.text
    assert ROUTING_KEY not in paged.text
    assert caplog.records
    for secret in (TOKEN, WRONG_TOKEN, OTHER_TOKEN, ROUTING_KEY):
        assert secret not in caplog.text
    assert "a1b2c3d4" not in caplog.text


def test_json_logs_are_one_object_a_line(client):
    stream = io.StringIO()
    handler = make_handler("json")
    handler.setStream(stream)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        response = client.post(
            "/v1/alerts",
            json=_fresh(DISK_ALERT),
            headers={"X-Request-ID": "req-json-1"},
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    assert response.headers["X-Request-ID"] == "req-json-1"
    lines = [line for line in stream.getvalue().splitlines() if line]
    entries = [json.loads(line) for line in lines]
    assert entries
    [recommendation] = [e for e in entries if e["message"].startswith("recommendation")]
    assert recommendation["level"] == "INFO"
    assert recommendation["request_id"] == "req-json-1"
    assert "alertname=NodeFilesystemSpaceFillingUp" in recommendation["message"]
    assert "top_match=" in recommendation["message"]
    assert "no_close_precedent=False" in recommendation["message"]


def test_feedback_command_stores_and_lists(home, tmp_path, capsys):
    copy = tmp_path / "kb"
    shutil.copytree(home, copy)
    status = cli.main(
        [
            "--home",
            str(copy),
            "feedback",
            "add",
            "--record",
            "RB-kube-node-not-ready",
            "--verdict",
            "helpful",
            "--alertname",
            "KubeNodeNotReady",
            "--note",
            "step 3 fixed it",
        ]
    )
    assert status == 0
    assert "stored feedback" in capsys.readouterr().out
    status = cli.main(
        ["--home", str(copy), "feedback", "list", "RB-kube-node-not-ready", "--json"]
    )
    assert status == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["helpful"] == 1
    assert listed["entries"][0]["note"] == "step 3 fixed it"

    status = cli.main(
        [
            *("--home", str(copy), "feedback", "add"),
            *("--record", "RB-kube-node-not-ready", "--verdict", "wrong"),
        ]
    )
    assert status == 2
    assert "--alertname or --fingerprint" in capsys.readouterr().err


def test_no_request_to_urls_in_alerts(client):
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    trap = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        payload = json.loads(
            (SAMPLE_DATA / "alerts" / "alertmanager-disk-full.json").read_text()
        )
        payload["externalURL"] = f"{trap}/alertmanager"
        for position, alert in enumerate(payload["alerts"]):
            alert["generatorURL"] = f"{trap}/graph"
            alert["annotations"]["runbook_url"] = f"{trap}/runbook"
            alert["startsAt"] = f"2026-12-05T00:00:{position:02d}Z"
        response = client.post("/v1/alerts/alertmanager", json=payload)
        assert response.status_code == 200
        record = {**NEW_RECORD, "id": "PM-URL-1", "labels": {"runbook_url": trap}}
        assert (
            client.post("/v1/incidents", json=record, headers=AUTH).status_code == 200
        )
        client.delete("/v1/incidents/PM-URL-1", headers=AUTH)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def test_failed_loading_keeps_service_unready(home):
    from indexer.errors import KnowledgeBaseError

    def failing_open() -> KnowledgeBase:
        raise KnowledgeBaseError("no knowledge base at /nowhere/knowledge.db")

    app = create_app(_settings(home, ready_wait=30.0), knowledge_base=failing_open)
    with TestClient(app) as failed:
        deadline = time.monotonic() + 20
        while app.state.readiness.error is None:
            assert time.monotonic() < deadline, "loading never failed"
            time.sleep(0.05)

        response = failed.get("/readyz")
        body = _error(response, 503)
        assert "/nowhere/knowledge.db" in body["message"]
        # A failed load needs a restart, so no time to retry is suggested.
        assert "Retry-After" not in response.headers
        started = time.monotonic()
        _error(failed.get("/v1/search", params={"q": "disk"}), 503)
        assert time.monotonic() - started < 5
        assert failed.get("/livez").status_code == 200


def _app_on_copy(tmp_path, sample_home, embedder):
    """Return a copy of the sample knowledge base and an app serving it."""
    home = tmp_path / "kb"
    shutil.copytree(sample_home, home)
    settings = _settings(home)
    kb = KnowledgeBase(settings, embedder=embedder)
    return home, create_app(settings, knowledge_base=kb)


def test_database_errors_on_reads_are_503(tmp_path, sample_home, embedder):
    # Record reads go to the sqlite3 driver directly, whose errors SQLAlchemy
    # does not wrap: they must still be "unavailable", not a bug.
    home, app = _app_on_copy(tmp_path, sample_home, embedder)
    with TestClient(app) as probe:
        _wait_until_ready(probe)
        assert probe.get("/v1/incidents/PM-2024-007").status_code == 200

        with sqlite3.connect(home / "knowledge.db") as conn:
            conn.execute("ALTER TABLE records RENAME TO records_hidden")

        for path in ("/v1/incidents/PM-2024-007", "/v1/search?q=disk+full"):
            body = _error(probe.get(path), 503)
            assert body["code"] == "unavailable"
            assert "SELECT" not in body["message"]


@pytest.mark.parametrize(
    ("table", "failing"),
    [
        (scoring_rows.TABLE, "/v1/search?q=disk+full"),
        ("records", "/v1/search?q=disk+full"),
        ("feedback", "/v1/alerts"),
    ],
)
def test_readiness_503_names_missing_table(
    tmp_path, sample_home, embedder, table, failing
):
    home, app = _app_on_copy(tmp_path, sample_home, embedder)
    with TestClient(app) as probe:
        _wait_until_ready(probe)
        with sqlite3.connect(home / "knowledge.db") as conn:
            conn.execute(f"ALTER TABLE {table} RENAME TO hidden")

        if failing == "/v1/alerts":
            answer = probe.post(failing, json=_fresh(DISK_ALERT), headers=AUTH)
        else:
            answer = probe.get(failing)
        _error(answer, 503)
        for path in ("/readyz", "/health"):
            body = _error(probe.get(path), 503)
            assert body["code"] == "unavailable"
            assert f"no such table: {table}" in body["message"]
        assert probe.get("/livez").status_code == 200
        assert _samples(probe.get("/metrics").text)[("incident_ready", ())] == 0

        with sqlite3.connect(home / "knowledge.db") as conn:
            conn.execute(f"ALTER TABLE hidden RENAME TO {table}")
        assert probe.get("/readyz").json()["status"] == "ready"
        assert probe.get("/health").json()["status"] == "ok"
        assert _samples(probe.get("/metrics").text)[("incident_ready", ())] == 1


def test_damaged_database_found_by_search_fails_readiness(
    tmp_path, sample_home, embedder
):
    """A damaged page where the probe's one-row reads never look."""
    _, app = _app_on_copy(tmp_path, sample_home, embedder)
    with TestClient(app) as probe:
        _wait_until_ready(probe)

        def damaged(*args, **kwargs):
            error = sqlite3.DatabaseError("database disk image is malformed")
            error.sqlite_errorcode = 11  # type: ignore[attr-defined]
            raise error

        app.state.recommender.retriever.search = damaged
        _error(probe.get("/v1/search", params={"q": "disk full"}), 503)

        page = probe.get("/ui/", params={"q": "disk full"})
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "a database of the service is unavailable" in page.text

        for path in ("/readyz", "/health"):
            body = _error(probe.get(path), 503)
            assert "damaged (database disk image is malformed)" in body["message"]
            assert "(knowledge.db), received alerts (alerts.db)" in body["message"]
            assert "then restart the service" in body["message"]
        metrics = _samples(probe.get("/metrics").text)
        assert metrics[("incident_ready", ())] == 0
        assert metrics[("incident_database_damaged", ())] == 1
        assert metrics[("incident_load_failed", ())] == 0
        assert probe.get("/livez").status_code == 200


def test_missing_table_error_is_not_damage(tmp_path, sample_home, embedder):
    _, app = _app_on_copy(tmp_path, sample_home, embedder)
    with TestClient(app) as probe:
        _wait_until_ready(probe)

        def missing(*args, **kwargs):
            raise sqlite3.OperationalError("no such table: records")

        app.state.recommender.retriever.search = missing
        _error(probe.get("/v1/search", params={"q": "disk full"}), 503)

        assert probe.get("/readyz").status_code == 200
        metrics = _samples(probe.get("/metrics").text)
        assert metrics[("incident_database_damaged", ())] == 0


def test_locked_database_asks_for_retry(tmp_path, sample_home, embedder):
    _, app = _app_on_copy(tmp_path, sample_home, embedder)
    with TestClient(app) as probe:
        _wait_until_ready(probe)

        def locked(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        app.state.recommender.retriever.search = locked
        response = probe.get("/v1/search", params={"q": "disk full"})

        body = _error(response, 503)
        assert body["message"].endswith("retry after 2 seconds")
        assert response.headers["Retry-After"] == "2"
        assert probe.get("/readyz").status_code == 200


def test_unreadable_database_named_in_readiness(home):
    def damaged() -> KnowledgeBase:
        raise sqlite3.DatabaseError("database disk image is malformed")

    app = create_app(_settings(home, ready_wait=30.0), knowledge_base=damaged)
    with TestClient(app) as failed:
        deadline = time.monotonic() + 60
        while app.state.readiness.error is None:
            assert time.monotonic() < deadline, "loading never failed"
            time.sleep(0.05)

        body = _error(failed.get("/readyz"), 503)
        assert (
            "database cannot be read: database disk image is malformed"
            in (body["message"])
        )
        assert "indexer build" in body["message"]
        metrics = _samples(failed.get("/metrics").text)
        assert metrics[("incident_load_failed", ())] == 1


def test_utf8_path_reaches_the_lookup(client):
    # An id in another script, percent-encoded as UTF-8, is looked up as sent.
    response = client.get("/v1/incidents/%E3%83%87%E3%82%A3%E3%82%B9%E3%82%AF")

    body = _error(response, 404)
    assert "\u30c7\u30a3\u30b9\u30af" in body["message"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("token with a space-0123456789", "has a space or a character outside"),
        ("tökén-0123456789-abcdef", "has a space or a character outside"),
        ("t" * 4090, "use at most 4089"),
    ],
)
def test_unusable_tokens_rejected(home, token, message):
    from indexer.errors import ConfigurationError

    settings = ServiceSettings(home=home, api_tokens=[SecretStr(token)])
    with pytest.raises(ConfigurationError, match=message) as raised:
        load_policy(settings)
    assert token not in str(raised.value)


def test_bearer_token_after_a_tab(client):
    response = client.post(
        "/v1/feedback",
        json={"record_id": "missing-record", "verdict": "wrong", "alertname": "X"},
        headers={"Authorization": f"Bearer\t{TOKEN}"},
    )
    assert _error(response, 404)["field"] == "record_id"


def test_ready_wait_must_be_finite(home):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="less than or equal to 3600"):
        ServiceSettings(home=home, ready_wait=3601)
    for value in ("inf", "nan"):
        with pytest.raises(ValidationError, match="finite number"):
            ServiceSettings(home=home, ready_wait=float(value))


def _waiting_request(app, method="GET", receive=None):
    """Return a request to app as the ASGI server would hand it over."""
    from starlette.requests import Request

    async def disconnected():
        return {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": method,
        "path": "/v1/search",
        "headers": [],
        "query_string": b"",
        "app": app,
    }
    return Request(scope, receive or disconnected)


def test_loading_wait_ends_early(home):
    from recommender.http_errors import ApiError
    from recommender.routes.deps import get_recommender

    app = create_app(_settings(home, ready_wait=30.0))
    started = time.monotonic()
    with pytest.raises(ApiError) as left:
        asyncio.run(get_recommender(_waiting_request(app)))
    assert left.value.status == 503
    assert "the client closed the connection" in str(left.value)

    app.state.readiness.stopping = True

    async def waiting_body():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    with pytest.raises(ApiError) as stopping:
        asyncio.run(get_recommender(_waiting_request(app, "POST", waiting_body)))
    assert "the service is stopping" in str(stopping.value)
    assert time.monotonic() - started < 10


def test_sigterm_marks_the_service_as_stopping(home):
    import signal

    import uvicorn

    from recommender.readiness import Readiness
    from recommender.server import StoppingServer

    readiness = Readiness()
    server = StoppingServer(uvicorn.Config(create_app(_settings(home))), readiness)

    server.handle_exit(signal.SIGTERM, None)

    assert readiness.stopping
    assert server.should_exit


def test_token_problems_named_by_place(home, tmp_path):
    from indexer.errors import ConfigurationError

    token_file = tmp_path / "tokens"
    lines = ["# writers", TOKEN, "", "short", "with space-0123456789"]
    token_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = ServiceSettings(
        home=home,
        api_tokens=[SecretStr(OTHER_TOKEN), SecretStr("tiny")],
        api_token_file=token_file,
    )

    with pytest.raises(ConfigurationError) as raised:
        load_policy(settings)

    message = str(raised.value)
    assert "the token at item 2 of INCIDENT_API_TOKENS has 4 characters" in message
    assert f"the token at line 4 of INCIDENT_API_TOKEN_FILE {token_file} has 5" in (
        message
    )
    assert f"line 5 of INCIDENT_API_TOKEN_FILE {token_file} has a space" in message
    assert "short" not in message.replace("shorter", "")


def test_empty_token_file_rejected(home, tmp_path):
    from indexer.errors import ConfigurationError

    token_file = tmp_path / "tokens"
    token_file.write_text("# no tokens yet\n\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="has no token"):
        load_policy(ServiceSettings(home=home, api_token_file=token_file))


def test_duplicate_tokens_count_once(home, tmp_path):
    token_file = tmp_path / "tokens"
    token_file.write_text(f"{TOKEN}\n{TOKEN}\n", encoding="utf-8")
    settings = ServiceSettings(
        home=home, api_tokens=[SecretStr(TOKEN)], api_token_file=token_file
    )

    assert load_policy(settings).tokens == (TOKEN.encode(),)


def test_longest_token_after_extra_spaces(home, kb):
    longest = "t" * 4089
    app = create_app(
        ServiceSettings(home=home, api_tokens=[SecretStr(longest)]), knowledge_base=kb
    )
    with TestClient(app) as long_client:
        response = long_client.post(
            "/v1/feedback",
            json={"record_id": "missing-record", "verdict": "wrong", "alertname": "X"},
            headers={"Authorization": f"Bearer  {longest}"},
        )
    assert _error(response, 404)["field"] == "record_id"
