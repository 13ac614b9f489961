"""Exceptions of the indexer; every one says what failed and what to do."""

from __future__ import annotations


class IncidentRecommenderError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigurationError(IncidentRecommenderError):
    """A setting, model path or mapping is invalid."""


class SourceError(IncidentRecommenderError):
    """A source file or one record in it could not be read."""


class RecordNotFoundError(IncidentRecommenderError):
    """No record with the requested id exists in the knowledge base."""

    def __init__(self, record_id: str) -> None:
        # The id is cut, because it comes from a request path of any length.
        shown = record_id if len(record_id) <= 200 else record_id[:200] + "..."
        super().__init__(
            f"no record with id {shown!r} in the knowledge base; find ids with "
            "'recommender search TEXT', which shows the id of every match"
        )
        self.record_id = record_id


class KnowledgeBaseError(IncidentRecommenderError):
    """The stored knowledge base is missing, empty or inconsistent."""
