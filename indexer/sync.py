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
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.readers import ReadResult
from indexer.readers.export_rows import (
    CSV_SUFFIXES,
    JSON_LINES_SUFFIXES,
    JSON_SUFFIXES,
)
from indexer.record import IncidentRecord
from indexer.uploads import is_upload_source

logger = logging.getLogger(__name__)

# A source is a path, with ":line" or "#key" when an export file contains many
# records. The path is the shortest prefix that ends in an export's suffix and is
# followed by such a part, so a "#" or ":" elsewhere in a path stays in it.
_EXPORT_SUFFIXES = "|".join(
    re.escape(suffix.lstrip("."))
    for suffix in sorted(CSV_SUFFIXES | JSON_SUFFIXES | JSON_LINES_SUFFIXES)
)
_SOURCE = re.compile(
    rf"^(?P<path>.*?\.(?:{_EXPORT_SUFFIXES}))(?::\d+|#.*)$", re.IGNORECASE | re.DOTALL
)
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
    # Files that failed to read in whole or in part, each with the stored records
    # it did not yield. They are kept: a record that failed to read is not gone.
    failed_files: dict[str, list[str]] = field(default_factory=dict)
    # Given sources that yielded no record at all, each with the stored records
    # under it that the sync would have removed. A sync with any writes nothing.
    unread: dict[str, list[str]] = field(default_factory=dict)
    # Records not read whose stored source is a relative path, as versions before
    # absolute sources wrote them: they are resolved against the working folder.
    relative: list[str] = field(default_factory=list)


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
    # Once per file rather than once per row of an export.
    read_files = {str(_source_path(record.source)) for record in read.records}
    produced = {Path(path).resolve() for path in read_files}
    containing = _RootFinder(roots)
    read_roots = {
        containing.deepest(found) for path in read_files if (found := containing(path))
    }
    for record_id, (_, source) in sorted(stored.items()):
        if record_id in seen:
            continue
        if source.startswith(API_SOURCE_PREFIX) or is_upload_source(source):
            # Written through the API, which alone removes it, also when the
            # uploads folder lies inside a source folder.
            continue
        if not _source_path(source).is_absolute():
            plan.relative.append(record_id)
        in_roots = containing(source)
        path = source_file(source)
        if not in_roots:
            continue
        if path in failed:
            plan.failed_files.setdefault(str(path), []).append(record_id)
            continue
        if path not in produced and path.is_file():
            plan.emptied.setdefault(str(path), []).append(record_id)
            continue
        if keep_removed:
            plan.kept.append(record_id)
            continue
        # A given source that yielded nothing at all is more likely an empty
        # checkout or mount than a history that was meant to be deleted.
        deepest = containing.deepest(in_roots)
        if deepest not in read_roots:
            plan.unread.setdefault(str(roots[deepest]), []).append(record_id)
            continue
        plan.removed.append(record_id)
    return plan


class _RootFinder:
    """Finds which of the synced roots contain a source, by path or by real path.

    Both are compared. A file in a symbolic link to a folder lies under the root
    by its path only. A stored source of a root that is itself a link to a
    release folder lies under it by its real path only.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        self.paths = [Path(os.path.normpath(root.absolute())) for root in roots]
        self.real_paths = [root.resolve() for root in roots]

    def deepest(self, indices: Sequence[int]) -> int:
        """Return the deepest of the given roots: the one a file under all is in."""
        return max(indices, key=lambda index: len(self.paths[index].parts))

    def __call__(self, source: str) -> list[int]:
        path = Path(os.path.normpath(_source_path(source).absolute()))
        real_path = path.resolve()
        return [
            index
            for index in range(len(self.paths))
            if _under(path, self.paths[index])
            or _under(real_path, self.real_paths[index])
        ]


def source_file(source: str) -> Path:
    """Return the resolved file path of a record's source."""
    return _source_path(source).resolve()


# The source of a record written as JSON through POST /v1/incidents.
API_SOURCE_PREFIX = "api:"


def _source_path(source: str) -> Path:
    match = _SOURCE.match(source)
    return Path(match.group("path") if match else source)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def keep_path_ids(
    records: Sequence[IncidentRecord], stored: dict[str, tuple[str, str]]
) -> None:
    """Give a record the id that the same file got before, when both come from paths.

    A file without an id of its own is named by its path under the folder given
    on the command line. It is "src/pm/db-outage" after `indexer build src`, but
    "pm/db-outage" after `indexer add src/pm/db-outage.md` or `indexer sync
    src/pm`. It starts with "r2/" when the folder is a link to a release folder
    r2. Without this, the file would be stored again under the new id, and the
    verdicts on the old one left behind.
    """
    stored_ids = {source: record_id for record_id, (_, source) in stored.items()}
    # Built only when a record's source is not stored as given, as happens when
    # a folder is reached through a symbolic link: one resolve per stored record.
    real_ids: dict[Path, str] | None = None
    for record in records:
        stored_id = stored_ids.get(record.source)
        if stored_id is None and _is_file_source(record.source):
            if real_ids is None:
                real_ids = {
                    source_file(source): record_id
                    for source, record_id in stored_ids.items()
                    if _is_file_source(source)
                }
            stored_id = real_ids.get(source_file(record.source))
        if (
            stored_id is not None
            and stored_id != record.id
            and _is_path_id(record.id, record.source)
            and _is_path_id(stored_id, record.source)
        ):
            logger.info(
                "%s keeps the id %s that it was stored under", record.source, stored_id
            )
            record.id = stored_id


