"""Query parameters that an endpoint does not take, or takes once, are rejected.

FastAPI ignores query parameters that a route does not declare and keeps the last
of a repeated one, so GET /v1/alerts?status=firing listed every alert and
?q=disk&q=cert searched for "cert" alone, both with 200. Requests are checked
against the query parameters that the API's own OpenAPI document lists for each
operation.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from recommender.http_errors import ApiError

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
            raise ApiError(
                422,
                "invalid_input",
                f"query parameter {echoed_name!r} is given {count} times; give it once",
                echoed_name,
            )


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
