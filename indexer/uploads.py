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
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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


@contextmanager
def saved_upload(
    home: Path, record_id: str, suffix: str, text: str, timeout: float
) -> Iterator[Path]:
    """Make text the record's file while the body stores the record, yield its path.

    Writes of one id run one at a time, across processes too, so the file and
    the stored record end as the same request left them. The record's file in
    the other format is moved aside, so a build never reads both. When the
    body raises, the previous files come back.

    Raises:
        KnowledgeBaseError: Another write held the uploads for timeout seconds,
            or the file could not be written (UploadError); nothing was changed.
    """
    folder = uploads_folder(home)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UploadError(folder, error) from error
    with write_lock(folder, timeout, name=_LOCK_NAME):
        staging = folder / f".upload-{uuid.uuid4().hex}{suffix}"
        target = upload_path(home, record_id, suffix)
        previous: list[tuple[Path, Path]] = []
        try:
            write_file(staging, text)
            for path in (upload_path(home, record_id, end) for end in UPLOAD_SUFFIXES):
                if path.exists():
                    aside = folder / f".{path.name}.previous"
                    os.replace(path, aside)
                    previous.append((aside, path))
            os.replace(staging, target)
        except OSError as error:
            staging.unlink(missing_ok=True)
            _put_back(previous)
            raise UploadError(folder, error) from error

        try:
            yield target
        except BaseException:
            target.unlink(missing_ok=True)
            _put_back(previous)
            raise
        for aside, _ in previous:
            aside.unlink(missing_ok=True)


class UploadError(KnowledgeBaseError):
    """A record's file could not be saved, so the record was not stored."""

    def __init__(self, folder: Path, error: OSError) -> None:
        super().__init__(
            f"cannot save the record's file in {folder}: "
            f"{error.strerror or error}; check that the folder is writable and "
            "the disk has space, then send the record again"
        )


def _put_back(previous: Sequence[tuple[Path, Path]]) -> None:
    for aside, path in previous:
        os.replace(aside, path)


def delete_upload(home: Path, record_id: str, source: str) -> None:
    """Delete the saved file of a removed record, so that no rebuild revives it.

    Only the record's own file goes: a record RECORD-ID~2 that a build made from
    another record's upload shares that file, which still contains RECORD-ID.
    """
    if not is_upload_source(source):
        return
    for suffix in UPLOAD_SUFFIXES:
        path = upload_path(home, record_id, suffix)
        if path.name == Path(source).name:
            path.unlink(missing_ok=True)


def prefer_uploads(
    records: Sequence[IncidentRecord], upload_ids: set[str]
) -> list[IncidentRecord]:
    """Leave out the records of source files whose id an upload has.

    A record sent over the API replaced the one of the same id from a source
    file, so a build or sync keeps the upload instead of storing both.
    """
    kept = []
    for record in records:
        if record.id in upload_ids and not is_upload_source(record.source):
            logger.warning(
                "%s is left out: record %s was replaced over the API; delete it there "
                "(DELETE /v1/incidents/ID or indexer remove) to go back to this file",
                record.source,
                record.id,
            )
            continue
        kept.append(record)
    return kept


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
