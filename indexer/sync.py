"""Plan a sync: which records are new, changed, gone or the same as stored.

A sync compares what the sources contain now with the database by content hash, so
only new and changed records are embedded again. A record is gone when its source
file lies under one of the synced sources and no longer yields it. A file that
failed to read keeps its records, so a typo in a postmortem never deletes it. A
file that is still there but yields no record at all, such as an export cut to
its header row, keeps its records too. An emptied export is far more often a
failed one than a history that was meant to be deleted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.readers import ReadResult
from indexer.record import IncidentRecord

logger = logging.getLogger(__name__)

# A source is a path, with ":line" or "#key" when a file contains many records.
_SOURCE = re.compile(r"^(?P<path>.*?)(?::\d+|#.*)?$")
# The suffix that the readers append to the second and later uses of an id.
_DUPLICATE = re.compile(r"^(?P<base>.+)~\d+$")


@dataclass
class SyncPlan:
    """The changes a sync makes."""

    added: list[IncidentRecord] = field(default_factory=list)
    updated: list[IncidentRecord] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Unchanged records read from another path than the stored one, such as a
    # moved folder or a CSV row that moved: (id, source now).
    moved: list[tuple[str, str]] = field(default_factory=list)
    # Files that exist but yielded no record, each with its stored records kept.
    emptied: dict[str, list[str]] = field(default_factory=dict)


def plan_sync(
    read: ReadResult,
    stored: dict[str, tuple[str, str]],
    roots: Sequence[Path],
    keep_removed: bool = False,
) -> SyncPlan:
    """Compare read records with stored ones (id to content hash and source).

    Args:
        read: What the sources contain now, with the files that failed to read.
        stored: Every stored record id with its content hash and source.
        roots: The files and folders being synced; only records from under them
            can be removed.
        keep_removed: Keep records whose source is gone instead of removing them.
    """
    plan = SyncPlan()
    seen: set[str] = set()
    for record in read.records:
        seen.add(record.id)
        previous = stored.get(record.id)
        if previous is None:
            plan.added.append(record)
        elif previous[0] != record.content_hash():
            plan.updated.append(record)
        else:
            plan.unchanged += 1
            if previous[1] != record.source:
                plan.moved.append((record.id, record.source))

    failed = {source_file(problem.source) for problem in read.problems}
    produced = {source_file(record.source) for record in read.records}
    resolved_roots = [root.resolve() for root in roots]
    for record_id, (_, source) in sorted(stored.items()):
        if record_id in seen:
            continue
        path = source_file(source)
        if path in failed or not _under(path, resolved_roots):
            continue
        if path not in produced and path.is_file():
            plan.emptied.setdefault(str(path), []).append(record_id)
            continue
        (plan.kept if keep_removed else plan.removed).append(record_id)
    return plan


def source_file(source: str) -> Path:
    """Return the resolved file path of a record's source."""
    match = _SOURCE.match(source)
    return Path(match.group("path") if match else source).resolve()


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def restore_duplicate_ids(
    records: Sequence[IncidentRecord], stored: dict[str, tuple[str, str]]
) -> None:
    """Give records that share an id the suffixed ids they were stored under.

    The readers keep an id for the first record that uses it and append "~2",
    "~3" to later ones, in the order of the files. A new file that sorts first
    would take the plain id from the record that had it, so feedback and links
    would point at other text. A record read from the same source as a stored
    one of its group gets that stored id back; the others take the ids left.
    """
    groups: dict[str, list[IncidentRecord]] = {}
    for record in records:
        groups.setdefault(_base_id(record.id), []).append(record)
    shared = {base: group for base, group in groups.items() if len(group) > 1}
    if not shared:
        return

    stored_ids: dict[str, dict[str, str]] = {}
    for record_id, (_, source) in stored.items():
        base = _base_id(record_id)
        if base in shared:
            stored_ids.setdefault(base, {})[source] = record_id
    for base, group in shared.items():
        by_source = stored_ids.get(base, {})
        restored = {id(r): by_source[r.source] for r in group if r.source in by_source}
        assigned = set(restored.values())
        unused_ids = (f"{base}~{n}" if n > 1 else base for n in range(1, 10**6))
        for record in group:
            read_id = record.id
            if id(record) in restored:
                record.id = restored[id(record)]
            else:
                record.id = next(
                    candidate for candidate in unused_ids if candidate not in assigned
                )
            if record.id != read_id:
                logger.info(
                    "%s is stored as %s, not %s, so that stored records keep their ids",
                    record.source,
                    record.id,
                    read_id,
                )


def _base_id(record_id: str) -> str:
    match = _DUPLICATE.match(record_id)
    return match.group("base") if match else record_id
