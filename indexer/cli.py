"""The indexer command: build, add to, remove from and inspect the knowledge base."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict
from pathlib import Path

from indexer import source_mappings, uploads
from indexer.console import exit_with
from indexer.errors import (
    IncidentRecommenderError,
    KnowledgeBaseError,
    is_undecodable_text,
    undecodable_text_message,
)
from indexer.knowledge_base import KnowledgeBase
from indexer.readers import (
    ReadResult,
    load_mapping,
    make_ids_unique,
    preset_names,
    read_sources,
)
from indexer.readers.record_file import RECORD_FILE_SUFFIX, record_file_text
from indexer.record import IncidentRecord
from indexer.settings import IndexerSettings, load_settings
from indexer.sync import (
    API_SOURCE_PREFIX,
    SyncPlan,
    keep_path_ids,
    plan_sync,
    restore_duplicate_ids,
    source_file,
)

# Records named one by one in warnings and dry runs; the rest are counted.
MAX_LISTED = 10

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Run the indexer command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(
            IndexerSettings, **({"home": args.home} if args.home else {})
        )
        return int(args.handler(args, settings))
    except IncidentRecommenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except UnicodeEncodeError as error:
        if not is_undecodable_text(error):
            raise
        print(f"error: {undecodable_text_message(error)}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace, settings: IndexerSettings) -> int:
    # Writes over the API wait until the build is done: a record stored after
    # the uploads were read would be lost when the build replaces every record.
    with uploads.locked(settings.home, settings.lock_timeout):
        return _build_locked(args, settings)


def _build_locked(args: argparse.Namespace, settings: IndexerSettings) -> int:
    started = time.perf_counter()
    remembered = source_mappings.stored(settings.resolved_database_url)
    _save_api_records(settings)
    folder = uploads.uploads_folder(settings.home)
    # A home inside a source folder is read apart, so that its uploads replace
    # the source records of their ids.
    result = _read(args, remembered, exclude=[folder])
    # The folder always exists, since the lock file is in it.
    if any(folder.glob("upload-*")) and not args.without_uploads:
        print(
            f"reading the records added over the API from {folder} too "
            "(--without-uploads leaves them out)",
            file=sys.stderr,
        )
        result = _with_uploads(result, read_sources([folder]))
    if not result.records:
        print(
            "error: no records were read, so the knowledge base was left unchanged",
            file=sys.stderr,
        )
        return 1
    if _rejected_by_strict(args, result):
        return 1

    knowledge_base = KnowledgeBase(settings)
    summary = knowledge_base.build(result.records, progress=not args.quiet)
    source_mappings.remember(
        knowledge_base.database, result, _mapping_spec(args), remembered, every=True
    )
    print(
        f"built knowledge base in {settings.home}: {summary.added} records, "
        f"{summary.passages} passages, {len(result.problems)} failed, "
        f"{len(result.skipped)} skipped, in {time.perf_counter() - started:.1f} s "
        f"(data version {summary.data_version})"
    )
    # As with sync, the readable records are stored, and a scheduled job gets exit
    # status 1 when some input was left out.
    return 1 if result.problems else 0


def _add(args: argparse.Namespace, settings: IndexerSettings) -> int:
    remembered = source_mappings.stored(settings.resolved_database_url)
    result = _read(args, remembered)
    if _rejected_by_strict(args, result):
        return 1
    if not result.records:
        print("error: no records were read from the given files", file=sys.stderr)
        return 1

    knowledge_base = KnowledgeBase(settings)
    stored = knowledge_base.database.record_sources()
    keep_path_ids(result.records, stored)
    restore_duplicate_ids(result.records, stored, replace_held=True)
    _warn_replaced_from_other_files(stored, result.records)
    # A file given here replaces the upload of its id, which no build may
    # bring back.
    with ExitStack() as replaced_uploads:
        for record in result.records:
            if not uploads.is_upload_source(record.source) and (
                record.id in stored or uploads.has_upload(settings.home, record.id)
            ):
                replaced_uploads.enter_context(
                    _removed_upload(settings, stored, record.id)
                )
        summary = knowledge_base.add(result.records)
    source_mappings.remember(
        knowledge_base.database, result, _mapping_spec(args), remembered
    )
    print(
        f"added {summary.added} and replaced {summary.replaced} records "
        f"({summary.passages} passages), {len(result.problems)} failed, "
        f"in {summary.seconds:.2f} s (data version {summary.data_version})"
    )
    return 1 if result.problems else 0


def _warn_replaced_from_other_files(
    stored: dict[str, tuple[str, str]], records: Sequence[IncidentRecord]
) -> None:
    """Name each record that a record of another file is about to replace.

    Two files that give the same id, such as a ticket export and a postmortem,
    would otherwise replace each other without a word.
    """
    clashes = [
        (record.id, stored[record.id][1], record.source)
        for record in records
        if record.id in stored
        and source_file(stored[record.id][1]) != source_file(record.source)
    ]
    for record_id, stored_source, new_source in clashes[:MAX_LISTED]:
        print(
            f"warning: {record_id} from {stored_source} is replaced by the record of "
            f"the same id from {new_source}; give one of them another id if both "
            "should stay",
            file=sys.stderr,
        )
    if len(clashes) > MAX_LISTED:
        print(
            f"warning: {len(clashes) - MAX_LISTED} more records are replaced by "
            "records from other files",
            file=sys.stderr,
        )


def _sync(args: argparse.Namespace, settings: IndexerSettings) -> int:
    remembered = source_mappings.stored(settings.resolved_database_url)
    result = _read(args, remembered, exclude=[uploads.uploads_folder(settings.home)])
    if _rejected_by_strict(args, result):
        return 1

    knowledge_base = KnowledgeBase(settings, create=False)
    planned_version = knowledge_base.database.data_version()
    stored = knowledge_base.database.record_sources()
    result.records = uploads.prefer_uploads(
        result.records, uploads.uploaded_ids(stored)
    )
    keep_path_ids(result.records, stored)
    restore_duplicate_ids(result.records, stored)
    roots = [Path(source) for source in args.sources]
    plan = plan_sync(result, stored, roots, keep_removed=args.keep_removed)
    if plan.unread:
        for source, record_ids in sorted(plan.unread.items()):
            count = f"{len(record_ids)} record" + ("s" * (len(record_ids) != 1))
            print(
                f"error: no records were read from {source}, so the sync would "
                f"remove its {count}; nothing was changed. "
                "Check the path; to empty it on purpose, use 'indexer remove' or "
                "delete the knowledge base folder",
                file=sys.stderr,
            )
        return 1
    if plan.relative:
        print(
            f"warning: {len(plan.relative)} records not read now have a relative "
            "source path, stored by an older version, and were looked for under "
            f"{Path.cwd()}; run the sync once from the folder the knowledge base "
            "was built in, so that deleted files are removed",
            file=sys.stderr,
        )
    if args.strict and plan.emptied:
        print(
            "error: --strict is set and "
            + ", ".join(sorted(plan.emptied))
            + " yielded no records; nothing was written",
            file=sys.stderr,
        )
        return 1
    # A scheduled sync must notice a file it could not read, although the file's
    # records are kept.
    status = 1 if plan.emptied or result.problems else 0
    if args.dry_run:
        _print_plan(plan)
        return status
    summary = knowledge_base.sync(
        plan, progress=not args.quiet, planned_version=planned_version
    )
    source_mappings.remember(
        knowledge_base.database, result, _mapping_spec(args), remembered
    )

    for path, record_ids in sorted(plan.failed_files.items()):
        count = f"{len(record_ids)} record" + ("s" * (len(record_ids) != 1))
        listed_ids = ", ".join(record_ids[:MAX_LISTED])
        more = (
            f" and {len(record_ids) - MAX_LISTED} more"
            if len(record_ids) > MAX_LISTED
            else ""
        )
        print(
            f"warning: {path} failed to read, so the knowledge base keeps the "
            f"{count} stored from it that it did not yield now ({listed_ids}{more}). "
            "Fix the file and sync again to remove those that are gone",
            file=sys.stderr,
        )
    skipped = {str(Path(path).resolve()) for path in result.skipped}
    for path, record_ids in sorted(plan.emptied.items()):
        count = f"{len(record_ids)} record" + ("s" * (len(record_ids) != 1))
        if path in skipped:
            print(
                f"error: {path} is now skipped (hidden files, templates, LICENSE "
                "files and READMEs are, unless a README opens with front matter or "
                f"lies in a dated folder), so the knowledge base keeps the {count} "
                "read from it before. Start a README with front matter to read it "
                "again, or remove those records with 'indexer remove' if they are "
                "meant to go",
                file=sys.stderr,
            )
            continue
        print(
            f"error: {path} yielded no records, so the knowledge base keeps the "
            f"{count} read from it before. Fix the file, or remove those records "
            "with 'indexer remove' if they are meant to go",
            file=sys.stderr,
        )
    moved = f", {len(plan.moved)} with a new source path" if plan.moved else ""
    if not plan.added and not plan.updated and not plan.removed:
        print(
            f"nothing to do: {plan.unchanged} records unchanged{moved}, "
            f"{len(result.problems)} failed (data version {summary.data_version})"
        )
        return status
    kept = f", {len(plan.kept)} kept though their source is gone" if plan.kept else ""
    print(
        f"synced: {summary.added} added, {summary.replaced} updated, "
        f"{summary.removed} removed, {summary.unchanged} unchanged{moved}, "
        f"{len(result.problems)} failed{kept}, in {summary.seconds:.1f} s "
        f"(data version {summary.data_version})"
    )
    return status


def _print_plan(plan: SyncPlan) -> None:
    """Print what a sync would change, naming the records, and change nothing."""
    emptied_ids = [record_id for ids in plan.emptied.values() for record_id in ids]
    failed_file_ids = [
        record_id for ids in plan.failed_files.values() for record_id in ids
    ]
    kept_ids = plan.kept + emptied_ids + failed_file_ids
    print(
        f"dry run, nothing was changed: {len(plan.added)} to add, "
        f"{len(plan.updated)} to update, {len(plan.removed)} to remove, "
        f"{len(kept_ids)} to keep though their source is gone, empty or failed to "
        f"read, {plan.unchanged} unchanged ({len(plan.moved)} with a new source "
        "path)"
    )
    for verb, record_ids in (
        ("add", [record.id for record in plan.added]),
        ("update", [record.id for record in plan.updated]),
        ("remove", plan.removed),
        ("keep", kept_ids),
    ):
        for record_id in record_ids[:MAX_LISTED]:
            print(f"  {verb} {record_id}")
        if len(record_ids) > MAX_LISTED:
            print(f"  {verb} {len(record_ids) - MAX_LISTED} more")


def _rejected_by_strict(args: argparse.Namespace, result: ReadResult) -> bool:
    """Return whether --strict stops the command because some input was invalid."""
    if args.strict and result.problems:
        print(
            "error: --strict is set and some input was invalid; nothing was written",
            file=sys.stderr,
        )
        return True
    return False


def _remove(args: argparse.Namespace, settings: IndexerSettings) -> int:
    knowledge_base = KnowledgeBase(settings, create=False)
    stored = knowledge_base.database.record_sources()
    # Deleting the saved upload, as DELETE /v1/incidents does, keeps the next
    # build from adding the record back.
    with ExitStack() as removed_uploads:
        for record_id in dict.fromkeys(args.ids):
            if record_id in stored:
                removed_uploads.enter_context(
                    _removed_upload(settings, stored, record_id, args.ids)
                )
        summary = knowledge_base.remove(args.ids)
    print(f"removed {summary.removed} records (data version {summary.data_version})")
    return 0


def _stats(args: argparse.Namespace, settings: IndexerSettings) -> int:
    stats = KnowledgeBase(settings, create=False).stats()
    if args.json:
        print(json.dumps(asdict(stats), indent=2))
        return 0
    kinds = ", ".join(
        f"{count} {kind}" for kind, count in sorted(stats.records_by_kind.items())
    )
    print(f"records:      {stats.records} ({kinds or 'none'})")
    print(f"passages:     {stats.passages} (vectors in index: {stats.vectors})")
    print(
        f"index:        {stats.index_type}, model {stats.model}, "
        f"dimension {stats.dimension}"
    )
    print(f"data version: {stats.data_version}")
    print(f"database:     {stats.database}")
    return 0


def _with_uploads(result: ReadResult, uploaded: ReadResult) -> ReadResult:
    """Add the records of the uploads folder, which replace source records by id."""
    for problem in uploaded.problems:
        print(f"failed: {problem}", file=sys.stderr)
    upload_ids = {record.id for record in uploaded.records}
    records = uploads.prefer_uploads(result.records, upload_ids) + uploaded.records
    make_ids_unique(records)
    # The lock file and the copies kept during a write are no input of anyone's.
    hidden = [path for path in uploaded.skipped if Path(path).name.startswith(".")]
    return ReadResult(
        records=records,
        problems=result.problems + uploaded.problems,
        skipped=result.skipped + [p for p in uploaded.skipped if p not in hidden],
        empty=result.empty + uploaded.empty,
    )


def _read(
    args: argparse.Namespace, remembered: dict[str, str], exclude: Sequence[Path] = ()
) -> ReadResult:
    """Read the sources, each CSV or JSON file with --mapping if given.

    Folders in exclude are left out of the folders walked.

    Without --mapping, a file is read with the mapping it was last read with
    (indexer/source_mappings.py), else with the preset detected from its
    columns.
    """
    mapping = load_mapping(args.mapping) if args.mapping else None
    missing = [path for path in args.sources if not Path(path).exists()]
    if missing:
        raise SourceNotFoundError(missing)

    result = read_sources(
        [Path(p) for p in args.sources],
        mapping=mapping,
        remembered=source_mappings.lookup(remembered),
        exclude=exclude,
    )
    for problem in result.problems:
        print(f"failed: {problem}", file=sys.stderr)
    for path in result.skipped:
        logger.info(
            "skipped (hidden, a README, LICENSE or template, or not a supported "
            "file type): %s",
            path,
        )
    for path in result.empty:
        print(f"warning: {path} contains no records", file=sys.stderr)
    print(
        f"read {len(result.records)} records, {len(result.problems)} failed, "
        f"{len(result.skipped)} skipped"
        + ("" if not result.skipped else " (list them with -v)"),
        file=sys.stderr,
    )
    return result


def _removed_upload(
    settings: IndexerSettings,
    stored: dict[str, tuple[str, str]],
    record_id: str,
    removed_ids: Sequence[str] = (),
) -> AbstractContextManager[None]:
    """Delete a record's upload files unless the write in the block fails."""
    others = [
        source
        for other_id, (_, source) in stored.items()
        if other_id != record_id and other_id not in removed_ids
    ]
    # An upload that a build --without-uploads left out is not stored.
    source = stored[record_id][1] if record_id in stored else ""
    return uploads.removed_upload(
        settings.home, record_id, source, others, settings.lock_timeout
    )


