"""Reads past incidents, postmortems and runbooks and keeps them searchable."""

from indexer.record import IncidentRecord, Kind
from indexer.severity import Severity, normalize_severity

__all__ = ["IncidentRecord", "Kind", "Severity", "normalize_severity"]
