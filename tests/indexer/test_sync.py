import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from indexer.errors import KnowledgeBaseError
from indexer.knowledge_base import KnowledgeBase
from indexer.lock import write_lock
from indexer.readers import load_mapping, read_sources
from indexer.settings import IndexerSettings
from indexer.sync import keep_path_ids, plan_sync, restore_duplicate_ids


def _postmortem(number: int, summary: str) -> str:
    return (
        f"---\nid: PM-{number}\ntitle: Incident {number}\n---\n"
        f"# Incident {number}\n\n## Summary\n\n{summary}\n\n"
        "## Root Cause\n\nA change went out without review.\n"
    )


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "postmortems"
    folder.mkdir()
    summaries = [
        "The disk of orders-db filled up.",
        "DNS lookups returned SERVFAIL.",
        "The TLS certificate of checkout expired.",
    ]
    for number, summary in enumerate(summaries, start=1):
        (folder / f"pm-{number}.md").write_text(_postmortem(number, summary))
    return folder


@pytest.fixture
def knowledge_base(tmp_path, embedder, sources):
    kb = KnowledgeBase(
        IndexerSettings(home=tmp_path / "kb", lock_timeout=0.5), embedder=embedder
    )
    kb.build(read_sources([sources]).records)
    return kb


def _sync(kb: KnowledgeBase, sources: Path, keep_removed: bool = False):
    read = read_sources([sources])
    stored = kb.database.record_sources()
    keep_path_ids(read.records, stored)
    restore_duplicate_ids(read.records, stored)
    plan = plan_sync(read, stored, [sources], keep_removed)
    return plan, kb.sync(plan)


def _top(kb: KnowledgeBase, text: str) -> str:
    return kb.search_passages(kb.embed_query(text), 1)[0][0].record_id


def test_second_sync_changes_nothing(knowledge_base, sources):
    version = knowledge_base.database.data_version()
    plan, summary = _sync(knowledge_base, sources)
    assert (plan.added, plan.updated, plan.removed) == ([], [], [])
    assert plan.unchanged == 3
    assert summary.data_version == version
    assert knowledge_base.database.data_version() == version


def test_sync_adds_updates_and_removes(knowledge_base, sources):
    (sources / "pm-4.md").write_text(_postmortem(4, "Kafka consumers lagged behind."))
    (sources / "pm-1.md").write_text(
        _postmortem(1, "Memory leak in the search indexer.")
    )
    (sources / "pm-2.md").unlink()

    plan, summary = _sync(knowledge_base, sources)

    assert [r.id for r in plan.added] == ["PM-4"]
    assert [r.id for r in plan.updated] == ["PM-1"]
    assert plan.removed == ["PM-2"]
    assert plan.unchanged == 1
    assert summary.passages > 0
    assert set(knowledge_base.database.record_hashes()) == {"PM-1", "PM-3", "PM-4"}
    assert _top(knowledge_base, "consumer lag on kafka") == "PM-4"
    assert _top(knowledge_base, "heap keeps growing, memory leak") == "PM-1"
    index = knowledge_base.vector_index()
    assert index.size == knowledge_base.database.count_passages()


def test_sync_keep_removed_keeps_records(knowledge_base, sources):
    (sources / "pm-2.md").unlink()
    plan, _ = _sync(knowledge_base, sources, keep_removed=True)
    assert plan.removed == []
    assert plan.kept == ["PM-2"]
    assert "PM-2" in knowledge_base.database.record_hashes()


def test_sync_keeps_records_of_broken_file(knowledge_base, sources):
    (sources / "pm-3.md").write_text("---\nid: [unclosed\n---\n# Broken\n")
    plan, _ = _sync(knowledge_base, sources)
    assert plan.removed == []
    assert "PM-3" in knowledge_base.database.record_hashes()


