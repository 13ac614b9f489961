"""Reading incident sources: finding the files and choosing a reader for each."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from indexer.errors import ConfigurationError
from indexer.readers.base import ReadProblem, ReadResult
from indexer.readers.export_rows import (
    CSV_SUFFIXES,
    JSON_LINES_SUFFIXES,
    JSON_SUFFIXES,
)
from indexer.readers.mapping import (
    FieldMapping,
    load_mapping,
    mapping_from_spec,
    preset_names,
)
from indexer.readers.markdown import read_markdown
from indexer.readers.record_file import is_record_file, read_record_file
from indexer.readers.tabular import read_tabular
from indexer.readers.text import file_suffix, read_text_report
from indexer.record import IncidentRecord

__all__ = [
    "TABULAR_SUFFIXES",
    "FieldMapping",
    "ReadProblem",
    "ReadResult",
    "load_mapping",
    "make_ids_unique",
    "mapping_from_spec",
    "preset_names",
    "read_sources",
]

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt"})
SUPPORTED_SUFFIXES = (
    MARKDOWN_SUFFIXES | CSV_SUFFIXES | JSON_SUFFIXES | JSON_LINES_SUFFIXES
) | TEXT_SUFFIXES

# Larger files are rejected: a postmortem is kilobytes, and a file of this size
# takes minutes to embed on a CPU.
MAX_FILE_BYTES = 20 * 2**20

# Repository files that describe the repository, not an incident, by their name
# without suffix. A README that front matter or a dated folder marks as a
# postmortem is read (postmortems/2024-01-15-orders-db-outage/README.md).
_REPOSITORY_FILES = frozenset(
    {"readme", "license", "licence", "contributing", "changelog"}
)
# A folder or file name that starts with a date, such as 2024-01-15-db-outage.
_DATED_NAME = re.compile(r"^\d{4}-?\d{2}-?\d{2}")
# Section index pages of Hugo sites, such as the runbook folders.
_SKIPPED_NAMES = frozenset({"_index.md"})

Reader = Callable[[Path, str], ReadResult]
# The mapping to read one CSV or JSON file with, None to detect a preset.
MappingFor = Callable[[Path], FieldMapping | None]
TABULAR_SUFFIXES = CSV_SUFFIXES | JSON_SUFFIXES | JSON_LINES_SUFFIXES


def read_sources(
    paths: Sequence[Path],
    mapping: FieldMapping | None = None,
    remembered: Callable[[Path], FieldMapping | None] | None = None,
    exclude: Sequence[Path] = (),
) -> ReadResult:
    """Read incident records from files and directories.

    Directories are read recursively in sorted order. The file suffix chooses the
    reader: .md and .markdown are Markdown, .record.json one record in the shape
    POST /v1/incidents takes, .csv and .tsv CSV, other .json JSON exports, .jsonl
    and .ndjson JSON Lines, .txt plain-text reports. A file without suffix is
    Markdown when its text starts with "#" or "---". Inside directories, hidden
    files and folders, README, LICENSE, CONTRIBUTING and CHANGELOG files (but not
    a README with front matter or in a dated folder), Hugo's _index.md, undated
    files with "template" as a word of their name, and other file types
    are skipped and listed in ReadResult.skipped. A file passed directly is read
    whatever its name, if its type is supported.

    A record's id is its front matter or mapped id. Otherwise it is the file path
    under the directory that was passed, without suffix, prefixed with that
    directory's name, such as
    "prometheus-operator+runbooks/content/runbooks/kubernetes/KubePodCrashLooping".
    For a file passed directly, its parent folder plays that role. When several
    records share an id, the second gets "~2" appended, the third "~3", and so on.

    Args:
        paths: Files and directories to read.
        mapping: Field mapping for CSV and JSON exports. None detects a preset
            per file.
        remembered: Without mapping, returns the mapping a file was last read
            with, or None to detect one.
        exclude: Folders left out where they are met inside a given directory,
            such as the uploads folder of a knowledge base kept in a source tree.

    Returns:
        The records, a problem for every file or record that could not be read,
        and the skipped paths. Unreadable, undecodable or malformed files and
        records become problems instead of exceptions.
    """
    result = ReadResult()
    # Each file is read once, also when two given folders overlap or one is
    # given twice: its records would otherwise be stored again under "~2" ids.
    read_files: set[Path] = set()

    excluded = {os.path.realpath(folder) for folder in exclude}

    def mapping_for(path: Path) -> FieldMapping | None:
        if mapping is not None or remembered is None:
            return mapping
        return remembered(path)

    for root in paths:
        # Absolute, so that the stored sources still name the files when a
        # later sync runs from another working directory.
        absolute = Path(os.path.normpath(Path(root).absolute()))
        result.extend(_read_root(absolute, mapping_for, read_files, excluded))
    make_ids_unique(result.records)

    for problem in result.problems:
        logger.debug("not read: %s", problem)
    logger.info(
        "read %d records from %d source paths: %d problems, %d skipped",
        len(result.records),
        len(paths),
        len(result.problems),
        len(result.skipped),
    )
    return result


def _read_root(
    root: Path, mapping: MappingFor, read_files: set[Path], excluded: set[str]
) -> ReadResult:
    if root.is_file():
        if _read_before(root, read_files):
            return ReadResult()
        return _read_file(root, root.parent, mapping, explicit=True)
    if root.exists() and not root.is_dir():
        reason = "not a regular file or directory (a pipe or device?); skipped"
        return ReadResult(problems=[ReadProblem(str(root), None, reason)])
    if not root.is_dir():
        reason = "no such file or directory; check the path"
        return ReadResult(problems=[ReadProblem(str(root), None, reason)])

    result = ReadResult()
    for path in _walk(root, result, excluded):
        if not _read_before(path, read_files):
            result.extend(_read_file(path, root, mapping, explicit=False))
    return result


def _read_before(path: Path, read_files: set[Path]) -> bool:
    """Return whether the file was read already in this call, and note it."""
    real = path.resolve()
    if real in read_files:
        logger.info("%s was read already under another given path; read once", path)
        return True
    read_files.add(real)
    return False


def _walk(root: Path, result: ReadResult, excluded: set[str]) -> Iterator[Path]:
    """Yield the files under root in sorted order, leaving out hidden folders."""

    def report(error: OSError) -> None:
        reason = f"cannot list the directory: {error.strerror}"
        result.problems.append(ReadProblem(str(error.filename), None, reason))

    # Symbolic links to folders are followed, as a checkout linked into the
    # sources is common, and each real folder is walked once so a loop ends.
    walked: set[str] = set()
    for folder, subfolders, files in os.walk(root, onerror=report, followlinks=True):
        real = os.path.realpath(folder)
        if real in walked or (real in excluded and real != os.path.realpath(root)):
            subfolders[:] = []
            continue
        walked.add(real)
        hidden = sorted(name for name in subfolders if name.startswith("."))
        result.skipped.extend(os.path.join(folder, name) for name in hidden)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder, name)
            # Named pipes, sockets and devices would block or fail on read.
            if path.is_file():
                yield path
            else:
                result.skipped.append(str(path))


def _read_file(
    path: Path, root: Path, mapping: MappingFor, explicit: bool
) -> ReadResult:
    if not explicit and _is_skipped_name(path):
        return ReadResult(skipped=[str(path)])
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        # The database stores sources and ids as UTF-8 text, and a name that is
        # not UTF-8 (from a Windows zip) could not be written or printed as is.
        printable_path = os.fsencode(path).decode("utf-8", "backslashreplace")
        reason = "the file name is not valid UTF-8; rename the file"
        return ReadResult(problems=[ReadProblem(printable_path, None, reason)])

    reader = _reader_for(path, mapping)
    if reader is not None and (size := path.stat().st_size) > MAX_FILE_BYTES:
        reason = (
            f"file is {size / 2**20:.1f} MiB, over the limit of "
            f"{MAX_FILE_BYTES // 2**20} MiB; split it into smaller files, such as "
            "one per page of an API export, one per month or one per incident"
        )
        return ReadResult(problems=[ReadProblem(str(path), None, reason)])
    if reader is None and explicit:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        reason = f"unsupported file type; supported suffixes are {supported}"
        return ReadResult(problems=[ReadProblem(str(path), None, reason)])
    if reader is None:
        return ReadResult(skipped=[str(path)])
    result = reader(path, _default_id(path, root))
    if not result.records and not result.problems:
        result.empty.append(str(path))
    return result


def _read_mapped(path: Path, default_id: str, mapping: MappingFor) -> ReadResult:
    """Read an export with its mapping, which fails this file alone if it fails."""
    try:
        chosen = mapping(path)
    except ConfigurationError as error:
        return ReadResult(problems=[ReadProblem(str(path), None, str(error))])
    return read_tabular(path, default_id, chosen)


def _is_skipped_name(path: Path) -> bool:
    name = path.name
    lower = name.lower()
    if name.startswith(".") or name in _SKIPPED_NAMES:
        return True
    if _is_repository_file(name):
        readme = lower.split(".")[0] == "readme"
        return not (readme and _marked_as_incident(path))
    # "template" only as a word of its own: "Postmortem template.md" is a
    # template, but the alert runbook "SSPTemplateValidatorDown.md" and the
    # dated postmortem "2024-03-01-helm-template-outage.md" are not.
    words = re.split(r"[^a-z0-9]+", lower)
    return "template" in words and not _DATED_NAME.match(lower)


def _is_repository_file(name: str) -> bool:
    """Return whether a name is a repository's README, LICENSE or similar file.

    README-dev.md and CHANGELOG-2023.md count. So does LICENSE-MIT, but a
    lower-case license-server-outage.md is an incident about a license server.
    """
    stem = name.split(".")[0]
    first = re.split(r"[-_ ]", stem)[0].lower()
    if first not in _REPOSITORY_FILES:
        return False
    named_license = first in ("license", "licence") and stem.lower() != first
    return not named_license or stem.isupper()


def _marked_as_incident(readme: Path) -> bool:
    """Return whether a README is an incident's own write-up, not a folder's guide."""
    if _DATED_NAME.match(readme.parent.name):
        return True
    try:
        with readme.open("rb") as handle:
            return handle.readline().rstrip() == b"---"
    except OSError:
        return False


def _reader_for(path: Path, mapping: MappingFor) -> Reader | None:
    suffix = file_suffix(path).lower()
    if is_record_file(path):
        return read_record_file
    if suffix in MARKDOWN_SUFFIXES:
        return read_markdown
    if suffix in TEXT_SUFFIXES:
        return read_text_report
    if suffix in TABULAR_SUFFIXES:
        return lambda file, default_id: _read_mapped(file, default_id, mapping)
    if not suffix and _looks_like_markdown(path):
        return read_markdown
    return None


def _looks_like_markdown(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            start = file.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    except OSError:
        return False
    is_script = start.startswith(b"#!")
    return not is_script and (start.startswith(b"#") or start.startswith(b"---"))


def _default_id(path: Path, root: Path) -> str:
    relative = path.relative_to(root).as_posix()
    suffix = file_suffix(path)
    if suffix:
        relative = relative[: -len(suffix)]
    # A README read as an incident is named for its folder, the incident, also
    # when it is given directly and its folder is the root.
    folder, _, stem = relative.rpartition("/")
    if stem.lower() == "readme" and folder:
        relative = folder
    elif stem.lower() == "readme":
        real = root.resolve()
        return f"{real.parent.name}/{real.name}"
    return f"{root.resolve().name}/{relative}"


def make_ids_unique(records: list[IncidentRecord]) -> None:
    """Append "~2", "~3" and so on to the ids of later records with a used id.

    A record equal in every field to an earlier one of its id, such as a row an
    export repeats, is stored once: a second copy would fill a second place in
    every list of matches.
    """
    used_ids = {record.id for record in records}
    first_source: dict[str, str] = {}
    seen_content: dict[tuple[str, str], str] = {}
    repeated: list[int] = []
    for position, record in enumerate(records):
        content = (record.id, record.content_hash())
        if content in seen_content:
            logger.warning(
                "%s repeats record %s of %s field for field; it is stored once",
                record.source,
                record.id,
                seen_content[content],
            )
            repeated.append(position)
            continue
        seen_content[content] = record.source
        if record.id not in first_source:
            first_source[record.id] = record.source
            continue

        number = 2
        while f"{record.id}~{number}" in used_ids:
            number += 1
        unique = f"{record.id}~{number}"
        logger.warning(
            "duplicate id %s in %s (first seen in %s); one of them gets a suffix "
            "such as %s, and a sync keeps the suffix stored for each file",
            record.id,
            record.source,
            first_source[record.id],
            unique,
        )
        used_ids.add(unique)
        first_source[unique] = record.source
        record.id = unique
    for position in reversed(repeated):
        del records[position]
