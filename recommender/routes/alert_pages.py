"""The search page's lists of received alerts and incidents in progress.

They read the same stores as GET /v1/alerts and GET /v1/incidents-in-progress.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from indexer.errors import RecordNotFoundError
from recommender.http_errors import ApiError
from recommender.incidents_in_progress import group_name
from recommender.response_schemas import incident_out, incident_summary_out
from recommender.routes import alerts as alert_routes
from recommender.routes.incidents_in_progress import incident_response
from recommender.web import parameters
from recommender.web.parameters import PageParameterError
from recommender.web.rendering import invalid_address, render

router = APIRouter(include_in_schema=False)
ALERTS_PER_PAGE = 50
MAX_OFFSET = 1_000_000_000
INCIDENTS_PER_PAGE = 100
MAX_INCIDENTS = 500
INCIDENT_STATUSES = ("open", "resolved")
MAX_KEY_CHARS = 100


@router.get("/ui/alerts", response_class=HTMLResponse)
async def stored_alerts_page(request: Request) -> HTMLResponse:
    """List the alerts the API received, with links to their recommendations."""
    try:
        parameters.check_names(request, ("offset", "limit"))
        offset = parameters.whole_number(
            request,
            "offset",
            default=0,
            minimum=0,
            maximum=MAX_OFFSET,
            hint="Follow the Older alerts link, or remove offset to start at the "
            "newest alert.",
        )
        limit = parameters.whole_number(
            request,
            "limit",
            default=ALERTS_PER_PAGE,
            minimum=1,
            maximum=alert_routes.MAX_PAGE,
            hint=f"Remove limit to show {ALERTS_PER_PAGE} alerts a page.",
        )
    except PageParameterError as error:
        return invalid_address(error)

    page = await alert_routes.list_alerts(request=request, limit=limit, offset=offset)
    older = None
    if page.next_offset is not None:
        query = {"offset": page.next_offset}
        if "limit" in request.query_params:
            query["limit"] = limit
        older = "/ui/alerts?" + urlencode(query)
    return render(
        "stored_alerts.html",
        title="Received alerts",
        section="alerts",
        page=page,
        older=older,
    )


@router.get("/ui/alerts/{key}", response_class=HTMLResponse)
async def stored_alert_page(request: Request, key: str) -> HTMLResponse:
    """Show a received alert with the recommendation stored for it."""
    problem = _key_problem(
        request,
        key,
        "The alert key",
        "Open the alert from the list of received alerts.",
    )
    if problem is not None:
        return problem

    try:
        stored = await alert_routes.get_alert(request=request, key=key)
    except ApiError as error:
        return render(
            "error.html", error.status, title="Alert not found", message=error.message
        )
    result = {
        "alert": stored.alert,
        "outcome": stored.outcome,
        "recommendation": stored.recommendation,
        "error": None,
    }
    return render(
        "recommend.html",
        title="Received alert",
        heading=f"Received alert {stored.alert.alertname or stored.alert.fingerprint}",
        section="alerts",
        stored=stored,
        results=[result],
    )


@router.get("/ui/incidents-in-progress", response_class=HTMLResponse)
async def incidents_in_progress_page(request: Request) -> HTMLResponse:
    """List alert groups tracked as incidents, most recently updated first."""
    try:
        parameters.check_names(request, ("status", "limit"))
        status = parameters.choice(
            request,
            "status",
            choices=INCIDENT_STATUSES,
            hint="Remove status to list incidents of either status.",
        )
        limit = parameters.whole_number(
            request,
            "limit",
            default=INCIDENTS_PER_PAGE,
            minimum=1,
            maximum=MAX_INCIDENTS,
            hint=f"Remove limit to list the {INCIDENTS_PER_PAGE} most recently "
            "updated.",
        )
    except PageParameterError as error:
        return invalid_address(error)

    try:
        tracker = incident_response(request).tracker
    except ApiError as error:
        return render(
            "error.html", 503, title="Incidents in progress", message=error.message
        )
    listed = await run_in_threadpool(tracker.list, status, limit)
    return render(
        "incidents_in_progress.html",
        title="Incidents in progress",
        section="in_progress",
        listed_status=status,
        statuses=INCIDENT_STATUSES,
        incidents=[
            (group_name(i.group_labels, i.group_key), incident_summary_out(i))
            for i in listed
        ],
    )


@router.get("/ui/incidents-in-progress/{key}", response_class=HTMLResponse)
async def incident_in_progress_page(request: Request, key: str) -> HTMLResponse:
    """Show an incident in progress with its severity history."""
    problem = _key_problem(
        request,
        key,
        "The incident id",
        "Open the incident from the list of incidents in progress.",
    )
    if problem is not None:
        return problem

    tracker = incident_response(request).tracker
    try:
        incident = await run_in_threadpool(tracker.get, key)
    except RecordNotFoundError as error:
        return render("error.html", 404, title="Incident not found", message=str(error))
    return render(
        "incident_in_progress.html",
        title="Incident in progress",
        section="in_progress",
        incident=incident_out(incident),
        group_title=group_name(incident.group_labels, incident.group_key),
    )


def _key_problem(
    request: Request, key: str, name: str, hint: str
) -> HTMLResponse | None:
    """Return the error page of a page that takes no parameters and a long key."""
    try:
        parameters.check_names(request, ())
        parameters.check_length("key", key, MAX_KEY_CHARS, name, hint)
    except PageParameterError as error:
        return invalid_address(error)
    return None