def test_sync_of_one_folder_leaves_others(knowledge_base, sources, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "pm-9.md").write_text(_postmortem(9, "Clock skew broke JWT validation."))
    _sync(knowledge_base, other)
    assert set(knowledge_base.database.record_hashes()) == {
        "PM-1",
        "PM-2",
        "PM-3",
        "PM-9",
    }


def test_reader_sees_other_writer_without_restart(knowledge_base, embedder, tmp_path):
    reader = KnowledgeBase(knowledge_base.settings, embedder=embedder, create=False)
    assert reader.vector_index().size == knowledge_base.database.count_passages()

    writer = KnowledgeBase(knowledge_base.settings, embedder=embedder)
    writer.add(read_sources([_write(tmp_path, 5, "Redis ran out of memory.")]).records)

    assert _top(reader, "redis out of memory") == "PM-5"
    assert reader.vector_index().info.data_version == writer.database.data_version()


def test_add_does_not_rewrite_index_file(knowledge_base, tmp_path):
    path = knowledge_base.settings.index_path
    before = path.stat().st_mtime_ns
    knowledge_base.add(read_sources([_write(tmp_path, 6, "Queue backlog.")]).records)
    assert path.stat().st_mtime_ns == before
    fresh = KnowledgeBase(knowledge_base.settings, embedder=knowledge_base.embedder)
    assert _top(fresh, "queue backlog grew") == "PM-6"


def test_add_in_new_process_never_loads_index(knowledge_base, tmp_path):
    writer = KnowledgeBase(knowledge_base.settings, embedder=knowledge_base.embedder)
    writer.add(read_sources([_write(tmp_path, 8, "Stale DNS cache.")]).records)
    assert not writer.vectors.loaded
    assert _top(knowledge_base, "stale dns cache entries") == "PM-8"


def test_second_writer_is_rejected_clearly(knowledge_base, tmp_path):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(
        target=_hold_lock, args=(knowledge_base.settings.home, ready)
    )
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(KnowledgeBaseError, match=r"another process \(pid \d+\)"):
            knowledge_base.remove(["PM-1"])
    finally:
        holder.terminate()
        holder.join()
    assert "PM-1" in knowledge_base.database.record_hashes()


def test_changed_model_is_rejected_for_sync(knowledge_base, sources, embedder):
    settings = IndexerSettings(home=knowledge_base.settings.home, model="other-model")
    other = KnowledgeBase(settings, embedder=embedder)
    (sources / "pm-7.md").write_text(_postmortem(7, "Noisy neighbour."))
    read = read_sources([sources])
    plan = plan_sync(read, other.database.record_sources(), [sources])
    with pytest.raises(Exception, match="embedded with model 'all-MiniLM-L6-v2'"):
        other.sync(plan)


def _write(folder: Path, number: int, summary: str) -> Path:
    path = folder / f"new-{number}.md"
    path.write_text(_postmortem(number, summary))
    return path


def _hold_lock(home: Path, ready) -> None:  # type: ignore[no-untyped-def]
    with write_lock(home, timeout=5):
        ready.set()
        time.sleep(60)


def test_sync_keeps_records_of_emptied_file(knowledge_base, sources):
    tickets = sources / "tickets.csv"
    tickets.write_text("Issue key,Summary\nOPS-1,DNS lookups fail\n")
    _sync(knowledge_base, sources)
    tickets.write_text("Issue key,Summary\n")
    (sources / "pm-3.md").unlink()

    plan, _ = _sync(knowledge_base, sources)

    assert plan.removed == ["PM-3"]
    assert plan.emptied == {str(tickets.resolve()): ["OPS-1"]}
    assert set(knowledge_base.database.record_hashes()) == {"PM-1", "PM-2", "OPS-1"}


