"""Query parameters that an endpoint does not take, or takes once, are rejected.

FastAPI ignores query parameters that a route does not declare and keeps the last
of a repeated one, so GET /v1/alerts?status=firing listed every alert and
?q=disk&q=cert searched for "cert" alone, both with 200. Requests are checked
against the query parameters that the API's own OpenAPI document lists for each
operation.

The check is an app-wide dependency, so it runs before the token check of each
router. A bad parameter is reported only after the route's own token checks
pass (include_router() records them), so that a caller without a token gets 401
or 403 and learns nothing about the operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.params import Depends
from fastapi.routing import APIRoute

from recommender.auth import require_read_token, require_write_token
from recommender.http_errors import ApiError

TOKEN_CHECKS: tuple[Callable[[Request], Awaitable[None]], ...] = (
    require_read_token,
    require_write_token,
)

# Only the versioned API is checked: probes and /metrics may be scraped with
# parameters that tools add on their own.
CHECKED_PREFIX = "/v1/"
MAX_NAME_SHOWN = 100


async def check_query_parameters(request: Request) -> None:
    """Raise 422 for a query parameter that the operation does not take, or repeats.

    It is async so that it runs on the event loop, without a hop to a worker
    thread on every request.
    """
    route = request.scope.get("route")
    template = getattr(route, "path_format", "")
    if not template.startswith(CHECKED_PREFIX) or not request.query_params:
        return
    method = "get" if request.method == "HEAD" else request.method.lower()
    parameters = _query_parameters(request.app).get((template, method))
    if parameters is None:
        return

    for name in dict.fromkeys(request.query_params.keys()):
        # Names are echoed cut short, as other echoed values are.
        echoed_name = name[:MAX_NAME_SHOWN]
        if name not in parameters:
            await _check_tokens(request, route)
            takes = ", ".join(sorted(parameters)) or "no query parameters"
            problem = "a query parameter without a name"
            if name:
                problem = f"unknown query parameter {echoed_name!r}"
            raise ApiError(
                422,
                "invalid_input",
                f"{problem}; {request.method} {template} takes: {takes}",
                echoed_name or "query",
            )
        count = len(request.query_params.getlist(name))
        if count > 1 and not parameters[name]:
            await _check_tokens(request, route)
            raise ApiError(
                422,
                "invalid_input",
                f"query parameter {echoed_name!r} is given {count} times; give it once",
                echoed_name,
            )


def include_router(
    app: FastAPI, router: APIRouter, dependencies: Sequence[Depends] = ()
) -> None:
    """Include a router in the app and note the token checks of each of its routes.

    FastAPI keeps the dependencies given here apart from the route, so the
    request's route does not show them.
    """
    app.include_router(router, dependencies=list(dependencies))
    checks: dict[int, list[Callable[..., Any]]] | None = getattr(
        app.state, "token_checks", None
    )
    if checks is None:
        checks = app.state.token_checks = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            declared = [*dependencies, *route.dependencies]
            checks[id(route)] = [
                depends.dependency
                for depends in declared
                if depends.dependency in TOKEN_CHECKS
            ]


async def _check_tokens(request: Request, route: object) -> None:
    """Run the token checks of the request's route, raising 401 or 403 first."""
    checks = getattr(request.app.state, "token_checks", {})
    for check in checks.get(id(route), ()):
        await check(request)


def _query_parameters(app: FastAPI) -> dict[tuple[str, str], dict[str, bool]]:
    """Return, per (path, method), each query parameter and whether it repeats."""
    cached = getattr(app.state, "query_parameters", None)
    if cached is not None:
        return cached
    table: dict[tuple[str, str], dict[str, bool]] = {}
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            table[(path, method)] = {
                parameter["name"]: _repeats(parameter.get("schema", {}))
                for parameter in operation.get("parameters", [])
                if parameter.get("in") == "query"
            }
    app.state.query_parameters = table
    return table


def _repeats(schema: dict[str, object]) -> bool:
    """Return whether a parameter's schema is an array, so it may be repeated."""
    if schema.get("type") == "array":
        return True
    variants = schema.get("anyOf", [])
    return isinstance(variants, list) and any(
        isinstance(variant, dict) and variant.get("type") == "array"
        for variant in variants
    )
