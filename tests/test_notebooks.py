"""Run the notebooks headless on results produced from the sample data."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from recommender.cli import main
from tests.conftest import REPO_ROOT, SAMPLE_DATA

NOTEBOOK = REPO_ROOT / "notebooks" / "evaluation.ipynb"
PATTERNS_NOTEBOOK = REPO_ROOT / "notebooks" / "recurring_patterns.ipynb"
# Plotting takes seconds. The cell that builds and evaluates the sample knowledge
# base took 18 s on an idle 2-core machine and about a minute on a busy one.
CELL_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def evaluation_result(sample_home, tmp_path_factory):
    output = tmp_path_factory.mktemp("evaluation") / "result.json"
    status = main(
        [
            "--home",
            str(sample_home),
            "evaluate",
            "--queries",
            str(SAMPLE_DATA / "alerts" / "queries.jsonl"),
            "--output",
            str(output),
            "--bootstrap",
            "200",
        ]
    )
    assert status == 0
    return output


def _run_notebook(monkeypatch, result_path):
    if result_path is None:
        monkeypatch.delenv("EVALUATION_RESULT", raising=False)
    else:
        monkeypatch.setenv("EVALUATION_RESULT", str(result_path))
    return _execute(NOTEBOOK)


def _execute(path):
    """Run a notebook in a fresh kernel from its own folder and return its outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def _images(outputs):
    return [output for output in outputs if "image/png" in output.get("data", {})]


def _errors(outputs):
    return [output for output in outputs if output.output_type == "error"]


@pytest.mark.parametrize("path", [NOTEBOOK, PATTERNS_NOTEBOOK], ids=lambda p: p.stem)
def test_notebook_saved_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == []
        assert cell.execution_count is None


def test_evaluation_notebook_plots_result(monkeypatch, evaluation_result):
    outputs = _run_notebook(monkeypatch, evaluation_result)

    assert _errors(outputs) == []
    # Retrieval bars, two confusion matrices, the coverage curve.
    assert len(_images(outputs)) >= 3
    text = "".join(output.get("text", "") for output in outputs)
    assert "Recall@5" in text
    assert f"result: {evaluation_result}" in text


def test_evaluation_notebook_without_relevant_ids(monkeypatch, sample_home, tmp_path):
    # A copy outside the repository, on a result with severity labels only.
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"query": "disk full on orders-db", "severity": "critical"}\n'
        '{"query": "certificate expired on checkout", "severity": "warning"}\n',
        encoding="utf-8",
    )
    result = tmp_path / "result.json"
    arguments = ["--home", str(sample_home), "evaluate", "--queries", str(queries)]
    assert main([*arguments, "--output", str(result), "--bootstrap", "50"]) == 0
    copy = tmp_path / "elsewhere" / NOTEBOOK.name
    copy.parent.mkdir()
    copy.write_bytes(NOTEBOOK.read_bytes())
    monkeypatch.setenv("EVALUATION_RESULT", str(result))

    outputs = _execute(copy)

    assert _errors(outputs) == []
    text = "".join(output.get("text", "") for output in outputs)
    assert "there are no retrieval metrics to plot" in text
    assert "there is no coverage curve to plot" in text
    # The severity matrix is drawn, the category one is not.
    assert len(_images(outputs)) == 1


@pytest.mark.slow
def test_evaluation_notebook_evaluates_sample_data(monkeypatch):
    # Builds the sample knowledge base inside the kernel: 18 s to a minute.
    outputs = _run_notebook(monkeypatch, None)

    assert _errors(outputs) == []
    assert len(_images(outputs)) >= 3
    text = "".join(output.get("text", "") for output in outputs)
    assert "built knowledge base in" in text
    assert "Evaluation of 52 queries" in text


def test_patterns_notebook_plots_sample(monkeypatch, sample_home):
    monkeypatch.setenv("PATTERNS_HOME", str(sample_home))

    outputs = _execute(PATTERNS_NOTEBOOK)

    assert _errors(outputs) == []
    assert len(_images(outputs)) == 1
    text = "".join(output.get("text", "") for output in outputs)
    assert f"knowledge base: {sample_home}" in text
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "# Recurring incident patterns" in markdown
    assert "Open action items:" in markdown
