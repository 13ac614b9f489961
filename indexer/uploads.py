"""Records received over the API, kept as files under INCIDENT_HOME/uploads.

The file is what brings such a record back when `indexer build` replaces the
knowledge base, and what keeps it when a write fails after the file was saved.
A Markdown postmortem is kept as sent; a JSON record as a record file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import replace
from pathlib import Path

from indexer.readers.record_file import RECORD_FILE_SUFFIX, record_file_text
from indexer.record import IncidentRecord
from indexer.settings import UPLOADS_FOLDER

MARKDOWN_SUFFIX = ".md"
UPLOAD_SUFFIXES = (MARKDOWN_SUFFIX, RECORD_FILE_SUFFIX)


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


def staging_path(home: Path, suffix: str) -> Path:
    """Return a hidden file name to write an upload to before it is complete."""
    return uploads_folder(home) / f".upload-{uuid.uuid4().hex}{suffix}"


def is_upload(home: Path, source: str) -> bool:
    """Return whether a record's source is a file this folder keeps for the API."""
    path = Path(source)
    return path.parent.resolve() == uploads_folder(home).resolve() and (
        path.name.startswith("upload-") and path.name.endswith(UPLOAD_SUFFIXES)
    )


def delete_upload(home: Path, source: str) -> None:
    """Delete the saved file of a removed record, so that no rebuild revives it."""
    if is_upload(home, source):
        Path(source).unlink(missing_ok=True)


def delete_other_uploads(home: Path, record_id: str, kept: Path) -> None:
    """Delete the record's upload in the other format, which its new one replaced.

    Left in place, a build would read both and store the older one as RECORD-ID~2.
    """
    for suffix in UPLOAD_SUFFIXES:
        path = upload_path(home, record_id, suffix)
        if path != kept:
            path.unlink(missing_ok=True)


def save_record_file(home: Path, record: IncidentRecord) -> IncidentRecord:
    """Save a record as a record file; returns it with that file as its source."""
    target = upload_path(home, record.id, RECORD_FILE_SUFFIX)
    saved = replace(record, source=str(target))
    staging = staging_path(home, RECORD_FILE_SUFFIX)
    write_file(staging, record_file_text(saved))
    os.replace(staging, target)
    return saved


def write_file(path: Path, text: str) -> None:
    """Write text and flush it to disk, so a crash leaves it whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
