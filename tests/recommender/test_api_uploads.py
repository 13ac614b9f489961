"""Records added over the API are kept as files, so a build does not drop them."""

import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from indexer import uploads
from indexer.cli import main as indexer_main
from indexer.errors import KnowledgeBaseError
from indexer.knowledge_base import KnowledgeBase
from indexer.lock import write_lock
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

    legacy_markdown = uploads.upload_path(home, "PM-OLD-001", ".md")
    legacy_markdown.parent.mkdir(parents=True, exist_ok=True)
    legacy_markdown.write_text("---\nid: PM-OLD-001\n---\n# Older text\n")

    with caplog.at_level(logging.WARNING):
        assert _build(home, "--without-uploads") == 0

    assert "saved 1 records added over the API" in caplog.text
    assert sorted(_stored(home, embedder)) == ["PM-SRC-001"]
    assert not legacy_markdown.exists()
    assert _build(home) == 0
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-OLD-001", "PM-SRC-001"]
    assert stored["PM-OLD-001"].labels == {"service": "beacon-relay"}
    assert stored["PM-OLD-001"].source == str(
        uploads.upload_path(home, "PM-OLD-001", ".record.json")
    )


def test_replaced_source_record_keeps_its_id(home, embedder, caplog):
    """A record sent over the API replaces the source file's record of its id."""
    replaced = {**JSON_RECORD, "id": "PM-SRC-001", "title": "Orders DB, as edited"}
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=replaced, headers=AUTH).is_success

    assert _build(home) == 0
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-SRC-001"]
    assert stored["PM-SRC-001"].title == "Orders DB, as edited"

    source = str(home.parent / "sources")
    assert indexer_main(["--home", str(home), "sync", "--quiet", source]) == 0
    assert "record PM-SRC-001 was replaced over the API" in caplog.text
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-SRC-001"]
    assert stored["PM-SRC-001"].title == "Orders DB, as edited"

    # Adding the file on purpose makes it the record again, also for builds.
    assert indexer_main(["--home", str(home), "add", "--quiet", source]) == 0
    assert not uploads.upload_path(home, "PM-SRC-001", ".record.json").exists()
    assert _build(home) == 0
    assert _stored(home, embedder)["PM-SRC-001"].title == "Orders DB ran out of disk"


def test_failed_write_puts_the_previous_file_back(home, embedder):
    markdown_file = uploads.upload_path(home, "PM-LOCK-001", ".md")
    record_file = uploads.upload_path(home, "PM-LOCK-001", ".record.json")
    settings = ServiceSettings(
        home=home, api_tokens=[SecretStr(TOKEN)], lock_timeout=0.3
    )
    knowledge_base = KnowledgeBase(settings, embedder=embedder)
    headers = {**AUTH, "Content-Type": "text/markdown"}
    with TestClient(create_app(settings, knowledge_base=knowledge_base)) as client:
        sent = client.post(
            "/v1/incidents",
            params={"id": "PM-LOCK-001"},
            content=MARKDOWN,
            headers=headers,
        )
        assert sent.is_success
        saved = markdown_file.read_text(encoding="utf-8")

        with write_lock(home, timeout=1):
            rejected = client.post(
                "/v1/incidents", json={**JSON_RECORD, "id": "PM-LOCK-001"}, headers=AUTH
            )

    assert rejected.status_code == 503
    assert markdown_file.read_text(encoding="utf-8") == saved
    assert not record_file.exists()
    assert sorted(path.name for path in markdown_file.parent.glob(".upload-*")) == []


def test_unwritable_uploads_folder_is_a_clear_503(home, embedder):
    folder = uploads.uploads_folder(home)
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("not a folder")

    with _client(home, embedder) as client:
        response = client.post("/v1/incidents", json=JSON_RECORD, headers=AUTH)

    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert message.startswith(f"cannot use the uploads folder {folder}: ")
    assert "check that the folder is writable" in message
    with _client(home, embedder) as client:
        assert client.get("/v1/incidents/PM-JSON-001").status_code == 404


def test_delete_removes_only_the_record_own_file(tmp_path):
    home = tmp_path / "kb"
    first = uploads.upload_path(home, "PM-1", ".record.json")
    first.parent.mkdir(parents=True)
    first.write_text("{}")

    # PM-1~2, made by a build from the same file as PM-1, does not own it.
    with uploads.removed_upload(home, "PM-1~2", str(first), [str(first)], 1):
        pass
    assert first.exists()
    # A home copied elsewhere still names the old folder in its sources.
    moved = tmp_path / "old-kb" / "uploads" / first.name
    with uploads.removed_upload(home, "PM-1", str(moved), [], 1):
        pass
    assert not first.exists()


