"""The search page for engineers: server-rendered HTML over the same calls as the API.

Search and reading work without JavaScript. Templates escape every value, and the
Content-Security-Policy allows only this server's own scripts and styles, so text
from records and alerts is shown as text.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.errors import RecordNotFoundError
from indexer.knowledge_base import KnowledgeBase
from recommender import page_session
from recommender.alerts import Alert, parse_alertmanager, parse_plain
from recommender.auth import AccessPolicy, token_matches
from recommender.errors import InvalidAlertError
from recommender.http_errors import ApiError, request_id
from recommender.page_session import SIGN_IN_PATH, SIGN_OUT_PATH, safe_next
from recommender.recommendation import Recommendation, Recommender
from recommender.routes import alert_pages, incidents
from recommender.routes import alerts as alert_routes
from recommender.routes.deps import get_knowledge_base, get_recommender
from recommender.schemas import AlertResult, alert_result
from recommender.strict_json import decode_json
from recommender.web import parameters
from recommender.web.parameters import PageParameterError
from recommender.web.rendering import SECURITY_HEADERS, invalid_address, render

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
router.include_router(alert_pages.router)
# Routes a browser must reach before it signs in: the sign-in page itself, its
# stylesheet and script, and the redirect from /.
open_router = APIRouter(include_in_schema=False)
STATIC_TYPES = {
    "style.css": "text/css",
    "feedback.js": "text/javascript",
    "search.js": "text/javascript",
}
PAGE_TOP_K = 10
MAX_QUERY_CHARS = 10_000
MAX_RECORD_ID_CHARS = 500
FORM_EXPIRED = (
    "This form has expired or came from another site. Use the form on this page."
)


@open_router.get("/")
async def home() -> RedirectResponse:
    """Send browsers to the search page."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", response_class=HTMLResponse)
async def search_page(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
) -> HTMLResponse:
    """Show the search form and results, from the same search as GET /v1/search."""
    q = request.query_params.get("q", "")
    context: dict[str, Any] = {
        "title": "Search",
        "section": "search",
        "query": q,
        "top_k": None,
        "results": None,
    }
    try:
        top_k = _search_parameters(request, q)
    except PageParameterError as error:
        context["error"] = error.message
        return render("search.html", status=422, **context)

    if "top_k" in request.query_params:
        # Kept in the form, so the next search from the page shows as many.
        context["top_k"] = top_k
    if not q:
        return render("search.html", **context)
    try:
        context["results"] = await incidents.search_results(
            request, recommender, q, top_k
        )
    except InvalidAlertError as error:
        context["error"] = f"Nothing to search for: the text {error.message}."
        return render("search.html", status=422, **context)
    return render("search.html", **context)


def _search_parameters(request: Request, q: str) -> int:
    """Check the search page's parameters and return how many matches to show."""
    text_count = len(request.query_params.getlist("q"))
    if text_count > 1:
        # Searching for one of them would search only part of the request.
        raise PageParameterError(
            "q",
            f"The search text q is given {text_count} times. "
            "Search for one text at a time.",
        )
    parameters.check_names(request, ("q", "top_k"))
    parameters.check_length(
        "q", q, MAX_QUERY_CHARS, "The search text q", "Shorten it and search again."
    )
    maximum = request.app.state.settings.max_top_k
    return parameters.whole_number(
        request,
        "top_k",
        default=min(PAGE_TOP_K, maximum),
        minimum=1,
        maximum=maximum,
        hint=f"Remove top_k to show {min(PAGE_TOP_K, maximum)} results.",
    )


@router.get("/ui/records/{record_id:path}", response_class=HTMLResponse)
async def record_page(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    record_id: str,
) -> HTMLResponse:
    """Show an incident, postmortem or runbook with its sections and similar records."""
    try:
        parameters.check_names(request, ())
        parameters.check_length(
            "record_id",
            record_id,
            MAX_RECORD_ID_CHARS,
            "The record id",
            "Open the record from a search result.",
        )
    except PageParameterError as error:
        return invalid_address(error)

    try:
        record = await run_in_threadpool(knowledge_base.get, record_id)
    except RecordNotFoundError as error:
        return render("error.html", 404, title="Record not found", message=str(error))
    top_k = min(PAGE_TOP_K, request.app.state.settings.max_top_k)
    similar = await incidents.similar_results(
        request, recommender, knowledge_base, record.id, top_k
    )
    return render(
        "record.html",
        title=record.title,
        section="search",
        record=record.to_dict(),
        similar=similar,
    )


@router.get("/ui/recommend", response_class=HTMLResponse)
async def recommend_form(request: Request) -> HTMLResponse:
    """Show the form to paste an alert and see its recommendation."""
    try:
        parameters.check_names(request, ())
    except PageParameterError as error:
        return invalid_address(error)
    return render(
        "recommend.html",
        title="Recommend",
        section="recommend",
        alert_text="",
        results=[],
    )


@router.post("/ui/recommend", response_class=HTMLResponse)
async def recommend_page(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
) -> HTMLResponse:
    """Recommend for a pasted plain alert or Alertmanager webhook."""
    try:
        parameters.check_names(request, ())
    except PageParameterError as error:
        return invalid_address(error)
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    text = (form.get("alert") or [""])[0]
    context: dict[str, Any] = {
        "title": "Recommend",
        "section": "recommend",
        "alert_text": text,
        "results": [],
    }
    try:
        parsed = _parse_pasted(text)
    except InvalidAlertError as error:
        context["error"] = f"The alert is invalid at {error.field}: {error.message}"
        return render("recommend.html", 422, **context)

    firing = [
        item for item in parsed if isinstance(item, Alert) and item.status == "firing"
    ]
    try:
        recommendations = await alert_routes.run_queued(
            request, len(firing), _recommend_each, recommender, firing
        )
    except ApiError as error:
        context["error"] = error.message
        response = render("recommend.html", error.status, **context)
        response.headers.update(error.headers)
        return response

    results: list[AlertResult] = []
    for index, item in enumerate(parsed):
        recommendation = recommendations.get(id(item))
        results.append(alert_result(index, item, recommendation))
    context["results"] = results
    return render("recommend.html", **context)


