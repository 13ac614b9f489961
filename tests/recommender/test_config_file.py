"""The YAML configuration file: bad content is a clear configuration error."""

import pytest

from indexer.errors import ConfigurationError
from recommender.config import read_config_file


def test_configuration_file_with_a_huge_number(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("severity:\n  window: " + "9" * 4400 + "\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="number too long to read"):
        read_config_file(path)