def test_delete_that_fails_changes_nothing(home, embedder, monkeypatch):
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=JSON_RECORD, headers=AUTH).is_success
        saved = uploads.upload_path(home, "PM-JSON-001", ".record.json")

        def reject(paths):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(uploads, "_move_aside", reject)
        response = client.delete("/v1/incidents/PM-JSON-001", headers=AUTH)

        assert response.status_code == 503
        message = response.json()["error"]["message"]
        assert message.startswith("cannot delete the record's file in")
        assert client.get("/v1/incidents/PM-JSON-001").status_code == 200
    assert saved.exists()


def test_delete_after_build_without_uploads_ends_the_edit(home, embedder):
    replaced = {**JSON_RECORD, "id": "PM-SRC-001", "title": "Orders DB, as edited"}
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=replaced, headers=AUTH).is_success
    assert _build(home, "--without-uploads") == 0

    with _client(home, embedder) as client:
        assert client.delete("/v1/incidents/PM-SRC-001", headers=AUTH).is_success

    assert _build(home) == 0
    assert _stored(home, embedder)["PM-SRC-001"].title == "Orders DB ran out of disk"


def test_home_inside_the_sources_keeps_upload_ids(tmp_path, embedder):
    sources = tmp_path / "repo"
    (sources / "pm").mkdir(parents=True)
    (sources / "pm" / "pm.md").write_text(SOURCE, encoding="utf-8")
    home = sources / "var"
    replaced = {**JSON_RECORD, "id": "PM-SRC-001", "title": "Orders DB, as edited"}
    assert indexer_main(["--home", str(home), "build", "--quiet", str(sources)]) == 0
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=replaced, headers=AUTH).is_success

    assert indexer_main(["--home", str(home), "build", "--quiet", str(sources)]) == 0
    stored = _stored(home, embedder)
    assert sorted(stored) == ["PM-SRC-001"]
    assert stored["PM-SRC-001"].title == "Orders DB, as edited"
    assert indexer_main(["--home", str(home), "sync", "--quiet", str(sources)]) == 0
    assert sorted(_stored(home, embedder)) == ["PM-SRC-001"]


def test_build_holds_the_uploads_lock(home, monkeypatch):
    """A write stored while a build runs would be lost when the build replaces all."""
    seen = []
    original = KnowledgeBase.build

    def build(self, records, progress=False):
        with ThreadPoolExecutor(1) as pool:
            seen.append(pool.submit(_try_lock, home).result())
        return original(self, records, progress)

    monkeypatch.setattr(KnowledgeBase, "build", build)
    assert _build(home) == 0
    assert seen == ["locked by another writer"]


def _try_lock(home) -> str:
    try:
        with uploads.locked(home, timeout=0):
            return "free"
    except KnowledgeBaseError:
        return "locked by another writer"


@pytest.mark.parametrize(
    "front_matter",
    [
        "summary: |\n  id: nested\n  text\n",
        "id:\n",
        "id: \n",
        'id: ""\n',
        "id: ~\n",
        "id: null # fill in\n",
    ],
)
def test_markdown_upload_reads_back_under_its_id(home, embedder, front_matter):
    text = f"---\n{front_matter}---\n# Lantern cache evicted\n\n## Summary\nAll.\n"
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    with _client(home, embedder) as client:
        response = client.post(
            "/v1/incidents", params={"id": "PM-FM-001"}, content=text, headers=markdown
        )
        assert response.status_code == 200, response.text

    assert _build(home) == 0
    assert "PM-FM-001" in _stored(home, embedder)


def test_markdown_upload_without_title_takes_first_sentence(home, embedder):
    text = "The lantern cache evicted every key at 09:12. Nothing else broke.\n"
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    with _client(home, embedder) as client:
        response = client.post(
            "/v1/incidents",
            params={"id": "PM-NT-001"},
            content=text * 5,
            headers=markdown,
        )
        assert response.status_code == 200, response.text
        title = client.get("/v1/incidents/PM-NT-001").json()["title"]

    assert title == "The lantern cache evicted every key at 09:12."
    assert _build(home) == 0
    assert _stored(home, embedder)["PM-NT-001"].title == title


