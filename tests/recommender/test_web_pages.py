"""The search page driven in headless Chromium against a real uvicorn server."""

import io
import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from recommender.api import create_app
from recommender.settings import ServiceSettings
from tests.conftest import SAMPLE_DATA

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "page-test-token-0123456789abcdef"
VIEWPORT = {"width": 1280, "height": 800}
SCRIPT_TITLE = "<script>window.__pwned = 1</script> DNS lookups time out"

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Retry page checks as long as actions wait: a search under a loaded CI
# machine can take longer than the default 5 s.
expect.set_options(timeout=30_000)


@contextmanager
def _serve(app):
    """Run the app on a real uvicorn server on 127.0.0.1; yield its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 60 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found; install it with 'make ensure-chromium'")
    with playwright_api.sync_playwright() as playwright:
        # Chromium refuses to start as root inside its sandbox.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sample_server(sample_home, sample_kb, tmp_path_factory):
    settings = ServiceSettings(home=sample_home, api_tokens=TOKEN)
    app = create_app(settings, knowledge_base=sample_kb)
    with _serve(app) as base_url:
        yield base_url, app


@pytest.fixture(scope="module")
def script_server(tmp_path_factory, embedder):
    home = tmp_path_factory.mktemp("script-kb")
    records = [
        IncidentRecord(
            id="INC-SCRIPT",
            kind=Kind.INCIDENT,
            title=SCRIPT_TITLE,
            sections={"summary": "CoreDNS <b>answered</b> slowly & pods timed out."},
            labels={"service": "coredns"},
        ),
        IncidentRecord(
            id="INC-OTHER",
            kind=Kind.INCIDENT,
            title="CoreDNS pods restarted and lookups failed",
            sections={"summary": "DNS lookups from pods timed out for ten minutes."},
            labels={"service": "coredns"},
        ),
    ]
    KnowledgeBase(IndexerSettings(home=home), embedder=embedder).build(records)
    knowledge_base = KnowledgeBase(IndexerSettings(home=home), embedder=embedder)
    app = create_app(ServiceSettings(home=home), knowledge_base=knowledge_base)
    with _serve(app) as base_url:
        yield base_url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def _check_screenshot(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None
    assert len(colours) > 20, "the screenshot is blank or nearly so"


def test_search_open_record_and_similar(page, sample_server):
    base_url, _ = sample_server
    page.goto(f"{base_url}/ui/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    page.get_by_label("Error, symptom or alert name").fill("replica lag stale reads")
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=2)
    expect(heading).to_contain_text("result(s) for “replica lag stale reads”")
    results = page.locator("ol.results > li")
    assert results.count() >= 3
    assert "Matched terms:" in results.first.inner_text()
    _check_screenshot(page.screenshot())

    first_link = results.first.get_by_role("link")
    title = first_link.inner_text()
    first_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_role("heading", name="Similar records")).to_be_visible()
    similar = page.locator("section.similar ol.results > li")
    assert similar.count() >= 1
    assert "Why" in similar.first.locator("ul.reasons").get_attribute("aria-label")
    _check_screenshot(page.screenshot())


def test_search_works_without_javascript(browser, sample_server):
    base_url, _ = sample_server
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/ui/?q=certificate+expired")
        assert page.locator("ol.results > li").count() >= 1
        assert page.locator(".feedback").first.is_hidden()
    finally:
        context.close()


def test_recommendation_and_feedback(page, sample_server):
    base_url, app = sample_server
    alert = json.loads((SAMPLE_DATA / "alerts" / "alert-cert-expiry.json").read_text())
    page.goto(f"{base_url}/ui/recommend")
    page.get_by_label("Alert as JSON").fill(json.dumps(alert))
    page.get_by_role("button", name="Recommend").click()

    heading = page.get_by_role("heading", level=2)
    expect(heading).to_contain_text("CertificateExpiringSoon")
    assert page.locator("strong.severity").inner_text().startswith("SEV")
    assert page.get_by_role("heading", name="Likely root causes").is_visible()
    matches = page.locator("section.recommendation ol.results > li")
    assert matches.count() >= 1
    _check_screenshot(page.screenshot())

    feedback = matches.first.locator(".feedback")
    record_id = feedback.get_attribute("data-record-id")
    page.locator("#feedback-token summary").click()
    page.get_by_label("Bearer token").fill(TOKEN)
    page.get_by_label("Bearer token").press("Tab")
    feedback.get_by_role("button", name="Helpful").click()
    status = feedback.locator(".feedback-status")
    status.filter(has_text="Marked").or_(status.filter(has_text="Not saved")).wait_for()

    assert status.inner_text() == "Marked helpful."
    summary = app.state.recommender.feedback.summary(record_id)
    assert summary.helpful >= 1


def test_pasted_alert_errors_are_shown(page, sample_server):
    base_url, _ = sample_server
    page.goto(f"{base_url}/ui/recommend")
    page.get_by_label("Alert as JSON").fill('{"title": "x", "colour": "red"}')
    page.get_by_role("button", name="Recommend").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid at colour")


def test_sign_in_when_reads_need_a_token(page, sample_home, sample_kb):
    settings = ServiceSettings(home=sample_home, api_tokens=TOKEN, read_access="token")
    app = create_app(settings, knowledge_base=sample_kb)
    with _serve(app) as base_url:
        page.goto(f"{base_url}/ui/?q=certificate+expired")
        assert page.get_by_role("heading", level=1).inner_text() == "Sign in"

        page.get_by_label("API token").fill("wrong-token-0123456789")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("That token is not valid")

        # The click returns once the redirect response arrives, before the search
        # page has loaded, so the checks wait for the page they expect.
        page.get_by_label("API token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{base_url}/ui/?q=certificate+expired")
        expect(page.locator("ol.results > li").first).to_be_visible()
        _check_screenshot(page.screenshot())

        # A link followed from another site, such as a chat message, keeps the
        # session: the cookie is SameSite=Lax.
        link = f'<a href="{base_url}/ui/alerts">received alerts</a>'
        page.goto(f"data:text/html,{link}")
        page.get_by_role("link", name="received alerts").click()
        page.wait_for_url(f"{base_url}/ui/alerts")
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Sign in")

        page.goto(f"{base_url}/ui/sign-in")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
        page.goto(f"{base_url}/ui/alerts")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_script_in_title_is_shown_as_text(page, script_server):
    page.goto(f"{script_server}/ui/?q=DNS+lookups+time+out")
    link = page.get_by_role("link", name=SCRIPT_TITLE)
    assert link.count() == 1
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT_TITLE)
    assert "<b>answered</b>" in page.locator(".section-text").first.inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script").count() == 0


def test_received_alert_and_incident_pages(page, sample_server):
    base_url, _ = sample_server
    webhook = json.loads(
        (SAMPLE_DATA / "alerts" / "alertmanager-disk-full.json").read_text()
    )
    response = httpx.post(
        f"{base_url}/v1/alerts/alertmanager", json=webhook, timeout=120
    )
    assert response.status_code == 200, response.text

    page.goto(f"{base_url}/ui/incidents-in-progress")
    page.get_by_role("link", name="service=orders-db", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("service=orders-db")
    history = page.get_by_role("table").inner_text()
    assert "opened" in history
    assert "from the severities of similar past incidents" in history
    _check_screenshot(page.screenshot())

    page.goto(f"{base_url}/ui/alerts")
    page.get_by_role("link", name="NodeFilesystemSpaceFillingUp").first.click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Received alert NodeFilesystemSpaceFillingUp")
    expect(page.get_by_role("heading", name="Similar past records")).to_be_visible()
    assert page.locator("section.recommendation ol.results > li").count() >= 1


def test_search_box_shows_query_after_back(page, sample_server):
    base_url, _ = sample_server
    page.goto(f"{base_url}/ui/?q=disk+full")
    box = page.get_by_label("Error, symptom or alert name")
    heading = page.get_by_role("heading", level=2)
    expect(heading).to_contain_text("result(s) for “disk full”")

    box.fill("certificate expired")
    box.press("Enter")
    expect(heading).to_contain_text("result(s) for “certificate expired”")
    page.go_back()

    expect(page).to_have_url(f"{base_url}/ui/?q=disk+full")
    expect(heading).to_contain_text("result(s) for “disk full”")
    expect(box).to_have_value("disk full")
    box.press("Enter")
    expect(page).to_have_url(f"{base_url}/ui/?q=disk+full")
    expect(heading).to_contain_text("result(s) for “disk full”")


def _recommend(page, base_url: str, alert_file: str) -> None:
    alert = json.loads((SAMPLE_DATA / "alerts" / alert_file).read_text())
    page.goto(f"{base_url}/ui/recommend")
    page.get_by_label("Alert as JSON").fill(json.dumps(alert))
    page.get_by_role("button", name="Recommend").click()
    expect(page.get_by_role("heading", level=2)).to_be_visible()


def test_recommendation_shows_label_evidence(page, sample_server):
    base_url, _ = sample_server
    _recommend(page, base_url, "alert-cert-expiry.json")

    labels = page.locator("section.recommendation p.label")
    expect(labels.first).to_have_text(
        re.compile(
            r"Suggested severity: SEV\d \(confidence \d\.\d\d, from "
            r"RB-certificate-expiring-soon, alert label\)"
        )
    )
    expect(labels.nth(1)).to_have_text(
        re.compile(
            r"Likely category: certificate expiry \(confidence \d\.\d\d, from "
            r"PM-2024-007, OPS-1187, history model\)"
        )
    )
    expect(page.locator(".low-confidence")).to_have_count(0)
    expect(page.get_by_text("low confidence)")).to_have_count(0)
    # The postmortem's resolution was a shell session, shown line by line.
    code = page.get_by_label("Code from PM-2024-007")
    expect(code).to_contain_text(
        "\n$ kubectl -n storefront annotate ingress checkout-api "
        "cert-manager.io/cluster-issuer=letsencrypt-prod\n"
    )


def test_novel_alert_marks_low_confidence(page, sample_server):
    base_url, _ = sample_server
    _recommend(page, base_url, "alert-novel.json")

    nearest = page.get_by_role("heading", name="Fixes of the nearest records")
    expect(nearest).to_have_text("Fixes of the nearest records (low confidence)")
    firm = page.get_by_role("heading", name="Suggested fixes", exact=True)
    expect(firm.locator("xpath=following-sibling::*[1]")).to_have_text(
        "None from a close precedent."
    )
    expect(nearest.locator("xpath=following-sibling::ul[1]/li")).not_to_have_count(0)
    expect(page.locator("strong.category")).to_have_text("unknown")
    severity = page.locator("section.recommendation p.label").first
    expect(severity).to_contain_text("Low confidence: no close precedent supports it.")


def test_feedback_without_token_names_field(page, sample_server):
    base_url, _ = sample_server
    _recommend(page, base_url, "alert-cert-expiry.json")

    feedback = page.locator("section.recommendation ol.results > li .feedback").first
    feedback.get_by_role("button", name="Helpful").click()

    status = feedback.locator(".feedback-status")
    expect(status).to_have_text(
        "Not saved: marking needs an API token. Type it into “API token for "
        "marking suggestions” at the end of the page, then mark again."
    )
    expect(page.locator("#feedback-token")).to_have_attribute("open", "")