def test_sync_stores_new_source_of_moved_file(knowledge_base, sources, tmp_path):
    moved = tmp_path / "moved"
    sources.rename(moved)
    version = knowledge_base.database.data_version()

    plan, _ = _sync(knowledge_base, moved)

    assert plan.unchanged == 3
    assert len(plan.moved) == 3
    assert knowledge_base.database.data_version() == version
    record = knowledge_base.get("PM-2")
    assert record.source == str(moved / "pm-2.md")
    stored = knowledge_base.database.record_sources()["PM-2"][1]
    assert stored == str(moved / "pm-2.md")

    (moved / "pm-2.md").unlink()
    plan, _ = _sync(knowledge_base, moved)
    assert plan.removed == ["PM-2"]


def test_sources_are_stored_absolute(knowledge_base, sources, monkeypatch):
    monkeypatch.chdir(sources.parent)
    read = read_sources([Path(sources.name)])

    assert {r.source for r in read.records} == {
        str(sources / f"pm-{n}.md") for n in (1, 2, 3)
    }
    assert {r.id for r in read.records} == {"PM-1", "PM-2", "PM-3"}


def test_duplicate_ids_stay_with_their_files(knowledge_base, sources):
    (sources / "pm-5.md").write_text(_postmortem(2, "Second file with the id PM-2."))
    _sync(knowledge_base, sources)
    stored = knowledge_base.database.record_sources()
    assert stored["PM-2~2"][1] == str(sources / "pm-5.md")

    (sources / "a-first.md").write_text(_postmortem(2, "A third file, sorted first."))
    plan, _ = _sync(knowledge_base, sources)

    assert [r.id for r in plan.added] == ["PM-2~3"]
    assert plan.updated == []
    stored = knowledge_base.database.record_sources()
    assert stored["PM-2"][1] == str(sources / "pm-2.md")
    assert stored["PM-2~2"][1] == str(sources / "pm-5.md")
    assert stored["PM-2~3"][1] == str(sources / "a-first.md")


def test_sync_of_emptied_second_root_removes_nothing(knowledge_base, sources, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "pm-9.md").write_text(_postmortem(9, "Clock skew broke JWT validation."))
    _sync(knowledge_base, other)
    for path in sources.iterdir():
        path.unlink()

    read = read_sources([sources, other])
    plan = plan_sync(read, knowledge_base.database.record_sources(), [sources, other])

    assert plan.removed == []
    assert plan.unread == {str(sources): ["PM-1", "PM-2", "PM-3"]}


def test_sync_handles_hash_in_paths(tmp_path, embedder):
    folder = tmp_path / "team #2"
    folder.mkdir()
    (folder / "pm-1.md").write_text(_postmortem(1, "The disk of orders-db filled."))
    (folder / "pm-2.md").write_text(_postmortem(2, "DNS lookups returned SERVFAIL."))
    tickets = folder / "jira #1.csv"
    tickets.write_text("Issue key,Summary\nOPS-1,DNS lookups fail\nOPS-2,Disk full\n")
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "kb"), embedder=embedder)
    kb.build(read_sources([folder]).records)

    tickets.write_text("Issue key,Summary\n")
    (folder / "pm-1.md").unlink()
    plan, _ = _sync(kb, folder)

    assert plan.removed == ["PM-1"]
    assert plan.emptied == {str(tickets.resolve()): ["OPS-1", "OPS-2"]}


def test_folder_given_twice_is_read_once(sources):
    read = read_sources([sources, sources, sources / "pm-1.md"])

    assert sorted(r.id for r in read.records) == ["PM-1", "PM-2", "PM-3"]


def test_symlinked_folder_is_read_and_synced(knowledge_base, sources, tmp_path):
    linked = tmp_path / "linked-postmortems"
    linked.mkdir()
    (linked / "pm-7.md").write_text(_postmortem(7, "Kafka consumers lagged behind."))
    (sources / "more").symlink_to(linked)
    (sources / "loop").symlink_to(sources)

    plan, _ = _sync(knowledge_base, sources)
    assert [r.id for r in plan.added] == ["PM-7"]

    (linked / "pm-7.md").unlink()
    plan, _ = _sync(knowledge_base, sources)
    assert plan.removed == ["PM-7"]


