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


def is_undecodable_text(error: UnicodeEncodeError) -> bool:
    """Return whether an encoding failed on text that came from undecodable input.

    Python keeps the bytes of a command-line argument that is not UTF-8 as lone
    surrogates, which fail only where the text is encoded later, such as in a
    database query.
    """
    return "surrogates not allowed" in str(error)


def undecodable_text_message(error: UnicodeEncodeError) -> str:
    """Return the error line for text that cannot be encoded as UTF-8."""
    start = max(error.start - 20, 0)
    excerpt = error.object[start : error.end + 20].encode("utf-8", "backslashreplace")
    return (
        f"the text '{excerpt.decode('utf-8')}' is not valid Unicode (an argument or "
        "input that is not UTF-8, or an unpaired surrogate); give valid UTF-8 text"
    )
