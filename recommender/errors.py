"""Errors of the recommender that callers can fix, each naming the field at fault."""

from __future__ import annotations

from indexer.errors import IncidentRecommenderError


class InvalidAlertError(IncidentRecommenderError):
    """An alert or search request is invalid.

    Attributes:
        field: Path of the offending field, such as "alerts[2].labels".
        message: What was wrong and what to do.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