def test_blank_title_is_422(home, embedder):
    blank = {**JSON_RECORD, "title": " \t "}

    with _client(home, embedder) as client:
        response = client.post("/v1/incidents", json=blank, headers=AUTH)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "title"
    assert error["message"].startswith("title is blank; give the record a title")
    assert not uploads.upload_path(home, "PM-JSON-001", ".record.json").exists()


def test_concurrent_writes_keep_file_in_step(home, embedder):
    """Two writes that wait for the lock together end as one of them, everywhere."""
    settings = ServiceSettings(
        home=home, api_tokens=[SecretStr(TOKEN)], lock_timeout=10
    )
    knowledge_base = KnowledgeBase(settings, embedder=embedder)
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    with TestClient(create_app(settings, knowledge_base=knowledge_base)) as client:

        def send_markdown() -> int:
            return client.post(
                "/v1/incidents",
                params={"id": "PM-RACE-001"},
                content="# Race as Markdown\n\n## Summary\nSent as Markdown.\n",
                headers=markdown,
            ).status_code

        def send_json() -> int:
            record = {**JSON_RECORD, "id": "PM-RACE-001", "title": "Race as JSON"}
            return client.post("/v1/incidents", json=record, headers=AUTH).status_code

        with ThreadPoolExecutor(2) as pool, write_lock(home, timeout=1):
            first = pool.submit(send_markdown)
            time.sleep(0.2)
            second = pool.submit(send_json)
            time.sleep(0.5)
        assert (first.result(), second.result()) == (200, 200)
        title = client.get("/v1/incidents/PM-RACE-001").json()["title"]

    assert _build(home) == 0
    assert _stored(home, embedder)["PM-RACE-001"].title == title


def test_markdown_upload_differing_from_query_id_is_422(home, embedder):
    text = "---\nId: PM-OTHER\n---\n# Disk filled\n\n## Root cause\nLogs.\n"
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    with _client(home, embedder) as client:
        response = client.post(
            "/v1/incidents", params={"id": "PM-QUERY"}, content=text, headers=markdown
        )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "id"
    assert error["message"].startswith(
        "?id= is 'PM-QUERY' but the front matter's id is 'PM-OTHER'"
    )


def test_upload_kind_survives_runbooks_folder(tmp_path, embedder):
    """A kind no section decides followed the folder, which differs on a rebuild."""
    sources = tmp_path / "runbooks"
    sources.mkdir()
    (sources / "pm.md").write_text(SOURCE, encoding="utf-8")
    home = sources / "var"
    assert indexer_main(["--home", str(home), "build", "--quiet", str(sources)]) == 0
    body = "# Checkout latency\n\n## Summary\nSlow.\n\n## Resolution\nScaled up.\n"
    # A "kind:" line inside a quoted value is no key of the front matter.
    quoted = '---\ntitle: "Export slow\nkind: see notes"\n---\n' + body
    markdown = {**AUTH, "Content-Type": "text/markdown"}
    kinds = {}
    with _client(home, embedder) as client:
        for record_id, text in (("PM-KIND-1", body), ("PM-KIND-2", quoted)):
            response = client.post(
                "/v1/incidents",
                params={"id": record_id},
                content=text,
                headers=markdown,
            )
            assert response.status_code == 200, response.text
            kinds[record_id] = client.get(f"/v1/incidents/{record_id}").json()["kind"]

    assert indexer_main(["--home", str(home), "build", "--quiet", str(sources)]) == 0
    stored = _stored(home, embedder)
    assert stored["PM-KIND-1"].kind.value == kinds["PM-KIND-1"]
    assert stored["PM-KIND-2"].kind.value == kinds["PM-KIND-2"]


def test_add_replaces_left_out_upload(home, embedder):
    draft = {**JSON_RECORD, "id": "PM-DRAFT-1", "title": "First draft"}
    with _client(home, embedder) as client:
        assert client.post("/v1/incidents", json=draft, headers=AUTH).is_success
    assert _build(home, "--without-uploads") == 0
    reviewed = home.parent / "sources" / "draft.md"
    reviewed.write_text("---\nid: PM-DRAFT-1\n---\n# Reviewed\n\n## Summary\nDone.\n")

    assert indexer_main(["--home", str(home), "add", "--quiet", str(reviewed)]) == 0

    assert not uploads.has_upload(home, "PM-DRAFT-1")
    assert _build(home) == 0
    assert _stored(home, embedder)["PM-DRAFT-1"].title == "Reviewed"