@open_router.get("/ui/static/{name}")
async def static_file(name: str) -> Response:
    """Serve the page's own stylesheet and scripts, and no other file on disk."""
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        return render(
            "error.html",
            404,
            title="File not found",
            message=f"No file “{name[:64]}” here. The page serves "
            f"{', '.join(STATIC_TYPES)}.",
        )
    content = resources.files("recommender.web").joinpath("static", name).read_bytes()
    return Response(
        content,
        media_type=media_type,
        headers={**SECURITY_HEADERS, "Cache-Control": "max-age=300"},
    )


@open_router.get(SIGN_IN_PATH, response_class=HTMLResponse)
async def sign_in_form(
    request: Request, next_page: Annotated[str, Query(alias="next")] = "/ui/"
) -> Response:
    """Show the form that signs a browser in with an API token."""
    try:
        parameters.check_names(request, ("next",))
    except PageParameterError as error:
        return invalid_address(error)
    policy: AccessPolicy = request.app.state.access
    if not policy.reads_need_token:
        return RedirectResponse(safe_next(next_page), status_code=303)
    return _sign_in_page(request, policy, safe_next(next_page))


@open_router.post(SIGN_IN_PATH, response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Check a token typed into the sign-in form and set the session cookie."""
    policy: AccessPolicy = request.app.state.access
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    next_page = safe_next((form.get("next") or ["/ui/"])[0])
    if not policy.reads_need_token:
        return RedirectResponse(next_page, status_code=303)
    if not _form_from_this_site(request, form):
        return _sign_in_page(request, policy, next_page, FORM_EXPIRED, 403)
    presented = (form.get("token") or [""])[0].strip()
    token = token_matches(policy, presented) if presented else None
    if token is None:
        client = request.client.host if request.client else "unknown"
        logger.warning(
            "request %s: search page sign-in failed from %s: %s",
            request_id(request),
            client,
            "the token matches none of the configured ones"
            if presented
            else "no token was typed",
        )
        error = (
            "That token is not valid. Check it against INCIDENT_API_TOKENS or "
            "INCIDENT_API_TOKEN_FILE of the server."
            if presented
            else "Type an API token to sign in."
        )
        return _sign_in_page(request, policy, next_page, error, 401)

    response = RedirectResponse(next_page, status_code=303)
    # Lax, not Strict: a link to a page from chat or a ticket is a navigation
    # from another site, and Strict would ask for the token again each time.
    # A form on another site still cannot send the cookie with its POST.
    response.set_cookie(
        page_session.COOKIE_NAME,
        page_session.new_session(token),
        max_age=page_session.SESSION_SECONDS,
        path=page_session.COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    logger.info("request %s: search page signed in", request_id(request))
    return response


@open_router.post(SIGN_OUT_PATH, response_class=HTMLResponse)
async def sign_out(request: Request) -> Response:
    """End the browser's session by deleting its cookie."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    if not _form_from_this_site(request, form):
        policy: AccessPolicy = request.app.state.access
        return _sign_in_page(request, policy, "/ui/", FORM_EXPIRED, 403)
    response = RedirectResponse(SIGN_IN_PATH, status_code=303)
    response.delete_cookie(
        page_session.COOKIE_NAME,
        path=page_session.COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


def _form_from_this_site(request: Request, form: dict[str, list[str]]) -> bool:
    """Return whether a sign-in or sign-out form carries the browser's form key."""
    cookie = request.cookies.get(page_session.FORM_COOKIE_NAME, "")
    submitted = (form.get("form_key") or [""])[0]
    return page_session.form_key_valid(cookie, submitted)


def _sign_in_page(
    request: Request,
    policy: AccessPolicy,
    next_page: str,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    if not policy.tokens:
        error = (
            "Reading these pages needs an API token, but the server has none "
            "configured. Set INCIDENT_API_TOKENS or INCIDENT_API_TOKEN_FILE and "
            "restart it, or set INCIDENT_READ_ACCESS=open."
        )
        status = 403
    # One form key per browser session, so two open tabs both keep working.
    form_key = request.cookies.get(page_session.FORM_COOKIE_NAME, "")
    if not page_session.form_key_valid(form_key, form_key):
        form_key = page_session.new_form_key()
    session = request.cookies.get(page_session.COOKIE_NAME, "")
    response = render(
        "sign_in.html",
        status,
        title="Sign in",
        section="",
        signed_in=bool(session) and page_session.session_valid(policy.tokens, session),
        next_page=next_page,
        error=error,
        form_key=form_key,
        hours=page_session.SESSION_SECONDS // 3600,
        can_sign_in=bool(policy.tokens),
    )
    response.set_cookie(
        page_session.FORM_COOKIE_NAME,
        form_key,
        path=page_session.COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _recommend_each(
    recommender: Recommender, alerts: list[Alert]
) -> dict[int, Recommendation]:
    return {id(alert): recommender.recommend(alert, PAGE_TOP_K) for alert in alerts}


def _parse_pasted(text: str) -> list[Alert | InvalidAlertError]:
    if not text.strip():
        raise InvalidAlertError("alert", "is empty; paste an alert as JSON")
    payload = decode_json(text, "alert")
    if isinstance(payload, dict) and "alerts" in payload:
        return list(parse_alertmanager(payload))
    return [parse_plain(payload)]
