"""Coverage route: which alerting rules have a runbook or past incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from recommender.coverage import CoverageReport, check_coverage, parse_rule_text
from recommender.coverage_report import coverage_to_dict
from recommender.http_errors import ApiError
from recommender.recommendation import Recommender
from recommender.report_schemas import CoverageOut, CoverageRequest
from recommender.routes.alerts import run_queued
from recommender.routes.body import read_json
from recommender.routes.deps import get_recommender
from recommender.schemas import ErrorBody
from recommender.validation_messages import plain_message

router = APIRouter(prefix="/v1", tags=["coverage"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (413, 415, 422, 503)
}
YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
)
# Rule files are text, and 1 MiB fits several thousand rules.
MAX_RULE_BYTES = 1_048_576
# Each rule costs one search, so a request checks at most this many rules: the
# awesome-prometheus-alerts catalogue of 970 rules fits in one request.
MAX_REQUEST_RULES = 1_000


@router.post(
    "/coverage",
    response_model=CoverageOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/CoverageRequest"}
                },
            },
        }
    },
)
async def post_coverage(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    name: Annotated[
        str, Query(max_length=500, description="File name for a YAML body.")
    ] = "body.yaml",
) -> CoverageOut:
    """Replay rule files (YAML body, or JSON list of files) and report coverage."""
    # On a worker thread: parsing a large body took seconds, which on the event
    # loop would hold up every other request.
    files = [
        await run_in_threadpool(parse_rule_text, content, file_name)
        for file_name, content in await _rule_files(request, name)
    ]
    problems = [problem for rule_file in files for problem in rule_file.problems]
    rules = [rule for rule_file in files for rule in rule_file.rules]
    if not rules:
        reasons = "; ".join(str(problem) for problem in problems[:5])
        raise ApiError(
            422,
            "invalid_input",
            "no alerting rules could be read" + (f": {reasons}" if reasons else ""),
            "body",
        )

    if len(rules) > MAX_REQUEST_RULES:
        raise ApiError(
            413,
            "too_large",
            f"{len(rules)} alerting rules is more than the limit of "
            f"{MAX_REQUEST_RULES} per request; split the rule files over requests",
        )

    rows = await run_queued(request, len(rules), check_coverage, recommender, rules)
    report = CoverageReport(
        rows=rows, problems=problems, threshold=recommender.threshold
    )
    return CoverageOut(**coverage_to_dict(report))


async def _rule_files(request: Request, name: str) -> list[tuple[str, str]]:
    """Return (name, YAML text) pairs from a YAML or JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in YAML_TYPES:
        document = await read_json(request)
        try:
            parsed = CoverageRequest.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            fields = sorted(CoverageRequest.model_fields)
            message = plain_message(first, field, fields) or first["msg"]
            raise ApiError(422, "invalid_input", message, field) from error
        total = sum(len(item.content.encode()) for item in parsed.files)
        _check_size(total)
        return [(item.name, item.content) for item in parsed.files]

    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        _check_size(len(body))
    try:
        return [(name, bytes(body).decode("utf-8"))]
    except UnicodeDecodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"rule file is not valid UTF-8: byte {error.start} cannot be decoded",
            "body",
        ) from error


def _check_size(size: int) -> None:
    if size > MAX_RULE_BYTES:
        raise ApiError(
            413,
            "too_large",
            f"rule files of over {MAX_RULE_BYTES} bytes; send fewer rules per request",
        )