def _two_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Create folders a and b, with a postmortem PM-1 in a."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "pm.md").write_text(_postmortem(1, "The disk of orders-db filled."))
    return first, second


def test_syncs_of_two_folders_sharing_an_id(tmp_path, embedder):
    first, second = _two_folders(tmp_path)
    (second / "pm.md").write_text(_postmortem(1, "DNS lookups returned SERVFAIL."))
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "kb"), embedder=embedder)
    kb.build(read_sources([first, second]).records)
    before = kb.database.record_sources()

    for folder in (first, second, first, second):
        plan, _ = _sync(kb, folder)
        assert (plan.added, plan.updated, plan.removed) == ([], [], [])

    assert kb.database.record_sources() == before
    (second / "new.md").write_text(_postmortem(1, "A third file with the same id."))
    plan, _ = _sync(kb, second)
    assert [r.id for r in plan.added] == ["PM-1~3"]
    assert plan.updated == []


def test_sync_notes_relative_sources(knowledge_base, sources):
    stored = knowledge_base.database.record_sources()
    knowledge_base.database.update_sources([("PM-2", "postmortems/pm-2.md")])
    (sources / "pm-2.md").unlink()

    read = read_sources([sources])
    plan = plan_sync(read, knowledge_base.database.record_sources(), [sources])

    assert plan.relative == ["PM-2"]
    assert stored["PM-1"][1] == str(sources / "pm-1.md")


def test_sync_leaves_api_records_alone(knowledge_base, sources):
    # A record written through POST /v1/incidents has no file.
    knowledge_base.database.update_sources([("PM-2", "api:PM-2")])
    (sources / "pm-2.md").unlink()

    read = read_sources([sources])
    plan = plan_sync(read, knowledge_base.database.record_sources(), [sources])

    assert plan.relative == []
    assert "PM-2" not in plan.removed


def _path_postmortem(folder: Path, name: str, summary: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"# {name}\n\n## Summary\n\n{summary}\n")
    return path


def test_path_ids_kept_through_subfolder_and_link(tmp_path, embedder):
    release = tmp_path / "releases" / "r1"
    _path_postmortem(release / "pm", "db-outage", "The WAL volume filled up.")
    _path_postmortem(release / "tickets", "dns", "SERVFAIL from resolvers.")
    current = tmp_path / "current"
    current.symlink_to(release)
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "kb"), embedder=embedder)
    kb.build(read_sources([current]).records)
    before = set(kb.database.record_hashes())
    assert before == {"r1/pm/db-outage", "r1/tickets/dns"}

    plan, _ = _sync(kb, current / "pm")
    assert (plan.added, plan.removed) == ([], [])

    second = tmp_path / "releases" / "r2"
    shutil.copytree(release, second)
    current.unlink()
    current.symlink_to(second)
    plan, _ = _sync(kb, current)
    assert (plan.added, plan.updated, plan.removed) == ([], [], [])
    assert set(kb.database.record_hashes()) == before


def test_csv_row_inserted_above_keeps_ids(tmp_path, embedder):
    folder = tmp_path / "src"
    folder.mkdir()
    mapping = tmp_path / "map.yaml"
    mapping.write_text("title: Title\nsections:\n  root_cause: Cause\n")
    export = folder / "alerts.csv"
    export.write_text(
        "Title,Cause\nHighCPU on node-7,runaway cron job\n"
        "HighCPU on node-7,infinite retry loop\n"
    )
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "kb"), embedder=embedder)
    kb.build(read_sources([folder], load_mapping(mapping)).records)
    causes = {
        record_id: kb.get(record_id).sections["root_cause"]
        for record_id in kb.database.record_hashes()
    }
    assert len(causes) == 2

    export.write_text(
        "Title,Cause\nDisk full on db-2,WAL kept by a slot\n"
        "HighCPU on node-7,runaway cron job\nHighCPU on node-7,infinite retry loop\n"
    )
    read = read_sources([folder], load_mapping(mapping))
    stored = kb.database.record_sources()
    restore_duplicate_ids(read.records, stored)
    plan = plan_sync(read, stored, [folder])
    kb.sync(plan)

    assert len(plan.added) == 1
    assert (plan.updated, plan.removed) == ([], [])
    for record_id, cause in causes.items():
        assert kb.get(record_id).sections["root_cause"] == cause


