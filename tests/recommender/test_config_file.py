"""The YAML configuration file: bad content is a clear configuration error."""

import pytest

from indexer.errors import ConfigurationError
from recommender.config import read_config_file


def test_configuration_file_with_a_huge_number(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("severity:\n  window: " + "9" * 4400 + "\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="number too long to read"):
        read_config_file(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "cannot read the value: day is out of range for month"),
        ("1" + ":00" * 200 + ".5", "cannot read the value: int too large"),
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
    ],
    ids=["impossible date", "base-60 float", "deep nesting"],
)
def test_configuration_values_that_cannot_be_built(tmp_path, value, message):
    path = tmp_path / "config.yaml"
    path.write_text(f"severity:\n  since: {value}\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match=message):
        read_config_file(path)


def test_integer_tag_on_text(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text('severity:\n  window: !!int "abc"\n', encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        read_config_file(path)

    assert "cannot read the value: invalid literal for int()" in str(raised.value)
    assert "too long" not in str(raised.value)
