"""Records added over the API are kept as files, so a build does not drop them."""

import json
import logging
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from indexer import uploads
from indexer.cli import main as indexer_main
from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from recommender.api import create_app
from recommender.settings import ServiceSettings

TOKEN = "upload-token-" + "q1w2e3r4t5y6u7i8"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SOURCE = """---
id: PM-SRC-001
severity: SEV2
---
# Orders DB ran out of disk

## Summary
The data volume of orders-db filled up and the primary stopped accepting writes.

## Root Cause
A replication slot kept every WAL segment after its consumer was paused.
"""
JSON_RECORD = {
    "id": "PM-JSON-001",
    "kind": "postmortem",
    "title": "Kiln scheduler stalled on a lease clock skew",
    "sections": {
        "summary": "The kiln scheduler stopped handing out work.",
        "root_cause": "The lease clock of one node ran four minutes ahead.",
        "resolution": "Restarted chrony.\n\n```sh\nsystemctl restart chronyd\n```",
    },
    "labels": {"service": "kiln-scheduler", "alertname": "KilnSchedulerStalled"},
    "severity": "SEV2",
    "started_at": "2026-11-03T07:00:00+00:00",
    "ended_at": "2026-11-03T07:40:00+00:00",
}
MARKDOWN = (
    "# Lantern cache evicted\n\n## Summary\nThe lantern cache evicted every key.\n"
)


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "kb"
    source = tmp_path / "sources" / "pm.md"
    source.parent.mkdir()
    source.write_text(SOURCE, encoding="utf-8")
    assert indexer_main(["--home", str(folder), "build", "--quiet", str(source)]) == 0
    return folder


def _client(home, embedder) -> TestClient:
    settings = ServiceSettings(home=home, api_tokens=[SecretStr(TOKEN)])
    knowledge_base = KnowledgeBase(settings, embedder=embedder)
    return TestClient(create_app(settings, knowledge_base=knowledge_base))


def _build(home, *options: str) -> int:
    source = home.parent / "sources"
    return indexer_main(
        ["--home", str(home), "build", "--quiet", *options, str(source)]
    )


def _stored(home, embedder) -> dict[str, IncidentRecord]:
    knowledge_base = KnowledgeBase(ServiceSettings(home=home), embedder=embedder)
    ids = list(knowledge_base.database.record_sources())
    return knowledge_base.get_many(ids)


def test_build_keeps_records_added_over_the_api(home, embedder, capsys):
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=JSON_RECORD, headers=AUTH).is_success
        markdown = {**AUTH, "Content-Type": "text/markdown"}
        response = client.post(
            "/v1/incidents",
            params={"id": "PM-MD-001"},
            content=MARKDOWN,
            headers=markdown,
        )
        assert response.is_success
    saved = uploads.upload_path(home, "PM-JSON-001", ".record.json")
    assert json.loads(saved.read_text(encoding="utf-8")) == JSON_RECORD

    assert _build(home) == 0

    assert "reading the records added over the API" in capsys.readouterr().err
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-JSON-001", "PM-MD-001", "PM-SRC-001"]
    record = stored["PM-JSON-001"]
    assert record.sections == JSON_RECORD["sections"]
    assert record.labels == JSON_RECORD["labels"]
    assert record.severity_raw == "SEV2"
    assert record.ended_at == datetime.fromisoformat(JSON_RECORD["ended_at"])
    assert record.source == str(saved)

    assert _build(home, "--without-uploads") == 0
    assert sorted(_stored(home, embedder)) == ["PM-SRC-001"]
    assert saved.exists()


def test_upload_in_other_format_replaces_file(home, embedder):
    markdown_file = uploads.upload_path(home, "PM-SWAP-001", ".md")
    record_file = uploads.upload_path(home, "PM-SWAP-001", ".record.json")
    swapped = {**JSON_RECORD, "id": "PM-SWAP-001"}
    headers = {**AUTH, "Content-Type": "text/markdown"}

    with _client(home, embedder) as client:
        client.post(
            "/v1/incidents",
            params={"id": "PM-SWAP-001"},
            content=MARKDOWN,
            headers=headers,
        )
        assert markdown_file.exists()
        assert client.post("/v1/incidents", json=swapped, headers=AUTH).is_success
        assert record_file.exists()
        assert not markdown_file.exists()

        client.post(
            "/v1/incidents",
            params={"id": "PM-SWAP-001"},
            content=MARKDOWN,
            headers=headers,
        )
        assert markdown_file.exists()
        assert not record_file.exists()

        assert client.post("/v1/incidents", json=swapped, headers=AUTH).is_success
        assert client.delete("/v1/incidents/PM-SWAP-001", headers=AUTH).is_success
    assert not record_file.exists()

    assert _build(home) == 0
    assert sorted(_stored(home, embedder)) == ["PM-SRC-001"]


def test_build_saves_records_stored_without_a_file(home, embedder, caplog):
    """A JSON record added before the API saved files has only an "api:" source."""
    knowledge_base = KnowledgeBase(ServiceSettings(home=home), embedder=embedder)
    knowledge_base.add(
        [
            IncidentRecord(
                id="PM-OLD-001",
                kind=Kind.INCIDENT,
                title="Beacon relay dropped heartbeats",
                sections={"summary": "The beacon relay dropped every heartbeat."},
                labels={"service": "beacon-relay"},
                severity_raw="SEV3",
                source="api:PM-OLD-001",
            )
        ]
    )

    with caplog.at_level(logging.WARNING):
        assert _build(home) == 0

    assert "saved 1 records added over the API" in caplog.text
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-OLD-001", "PM-SRC-001"]
    assert stored["PM-OLD-001"].labels == {"service": "beacon-relay"}
    assert stored["PM-OLD-001"].source == str(
        uploads.upload_path(home, "PM-OLD-001", ".record.json")
    )
