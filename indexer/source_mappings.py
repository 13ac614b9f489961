"""The field mapping each CSV or JSON source file was last read with.

`indexer build --mapping FILE` reads an export with a mapping of the team's own,
such as one that takes the root cause from a custom Jira column. A later sync or
re-index without the option would detect a preset from the columns instead. The
preset has no custom column, so the stored records would lose those fields without
a warning. The mapping of each file is therefore stored in the knowledge base
(its spec: a preset name, or the mapping file's path and text) and used again
until another --mapping is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from indexer.database import Database, sqlite_path
from indexer.errors import ConfigurationError
from indexer.readers import (
    TABULAR_SUFFIXES,
    FieldMapping,
    ReadResult,
    mapping_from_spec,
)
from indexer.readers.text import file_suffix
from indexer.sync import source_file

logger = logging.getLogger(__name__)

# Meta key of the specs, a JSON object keyed by the file's absolute path.
META_KEY = "source_mappings"


def stored(database_url: str) -> dict[str, str]:
    """Return the mapping spec of each file, or nothing when there is no database."""
    path = sqlite_path(database_url)
    if path is not None and not path.is_file():
        return {}
    return specs_of(Database(database_url))


def specs_of(database: Database) -> dict[str, str]:
    """Return the mapping spec of each file stored in database."""
    specs = database.get_meta(META_KEY, {})
    return dict(specs) if isinstance(specs, dict) else {}


def lookup(specs: dict[str, str]) -> Callable[[Path], FieldMapping | None]:
    """Return the reader's lookup of a file's stored mapping (read_sources).

    A file is found by its path, then by the path its symbolic links lead to,
    then, for a folder that was moved, as stored_key() matches it.

    Raises (from the returned function):
        ConfigurationError: The stored mapping cannot be rebuilt. The message
            names the file and how to choose another mapping.
    """

    def mapping_for(path: Path) -> FieldMapping | None:
        key = stored_key(path, specs)
        if key is None:
            return None
        if key not in (str(path), str(path.resolve())):
            logger.warning(
                "reading %s with the mapping stored for %s, a file of the same name "
                "that is gone; pass --mapping to read it otherwise",
                path,
                key,
            )
        else:
            logger.info("reading %s with the mapping it was last read with", path)
        try:
            return mapping_from_spec(specs[key])
        except (ConfigurationError, ValueError, KeyError) as error:
            raise ConfigurationError(
                f"the mapping stored for {path} cannot be used ({error}); read the "
                "file with --mapping PRESET_OR_FILE to store another"
            ) from error

    return mapping_for


def stored_key(path: Path, specs: dict[str, str]) -> str | None:
    """Return the key of the spec stored for a file, or None.

    A file whose stored folder is gone was moved with it. Of such files, the
    one that shares the most trailing path parts with path is taken, and none
    when two share as many, since either mapping could be the wrong one.
    """
    for candidate in (str(path), str(path.resolve())):
        if candidate in specs:
            return candidate
    shared = {
        key: _shared_tail(Path(key), path)
        for key in specs
        if Path(key).name == path.name and not Path(key).parent.exists()
    }
    if not shared:
        return None
    best = max(shared.values())
    keys = [key for key, count in shared.items() if count == best]
    if len(keys) > 1:
        logger.warning(
            "%s matches the stored mappings of %s, whose folders are gone; it is "
            "read with the preset detected from its columns. Pass --mapping to "
            "choose",
            path,
            " and ".join(sorted(keys)),
        )
        return None
    return keys[0]


def _shared_tail(first: Path, second: Path) -> int:
    """Return how many trailing path parts two paths have in common."""
    count = 0
    pairs = zip(reversed(first.parts), reversed(second.parts), strict=False)
    for left, right in pairs:
        if left != right:
            break
        count += 1
    return count


def _refreshed(spec: str) -> str:
    """Return the spec of a mapping file as it reads now, so that edits are kept.

    Without this, a file deleted after an edit would be read with the text
    stored when it was first given, undoing the edit without a word.
    """
    try:
        return mapping_from_spec(spec, quiet=True).spec or spec
    except (ConfigurationError, ValueError, KeyError):
        return spec


def remember(
    database: Database,
    result: ReadResult,
    explicit: str | None,
    specs: dict[str, str],
    every: bool = False,
) -> None:
    """Store the spec that each CSV or JSON file of the records was read with.

    Args:
        database: The knowledge base's database, after the write.
        result: What was read.
        explicit: Spec of the mapping given for this read, None for none.
        specs: The specs stored before the read.
        every: Forget the files not read now, as after a build.
    """
    updated = {} if every else dict(specs)
    for record in result.records:
        path = source_file(record.source)
        if file_suffix(path).lower() not in TABULAR_SUFFIXES:
            continue
        key = str(path)
        previous = stored_key(path, specs)
        spec = explicit or (_refreshed(specs[previous]) if previous else None)
        if previous is not None and previous != key:
            # The file moved: its mapping moves with it.
            updated.pop(previous, None)
        if spec:
            updated[key] = spec
        else:
            updated.pop(key, None)
    if updated != specs:
        database.set_meta(META_KEY, updated)
