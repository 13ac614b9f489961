"""Run the recurring-patterns notebook headless on the sample knowledge base."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "recurring_patterns.ipynb"
# The report over the prebuilt sample takes seconds; kernel start-up and imports
# take longer on a busy machine.
CELL_TIMEOUT_SECONDS = 300


def test_patterns_notebook_saved_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert code_cells
    for cell in code_cells:
        assert cell.outputs == []
        assert cell.execution_count is None


def test_patterns_notebook_plots_sample(monkeypatch, sample_home):
    monkeypatch.setenv("PATTERNS_HOME", str(sample_home))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )

    client.execute()

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert [o for o in outputs if o.output_type == "error"] == []
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1
    text = "".join(output.get("text", "") for output in outputs)
    assert f"knowledge base: {sample_home}" in text
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "# Recurring incident patterns" in markdown
    assert "Open action items:" in markdown
