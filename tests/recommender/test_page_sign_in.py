"""Signing in to the search page where reads need a bearer token."""

import logging
import re
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from recommender import page_session
from recommender.api import create_app
from recommender.settings import ServiceSettings

TOKEN = "page-reader-" + "q9w8e7r6t5y4u3i2"
OTHER_TOKEN = "page-other-" + "z1x2c3v4b5n6m7l8"


def _settings(home, **overrides) -> ServiceSettings:
    values = {
        "home": home,
        "api_tokens": [SecretStr(TOKEN), SecretStr(OTHER_TOKEN)],
        "read_access": "token",
        **overrides,
    }
    return ServiceSettings(**values)


@pytest.fixture(scope="module")
def closed(sample_home, sample_kb):
    app = create_app(_settings(sample_home), knowledge_base=sample_kb)
    with TestClient(app, follow_redirects=False) as client:
        yield client


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form_key(client: TestClient) -> str:
    """Open the sign-in form, as a browser does first, and return its form key."""
    page = client.get("/ui/sign-in")
    found = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _sign_in(client: TestClient, token: str, next_page: str = "/ui/"):
    body = urlencode({"token": token, "next": next_page, "form_key": _form_key(client)})
    return client.post("/ui/sign-in", content=body, headers=FORM)


def test_page_redirects_to_sign_in(closed):
    closed.cookies.clear()
    response = closed.get("/ui/?q=disk+full")

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=%2Fui%2F%3Fq%3Ddisk%2Bfull"


def test_sign_in_form_and_assets_are_open(closed):
    closed.cookies.clear()
    form = closed.get("/ui/sign-in?next=/ui/alerts")

    assert form.status_code == 200
    assert 'name="next" value="/ui/alerts"' in form.text
    assert 'action="/ui/sign-out"' not in form.text
    assert 'type="password"' in form.text
    assert closed.get("/ui/static/style.css").status_code == 200


def test_sign_in_sets_signed_cookie(closed):
    closed.cookies.clear()
    response = _sign_in(closed, TOKEN, "/ui/alerts")

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/alerts"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{page_session.COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/ui/" in cookie
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    assert TOKEN not in cookie

    page = closed.get("/ui/?q=disk+full")
    assert page.status_code == 200
    assert "RB-" in page.text
    assert '<a href="/ui/sign-in">Sign out</a>' in page.text
    form = closed.get("/ui/sign-in")
    assert "This browser is signed in." in form.text
    assert 'action="/ui/sign-out"' in form.text


def test_cookie_does_not_open_the_api(closed):
    closed.cookies.clear()
    _sign_in(closed, TOKEN)

    assert closed.get("/v1/search", params={"q": "disk"}).status_code == 401


def test_wrong_token_shows_form_again(closed, caplog):
    closed.cookies.clear()
    with caplog.at_level(logging.WARNING, logger="recommender.routes.pages"):
        response = _sign_in(closed, "not-the-token-at-all-1234")

    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert page_session.COOKIE_NAME not in response.headers.get("set-cookie", "")
    assert "search page sign-in failed from testclient" in caplog.text
    assert "not-the-token" not in caplog.text
    assert closed.get("/ui/").status_code == 303


def test_empty_token_is_asked_for(closed):
    closed.cookies.clear()
    response = _sign_in(closed, "")

    assert response.status_code == 401
    assert "Type an API token to sign in." in response.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/v1/search",
        "/ui\\x",
        "/ui/../v1/health",
        "/ui/%2e%2e/v1/health",
        "/ui/..//evil.example",
        "/ui//evil.example",
        "/ui/sign-out",
    ],
)
def test_next_stays_on_the_pages(closed, target):
    closed.cookies.clear()
    response = _sign_in(closed, TOKEN, target)

    assert response.headers["location"] == "/ui/"


