import json
import logging
from pathlib import Path

import pytest

from indexer import uploads
from indexer.cli import main
from tests.conftest import SAMPLE_DATA

POSTMORTEM = """---
id: PM-TEST-001
title: Orders DB ran out of disk
service: orders-db
severity: SEV2
---
# Orders DB ran out of disk

## Summary
The data volume of orders-db filled up and the primary stopped accepting writes.

## Root Cause
A replication slot kept every WAL segment after its consumer was paused.
"""


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "pm.md").write_text(POSTMORTEM)
    (folder / "tickets.csv").write_text(
        "Issue key,Summary,Description,Priority\n"
        "OPS-1,DNS lookups fail,SERVFAIL from resolvers,High\n"
        ",Missing key,This row has no id,Low\n"
    )
    return folder


def _run(capsys, *args):
    status = main([*args])
    out, err = capsys.readouterr()
    return status, out, err


def test_build_reports_counts_and_failures(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    status, out, err = _run(capsys, "--home", home, "build", "--quiet", str(sources))
    assert status == 1
    assert "2 records" in out
    assert "1 failed" in out
    assert "tickets.csv:3" in err
    assert "Traceback" not in err


def test_rebuild_without_uploads_names_none(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources / "pm.md"))

    status, _, err = _run(capsys, "--home", home, "build", "-q", str(sources / "pm.md"))

    assert status == 0
    assert "added over the API" not in err


def test_add_partial_failure_exits_1(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources / "pm.md"))

    status, out, err = _run(capsys, "--home", home, "add", str(sources / "tickets.csv"))
    _, stats, _ = _run(capsys, "--home", home, "stats")

    assert status == 1
    assert "added 1 and replaced 0 records" in out
    assert "1 failed" in out
    assert "tickets.csv:3" in err
    assert stats.startswith("records:      2 ")


def test_build_strict_fails_and_writes_nothing(tmp_path, sources, capsys):
    home = tmp_path / "kb"
    status, _, err = _run(
        capsys, "--home", str(home), "build", "--strict", str(sources)
    )
    assert status == 1
    assert "--strict" in err
    assert not (home / "passages.faiss").exists()


def test_add_replaces_and_stats_counts(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources / "pm.md"))
    edited = tmp_path / "edited.md"
    edited.write_text(POSTMORTEM.replace("ran out of disk", "disk full again"))

    status, out, err = _run(capsys, "--home", home, "add", str(edited))
    assert status == 0
    assert "added 0 and replaced 1 records" in out
    assert f"PM-TEST-001 from {sources / 'pm.md'} is replaced" in err
    assert f"same id from {edited}" in err

    edited.write_text(POSTMORTEM.replace("ran out of disk", "disk full twice"))
    status, out, err = _run(capsys, "--home", home, "add", str(edited))
    assert "replaced 1 records" in out
    assert "warning" not in err

    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    stats = json.loads(out)
    assert stats["records"] == 1
    assert stats["vectors"] == stats["passages"]
    assert stats["data_version"] == 3


def test_remove_undecodable_id_is_clear_error(tmp_path, capsys):
    """Python keeps an argument that is not UTF-8 as lone surrogates."""
    home = tmp_path / "kb"
    upload = home / "uploads" / "upload-0123456789abcdef.md"
    upload.parent.mkdir(parents=True)
    upload.write_text(POSTMORTEM)
    _run(capsys, "--home", str(home), "build", "--quiet", str(upload))

    status, _, err = _run(capsys, "--home", str(home), "remove", "PM\udcff")

    assert status == 2
    assert err.startswith("error: the text 'PM\\udcff' is not valid Unicode")


def test_remove_unknown_id_is_clear_error(tmp_path, sources, capsys):
    home = tmp_path / "kb"
    upload = uploads.upload_path(home, "PM-TEST-001", ".md")
    upload.parent.mkdir(parents=True)
    upload.write_text(POSTMORTEM)
    _run(capsys, "--home", str(home), "build", "--quiet", str(upload))
    status, _, err = _run(capsys, "--home", str(home), "remove", "PM-NOPE")
    assert status == 2
    assert "no record with id 'PM-NOPE'" in err
    assert "Traceback" not in err
    assert upload.exists()

    status, out, _ = _run(capsys, "--home", str(home), "remove", "PM-TEST-001")
    assert status == 0
    assert out.startswith("removed 1 records")
    assert not upload.exists()


def test_missing_source_is_clear_error(tmp_path, capsys):
    status, _, err = _run(capsys, "--home", str(tmp_path), "build", "/no/such/folder")
    assert status == 2
    assert "source not found: /no/such/folder" in err