def _is_file_source(source: str) -> bool:
    """Return whether a source is a whole file, not a row or key of an export."""
    return _SOURCE.match(source) is None


def _is_path_id(record_id: str, source: str) -> bool:
    """Return whether an id is a folder name and the file's path under it.

    A README read as an incident is named for its folder instead.
    """
    _, _, relative = record_id.partition("/")
    if not relative:
        return False
    path = Path(source).with_suffix("")
    if path.name.lower() == "readme" and path.parent.as_posix().endswith(
        "/" + relative
    ):
        return True
    return path.as_posix().endswith("/" + relative)


def restore_duplicate_ids(
    records: Sequence[IncidentRecord],
    stored: dict[str, tuple[str, str]],
    replace_held: bool = False,
) -> None:
    """Keep each stored id with the file it was stored for.

    The readers keep an id for the first record that uses it and append "~2",
    "~3" to later ones, in the order of the files read. A new file that sorts
    first, or a sync of one of two folders that share an id, would give a stored
    record's id to another file's record, so feedback and links would point at
    other text. A record read from the source of a stored record of its id or a
    suffixed one gets that stored id back. Any other record keeps its id as read,
    unless the stored record of that id comes from another file that still
    exists. It then gets the next free suffix. With
    replace_held, as `indexer add` has it, a record may take the id of another
    file's record and so replace it.
    """
    bases = {_base_id(record.id) for record in records}
    owners: dict[str, dict[str, str]] = {}
    for record_id, (_, source) in stored.items():
        base = _base_id(record_id)
        if base in bases:
            owners.setdefault(base, {})[record_id] = source
    groups: dict[str, list[IncidentRecord]] = {}
    for record in records:
        groups.setdefault(_base_id(record.id), []).append(record)

    for base, group in groups.items():
        owner_of = owners.get(base, {})
        if not owner_of or (
            len(group) == 1 and owner_of == {group[0].id: group[0].source}
        ):
            # Nothing to restore: the common case of one file and its own id.
            continue
        # Unchanged content first: an inserted row shifts the line numbers in
        # the sources of the rows below it.
        restored: dict[int, str] = {}
        _restore_by_content(group, owner_of, stored, restored)
        id_of_source = {source: record_id for record_id, source in owner_of.items()}
        for record in group:
            stored_id = id_of_source.get(record.source)
            if (
                id(record) not in restored
                and stored_id is not None
                and stored_id not in restored.values()
            ):
                restored[id(record)] = stored_id
        assigned = set(restored.values())
        unused_ids = (f"{base}~{n}" if n > 1 else base for n in range(1, 10**6))
        for record in group:
            read_id = record.id
            if id(record) in restored:
                record.id = restored[id(record)]
            elif read_id in assigned or (
                not replace_held and _held_elsewhere(owner_of, read_id, record)
            ):
                record.id = next(
                    candidate
                    for candidate in unused_ids
                    if candidate not in assigned and candidate not in owner_of
                )
            assigned.add(record.id)
            if record.id != read_id:
                logger.info(
                    "%s is stored as %s, not %s, so that stored records keep their ids",
                    record.source,
                    record.id,
                    read_id,
                )


def _restore_by_content(
    group: Sequence[IncidentRecord],
    owner_of: dict[str, str],
    stored: dict[str, tuple[str, str]],
    restored: dict[int, str],
) -> None:
    """Restore the ids of records whose content is unchanged, id aside.

    A row inserted above others in an export shifts their line numbers, so their
    sources no longer tell which stored record they are. A record whose content
    is the same as a stored record's of its group gets that record's id.
    """
    free_ids = [rid for rid in owner_of if rid not in restored.values()]
    for record in group:
        if id(record) in restored or not free_ids:
            continue
        read_id = record.id
        for stored_id in free_ids:
            record.id = stored_id
            if record.content_hash() == stored[stored_id][0]:
                restored[id(record)] = stored_id
                free_ids.remove(stored_id)
                break
        record.id = read_id


def _held_elsewhere(
    owner_of: dict[str, str], record_id: str, record: IncidentRecord
) -> bool:
    """Return whether the stored record_id comes from another, existing file."""
    owner = owner_of.get(record_id)
    if owner is None:
        return False
    path = source_file(owner)
    return path != source_file(record.source) and path.is_file()


def _base_id(record_id: str) -> str:
    match = _DUPLICATE.match(record_id)
    return match.group("base") if match else record_id
