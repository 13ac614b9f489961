"""A model folder that cannot be loaded is a configuration error, not a traceback."""

import pytest

from indexer.embedding import Embedder
from indexer.errors import ConfigurationError


@pytest.mark.parametrize(
    "files",
    [
        {"config.json": "{}"},
        {"modules.json": "[]", "config.json": '{"model_type": "bert"}'},
        {"modules.json": '{"a": 1}', "config.json": '{"model_type": "bert"}'},
    ],
)
def test_invalid_model_folder_error(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    with pytest.raises(ConfigurationError) as error:
        _ = Embedder(str(tmp_path)).model

    assert f"the embedding model at {tmp_path} could not be loaded" in str(error.value)
    assert "INCIDENT_MODEL" in str(error.value)
