"""Records received over the API, kept as files under INCIDENT_HOME/uploads.

The file is what brings such a record back when `indexer build` replaces the
knowledge base. A Markdown postmortem is kept as sent, a JSON record as a record
file. Each id has one file, named by a hash of the id, and the file follows the
stored record: a write that fails puts the previous file back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from indexer.errors import KnowledgeBaseError
from indexer.lock import write_lock
from indexer.readers.record_file import RECORD_FILE_SUFFIX
from indexer.record import IncidentRecord
from indexer.settings import UPLOADS_FOLDER

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIX = ".md"
UPLOAD_SUFFIXES = (MARKDOWN_SUFFIX, RECORD_FILE_SUFFIX)
_UPLOAD_NAME = re.compile(r"upload-[0-9a-f]{16}(?:\.md|\.record\.json)")
# Hidden, so that builds skip it, like the staging files and the previous copies.
_LOCK_NAME = ".write.lock"


def uploads_folder(home: Path) -> Path:
    """Return the folder as an absolute path, so stored sources name it anywhere."""
    return Path(os.path.abspath(home / UPLOADS_FOLDER))


def upload_path(home: Path, record_id: str, suffix: str) -> Path:
    """Return the file of an upload: a hash of its id, never a name a build skips.

    `indexer build` skips names such as README or ones with the word "template",
    so the id itself is kept inside the file, not in its name.
    """
    digest = hashlib.sha256(record_id.encode("utf-8")).hexdigest()[:16]
    return uploads_folder(home) / f"upload-{digest}{suffix}"


def is_upload_source(source: str) -> bool:
    """Return whether a record's source is an upload, also of a home since moved."""
    path = Path(source)
    in_folder = path.parent.name == UPLOADS_FOLDER
    return in_folder and bool(_UPLOAD_NAME.fullmatch(path.name))


# Per thread, each uploads folder whose lock the thread has, with how often
# it took it.
_lock_depths = threading.local()


@contextmanager
def locked(home: Path, timeout: float) -> Iterator[None]:
    """Hold the uploads lock: one writer of upload files at a time, across processes.

    A thread that has it already takes it again at once, so a build can keep
    it for its whole run and still save files.

    Raises:
        KnowledgeBaseError: Another writer held it for timeout seconds, or the
            folder cannot be made or locked (UploadError).
    """
    folder = uploads_folder(home)
    counts: dict[Path, int] = _lock_depths.__dict__.setdefault("counts", {})
    if counts.get(folder):
        counts[folder] += 1
        try:
            yield
        finally:
            counts[folder] -= 1
        return

    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KnowledgeBaseError(
            f"cannot create the knowledge base folder {home}: {error.strerror}; "
            "set INCIDENT_HOME (or --home) to a writable folder"
        ) from error
    with ExitStack() as lock:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock.enter_context(write_lock(folder, timeout, name=_LOCK_NAME))
        except OSError as error:
            raise UploadError(folder, error, "lock") from error
        counts[folder] = 1
        try:
            yield
        finally:
            counts[folder] = 0


@contextmanager
def saved_upload(
    home: Path, record_id: str, suffix: str, text: str, timeout: float
) -> Iterator[Path]:
    """Make text the record's file while the body stores the record, yield its path.

    Writes of upload files run one at a time, across processes too, so the file
    and the stored record end as the same request left them. The record's file
    in the other format is moved aside, so a build never reads both. When the
    body raises, the previous files come back.

    Raises:
        KnowledgeBaseError: Another write held the uploads for timeout seconds,
            or the file could not be written (UploadError); nothing was changed.
    """
    folder = uploads_folder(home)
    with locked(home, timeout):
        staging = folder / f".upload-{uuid.uuid4().hex}{suffix}"
        target = upload_path(home, record_id, suffix)
        try:
            write_file(staging, text)
            previous = _move_aside(_own_files(home, record_id))
            os.replace(staging, target)
        except OSError as error:
            staging.unlink(missing_ok=True)
            raise UploadError(folder, error) from error

        try:
            yield target
        except BaseException:
            target.unlink(missing_ok=True)
            _put_back(previous)
            raise
        _delete(previous)


@contextmanager
def removed_upload(
    home: Path,
    record_id: str,
    source: str,
    other_sources: Collection[str],
    timeout: float,
) -> Iterator[None]:
    """Delete a record's upload files while the body removes the record.

    The files named for the id go. So does the file the record was read from,
    when it is an upload that no other record was read from, because a build
    that found two uploads of one id stored the second as RECORD-ID~2. When the body
    raises, the files come back.

    Raises:
        KnowledgeBaseError: Another write held the uploads for timeout seconds,
            or a file could not be deleted (UploadError); nothing was changed.
    """
    files = _own_files(home, record_id)
    shared = {Path(other).name for other in other_sources if is_upload_source(other)}
    if is_upload_source(source) and Path(source).name not in shared:
        files.append(uploads_folder(home) / Path(source).name)
    with locked(home, timeout):
        try:
            previous = _move_aside(files)
        except OSError as error:
            raise UploadError(uploads_folder(home), error, "delete") from error
        try:
            yield
        except BaseException:
            _put_back(previous)
            raise
        _delete(previous)


class UploadError(KnowledgeBaseError):
    """A record's file could not be saved or deleted, so nothing was changed."""

    def __init__(self, folder: Path, error: OSError, action: str = "save") -> None:
        if action == "lock":
            failure = f"cannot use the uploads folder {folder}"
        else:
            failure = f"cannot {action} the record's file in {folder}"
        super().__init__(
            f"{failure}: {error.strerror or error}; check that the folder is writable "
            "and the disk has space, then try again"
        )


def has_upload(home: Path, record_id: str) -> bool:
    """Return whether the uploads folder has a file for the id."""
    return any(path.exists() for path in _own_files(home, record_id))


def _own_files(home: Path, record_id: str) -> list[Path]:
    return [upload_path(home, record_id, suffix) for suffix in UPLOAD_SUFFIXES]


def _move_aside(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Move the existing files to hidden names, which builds skip, all or none."""
    previous: list[tuple[Path, Path]] = []
    try:
        for path in dict.fromkeys(paths):
            if path.exists():
                aside = path.with_name(f".{path.name}.previous")
                os.replace(path, aside)
                previous.append((aside, path))
    except OSError:
        _put_back(previous)
        raise
    return previous


def _put_back(previous: Sequence[tuple[Path, Path]]) -> None:
    for aside, path in previous:
        os.replace(aside, path)


def _delete(previous: Sequence[tuple[Path, Path]]) -> None:
    for aside, _ in previous:
        aside.unlink(missing_ok=True)


def prefer_uploads(
    records: Sequence[IncidentRecord], upload_ids: set[str]
) -> list[IncidentRecord]:
    """Leave out the records of source files whose id an upload has.

    A record sent over the API replaced the one of the same id from a source
    file, so a build or sync keeps the upload instead of storing both.
    """
    records_kept = []
    for record in records:
        if record.id in upload_ids and not is_upload_source(record.source):
            logger.warning(
                "%s is left out: record %s was replaced over the API; delete it there "
                "(DELETE /v1/incidents/ID or indexer remove) to go back to this file",
                record.source,
                record.id,
            )
            continue
        records_kept.append(record)
    return records_kept


def uploaded_ids(stored: Mapping[str, tuple[str, str]]) -> set[str]:
    """Return the ids stored from uploads, of record id to (content hash, source)."""
    return {
        record_id
        for record_id, (_, source) in stored.items()
        if is_upload_source(source)
    }


def write_file(path: Path, text: str) -> None:
    """Write text and flush it to disk, so a crash leaves it whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
