"""Tests for read_sources: file discovery, skipping, reader choice and ids."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from indexer.readers import read_sources
from indexer.record import Kind

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "data"

RUNBOOK = "# {name}\n\n## Meaning\n\nSomething broke.\n\n## Mitigation\n\nFix it.\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_skips_repository_files(tmp_path: Path) -> None:
    root = tmp_path / "runbooks"
    for name in ("README.md", "LICENSE", "CONTRIBUTING.md", "CHANGELOG.md"):
        _write(root / name, "# Not an incident\n")
    _write(root / ".hidden.md", RUNBOOK.format(name="Hidden"))
    _write(root / ".git" / "HEAD.md", RUNBOOK.format(name="Git"))
    _write(root / "kubernetes" / "_index.md", "---\ntitle: kubernetes\n---\n")
    _write(root / "PMyyyy-nnn - Postmortem template.md", "# Incident Title\n")
    _write(root / "rules.yaml", "groups: []\n")
    _write(root / "diagram.png", "binary")
    _write(
        root / "kubernetes" / "SSPTemplateValidatorDown.md", RUNBOOK.format(name="X")
    )

    result = read_sources([root])

    assert not result.problems
    assert [r.id for r in result.records] == [
        "runbooks/kubernetes/SSPTemplateValidatorDown"
    ]
    skipped = sorted(Path(path).name for path in result.skipped)
    assert skipped == sorted(
        [
            ".git",
            ".hidden.md",
            "CHANGELOG.md",
            "CONTRIBUTING.md",
            "LICENSE",
            "PMyyyy-nnn - Postmortem template.md",
            "README.md",
            "_index.md",
            "diagram.png",
            "rules.yaml",
        ]
    )


def test_reads_in_sorted_order_recursively(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    for name in ("b/Zeta.md", "a/Beta.md", "Alpha.md", "a/c/Gamma.md"):
        _write(root / name, RUNBOOK.format(name=Path(name).stem))

    result = read_sources([root])

    assert [r.id for r in result.records] == [
        "kb/Alpha",
        "kb/a/Beta",
        "kb/a/c/Gamma",
        "kb/b/Zeta",
    ]


def test_file_passed_directly(tmp_path: Path) -> None:
    path = tmp_path / "team" / "README.md"
    _write(path, RUNBOOK.format(name="KubeletDown"))
    unsupported = tmp_path / "team" / "rules.yaml"
    _write(unsupported, "groups: []\n")

    result = read_sources([path, unsupported])

    # A README is named for its folder, here given by the folder above it.
    assert [r.id for r in result.records] == [f"{tmp_path.name}/team"]
    assert result.problems[0].source == str(unsupported)
    assert "unsupported file type" in result.problems[0].reason
    assert ".md" in result.problems[0].reason


def test_missing_path_is_problem(tmp_path: Path) -> None:
    result = read_sources([tmp_path / "nowhere"])

    assert not result.records
    assert "no such file or directory" in result.problems[0].reason


def test_duplicate_ids_numbered(tmp_path: Path) -> None:
    first = {"a-1": {"title": "Preliminary", "time": "09/04/2018"}}
    second = {"a-1": {"title": "Final", "time": "09/04/2018"}}
    third = {"a-1": {"title": "Amended", "time": "09/04/2018"}}
    _write(tmp_path / "cloud" / "1.json", json.dumps(first))
    _write(tmp_path / "cloud" / "2.json", json.dumps(second))
    _write(tmp_path / "cloud" / "3.json", json.dumps(third))

    result = read_sources([tmp_path / "cloud"])

    assert [(r.id, r.title) for r in result.records] == [
        ("a-1", "Preliminary"),
        ("a-1~2", "Final"),
        ("a-1~3", "Amended"),
    ]


def test_repeated_record_stored_once(tmp_path: Path, caplog) -> None:
    rows = (
        "Issue key,Summary,Description,Priority\n"
        "OPS-1,DNS lookups fail,SERVFAIL from resolvers,High\n"
        "OPS-1,DNS lookups fail,SERVFAIL from resolvers,High\n"
        "OPS-1,DNS lookups fail,Timeouts from resolvers,High\n"
    )
    _write(tmp_path / "export" / "tickets.csv", rows)

    result = read_sources([tmp_path / "export"])

    assert [(r.id, r.sections["description"]) for r in result.records] == [
        ("OPS-1", "SERVFAIL from resolvers"),
        ("OPS-1~2", "Timeouts from resolvers"),
    ]
    assert "tickets.csv:3 repeats record OPS-1 of " in caplog.text


def test_bad_file_does_not_stop_batch(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    _write(root / "a.json", "{not json")
    _write(root / "b.md", "---\n: [\n---\n")
    _write(root / "c.md", RUNBOOK.format(name="NodeDown"))
    (root / "d.txt").write_bytes(b"")

    result = read_sources([root])

    assert [r.id for r in result.records] == ["mixed/c"]
    assert [Path(p.source).name for p in result.problems] == ["a.json", "b.md", "d.txt"]


def test_sample_data_reads_cleanly() -> None:
    result = read_sources([SAMPLE_DATA / "knowledge"])

    assert not result.problems, [str(p) for p in result.problems]
    assert not result.skipped
    assert len(result.records) == 74
    kinds = Counter(r.kind for r in result.records)
    assert kinds == {Kind.POSTMORTEM: 31, Kind.RUNBOOK: 15, Kind.INCIDENT: 28}
    incidents = [r for r in result.records if r.kind is Kind.INCIDENT]
    suffixes = {Path(r.source.split("#")[0].split(":")[0]).suffix for r in incidents}
    assert suffixes == {".csv", ".json"}
    categories = {r.labels.get("category") for r in result.records} - {None}
    assert len(categories) >= 15


def test_named_pipe_is_skipped_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    os.mkfifo(folder / "fifo.md")
    (folder / "ok.md").write_text("# Disk full\n\n## Summary\n\nThe disk filled up.\n")

    result = read_sources([folder])

    assert [Path(r.source).name for r in result.records] == ["ok.md"]
    assert str(folder / "fifo.md") in result.skipped


def test_oversized_file_is_a_problem(tmp_path: Path, monkeypatch) -> None:
    import indexer.readers as readers

    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "big.md").write_text("# Big\n\n" + "word " * 100)

    result = read_sources([folder])

    assert not result.records
    assert "over the limit" in result.problems[0].reason
    assert "one per page of an API export" in result.problems[0].reason


def test_reads_incident_named_like_repository_file(tmp_path: Path) -> None:
    root = tmp_path / "postmortems"
    postmortem = "# Outage\n\n## Root Cause\n\nThe license server expired.\n"
    _write(root / "README.md", "# Our postmortems\n")
    _write(root / "guides" / "README.md", "# How to write one\n")
    _write(root / "2024-01-15-orders-db-outage" / "README.md", postmortem)
    _write(root / "incident-7" / "README.md", "---\nid: INC-7\n---\n" + postmortem)
    _write(root / "license-server-outage.md", postmortem)
    _write(root / "2024-03-01-helm-template-outage.md", postmortem)
    _write(root / "postmortem-template.md", "# Title\n")

    result = read_sources([root])

    assert not result.problems
    assert sorted(r.id for r in result.records) == [
        "INC-7",
        "postmortems/2024-01-15-orders-db-outage",
        "postmortems/2024-03-01-helm-template-outage",
        "postmortems/license-server-outage",
    ]
    skipped = sorted(Path(path).relative_to(root).as_posix() for path in result.skipped)
    assert skipped == ["README.md", "guides/README.md", "postmortem-template.md"]


def test_non_utf8_file_name_is_problem(tmp_path: Path) -> None:
    root = tmp_path / "postmortems"
    _write(root / "good.md", "# Good\n\n## Root Cause\n\nA bad deploy.\n")
    bad = Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9-outage.md"))
    bad.write_text("# Bad name\n\n## Root Cause\n\nA bad deploy.\n", "utf-8")

    result = read_sources([root])

    assert [r.id for r in result.records] == ["postmortems/good"]
    [problem] = result.problems
    assert problem.source.endswith("caf\\xe9-outage.md")
    assert "the file name is not valid UTF-8; rename the file" in problem.reason


def test_repository_file_variants_skipped(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    for name in ("README-dev.md", "LICENSE-MIT", "License.md", "CHANGELOG-2023.md"):
        _write(root / name, "# Not an incident\n\nSome text about the repository.\n")

    result = read_sources([root])

    assert result.records == []
    assert len(result.skipped) == 4


def test_readme_given_directly_named_for_folder(tmp_path: Path) -> None:
    readme = tmp_path / "kb" / "2024-01-15-db-outage" / "README.md"
    _write(readme, "# DB outage\n\n## Root Cause\n\nThe disk filled up.\n")

    from_folder = read_sources([tmp_path / "kb"]).records
    given = read_sources([readme]).records

    assert [r.id for r in from_folder] == ["kb/2024-01-15-db-outage"]
    assert [r.id for r in given] == ["kb/2024-01-15-db-outage"]


def test_readme_variant_in_dated_folder_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "kb" / "2024-02-02-api-outage"
    _write(folder / "README.md", "# API outage\n\n## Root Cause\n\nA bad deploy.\n")
    _write(folder / "README-dev.md", "# Developer notes\n\nHow to edit this folder.\n")

    result = read_sources([tmp_path / "kb"])

    assert [r.id for r in result.records] == ["kb/2024-02-02-api-outage"]
    assert [Path(path).name for path in result.skipped] == ["README-dev.md"]
