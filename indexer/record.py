"""The incident record: one type for past incidents, postmortems and runbooks."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from indexer.severity import Severity, normalize_severity


class Kind(str, Enum):
    """The kind of document a record was written as."""

    INCIDENT = "incident"
    POSTMORTEM = "postmortem"
    RUNBOOK = "runbook"


# Canonical section names. Readers map the headings of each template onto these.
SECTION_NAMES = (
    "summary",
    "description",
    "impact",
    "detection",
    "meaning",
    "root_cause",
    "trigger",
    "contributing_factors",
    "diagnosis",
    "resolution",
    "mitigation",
    "action_items",
    "timeline",
    "lessons",
    "details",
    "other",
)

# An alert shows the symptom, so alerts are matched against these sections.
SYMPTOM_SECTIONS = frozenset(
    {"summary", "description", "impact", "detection", "meaning"}
)
# Sections that explain why an incident happened.
CAUSE_SECTIONS = frozenset(
    {"root_cause", "trigger", "contributing_factors", "diagnosis"}
)
# Sections that describe what fixed an incident or should be done.
FIX_SECTIONS = frozenset({"resolution", "mitigation", "action_items"})

# Label keys with a fixed meaning. Records may carry other labels too.
STANDARD_LABELS = ("service", "team", "alertname", "category")
# Maximum length of a record id from a file, which the API and the page accept.
MAX_FILE_ID_CHARS = 500
# GET /v1/incidents/{id}/similar owns the paths that end in this part.
RESERVED_LAST_PART = "similar"


def id_problem(record_id: str) -> str | None:
    """Return why an id read from a file cannot be used, or None when it can.

    Record ids are parts of page and API paths. A "." or ".." part would be
    removed by browsers and proxies on the way, so the link of evil/../PM-1
    opens PM-1. Spaces and other characters that tickets use stay allowed.
    """
    if len(record_id) > MAX_FILE_ID_CHARS:
        return f"is {len(record_id):,} characters long, over {MAX_FILE_ID_CHARS}"
    if any(
        unicodedata.category(character) in ("Cc", "Zl", "Zp") for character in record_id
    ):
        return "contains a control character or a line separator"
    if record_id.startswith(("/", "\\")):
        return "starts with a slash"
    parts = record_id.replace("\\", "/").split("/")
    if any(part.strip() in (".", "..") for part in parts):
        return "has a '.' or '..' part between slashes"
    if len(parts) > 1 and parts[-1].lower() == RESERVED_LAST_PART:
        return (
            f"ends in '/{RESERVED_LAST_PART}', the path that lists similar records "
            "in the API and on the page"
        )
    return None


@dataclass
class IncidentRecord:
    """A past incident, postmortem or runbook as stored in the knowledge base.

    Attributes:
        id: Stable identifier, unique in the knowledge base.
        kind: Incident, postmortem or runbook.
        title: One-line title.
        sections: Canonical section name (see SECTION_NAMES) to its text.
        labels: service, team, alertname (comma-separated when several), category,
            and any other labels the source had.
        severity_raw: Severity or priority exactly as the source wrote it.
        severity: severity_raw on the one scale, or None when unknown.
        started_at: When the incident started, timezone-aware when the source has
            a zone.
        ended_at: When it was resolved.
        source: Where the record came from: a path, with a line or key when a file
            holds many records.
    """

    id: str
    kind: Kind
    title: str
    sections: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    severity_raw: str | None = None
    severity: Severity | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        if self.severity is None and self.severity_raw is not None:
            self.severity = normalize_severity(self.severity_raw)
        elif self.severity is not None:
            self.severity = Severity(self.severity)

    @property
    def alert_names(self) -> list[str]:
        """Return the alert names in the alertname label."""
        raw = self.labels.get("alertname", "")
        return [name.strip() for name in raw.split(",") if name.strip()]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict; from_dict reverses it."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "title": self.title,
            "sections": dict(self.sections),
            "labels": dict(self.labels),
            "severity_raw": self.severity_raw,
            "severity": self.severity.value if self.severity else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentRecord:
        """Build a record from the dict that to_dict returns."""
        return cls(
            id=data["id"],
            kind=Kind(data["kind"]),
            title=data["title"],
            sections=dict(data.get("sections") or {}),
            labels=dict(data.get("labels") or {}),
            severity_raw=data.get("severity_raw"),
            severity=Severity(data["severity"]) if data.get("severity") else None,
            started_at=_parse_iso(data.get("started_at")),
            ended_at=_parse_iso(data.get("ended_at")),
            source=data.get("source") or "",
        )

    def content_hash(self) -> str:
        """Return a SHA-256 of everything but the source, to spot changed content."""
        payload = self.to_dict()
        payload.pop("source")
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
