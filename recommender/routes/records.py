"""Write routes: add, replace and remove records, re-index, and store feedback.

Every route here needs a bearer token (see recommender/auth.py). Writes go through
the knowledge base, which takes the writer lock and updates the in-memory index in
place, so searches keep working while a record is added.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import tempfile
import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from indexer import source_mappings, uploads
from indexer.errors import RecordNotFoundError
from indexer.knowledge_base import KnowledgeBase, WriteSummary
from indexer.readers import ReadResult, read_sources
from indexer.readers.markdown import front_matter_keys, read_markdown
from indexer.readers.record_file import RECORD_FILE_SUFFIX, record_file_text
from indexer.record import SECTION_NAMES, IncidentRecord, Kind
from indexer.sync import (
    keep_path_ids,
    plan_sync,
    restore_duplicate_ids,
    source_file,
)
from recommender.alert_fields import json_kind
from recommender.auth import require_write_token
from recommender.feedback import FeedbackEntry
from recommender.http_errors import ApiError, request_id
from recommender.recommendation import Recommender
from recommender.routes.body import read_body, read_json
from recommender.routes.deps import get_knowledge_base, get_recommender
from recommender.schemas import ErrorBody
from recommender.service_metrics import metrics_of
from recommender.write_schemas import (
    MAX_ID_CHARS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_TITLE_CHARS,
    RECORD_ID_PATTERN,
    RESERVED_ID_MESSAGE,
    FeedbackIn,
    FeedbackOut,
    RecordIn,
    WriteResult,
    feedback_out,
    reserved_record_id,
)

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1", tags=["write"], dependencies=[Depends(require_write_token)]
)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422)
}
# A front matter line that sets the id; group 1 is the value, with any comment.
# A front matter line that sets a key, and a value YAML reads as empty.
_TOP_LEVEL_KEY = re.compile(r"([A-Za-z_]+)[ \t]*:(.*)")
_BLANK_VALUE = re.compile(r"""\s*(?:""|''|~|null|Null|NULL)?\s*(?:#.*)?""", re.DOTALL)
MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown", "text/plain"})
# One re-index at a time per process; a second request gets 409, not a queue.
_reindex_lock = threading.Lock()


@router.post("/incidents", response_model=WriteResult, responses=ERRORS)
async def put_record(
    request: Request,
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    record_id: Annotated[
        str | None,
        Query(
            alias="id",
            max_length=200,
            description="Id of a Markdown postmortem without 'id' front matter.",
        ),
    ] = None,
) -> WriteResult:
    """Add a record, or replace the one with the same id (JSON or Markdown body)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type.lower() in MARKDOWN_TYPES:
        record, text = await _markdown_record(request, record_id)
        suffix = uploads.MARKDOWN_SUFFIX
    else:
        record = _json_record(await read_json(request))
        if record_id is not None and record_id != record.id:
            raise ApiError(
                422,
                "invalid_input",
                f"?id= is {record_id[:80]!r} but the JSON body's id is "
                f"{record.id[:80]!r}; ?id= is for Markdown bodies, so leave it out "
                "or make the two equal",
                "id",
            )
        text = record_file_text(record)
        suffix = RECORD_FILE_SUFFIX

    record, summary = await run_in_threadpool(
        _store, knowledge_base, record, suffix, text
    )
    logger.info(
        "record %s %s by request %s (data version %d)",
        record.id,
        "replaced" if summary.replaced else "added",
        request_id(request),
        summary.data_version,
    )
    return _write_result([record.id], summary)


@router.delete(
    "/incidents/{incident_id:path}", response_model=WriteResult, responses=ERRORS
)
async def delete_record(
    request: Request,
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    incident_id: Annotated[str, Path(description="Record id.")],
) -> WriteResult:
    """Remove one record from the knowledge base and the index."""
    record = await run_in_threadpool(knowledge_base.get, incident_id)
    summary = await run_in_threadpool(_remove, knowledge_base, record)
    logger.info(
        "record %s removed by request %s (data version %d)",
        incident_id,
        request_id(request),
        summary.data_version,
    )
    return _write_result([incident_id], summary)


@router.post("/reindex", response_model=WriteResult, responses=ERRORS)
async def reindex(
    request: Request,
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
) -> WriteResult:
    """Sync the configured source folders: embed new and changed records only."""
    sources = list(request.app.state.settings.sources)
    if not sources:
        raise ApiError(
            409,
            "not_configured",
            "no source folders are configured for re-indexing; set INCIDENT_SOURCES "
            "to a comma-separated list of folders and restart",
            "sources",
        )
    missing = [str(path) for path in sources if not path.exists()]
    if missing:
        raise ApiError(
            409,
            "not_configured",
            f"source folder(s) not found: {', '.join(missing)}; fix INCIDENT_SOURCES",
            "sources",
        )
    if not _reindex_lock.acquire(blocking=False):
        raise ApiError(
            409,
            "conflict",
            "a re-index is already running; retry when it has finished",
            headers={"Retry-After": "30"},
        )
    try:
        summary, problems, ids = await run_in_threadpool(_sync, knowledge_base, sources)
    finally:
        _reindex_lock.release()
    logger.info(
        "re-index by request %s: %d added, %d updated, %d removed, %d unchanged",
        request_id(request),
        summary.added,
        summary.replaced,
        summary.removed,
        summary.unchanged,
    )
    return _write_result(ids, summary).model_copy(update={"problems": problems})


@router.post("/feedback", response_model=FeedbackOut, status_code=201, responses=ERRORS)
async def post_feedback(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
) -> FeedbackOut:
    """Mark a match or suggestion helpful or wrong for an alert name or fingerprint."""
    body = _validated(FeedbackIn, await read_json(request))
    if not (body.alertname or "").strip() and not (body.fingerprint or "").strip():
        raise ApiError(
            422,
            "invalid_input",
            "give the alertname or the fingerprint of the alert the verdict is for",
            "alertname",
        )
    try:
        await run_in_threadpool(recommender.knowledge_base.get, body.record_id)
    except RecordNotFoundError as error:
        raise ApiError(404, "not_found", str(error), "record_id") from error

    entry = FeedbackEntry(
        record_id=body.record_id,
        verdict=body.verdict,
        alertname=(body.alertname or "").strip(),
        fingerprint=(body.fingerprint or "").strip(),
        target=body.target,
        note=body.note or "",
        author=body.author or "",
    )
    stored = await run_in_threadpool(recommender.feedback.add, entry)
    metrics_of(request).feedback.labels(stored.verdict).inc()
    return feedback_out(stored)


def _json_record(document: Any) -> IncidentRecord:
    body = _validated(RecordIn, document)
    unknown = sorted(set(body.sections) - set(SECTION_NAMES))
    if unknown:
        raise ApiError(
            422,
            "invalid_input",
            f"unknown section(s) {', '.join(unknown)}; use {', '.join(SECTION_NAMES)}",
            f"sections.{unknown[0]}",
        )
    started_at = _time(body.started_at, "started_at")
    ended_at = _time(body.ended_at, "ended_at")
    _check_time_order(started_at, ended_at)
    return IncidentRecord(
        id=body.id,
        kind=Kind(body.kind),
        title=body.title,
        sections={name: text for name, text in body.sections.items() if text.strip()},
        labels=dict(body.labels),
        severity_raw=body.severity,
        started_at=started_at,
        ended_at=ended_at,
        # Set when the record file is saved.
        source="",
    )


# Python codecs that are no charset a client could mean.
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "utf-7"}
)


def _charset(request: Request) -> str:
    """Return the Python codec of the charset in Content-Type, UTF-8 without one."""
    _, _, parameters = request.headers.get("content-type", "").partition(";")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            continue
        declared = value.strip().strip('"')
        try:
            codec = codecs.lookup(declared)
        except LookupError:
            codec = None
        # base64 and rot13 are codecs too, but not text encodings, and the
        # Python-only ones would read escapes in the text as characters.
        text_encoding = getattr(codec, "_is_text_encoding", True)
        if codec is not None and text_encoding and codec.name not in _NOT_CHARSETS:
            return codec.name
        raise ApiError(
            415,
            "unsupported_media_type",
            f"charset {declared[:40]!r} is not known; send the Markdown as "
            "UTF-8, or name an encoding such as iso-8859-1 or utf-16",
            "content-type",
        )
    return "utf-8"


def _store(
    knowledge_base: KnowledgeBase, record: IncidentRecord, suffix: str, text: str
) -> tuple[IncidentRecord, WriteSummary]:
    """Store a record with its file under INCIDENT_HOME/uploads, or neither.

    A build reads the file back, so it contains what the response acknowledged.
    """
    settings = knowledge_base.settings
    with uploads.saved_upload(
        settings.home, record.id, suffix, text, settings.lock_timeout
    ) as path:
        record = replace(record, source=str(path))
        summary = knowledge_base.add([record])
    return record, summary


def _remove(knowledge_base: KnowledgeBase, record: IncidentRecord) -> WriteSummary:
    """Remove a record and its upload files, or neither, so no build revives it."""
    settings = knowledge_base.settings
    others = [
        source
        for record_id, (_, source) in knowledge_base.database.record_sources().items()
        if record_id != record.id
    ]
    with uploads.removed_upload(
        settings.home, record.id, record.source, others, settings.lock_timeout
    ):
        return knowledge_base.remove([record.id])


async def _markdown_record(
    request: Request, record_id: str | None
) -> tuple[IncidentRecord, str]:
    """Read a Markdown body as a record; returns it and the text to save.

    The text to save carries the record's id in its front matter.
    """
    if record_id:
        # Checked before the file is read, which would judge it as a path.
        _check_record_id(record_id)
    raw = await read_body(request)
    charset = _charset(request)
    try:
        text = raw.decode(charset).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        advice = (
            "check the charset in Content-Type"
            if charset != "utf-8"
            else "send UTF-8, or name the body's encoding in Content-Type, such as "
            "text/markdown; charset=iso-8859-1"
        )
        raise ApiError(
            422,
            "invalid_input",
            f"body is not valid {charset.upper()}: byte {error.start} cannot be "
            f"decoded; {advice}",
            "body",
        ) from error
    if not text.strip():
        raise ApiError(422, "invalid_input", "the Markdown body is empty", "body")

    result = await run_in_threadpool(_read_markdown_text, text, record_id or "")
    if result.problems:
        problem = result.problems[0]
        where = f" (line {problem.location})" if problem.location else ""
        field = "id" if problem.reason.startswith("front matter 'id'") else "body"
        raise ApiError(422, "invalid_input", f"{problem.reason}{where}", field)
    record = result.records[0]
    if not record.id:
        raise ApiError(
            422,
            "invalid_input",
            "the postmortem has no id: set 'id' in its YAML front matter or pass "
            "?id=RECORD-ID",
            "id",
        )

    if record_id and record.id != record_id:
        raise ApiError(
            422,
            "invalid_input",
            f"?id= is {record_id[:80]!r} but the front matter's id is "
            f"{record.id[:80]!r}; leave ?id= out or make the two equal",
            "id",
        )
    _check_markdown_record(record)
    saved = _with_front_matter_keys(text, record)
    if front_matter_keys(saved) != (record.id, record.kind):
        raise ApiError(
            422,
            "invalid_input",
            f"the id {record.id[:80]!r} and the kind {record.kind.value} could not "
            "be written into the front matter, so the saved file would read back "
            "as another record; set both in the front matter as 'id: ...' and "
            "'kind: ...' lines",
            "id",
        )
    return record, saved


def _read_markdown_text(text: str, record_id: str) -> ReadResult:
    """Read Markdown text with the file reader, from a file of its own."""
    with tempfile.TemporaryDirectory(prefix="incident-upload-") as folder:
        # Named like a saved upload, whose name gives no title.
        path = FilePath(folder) / "upload-0000000000000000.md"
        path.write_text(text, encoding="utf-8")
        return read_markdown(path, record_id)


def _check_time_order(started_at: datetime | None, ended_at: datetime | None) -> None:
    """Reject a record that ends before it starts."""
    if started_at and ended_at and _as_utc(ended_at) < _as_utc(started_at):
        raise ApiError(
            422,
            "invalid_input",
            f"ended_at ({ended_at.isoformat()}) is before started_at "
            f"({started_at.isoformat()}); check the two times and their time zones",
            "ended_at",
        )


def _check_record_id(record_id: str) -> None:
    """Apply the id rule of JSON records to the id of a Markdown upload."""
    if not re.fullmatch(RECORD_ID_PATTERN, record_id) or len(record_id) > MAX_ID_CHARS:
        raise ApiError(
            422,
            "invalid_input",
            f"record id {record_id[:80]!r} is invalid; use at most {MAX_ID_CHARS} "
            "letters, digits and . _ ~ : - in '/'-separated parts, each starting "
            "with a letter or digit",
            "id",
        )
    if reserved_record_id(record_id):
        raise ApiError(422, "invalid_input", RESERVED_ID_MESSAGE, "id")


def _check_markdown_record(record: IncidentRecord) -> None:
    """Apply the id rule, the time order and the size limits of JSON records."""
    _check_time_order(record.started_at, record.ended_at)
    _check_record_id(record.id)
    if len(record.labels) > MAX_LABELS:
        raise ApiError(
            422,
            "invalid_input",
            f"the front matter has {len(record.labels)} labels, more than the "
            f"limit of {MAX_LABELS}",
            "labels",
        )
    for key, value in record.labels.items():
        if len(value) > MAX_LABEL_CHARS:
            raise ApiError(
                422,
                "invalid_input",
                f"front matter key {key[:80]!r} has a value of {len(value)} "
                f"characters, more than the limit of {MAX_LABEL_CHARS}; shorten it",
                f"labels.{key[:80]}",
            )
    if len(record.title) > MAX_TITLE_CHARS:
        raise ApiError(
            422,
            "invalid_input",
            f"the title has {len(record.title)} characters, more than the limit "
            f"of {MAX_TITLE_CHARS}",
            "title",
        )


def _with_front_matter_keys(text: str, record: IncidentRecord) -> str:
    """Return the Markdown with the record's id and kind set in its front matter.

    The saved file must read back as the record the response acknowledged. An id
    given as ?id= would otherwise be lost when `indexer build` reads the upload,
    and a kind taken from no section would follow the folder's name. A key the
    front matter sets already is kept, and one it leaves empty is replaced.
    """
    found = front_matter_keys(text) or (None, None)
    # JSON strings are valid YAML, and quoting keeps an id such as 1234 a string.
    missing = {
        key: f"{key}: {json.dumps(value)}\n"
        for key, value, present in (
            ("id", record.id, found[0]),
            ("kind", record.kind.value, found[1]),
        )
        if present is None
    }
    lines = text.splitlines(keepends=True)
    if not missing:
        return text
    if not lines or lines[0].rstrip() != "---":
        return "---\n" + "".join(missing.values()) + "---\n" + text

    for number, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            break
        # Only a key at the start of its line is the record's: an indented one
        # belongs to a nested value.
        key = _TOP_LEVEL_KEY.match(line)
        if (
            key
            and key.group(1).lower() in missing
            and _BLANK_VALUE.fullmatch(key.group(2))
        ):
            lines[number] = missing.pop(key.group(1).lower())
    return lines[0] + "".join(missing.values()) + "".join(lines[1:])


def _sync(
    knowledge_base: KnowledgeBase, sources: list[FilePath]
) -> tuple[WriteSummary, list[str], list[str]]:
    """Sync the source folders.

    Returns the summary, the files with problems, and the ids of the records
    added, replaced or removed.
    """
    remembered = source_mappings.specs_of(knowledge_base.database)
    result = read_sources(
        sources,
        remembered=source_mappings.lookup(remembered),
        exclude=[uploads.uploads_folder(knowledge_base.settings.home)],
    )
    for problem in result.problems:
        logger.warning("re-index could not read %s", problem)
    planned_version = knowledge_base.database.data_version()
    stored = knowledge_base.database.record_sources()
    result.records = uploads.prefer_uploads(
        result.records, uploads.uploaded_ids(stored)
    )
    keep_path_ids(result.records, stored)
    restore_duplicate_ids(result.records, stored)
    plan = plan_sync(result, stored, sources)
    if plan.unread:
        unread = ", ".join(sorted(plan.unread))
        removals = sum(len(ids) for ids in plan.unread.values())
        logger.warning(
            "re-index read no records from %s, so its %d removals were rejected",
            unread,
            removals,
        )
        raise ApiError(
            409,
            "conflict",
            f"no records were read from {unread}, so the re-index would remove "
            f"{removals} records; nothing was changed. Check INCIDENT_SOURCES and "
            "the folders' contents",
            "sources",
        )
    problems = [str(problem) for problem in result.problems]
    for path in result.empty:
        kept_ids = plan.emptied.get(str(source_file(path)), [])
        logger.warning(
            "re-index read no records from %s, so its %d records were kept",
            path,
            len(kept_ids),
        )
        count = f"{len(kept_ids)} stored record" + ("s" * (len(kept_ids) != 1))
        problems.append(f"{path}: no records read; its {count} kept")
    summary = knowledge_base.sync(plan, planned_version=planned_version)
    changed = sorted(
        {*(r.id for r in plan.added), *(r.id for r in plan.updated), *plan.removed}
    )
    # Files that moved take their mappings' keys with them.
    source_mappings.remember(knowledge_base.database, result, None, remembered)
    return summary, problems, changed


def _validated(model: Any, document: Any) -> Any:
    """Validate a parsed JSON body, reporting errors like FastAPI's own bodies."""
    if not isinstance(document, dict):
        fields = ", ".join(model.model_fields)
        raise ApiError(
            422,
            "invalid_input",
            f"expected a JSON object with the fields {fields}, got "
            f"{json_kind(document)}",
            "body",
        )
    try:
        return model.model_validate(document)
    except ValidationError as error:
        # The accepted fields go along for the message of an unknown field.
        accepted = sorted(model.model_fields)
        errors = [
            {**item, "loc": ("body", *item.get("loc", ())), "accepted": accepted}
            for item in error.errors()
        ]
        raise RequestValidationError(errors) from error


def _as_utc(moment: datetime) -> datetime:
    """Return a time comparable with any other: one without a zone is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _time(value: str | None, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"{value[:40]!r} is not an ISO 8601 time such as 2026-12-04T09:30:00Z",
            field,
        ) from error


def _write_result(ids: list[str], summary: WriteSummary) -> WriteResult:
    return WriteResult(
        ids=ids,
        added=summary.added,
        replaced=summary.replaced,
        removed=summary.removed,
        unchanged=summary.unchanged,
        passages=summary.passages,
        data_version=summary.data_version,
        seconds=round(summary.seconds, 3),
    )
