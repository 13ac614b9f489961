"""Query and path parameters of the search pages: applied, and errors shown as pages."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from recommender.api import create_app
from recommender.settings import ServiceSettings
from tests.conftest import SAMPLE_DATA

TOKEN = "page-parameters-" + "a1s2d3f4g5h6j7k8"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(sample_kb, tmp_path_factory):
    """Serve the sample knowledge base, with received alerts kept in a folder of
    this module."""
    home = tmp_path_factory.mktemp("page-parameters")
    settings = ServiceSettings(home=home, api_tokens=TOKEN)
    app = create_app(settings, knowledge_base=sample_kb)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _results(html: str) -> int:
    return len(re.findall(r'<a href="/ui/records/', html))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/ui/?q=" + "a" * 10_001,
            "The search text q is 10,001 characters long, over the limit of 10,000. "
            "Shorten it and search again.",
        ),
        (
            "/ui/?q=disk&top_k=0",
            "The parameter “top_k” must be a whole number from 1 to 100, but it is "
            "“0”. Remove top_k to show 10 results.",
        ),
        (
            "/ui/?q=disk&foo=1",
            "This page does not take the parameter “foo”. It takes q and top_k. "
            "Remove “foo” from the address.",
        ),
        (
            "/ui/alerts?offset=-1",
            "The parameter “offset” must be a whole number from 0 to 1000000000, "
            "but it is “-1”.",
        ),
        (
            "/ui/alerts?limit=0",
            "The parameter “limit” must be a whole number from 1 to 200, but it is "
            "“0”. Remove limit to show 50 alerts a page.",
        ),
        (
            "/ui/alerts?limit=abc",
            "“limit” must be a whole number from 1 to 200, but it is “abc”.",
        ),
        (
            "/ui/alerts?limit=",
            "“limit” must be a whole number from 1 to 200, but it is empty.",
        ),
        (
            "/ui/alerts?limit=%2B5",
            "“limit” must be a whole number from 1 to 200, but it is “+5”.",
        ),
        (
            "/ui/incidents-in-progress?status=bogus",
            "The parameter “status” must be open or resolved, but it is “bogus”. "
            "Remove status to list incidents of either status.",
        ),
        (
            "/ui/recommend?alert=x",
            "This page does not take the parameter “alert”. It takes no parameters.",
        ),
        (
            "/ui/records/INC-1?top_k=3",
            "This page does not take the parameter “top_k”. It takes no parameters.",
        ),
        (
            "/ui/records/" + "x" * 501,
            "The record id is 501 characters long, over the limit of 500.",
        ),
        (
            "/ui/alerts/" + "x" * 101,
            "The alert key is 101 characters long, over the limit of 100.",
        ),
        (
            "/ui/incidents-in-progress/" + "x" * 101,
            "The incident id is 101 characters long, over the limit of 100.",
        ),
        ("/ui/?q=disk&=x", "The address has a parameter without a name"),
        ("/ui/alerts?offset=5&offset=6", "The parameter “offset” is given 2 times."),
        (
            "/ui/sign-in?next=/ui/&from=chat",
            "This page does not take the parameter “from”. It takes only next.",
        ),
    ],
    ids=lambda value: value[:50],
)
def test_bad_parameter_is_html_422(client, path, message):
    response = client.get(path)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"]
    assert message in response.text.replace("&amp;", "&")
    assert 'role="alert"' in response.text
    assert "should have" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/ui/?q=caf%E9", None, 422, "query parameter 'q' is not valid UTF-8"),
        ("GET", "/ui/sign-out", None, 405, "GET is not allowed"),
        (
            "POST",
            "/ui/recommend",
            b"alert=" + b"x" * 1_100_000,
            413,
            "over the limit of 1048576",
        ),
    ],
    ids=["not UTF-8", "sign-out typed", "pasted alert too large"],
)
def test_errors_before_the_page_are_pages(client, method, path, body, status, message):
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    response = client.request(method, path, content=body, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"]
    assert message in response.text.replace("&#39;", "'")
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_page_html_but_api_json(client):
    page = client.get("/ui/alerts?offset=-1")
    api = client.get("/v1/alerts?offset=-1", headers=BEARER)

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/json"
    assert api.json()["error"]["field"] == "offset"


def test_campaign_parameters_are_ignored(client):
    response = client.get("/ui/?q=disk+full&utm_source=chat&utm_medium=link")

    assert response.status_code == 200
    assert _results(response.text) == 10
    assert client.get("/ui/?q=disk+full&utm=chat").status_code == 422


def test_search_top_k_is_applied(client):
    response = client.get("/ui/?q=disk+full&top_k=3")

    assert response.status_code == 200
    assert _results(response.text) == 3
    assert "3 result(s) for “disk full”" in response.text
    # The form keeps it, so the next search from the page shows as many.
    assert '<input type="hidden" name="top_k" value="3">' in response.text
    assert 'name="top_k"' not in client.get("/ui/?q=disk+full").text


def test_alerts_limit_is_applied(client):
    for title in ("Disk almost full on orders-db", "TLS certificate expires soon"):
        response = client.post("/v1/alerts", json={"title": title}, headers=BEARER)
        assert response.status_code == 200, response.text

    page = client.get("/ui/alerts?limit=1")

    assert page.status_code == 200
    assert page.text.count('<a href="/ui/alerts/') == 1
    assert '<a href="/ui/alerts?offset=1&amp;limit=1">Older alerts</a>' in page.text
    older = client.get("/ui/alerts?offset=1&limit=1")
    assert older.text.count('<a href="/ui/alerts/') == 1
    assert "Older alerts" not in older.text
    first = client.get("/ui/alerts")
    assert first.text.count('<a href="/ui/alerts/') == 2
    beyond = client.get("/ui/alerts?offset=99999")
    assert beyond.status_code == 200
    assert "No alert on this page: 2 alerts were received in all." in beyond.text
    assert "No alert has been received yet." not in beyond.text


def test_incidents_status_is_applied(client):
    webhook = json.loads(
        (SAMPLE_DATA / "alerts" / "alertmanager-disk-full.json").read_text()
    )
    response = client.post("/v1/alerts/alertmanager", json=webhook, headers=BEARER)
    assert response.status_code == 200, response.text

    open_page = client.get("/ui/incidents-in-progress?status=open")
    resolved_page = client.get("/ui/incidents-in-progress?status=resolved")
    limited = client.get("/ui/incidents-in-progress?limit=1")

    assert open_page.status_code == 200
    assert "service=orders-db" in open_page.text
    assert "Open alert groups, most recently updated first" in open_page.text
    assert resolved_page.status_code == 200
    assert "service=orders-db" not in resolved_page.text
    assert "No resolved incident." in resolved_page.text
    assert limited.status_code == 200
    assert "service=orders-db" in limited.text
