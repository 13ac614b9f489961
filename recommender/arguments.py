"""Argument types shared by the recommender's commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """Return an argparse type that accepts whole numbers from low to high."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {value!r}"
            ) from None
        if number < low or (high is not None and number > high):
            allowed = (
                f"between {low} and {high}" if high is not None else f"{low} or more"
            )
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {number}")
        return number

    return parse