def test_emptied_nested_source_removes_nothing(knowledge_base, sources, tmp_path):
    (sources / "sub").mkdir()
    (sources / "sub" / "pm-8.md").write_text(_postmortem(8, "Queue backlog grew."))
    _sync(knowledge_base, sources)
    (sources / "sub" / "pm-8.md").unlink()

    read = read_sources([sources, sources / "sub"])
    stored = knowledge_base.database.record_sources()
    plan = plan_sync(read, stored, [sources, sources / "sub"])
    keeping = plan_sync(read, stored, [sources, sources / "sub"], keep_removed=True)

    assert plan.removed == []
    assert plan.unread == {str(sources / "sub"): ["PM-8"]}
    assert keeping.unread == {}
    assert keeping.kept == ["PM-8"]


def test_sync_of_new_file_keeps_other_folders_record(tmp_path, embedder):
    first, second = _two_folders(tmp_path)
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "kb"), embedder=embedder)
    kb.build(read_sources([first]).records)

    (second / "other.md").write_text(_postmortem(1, "DNS lookups returned SERVFAIL."))
    plan, _ = _sync(kb, second)

    assert [r.id for r in plan.added] == ["PM-1~2"]
    assert plan.updated == []
    assert kb.get("PM-1").sections["summary"] == "The disk of orders-db filled."


def test_sync_planned_before_another_write_writes_nothing(
    knowledge_base, sources, tmp_path
):
    planned_version = knowledge_base.database.data_version()
    (sources / "pm-1.md").write_text(_postmortem(1, "Memory leak in the indexer."))
    read = read_sources([sources])
    plan = plan_sync(read, knowledge_base.database.record_sources(), [sources])
    knowledge_base.add(read_sources([_write(tmp_path, 6, "Queue backlog.")]).records)
    before = knowledge_base.database.record_hashes()

    with pytest.raises(KnowledgeBaseError, match=r"changed .* while this sync"):
        knowledge_base.sync(plan, planned_version=planned_version)

    assert knowledge_base.database.record_hashes() == before
    plan = plan_sync(read, knowledge_base.database.record_sources(), [sources])
    version = knowledge_base.database.data_version()
    summary = knowledge_base.sync(plan, planned_version=version)
    assert summary.replaced == 1


def test_readme_keeps_folder_id_when_added(tmp_path):
    readme = tmp_path / "src" / "incidents" / "checkout-crash" / "README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text(
        "---\nstarted_at: 2024-01-15\n---\n# Checkout crash\n\n"
        "## Root Cause\n\nA bad deploy.\n",
        encoding="utf-8",
    )
    [built] = read_sources([tmp_path / "src"]).records
    stored = {built.id: ("hash", built.source)}

    [added] = read_sources([readme]).records
    keep_path_ids([added], stored)

    assert built.id == "src/incidents/checkout-crash"
    assert added.id == built.id


def test_add_through_link_keeps_id(tmp_path):
    postmortem = tmp_path / "kb" / "incidents" / "payments-latency.md"
    postmortem.parent.mkdir(parents=True)
    postmortem.write_text("# Payments latency\n\n## Root Cause\n\nA slow query.\n")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "kb")
    [built] = read_sources([tmp_path / "kb"]).records
    stored = {built.id: ("hash", built.source)}

    [added] = read_sources([link / "incidents" / "payments-latency.md"]).records
    keep_path_ids([added], stored)

    assert built.id == "kb/incidents/payments-latency"
    assert added.id == built.id