def test_unknown_mapping_lists_presets(tmp_path, capsys):
    status, _, err = _run(
        capsys,
        "--home",
        str(tmp_path),
        "build",
        "--mapping",
        "nope",
        str(SAMPLE_DATA / "knowledge" / "incidents"),
    )
    assert status == 2
    assert "jira" in err
    assert "pagerduty" in err


def test_build_with_nothing_readable_leaves_base_unchanged(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = _run(capsys, "--home", str(tmp_path / "kb"), "build", str(empty))
    assert status == 1
    assert "no records were read" in err


def test_stats_without_knowledge_base_is_clear(tmp_path, capsys):
    status, _, err = _run(capsys, "--home", str(tmp_path / "none"), "stats")
    assert status == 2
    assert "no knowledge base at" in err


def test_home_that_is_a_file_is_clear(tmp_path, sources, capsys):
    home = tmp_path / "file"
    home.write_text("x")
    status, _, err = _run(capsys, "--home", str(home), "build", str(sources))
    assert status == 2
    assert "cannot create the knowledge base folder" in err


def test_sync_of_empty_folder_changes_nothing(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources))
    for path in sources.iterdir():
        path.unlink()

    status, _, err = _run(capsys, "--home", home, "sync", "--quiet", str(sources))

    assert status == 1
    assert "no records were read" in err
    assert "nothing was changed" in err
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["records"] == 2


def test_sync_of_header_only_export_keeps_records(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources))
    (sources / "tickets.csv").write_text("Issue key,Summary,Description,Priority\n")

    status, _, err = _run(capsys, "--home", home, "sync", "--quiet", str(sources))

    assert status == 1
    assert f"warning: {sources / 'tickets.csv'} contains no records" in err
    assert "tickets.csv yielded no records" in err
    assert "keeps the 1 record read from it before" in err
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["records"] == 2


def test_sync_names_skipped_readme(tmp_path, capsys):
    folder = tmp_path / "src"
    folder.mkdir()
    readme = folder / "README.md"
    readme.write_text(
        "---\nid: PM-7\n---\n# Cache stampede\n\n## Root cause\nTTLs expired.\n"
    )
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(folder))
    readme.write_text("# Cache stampede\n\n## Root cause\nTTLs expired.\n")

    status, _, err = _run(capsys, "--home", home, "sync", "--quiet", str(folder))

    assert status == 1
    assert f"error: {readme.resolve()} is now skipped" in err
    assert "Start a README with front matter" in err
    assert "yielded no records" not in err
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["records"] == 1


def test_sync_names_records_of_failed_file(tmp_path, capsys):
    folder = tmp_path / "src"
    folder.mkdir()
    export = folder / "tickets.csv"
    header = "Issue key,Summary,Created\n"
    export.write_text(
        header + "OPS-1,One,2024-01-01\nOPS-2,Two,2024-01-02\nOPS-3,Three,2024-01-03\n"
    )
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(folder))
    # OPS-2 is deleted, and OPS-3 now has a date that cannot be read.
    export.write_text(header + "OPS-1,One,2024-01-01\nOPS-3,Three,2024-13-45\n")

    status, out, _ = _run(
        capsys, "--home", home, "sync", "--dry-run", "--quiet", str(folder)
    )
    assert "  keep OPS-2" in out
    assert "  keep OPS-3" in out
    assert "3 to keep" not in out
    status, _, err = _run(capsys, "--home", home, "sync", "--quiet", str(folder))

    assert status == 1
    assert f"warning: {export.resolve()} failed to read, so the knowledge base" in err
    assert "keeps the 2 records stored from it that it did not yield now" in err
    assert "(OPS-2, OPS-3)" in err
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["records"] == 3


def test_add_of_file_without_id_keeps_its_id(tmp_path, capsys):
    folder = tmp_path / "src" / "postmortems"
    folder.mkdir(parents=True)
    postmortem = folder / "db-outage.md"
    postmortem.write_text(
        "# Orders DB outage\n\n## Summary\nThe primary ran out of disk.\n"
    )
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(tmp_path / "src"))
    postmortem.write_text(
        "# Orders DB outage\n\n## Summary\nThe WAL volume filled up.\n"
    )

    status, out, err = _run(capsys, "--home", home, "add", str(postmortem))

    assert status == 0
    assert "added 0 and replaced 1 records" in out
    assert "warning" not in err
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["records"] == 1


