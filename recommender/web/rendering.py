"""Rendering of the search page's templates, with the headers every page carries."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from recommender import page_session
from recommender.recommendation import score_text
from recommender.web.parameters import PageParameterError
from recommender.web.recommendation_view import recommendation_view

templates = Environment(
    loader=PackageLoader("recommender.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Scores that would round onto the threshold get more decimals, as on the CLI.
templates.filters["score"] = score_text
templates.globals["recommendation_view"] = recommendation_view
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template as an HTML response with the page security headers."""
    context.setdefault("signed_in", page_session.signed_in.get())
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def invalid_address(error: PageParameterError) -> HTMLResponse:
    """Show a page parameter error on the error page, with status 422."""
    return render("error.html", 422, title="Invalid address", message=error.message)