def test_sign_out_deletes_cookie(closed):
    closed.cookies.clear()
    _sign_in(closed, TOKEN)
    assert closed.get("/ui/").status_code == 200

    body = urlencode({"form_key": _form_key(closed)})
    response = closed.post("/ui/sign-out", content=body, headers=FORM)
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]
    closed.cookies.clear()
    assert closed.get("/ui/").status_code == 303


def test_form_from_another_site_is_rejected(closed):
    """A form on another site has no form-key cookie, which is SameSite=Strict."""
    closed.cookies.clear()
    _sign_in(closed, TOKEN)
    closed.cookies.delete("incident_page_form", path="/ui/")

    signed_out = closed.post("/ui/sign-out", content="form_key=guess", headers=FORM)
    body = urlencode({"token": OTHER_TOKEN, "form_key": "x" * 32})
    signed_in = closed.post("/ui/sign-in", content=body, headers=FORM)

    assert signed_out.status_code == 403
    assert "This form has expired or came from another site" in signed_out.text
    assert signed_in.status_code == 403
    assert page_session.COOKIE_NAME not in signed_in.headers.get("set-cookie", "")
    assert closed.get("/ui/").status_code == 200


def test_basic_auth_from_proxy_keeps_cookie(closed):
    closed.cookies.clear()
    _sign_in(closed, TOKEN)

    response = closed.get("/ui/", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.status_code == 200


def test_bearer_header_still_opens_pages(closed):
    closed.cookies.clear()
    headers = {"Authorization": f"Bearer {OTHER_TOKEN}"}

    page = closed.get("/ui/", headers=headers)

    assert page.status_code == 200
    assert "Sign out" not in page.text


def test_tampered_or_expired_cookie_redirects(closed):
    closed.cookies.clear()
    valid = page_session.new_session(TOKEN.encode())
    expires, signature = valid.split(".")
    later = f"{int(expires) + 60}.{signature}"
    old = page_session.new_session(TOKEN.encode(), now=time.time() - 13 * 3600)

    for value in (later, old, "garbage", f"{expires}."):
        closed.cookies.set(page_session.COOKIE_NAME, value, path="/ui/")
        assert closed.get("/ui/").status_code == 303
        closed.cookies.clear()


def test_superscript_digits_in_cookie_redirect(closed):
    """str.isdigit() takes "²³" as digits, which int() rejects."""
    closed.cookies.clear()
    cookie = f"{page_session.COOKIE_NAME}=\u00b2\u00b3.ab".encode("latin-1")

    response = closed.get("/ui/alerts", headers={"Cookie": cookie})

    assert response.status_code == 303


def test_session_ends_with_its_token(sample_home, sample_kb):
    value = page_session.new_session(OTHER_TOKEN.encode())
    settings = _settings(sample_home, api_tokens=[SecretStr(TOKEN)])
    app = create_app(settings, knowledge_base=sample_kb)
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(page_session.COOKIE_NAME, value, path="/ui/")
        assert client.get("/ui/").status_code == 303


def test_https_sets_secure_cookie(sample_home, sample_kb):
    app = create_app(_settings(sample_home), knowledge_base=sample_kb)
    with TestClient(
        app, base_url="https://testserver", follow_redirects=False
    ) as client:
        response = _sign_in(client, TOKEN)
        assert "Secure" in response.headers["set-cookie"]


def test_open_reads_skip_sign_in(sample_home, sample_kb):
    app = create_app(
        _settings(sample_home, read_access="open"), knowledge_base=sample_kb
    )
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/ui/").status_code == 200
        response = client.get("/ui/sign-in?next=/ui/alerts")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/alerts"


def test_no_tokens_configured_says_so(sample_home, sample_kb):
    settings = _settings(sample_home, api_tokens=[])
    app = create_app(settings, knowledge_base=sample_kb)
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/ui/").status_code == 303
        response = client.get("/ui/sign-in")
        assert response.status_code == 403
        assert "the server has none configured" in response.text
        assert 'name="token"' not in response.text