def test_sync_dry_run_lists_and_changes_nothing(tmp_path, sources, capsys):
    home = str(tmp_path / "kb")
    _run(capsys, "--home", home, "build", "--quiet", str(sources))
    (sources / "pm.md").unlink()
    (sources / "new.md").write_text(POSTMORTEM.replace("PM-TEST-001", "PM-TEST-002"))

    status, out, err = _run(
        capsys, "--home", home, "sync", "--dry-run", "--quiet", str(sources)
    )

    # tickets.csv has a row without an id, and a failed read makes a sync exit 1.
    assert status == 1
    assert "tickets.csv:3" in err
    assert "dry run, nothing was changed: 1 to add, 0 to update, 1 to remove" in out
    assert "  add PM-TEST-002" in out
    assert "  remove PM-TEST-001" in out
    status, out, _ = _run(capsys, "--home", home, "stats", "--json")
    assert json.loads(out)["data_version"] == 1
    assert json.loads(out)["records"] == 2


JIRA_EXPORT = (
    "Issue key,Summary,Priority,Created,Custom field (Root Cause)\n"
    "OPS-501,Webhook deliveries time out,High,2024-03-01 10:00,{cause}\n"
)
JIRA_MAPPING = """\
kind: incident
id: Issue key
title: Summary
severity: Priority
started_at: Created
sections:
  root_cause: Custom field (Root Cause)
"""


def _root_cause(home: str) -> str:
    from indexer.database import Database

    database = Database(f"sqlite:///{home}/knowledge.db")
    [record] = database.get_records(["OPS-501"]).values()
    return record.sections.get("root_cause", "")


