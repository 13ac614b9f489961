"""What every reader returns: the records it read and the problems it found."""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.record import IncidentRecord


@dataclass(frozen=True)
class ReadProblem:
    """A file or record that could not be read.

    Attributes:
        source: Path of the file.
        location: Line number, record key or field path inside the file, if known.
        reason: What was wrong and what to do about it.
    """

    source: str
    location: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.location}" if self.location else self.source
        return f"{where}: {self.reason}"


@dataclass
class ReadResult:
    """Records read from one or more files, with the problems met on the way.

    Attributes:
        records: The records read.
        problems: Files and records that could not be read.
        skipped: Paths of files left out on purpose (hidden files, READMEs,
            templates, unsupported file types), so callers can count them.
        empty: Paths of files that were read without a problem but held no
            record, such as a CSV export with only its header row.
    """

    records: list[IncidentRecord] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        """Append the records, problems and paths of another result."""
        self.records.extend(other.records)
        self.problems.extend(other.problems)
        self.skipped.extend(other.skipped)
        self.empty.extend(other.empty)
