"""Safe YAML loading with a bound on the length of integers.

Python converts a decimal string of more than 4,300 digits to an int only with
a ValueError (sys.get_int_max_str_digits()), and PyYAML lets that error out
bare. Hexadecimal, binary and base-60 integers are built without the bound and
fail later, when the value is printed. The loader here refuses every such
integer as a YAML error with its line, which each caller already reports.
"""

from __future__ import annotations

from typing import Any

import yaml

# Python's default limit on the digits of an int converted from or to text.
MAX_INTEGER_DIGITS = 4_300
# The smallest int with more digits than that.
_TOO_LARGE = 10**MAX_INTEGER_DIGITS
TOO_LONG = f"a number too long to read (over {MAX_INTEGER_DIGITS:,} digits); quote it"


class LimitedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses integers too long to print."""

    def construct_yaml_int(self, node: yaml.Node) -> Any:
        """Build an int, or raise a ConstructorError for one too long to print."""
        try:
            value = super().construct_yaml_int(node)  # type: ignore[arg-type]
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, TOO_LONG, node.start_mark
            ) from None
        if abs(value) >= _TOO_LARGE:
            raise yaml.constructor.ConstructorError(
                None, None, TOO_LONG, node.start_mark
            )
        return value


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)


def load(text: str) -> Any:
    """Parse one YAML document."""
    return yaml.load(text, Loader=LimitedLoader)


def load_all(text: str) -> list[Any]:
    """Parse every document of a YAML stream."""
    return list(yaml.load_all(text, Loader=LimitedLoader))