def _save_api_records(settings: IndexerSettings) -> None:
    """Save the records held only in the database as files in the uploads folder.

    JSON records added over the API used to be stored in the database alone,
    with an "api:" source, and a build would drop them. Saved, they stay also
    through a build --without-uploads.
    """
    try:
        knowledge_base = KnowledgeBase(settings, create=False)
    except KnowledgeBaseError:
        return
    ids = [
        record_id
        for record_id, (_, source) in knowledge_base.database.record_sources().items()
        if source.startswith(API_SOURCE_PREFIX)
    ]
    for record in knowledge_base.get_many(ids).values():
        # The stored record is newer than a Markdown upload of its id, which
        # this moves aside.
        with uploads.saved_upload(
            settings.home,
            record.id,
            RECORD_FILE_SUFFIX,
            record_file_text(record),
            settings.lock_timeout,
        ):
            pass
    if ids:
        logger.warning(
            "saved %d records added over the API to %s, so that builds keep them",
            len(ids),
            uploads.uploads_folder(settings.home),
        )


def _mapping_spec(args: argparse.Namespace) -> str | None:
    return load_mapping(args.mapping).spec if args.mapping else None


class SourceNotFoundError(IncidentRecommenderError):
    """A source path given on the command line does not exist."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(f"source not found: {', '.join(paths)}; check the path")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="indexer", description=__doc__)
    parser.add_argument(
        "--home", type=Path, help="knowledge base folder (INCIDENT_HOME, default ./var)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress at INFO"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="replace the knowledge base with SOURCES")
    sync = commands.add_parser(
        "sync",
        help="bring the knowledge base in line with SOURCES: add new records, "
        "re-embed changed ones, remove those whose source is gone",
    )
    sync.add_argument(
        "--keep-removed",
        action="store_true",
        help="keep records whose source file or entry is gone",
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="print which records the sync would add, update and remove, and "
        "change nothing",
    )
    add = commands.add_parser("add", help="add or replace records from files, in place")
    build.add_argument(
        "--without-uploads",
        action="store_true",
        help="leave out the records added over the API, which a build otherwise "
        "reads from INCIDENT_HOME/uploads",
    )
    for command, handler in ((build, _build), (add, _add), (sync, _sync)):
        command.add_argument(
            "sources",
            nargs="+",
            metavar="SOURCE",
            help="files or folders: Markdown, CSV, JSON, JSON Lines, text",
        )
        command.add_argument(
            "--mapping",
            help="field mapping for CSV/JSON: a YAML file or a preset "
            f"({', '.join(preset_names())}); default: detected from the columns",
        )
        command.add_argument(
            "--strict",
            action="store_true",
            help="exit non-zero and write nothing if any input is invalid",
        )
        command.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bar"
        )
        command.set_defaults(handler=handler)

    remove = commands.add_parser("remove", help="remove records by id")
    remove.add_argument("ids", nargs="+", metavar="ID")
    remove.set_defaults(handler=_remove)

    stats = commands.add_parser("stats", help="print counts, model and data version")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(handler=_stats)
    return parser


def run() -> None:
    """Run the command as a console script."""
    exit_with(main)


if __name__ == "__main__":
    run()
