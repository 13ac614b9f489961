"""Fixtures shared by all tests: paths to the sample and the public evaluation data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "data"
# A request that arrives during start-up waits this long for the model, the index
# and the history classifiers. On a busy two-core machine that can take more than
# the default 10 s; the tests of the wait itself set their own value.
os.environ.setdefault("INCIDENT_READY_WAIT", "300")
# The ONNX export of the embedding model goes to a folder of this run, not to the
# user's cache. Processes that the tests start inherit the folder and its export.
if "INCIDENT_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="incident-cache-")
    os.environ["INCIDENT_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# Public incident data lives beside the repository and is never copied into it.
SHARED_DATA = Path(
    os.environ.get("INCIDENT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the public data folder, or skip when it is not beside the repository."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"public incident data not found at {SHARED_DATA}; "
            "set INCIDENT_SHARED_DATA to its folder to run this test"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedder():
    """Return one real embedding model for the whole run; loading it takes seconds."""
    from indexer.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory, embedder) -> Path:
    """Build the bundled sample knowledge base once and return its folder."""
    from indexer.knowledge_base import KnowledgeBase
    from indexer.readers import read_sources
    from indexer.settings import IndexerSettings

    home = tmp_path_factory.mktemp("sample-kb")
    result = read_sources([SAMPLE_DATA / "knowledge"])
    assert result.problems == [], result.problems
    KnowledgeBase(IndexerSettings(home=home), embedder=embedder).build(result.records)
    return home


@pytest.fixture(scope="session")
def sample_kb(sample_home, embedder):
    """Return the sample knowledge base; tests must not change it."""
    from indexer.knowledge_base import KnowledgeBase
    from indexer.settings import IndexerSettings

    return KnowledgeBase(IndexerSettings(home=sample_home), embedder=embedder)
