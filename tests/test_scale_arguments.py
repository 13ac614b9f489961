"""The scale benchmark checks its arguments first and finds its knowledge bases."""

import argparse
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import scale, scale_data
from indexer.database import Database
from indexer.knowledge_base import keyword_fields
from indexer.passages import Passage
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings


def test_parse_sizes_accepts_positive_numbers():
    assert scale_data.parse_sizes("10000,100_000, 1000000") == [
        10_000,
        100_000,
        1_000_000,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "'0' is not a positive whole number"),
        ("-5", "'-5' is not a positive whole number"),
        ("abc", "'abc' is not a positive whole number"),
        ("2000,", "'' is not a positive whole number"),
        ("2000,2000", "size 2000 is given twice"),
    ],
)
def test_parse_sizes_rejects(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        scale_data.parse_sizes(text)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sizes", "abc"], "argument --sizes: 'abc' is not a positive"),
        (["--queries", "0"], "--queries must be at least 1"),
        (["--build-sample", "0"], "--build-sample must be at least 1"),
        (["--peers-up-to", "-1"], "--peers-up-to must be 0 or more"),
        (["--data", "/nonexistent/data"], "public data not found at /nonexistent"),
    ],
)
def test_scale_rejects_arguments_first(tmp_path, capsys, arguments, message):
    data = tmp_path / "data"
    for name in ("prometheus-operator+runbooks", "openshift+runbooks"):
        (data / name).mkdir(parents=True)
    (data / "prometheus-operator+kube-prometheus").mkdir()
    base = ["--work-dir", str(tmp_path / "work"), "--data", str(data)]

    with pytest.raises(SystemExit) as stopped:
        scale.main(base + arguments)

    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("below", ["", "sub"])
def test_scale_rejects_file_as_work_dir(tmp_path, capsys, below):
    afile = tmp_path / "afile"
    afile.write_text("")

    with pytest.raises(SystemExit):
        scale.main(["--work-dir", str(afile / below), "--data", str(tmp_path)])

    assert f"{afile} is a file; give a folder" in capsys.readouterr().err


def test_scale_rejects_cache_below_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    cache = str(afile / "cache.pkl")

    with pytest.raises(SystemExit):
        scale.main(["--work-dir", str(tmp_path / "w"), "--embedding-cache", cache])

    assert f"--embedding-cache {afile}: {afile} is a file" in capsys.readouterr().err


def test_scale_rejects_data_without_the_tasks(tmp_path, capsys):
    with pytest.raises(SystemExit):
        scale.main(["--work-dir", str(tmp_path / "w"), "--data", str(tmp_path)])

    error = capsys.readouterr().err
    assert f"public data not found at {tmp_path} (no prometheus-operator+runbooks" in (
        error
    )


def test_relative_work_dir_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    home = scale_data.knowledge_base_home(scale_data.Path("w5"), 100)

    assert home == tmp_path / "w5" / "kb-100"
    assert os.path.isabs(home)


def test_moved_knowledge_base_found(tmp_path):
    old = tmp_path / "old" / "kb-2000"
    old.mkdir(parents=True)
    marker = {
        "home": str(old),
        "records": 2000,
        "passages": 13_402,
        "insert_seconds": 9.5,
    }
    (old / scale_data.MARKER).write_text(json.dumps(marker))
    moved = tmp_path / "new"
    old.parent.rename(moved)

    synthetic = scale_data.prepare(moved, 2000, samples=None)  # type: ignore[arg-type]

    assert synthetic.home == str(moved / "kb-2000")
    assert synthetic.passages == 13_402


def test_complete_insert_without_marker_kept(tmp_path):
    """A kill after the last batch commits and before the marker is written."""
    home = tmp_path / "kb-3"
    home.mkdir()
    database = Database(IndexerSettings(home=home).resolved_database_url)
    items = []
    for number in range(3):
        record = IncidentRecord(id=f"SYN-{number}", kind=Kind.INCIDENT, title="t")
        passages = [Passage("summary", "symptom", "text")]
        items.append((record, passages, np.ones((1, 4), dtype=np.float32)))
    database.apply(items, [keyword_fields(r, frozenset()) for r, _, _ in items])
    database.engine.dispose()
    samples = SimpleNamespace(vectors=[{"title": [np.zeros(4)]}], boilerplate=set())

    synthetic = scale_data.prepare(tmp_path, 3, samples)  # type: ignore[arg-type]

    assert synthetic.records == 3
    assert synthetic.passages == 3
    assert (home / scale_data.MARKER).is_file()