def _export_folder(tmp_path: Path, name: str, cause: str) -> Path:
    """Write a folder holding one Jira export whose root cause is cause."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "jira.csv").write_text(JIRA_EXPORT.format(cause=cause))
    return folder


def _build_mapped(capsys, tmp_path: Path, source: Path) -> tuple[Path, str]:
    """Build a knowledge base from source with the Jira mapping file.

    Returns the mapping file and the knowledge base folder.
    """
    mapping = tmp_path / "jira-map.yaml"
    mapping.write_text(JIRA_MAPPING)
    home = str(tmp_path / "kb")
    build = ["--home", home, "build", "-q", "--mapping", str(mapping), str(source)]
    assert _run(capsys, *build)[0] == 0
    return mapping, home


def test_sync_reuses_build_mapping(tmp_path, capsys):
    exports = _export_folder(tmp_path, "exports", "Connection pool exhausted")
    export = exports / "jira.csv"
    _, home = _build_mapped(capsys, tmp_path, exports)
    assert _root_cause(home) == "Connection pool exhausted"

    # The detected jira preset has no root-cause column, so a sync that read
    # the file with it would drop the cause.
    status, out, _ = _run(capsys, "--home", home, "sync", "-q", str(exports))
    assert status == 0
    assert "nothing to do" in out
    assert _root_cause(home) == "Connection pool exhausted"

    export.write_text(JIRA_EXPORT.format(cause="TLS handshake storm"))
    status, out, _ = _run(capsys, "--home", home, "sync", "-q", str(exports))
    assert status == 0
    assert "1 updated" in out
    assert _root_cause(home) == "TLS handshake storm"

    # A rebuild without --mapping reads it the same way, and so does an add.
    assert _run(capsys, "--home", home, "build", "-q", str(exports))[0] == 0
    assert _root_cause(home) == "TLS handshake storm"
    assert _run(capsys, "--home", home, "add", str(export))[0] == 0
    assert _root_cause(home) == "TLS handshake storm"


def test_stored_mapping_edits_moves_links(tmp_path, capsys):
    exports = _export_folder(tmp_path, "exports", "Pool exhausted")
    mapping, home = _build_mapped(capsys, tmp_path, exports)

    # An edit to the mapping file applies at the next read.
    mapping.write_text(JIRA_MAPPING.replace("root_cause:", "resolution:"))
    assert _run(capsys, "--home", home, "sync", "-q", str(exports))[0] == 0
    assert _root_cause(home) == ""
    mapping.write_text(JIRA_MAPPING)
    assert _run(capsys, "--home", home, "sync", "-q", str(exports))[0] == 0
    assert _root_cause(home) == "Pool exhausted"

    # A moved folder keeps the mapping of its file, and so does a link to it.
    moved = tmp_path / "moved"
    exports.rename(moved)
    status, _, _ = _run(capsys, "--home", home, "sync", "-q", str(moved))
    assert status == 0
    assert _root_cause(home) == "Pool exhausted"
    link = tmp_path / "link"
    link.symlink_to(moved)
    assert _run(capsys, "--home", home, "sync", "-q", str(link))[0] == 0
    assert _root_cause(home) == "Pool exhausted"


def test_deleted_mapping_file_keeps_last_edit(tmp_path, capsys, caplog):
    exports = _export_folder(tmp_path, "exports", "Pool exhausted")
    mapping, home = _build_mapped(capsys, tmp_path, exports)
    mapping.write_text(JIRA_MAPPING.replace("root_cause:", "resolution:"))
    assert _run(capsys, "--home", home, "sync", "-q", str(exports))[0] == 0
    assert _root_cause(home) == ""

    mapping.unlink()
    with caplog.at_level(logging.WARNING):
        status, out, _ = _run(capsys, "--home", home, "sync", "-q", str(exports))

    # The copy stored is the edited one, not the text first given.
    assert status == 0
    assert "nothing to do" in out
    assert _root_cause(home) == ""
    warning = f"mapping file {mapping} is gone; reading with the copy"
    assert caplog.text.count(warning) == 1


def test_broken_stored_mapping_fails_file(tmp_path, capsys):
    from indexer.database import Database
    from indexer.source_mappings import META_KEY

    exports = tmp_path / "exports"
    exports.mkdir()
    export = exports / "jira.csv"
    export.write_text(JIRA_EXPORT.format(cause="Pool exhausted"))
    (exports / "pm.md").write_text("# Disk full on orders-db\n\n## Summary\n\nFull.\n")
    home = tmp_path / "kb"
    build = ["--home", str(home), "build", "-q", "--mapping", "jira", str(exports)]
    assert _run(capsys, *build)[0] == 0
    database = Database(f"sqlite:///{home}/knowledge.db")
    database.set_meta(META_KEY, {str(export): "preset:no-such-preset"})

    status, _, err = _run(capsys, "--home", str(home), "sync", "-q", str(exports))

    assert status == 1
    assert f"the mapping stored for {export} cannot be used" in err
    assert "--mapping PRESET_OR_FILE" in err
    assert "Traceback" not in err


def test_moved_folder_same_names_mapped(tmp_path, capsys):
    source = tmp_path / "src"
    for team, cause in (("payments", "Pool exhausted"), ("search", "Shard lost")):
        (source / team).mkdir(parents=True)
        export = JIRA_EXPORT.format(cause=cause).replace("OPS-501", f"OPS-{team}")
        (source / team / "jira.csv").write_text(export)
    _, home = _build_mapped(capsys, tmp_path, source)

    # Two files of one name: each keeps its own mapping by its team folder.
    moved = tmp_path / "teams"
    source.rename(moved)
    assert _run(capsys, "--home", home, "sync", "-q", str(moved))[0] == 0

    from indexer.database import Database

    records = Database(f"sqlite:///{home}/knowledge.db").get_records(
        ["OPS-payments", "OPS-search"]
    )
    assert records["OPS-payments"].sections["root_cause"] == "Pool exhausted"
    assert records["OPS-search"].sections["root_cause"] == "Shard lost"


def test_deleted_file_lends_no_mapping(tmp_path, capsys, caplog):
    elsewhere = _export_folder(tmp_path, "elsewhere", "Pool exhausted")
    _, home = _build_mapped(capsys, tmp_path, elsewhere)
    (elsewhere / "jira.csv").unlink()

    # Another team's export of the same name is read with the detected preset.
    other = tmp_path / "other"
    other.mkdir()
    (other / "jira.csv").write_text(
        "Issue key,Summary,Priority,Created,Description\n"
        "OPS-9,Queue backlog,High,2024-03-01 10:00,Consumers stalled\n"
    )
    status, _, err = _run(capsys, "--home", home, "add", str(other / "jira.csv"))
    assert status == 0, err
    assert "mapping stored for" not in caplog.text


def test_linked_folder_reads_without_warning(tmp_path, capsys, caplog):
    exports = _export_folder(tmp_path, "exports", "Pool exhausted")
    _, home = _build_mapped(capsys, tmp_path, exports)
    link = tmp_path / "link"
    link.symlink_to(exports)

    assert _run(capsys, "--home", home, "sync", "-q", str(link))[0] == 0

    assert "is gone" not in caplog.text
    assert _root_cause(home) == "Pool exhausted"


def test_mapping_spec_of_text_alone_reads():
    from indexer.readers import mapping_from_spec

    mapping = mapping_from_spec("yaml:" + JIRA_MAPPING)

    assert mapping.title == ("Summary",)
    assert mapping.sections["root_cause"] == ("Custom field (Root Cause)",)
