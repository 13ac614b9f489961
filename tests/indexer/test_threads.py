"""Thread counts of embedding and vector search: set on purpose, per process."""

import json
import os
import subprocess
import sys

import pytest

from indexer.errors import ConfigurationError
from indexer.settings import IndexerSettings, load_settings
from indexer.threads import available_cores
from recommender.settings import ServiceSettings


def test_service_threads_per_worker(monkeypatch):
    monkeypatch.setattr("recommender.settings.available_cores", lambda: 8)

    assert ServiceSettings(inference_workers=2).threads == 4
    assert ServiceSettings(inference_workers=3).threads == 2
    assert ServiceSettings(inference_workers=16).threads == 1
    assert ServiceSettings(inference_workers=2, threads=6).threads == 6


def test_indexing_threads_default_to_torch():
    assert IndexerSettings().threads is None
    assert IndexerSettings(threads=3).threads == 3
    assert available_cores() >= 1


def test_embedder_sets_threads_on_load():
    # In a child process: the setting is process-wide and would slow other tests.
    script = (
        "import json, faiss, torch\n"
        "from threadpoolctl import threadpool_info\n"
        "from indexer.embedding import Embedder\n"
        "embedder = Embedder(threads=1)\n"
        "vector = embedder.embed(['disk full on orders-db'])[0]\n"
        "blas = {p['num_threads'] for p in threadpool_info()"
        " if p['user_api'] == 'blas'}\n"
        "print(json.dumps([torch.get_num_threads(), faiss.omp_get_max_threads(),"
        " sorted(blas), len(vector)]))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(finished.stdout.strip().splitlines()[-1]) == [1, 1, [1], 384]


def test_thread_limit_reaches_blas_loaded_later():
    # SciPy's own OpenBLAS loads when a model export or a classifier imports it,
    # after the limit is set. Run with the OPENBLAS variable unset, as a shell
    # that never set it would start the process.
    script = (
        "import json\n"
        "from indexer.threads import set_threads\n"
        "set_threads(1)\n"
        "import scipy.linalg\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps(sorted({p['filepath'].split('/')[-1]: p['num_threads']"
        " for p in threadpool_info() if p['user_api'] == 'blas'}.items())))\n"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_NUM_THREADS")
    }
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=environment,
    )
    pools = dict(json.loads(finished.stdout.strip().splitlines()[-1]))

    assert any("scipy_openblas-" in name for name in pools), pools
    assert set(pools.values()) == {1}, pools


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "greater than or equal to 1"),
        ("two", "(got 'two'); set it to a whole number, or unset it for the default"),
    ],
)
def test_invalid_thread_count_names_the_variable(monkeypatch, value, problem):
    monkeypatch.setenv("INCIDENT_THREADS", value)

    with pytest.raises(ConfigurationError) as raised:
        load_settings(ServiceSettings)

    assert "INCIDENT_THREADS" in str(raised.value)
    assert problem in str(raised.value)
