"""Request and response bodies of the write endpoints: records, feedback, re-index."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from indexer.record import RESERVED_LAST_PART
from recommender.feedback import (
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    FeedbackEffect,
    FeedbackEntry,
    FeedbackSummary,
)

# Record size limits: the largest sample postmortem is a few kilobytes, so these
# leave room for long ones while bounding what one request can make us embed.
MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 1_000
MAX_SECTION_CHARS = 100_000
MAX_SECTIONS = 50
MAX_LABELS = 100
MAX_LABEL_CHARS = 1_000
# Record ids written through the API: "/"-separated segments of letters, digits
# and . _ ~ : -, each starting with a letter or digit. Ids that `indexer build`
# gives files ("knowledge/postmortems/disk-full~2") fit, while "..", a leading
# "/", spaces and control characters do not.
RECORD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~:-]*(/[A-Za-z0-9][A-Za-z0-9._~:-]*)*$"
# GET /v1/incidents/{id}/similar owns paths that end in this part, so a record
# id ending in it could not be read back.
RESERVED_ID_MESSAGE = (
    "a record id may not end in '/similar', because GET /v1/incidents/ID/similar "
    "lists the records similar to ID; rename the last part"
)


def reserved_record_id(record_id: str) -> bool:
    """Return whether an id ends in the part that the similar-records route owns."""
    head, _, last = record_id.rpartition("/")
    return bool(head) and last.lower() == RESERVED_LAST_PART


class RecordIn(BaseModel):
    """An incident, postmortem or runbook to add or replace, by id."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        # In the schema only: _check_id gives the error in words.
        json_schema_extra={"pattern": RECORD_ID_PATTERN},
        examples=["PM-2026-012"],
        description="Record id; a record with this id is replaced.",
    )
    kind: Literal["incident", "postmortem", "runbook"]
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    sections: dict[str, Annotated[str, Field(max_length=MAX_SECTION_CHARS)]] = Field(
        default_factory=dict,
        max_length=MAX_SECTIONS,
        description="Section name (summary, root_cause, resolution, ...) to text.",
    )
    labels: dict[
        Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)],
        Annotated[str, Field(max_length=MAX_LABEL_CHARS)],
    ] = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description="service, team, alertname (comma-separated), category, ...",
    )
    severity: str | None = Field(
        default=None, max_length=100, description="As written, e.g. SEV2 or critical."
    )
    started_at: str | None = Field(default=None, description="ISO 8601 time.")
    ended_at: str | None = Field(default=None, description="ISO 8601 time.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not re.fullmatch(RECORD_ID_PATTERN, value):
            raise ValueError(
                "invalid record id: use letters, digits and . _ ~ : - in segments "
                "separated by /, each segment starting with a letter or digit (no "
                "spaces, no leading /, no . or .. segments), e.g. PM-2026-012"
            )
        if reserved_record_id(value):
            raise ValueError(RESERVED_ID_MESSAGE)
        return value

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is blank; give the record a title")
        return value


class WriteResult(BaseModel):
    """The changes one write made to the knowledge base."""

    ids: list[str] = Field(
        description="Ids of the records written or removed; for a re-index, those "
        "added, replaced or removed."
    )
    added: int
    replaced: int
    removed: int
    unchanged: int = 0
    passages: int
    data_version: int
    seconds: float
    problems: list[str] = Field(
        default_factory=list,
        description="Re-index: source files that failed to read or held no record. "
        "Their stored records were kept; fix the files and re-index again.",
    )


class FeedbackIn(BaseModel):
    """A verdict on one match or suggestion for an alert."""

    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    verdict: Literal["helpful", "wrong"]
    alertname: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    fingerprint: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    target: Literal["match", "root_cause", "fix", "severity", "category"] = "match"
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)
    author: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class FeedbackOut(BaseModel):
    """A stored verdict."""

    id: int
    record_id: str
    verdict: str
    alertname: str
    fingerprint: str
    target: str
    note: str
    author: str
    created_at: str


class FeedbackSummaryOut(BaseModel):
    """Verdict counts of a record and its latest verdicts, newest first."""

    helpful: int
    wrong: int
    entries: list[FeedbackOut]


class FeedbackEffectOut(BaseModel):
    """Records hidden or raised in this recommendation by engineers' verdicts."""

    hidden: list[str] = Field(
        default_factory=list,
        description="Records left out: their latest verdict for this alert is wrong.",
    )
    boosted: dict[str, float] = Field(
        default_factory=dict,
        description="Record id to the score added for helpful verdicts.",
    )
    set_aside: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Part (root_cause, fix, severity, category) to the ids of the "
        "records whose part was not used: its latest verdict for this alert is wrong.",
    )


def feedback_out(entry: FeedbackEntry) -> FeedbackOut:
    """Convert a stored verdict for the API."""
    return FeedbackOut(
        id=entry.id,
        record_id=entry.record_id,
        verdict=entry.verdict,
        alertname=entry.alertname,
        fingerprint=entry.fingerprint,
        target=entry.target,
        note=entry.note,
        author=entry.author,
        created_at=entry.created_at,
    )


def feedback_summary_out(summary: FeedbackSummary) -> FeedbackSummaryOut:
    """Convert a record's feedback summary for the API."""
    return FeedbackSummaryOut(
        helpful=summary.helpful,
        wrong=summary.wrong,
        entries=[feedback_out(entry) for entry in summary.entries],
    )


def feedback_effect_out(effect: FeedbackEffect) -> FeedbackEffectOut:
    """Convert a recommendation's feedback effect for the API."""
    return FeedbackEffectOut(
        hidden=effect.hidden, boosted=effect.boosted, set_aside=effect.set_aside
    )
