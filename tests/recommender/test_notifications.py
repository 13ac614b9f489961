import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from recommender.alerts import parse_alertmanager
from recommender.api import create_app
from recommender.cli import main
from recommender.impact import AlertState
from recommender.incident_response import IncidentResponse
from recommender.incidents_in_progress import IncidentInProgress, incident_id
from recommender.notifications import delivery as delivery_module
from recommender.notifications.config import NotificationsConfig
from recommender.notifications.delivery import DeliveryWorker, Sender, backoff_seconds
from recommender.notifications.messages import incident_title
from recommender.notifications.outbox import (
    DeliveryNotFoundError,
    DeliveryOutdatedError,
    Outbox,
)
from recommender.response_db import open_response_db
from recommender.response_schemas import delivery_out
from recommender.settings import ServiceSettings

TOKEN = "notification-test-token-0123456789"
FAST_RETRIES = {
    "max_attempts": 3,
    "initial_backoff_seconds": 0.05,
    "max_backoff_seconds": 0.1,
    "timeout_seconds": 0.5,
    "poll_seconds": 0.05,
}
DOCUMENT = {
    "type": "incident.opened",
    "incident": {
        "id": "abc",
        "title": "DiskFull <b>",
        "severity": "SEV2",
        "reasons": ["SEV2 from the severities of similar past incidents"],
        "firing_alerts": 1,
        "services": ["orders-db"],
    },
    "recommendations": [],
}


class Receiver:
    """A real HTTP receiver on 127.0.0.1 whose response status depends on the path.

    /ok returns 200, /flaky returns 500 twice and then 200, /fail returns 500 while
    `failing` is true, /slow waits a second before it returns 200, /hold
    returns 200 only once `released` is set, and /drip sends its 200 answer's
    ten body bytes half a second apart.
    """

    def __init__(self):
        self.requests = []
        self.failures_left = {"/flaky": 2}
        self.failing = True
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.requests.append((self.path, dict(self.headers), body))
                status = 200
                if self.path == "/fail" and receiver.failing:
                    status = 500
                elif receiver.failures_left.get(self.path, 0) > 0:
                    receiver.failures_left[self.path] -= 1
                    status = 500
                elif self.path == "/slow":
                    time.sleep(1.0)
                elif self.path == "/hold":
                    receiver.released.wait(60)
                elif self.path == "/drip":
                    self._drip()
                    return
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"receiver error" if status == 500 else b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _drip(self):
                # Each byte comes well within a read timeout, the whole body not.
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    for _ in range(10):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.5)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def paths(self):
        return [path for path, _, _ in self.requests]

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sender(tmp_path, channels):
    config = NotificationsConfig(
        channels=channels,
        routes=[{"channels": list(channels)}],
        delivery=FAST_RETRIES,
    )
    return Sender(config, Outbox(open_response_db(tmp_path)))


def _drain(sender, seconds=10.0):
    """Send in every lane, as the service's worker does, until none is pending."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for lane in sender.lanes():
            sender.run_lane(lane)
        if not sender.outbox.list(status="pending"):
            return
        time.sleep(0.02)
    raise AssertionError("deliveries still pending after the deadline")


def _queue(sender, channel, channel_type="webhook", now=0.0):
    return sender.outbox.add(channel, channel_type, "abc", "opened", DOCUMENT, now)


def _config_file(tmp_path, receiver, channels):
    """Write a configuration whose channels all post to the receiver's /ok."""
    lines = ["notifications:", "  channels:"]
    lines += [
        f"    {name}: {{type: webhook, url: '{receiver.url}/ok'}}" for name in channels
    ]
    lines += ["  routes:", f"    - channels: [{', '.join(channels)}]"]
    config = tmp_path / "incident.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


def _chat_and_pager(tmp_path, receiver):
    """Queue to a chat channel whose receiver hangs and to a pager channel."""
    channels = {
        "chat": {
            "type": "webhook",
            "url": f"{receiver.url}/hold",
            "timeout_seconds": 60,
        },
        "pager": {"type": "webhook", "url": f"{receiver.url}/ok"},
    }
    sender = _sender(tmp_path, channels)
    chat = [_queue(sender, "chat") for _ in range(3)]
    # Queued after the chat deliveries, so one queue in due order reaches it last.
    page = _queue(sender, "pager", now=1.0)
    return sender, chat, page


def _page_delivered_while_held(sender, page, receiver):
    return sender.outbox.get(page).status == "delivered" and "/hold" in receiver.paths()


def test_worker_hanging_channel_delays_only_itself(tmp_path, receiver):
    sender, chat, page = _chat_and_pager(tmp_path, receiver)
    worker = DeliveryWorker(sender)
    worker.start()
    try:
        # The page and the first chat request travel on separate threads, so
        # either may reach the receiver first.
        _wait_for(lambda: _page_delivered_while_held(sender, page, receiver))
        # The first chat delivery is still waiting for its receiver, and the other
        # two are not claimed yet, so their leases have not started.
        assert receiver.paths().count("/hold") == 1
        waiting = [sender.outbox.get(delivery_id) for delivery_id in chat]
        assert [d.status for d in waiting] == ["pending"] * 3
        assert sorted(d.attempts for d in waiting) == [0, 0, 1]

        receiver.released.set()
        worker.wake()
        _wait_for(lambda: not sender.outbox.list(status="pending"))
    finally:
        worker.stop()
    assert [sender.outbox.get(d).status for d in chat] == ["delivered"] * 3
    assert receiver.paths().count("/hold") == 3


def test_run_due_hanging_channel_delays_only_itself(tmp_path, receiver):
    sender, chat, page = _chat_and_pager(tmp_path, receiver)
    attempted = []
    thread = threading.Thread(target=lambda: attempted.append(sender.run_due()))
    thread.start()
    try:
        _wait_for(lambda: _page_delivered_while_held(sender, page, receiver))
        assert thread.is_alive()
        assert receiver.paths().count("/hold") == 1
    finally:
        receiver.released.set()
        thread.join(30)
    assert attempted == [4]
    assert [sender.outbox.get(d).status for d in chat] == ["delivered"] * 3


def test_webhook_and_slack_delivery(tmp_path, receiver):
    sender = _sender(
        tmp_path,
        {
            "oncall": {"type": "webhook", "url": f"{receiver.url}/ok"},
            "slack": {"type": "slack", "url": f"{receiver.url}/ok"},
        },
    )
    webhook_id = _queue(sender, "oncall")
    slack_id = _queue(sender, "slack", "slack")
    _drain(sender)

    assert sender.outbox.get(webhook_id).status == "delivered"
    assert sender.outbox.get(slack_id).status == "delivered"
    by_id = {headers["X-Delivery-ID"]: body for _, headers, body in receiver.requests}
    assert by_id[webhook_id] == DOCUMENT
    slack = by_id[slack_id]
    assert slack["text"] == "[SEV2] Incident opened: DiskFull &lt;b&gt;"
    assert slack["blocks"][0]["type"] == "header"
    assert "similar past incidents" in slack["blocks"][1]["text"]["text"]


def test_failing_twice_then_delivered(tmp_path, receiver):
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/flaky"}}
    )
    delivery_id = _queue(sender, "oncall")
    _drain(sender)

    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "delivered"
    assert delivery.attempts == 3
    assert receiver.paths() == ["/flaky"] * 3


def test_always_failing_becomes_dead_letter(tmp_path, receiver, caplog):
    url = f"{receiver.url}/fail"
    sender = _sender(tmp_path, {"oncall": {"type": "webhook", "url": url}})
    delivery_id = _queue(sender, "oncall")
    with caplog.at_level(logging.INFO):
        _drain(sender)

    [dead] = sender.outbox.list(status="dead")
    assert dead.id == delivery_id
    assert dead.attempts == 3
    assert dead.last_error == "HTTP 500: receiver error"
    assert len(receiver.requests) == 3
    assert "dead letter after 3 attempt(s)" in caplog.text
    assert url not in caplog.text

    receiver.failing = False
    retried = sender.outbox.retry(delivery_id, time.time())
    assert retried.status == "pending"
    assert retried.attempts == 0
    _drain(sender)
    assert sender.outbox.get(delivery_id).status == "delivered"
    with pytest.raises(DeliveryNotFoundError, match="with status dead"):
        sender.outbox.retry(delivery_id, time.time())


def test_receiver_down_becomes_dead_letter(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    sender = _sender(tmp_path, {"down": {"type": "webhook", "url": url}})
    delivery_id = _queue(sender, "down")
    _drain(sender)

    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "dead"
    assert delivery.last_error == "request failed: ConnectError"


def test_slow_receiver_times_out(tmp_path, receiver):
    channels = {"slow": {"type": "webhook", "url": f"{receiver.url}/slow"}}
    channels["slow"]["timeout_seconds"] = 0.2
    sender = _sender(tmp_path, channels)
    delivery_id = _queue(sender, "slow")
    _drain(sender)

    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "dead"
    assert delivery.last_error == "timed out after 0.2 s"


def test_backoff_doubles_with_jitter():
    def upper(low, high):
        return high

    assert backoff_seconds(1, 2.0, 300.0, upper) == 2.0
    assert backoff_seconds(3, 2.0, 300.0, upper) == 8.0
    assert backoff_seconds(20, 2.0, 300.0, upper) == 300.0
    assert backoff_seconds(3, 2.0, 300.0, lambda low, high: low) == 4.0
    waits = {backoff_seconds(4, 2.0, 300.0) for _ in range(20)}
    assert all(8.0 <= wait <= 16.0 for wait in waits)
    assert len(waits) > 1


def test_pending_delivery_survives_restart(tmp_path, receiver):
    channels = {"oncall": {"type": "webhook", "url": f"{receiver.url}/ok"}}
    first = _sender(tmp_path, channels)
    queued = _queue(first, "oncall")
    # A process that claimed a delivery and died: the lease keeps it pending. It is
    # about another incident, so it does not wait for the first delivery.
    leased = first.outbox.add("oncall", "webhook", "other", "opened", DOCUMENT, 0.0)
    [claimed] = [d for d in first.outbox.claim_due(1.0, 0.3, 10) if d.id == leased]
    assert claimed.attempts == 1

    restarted = _sender(tmp_path, channels)
    worker = DeliveryWorker(restarted)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while restarted.outbox.list(status="pending") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert restarted.outbox.get(queued).status == "delivered"
    assert restarted.outbox.get(leased).status == "delivered"
    assert restarted.outbox.get(leased).attempts == 2


def test_invalid_channel_config_is_rejected():
    with pytest.raises(ValueError, match="unknown channel 'pager'"):
        NotificationsConfig(
            channels={"oncall": {"type": "webhook", "url": "http://127.0.0.1:9/x"}},
            routes=[{"channels": ["pager"]}],
        )
    with pytest.raises(ValueError, match="must be an http:// or https:// URL"):
        NotificationsConfig(channels={"x": {"type": "slack", "url": "file:///etc"}})
    for url in (
        "http://not a host/x",
        "http:///hooks/x",
        "http://:8080/x",
        "http://user:pw@/x",
        "http://[::1/x",
        "http://exa\x7fmple.com/x",
    ):
        with pytest.raises(ValueError, match="with a host name and no spaces"):
            NotificationsConfig(channels={"x": {"type": "webhook", "url": url}})
    with pytest.raises(ValueError, match=r"initial_backoff_seconds \(100\) is above"):
        NotificationsConfig(
            delivery={"initial_backoff_seconds": 100, "max_backoff_seconds": 1}
        )


# End to end through the API: Alertmanager webhooks open and raise an incident in
# progress, whose notification reaches the configured channel only.


def _webhook(alerts):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="NodeFilesystemSpaceFillingUp"}',
        "status": "firing",
        "receiver": "recommender",
        "groupLabels": {"alertname": "NodeFilesystemSpaceFillingUp"},
        "alerts": alerts,
    }


def _disk_alert(number, **extra):
    return {
        "status": "firing",
        "labels": {
            "alertname": "NodeFilesystemSpaceFillingUp",
            "service": "orders-db",
            "instance": f"db-{number}",
            "severity": "warning",
            "webhook_url": extra.pop("stolen", ""),
        },
        "annotations": {"summary": "Filesystem on /var/lib/postgresql is 95% full"},
        "startsAt": "2026-12-04T11:58:00Z",
        "fingerprint": f"disk-{number}",
        **extra,
    }


@pytest.mark.slow
def test_api_tracks_group_and_notifies(tmp_path, sample_home, sample_kb, receiver):
    thief = Receiver()
    config = tmp_path / "incident.yaml"
    config.write_text(
        "notifications:\n"
        "  channels:\n"
        f"    oncall: {{type: webhook, url: '{receiver.url}/ok'}}\n"
        "  routes:\n"
        "    - channels: [oncall]\n"
        "      events: [opened, raised]\n"
        "  delivery: {poll_seconds: 0.05}\n",
        encoding="utf-8",
    )
    settings = ServiceSettings(home=sample_home, config=config, api_tokens=TOKEN)
    app = create_app(settings, knowledge_base=sample_kb)
    stolen = f"{thief.url}/steal"
    try:
        with TestClient(app) as client:
            first = [_disk_alert(1, stolen=stolen)]
            response = client.post(
                "/v1/alerts/alertmanager",
                json={**_webhook(first), "url": stolen, "externalURL": stolen},
            )
            assert response.status_code == 200, response.text
            more = [_disk_alert(number) for number in range(1, 6)]
            response = client.post("/v1/alerts/alertmanager", json=_webhook(more))
            assert response.status_code == 200, response.text

            key = incident_id(_webhook([])["groupKey"])
            listing = client.get("/v1/incidents-in-progress?status=open").json()
            incident = client.get(f"/v1/incidents-in-progress/{key}").json()
            deadline = time.monotonic() + 10
            while len(receiver.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            deliveries = client.get(f"/v1/notifications?incident_id={key}").json()[
                "deliveries"
            ]
            retry_url = f"/v1/notifications/{deliveries[0]['id']}/retry"
            without_token = client.post(retry_url)
            retry = client.post(
                retry_url,
                json={"url": stolen},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            not_dead = client.post(
                retry_url, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            missing = client.get("/v1/incidents-in-progress/nope")

            outbox = app.state.incident_response.outbox
            unconfigured = outbox.add("pager", "webhook", key, "opened", DOCUMENT, 0.0)
            outbox.mark_failed(unconfigured, "HTTP 500", None, 0.0)
            removed = client.post(
                f"/v1/notifications/{unconfigured}/retry",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            unconfigured_status = outbox.get(unconfigured).status
    finally:
        thief.close()

    assert key in [summary["id"] for summary in listing["incidents"]]
    assert [entry["event"] for entry in incident["history"]] == ["opened", "raised"]
    raised = incident["history"][1]
    assert raised["firing_alerts"] == 5
    assert "raised to" in " ".join(raised["reasons"])
    assert incident["severity"] == raised["severity"]
    assert len(incident["alerts"]) == 5

    assert receiver.paths() == ["/ok", "/ok"]
    events = [body["type"] for _, _, body in receiver.requests]
    assert events == ["incident.opened", "incident.raised"]
    first_body = receiver.requests[0][2]
    assert first_body["recommendations"][0]["matches"]
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert thief.requests == []
    assert without_token.status_code == 401
    assert retry.status_code == 422
    assert retry.json()["error"]["field"] == "body"
    assert not_dead.status_code == 404
    assert "is delivered, not a dead letter" in not_dead.json()["error"]["message"]
    assert missing.status_code == 404
    assert removed.status_code == 409
    assert removed.json()["error"]["code"] == "not_configured"
    assert (
        "'pager', which is not in the configuration file"
        in (removed.json()["error"]["message"])
    )
    assert unconfigured_status == "dead"
    assert (sample_home / "response.db").is_file()


@pytest.mark.slow
def test_cli_tracks_group_and_prints_history(sample_home, tmp_path, capsys):
    webhook = _webhook([_disk_alert(7)])
    webhook["groupKey"] = '{}:{alertname="CliDiskFull"}'
    path = tmp_path / "webhook.json"
    path.write_text(json.dumps(webhook), encoding="utf-8")
    home = ["--home", str(sample_home)]

    assert main([*home, "incidents", "track", "--file", str(path)]) == 0
    tracked = capsys.readouterr().out
    assert "opened: - -> SEV" in tracked
    assert "notifications queued: 0" in tracked

    key = incident_id(webhook["groupKey"])
    assert main([*home, "incidents", "show", key]) == 0
    shown = capsys.readouterr().out
    assert "from the severities of similar past incidents" in shown
    assert " opened: - -> SEV" in shown

    assert main([*home, "notifications", "retry", "missing-id"]) == 2
    assert "no notification delivery with id 'missing-id'" in capsys.readouterr().err


def test_removed_channel_becomes_dead_letter(tmp_path, receiver):
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/ok"}}
    )
    delivery_id = sender.outbox.add("gone", "webhook", "abc", "opened", DOCUMENT, 0.0)
    _drain(sender)

    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "dead"
    # Nothing was sent, so no attempt is counted.
    assert delivery.attempts == 0
    assert delivery.last_error == (
        "channel 'gone' is not in the configuration file; add it back, then retry "
        "the delivery"
    )
    assert receiver.requests == []


def test_run_due_leaves_unknown_channels_pending(tmp_path, receiver):
    # The command line may run without the service's configuration file, so it
    # must not dead-letter the deliveries of channels that it does not know.
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/ok"}}
    )
    unknown = sender.outbox.add("pager", "webhook", "abc", "opened", DOCUMENT, 0.0)
    known = _queue(sender, "oncall")

    assert sender.run_due() == 1

    assert sender.outbox.get(known).status == "delivered"
    assert sender.outbox.get(unknown).status == "pending"
    assert sender.outbox.get(unknown).attempts == 0


@pytest.mark.slow
def test_api_without_home_still_recommends(tmp_path, sample_kb):
    home = tmp_path / "missing"
    app = create_app(ServiceSettings(home=home), knowledge_base=sample_kb)
    with TestClient(app) as client:
        listing = client.get("/v1/incidents-in-progress")
        response = client.post(
            "/v1/alerts/alertmanager", json=_webhook([_disk_alert(1)])
        )

    assert listing.status_code == 503
    assert "incidents in progress are off" in listing.json()["error"]["message"]
    assert response.status_code == 200
    assert response.json()["results"][0]["outcome"] == "recommended"
    assert not (home / "response.db").exists()


def test_slow_answer_is_cut_at_the_timeout(tmp_path, receiver):
    channels = {
        "drip": {"type": "webhook", "url": f"{receiver.url}/drip", "timeout_seconds": 1}
    }
    sender = _sender(tmp_path, channels)
    delivery_id = _queue(sender, "drip")

    [lane, _] = sender.lanes()
    assert sender.run_lane(lane) == 1

    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "pending"
    assert delivery.last_error == "timed out after 1 s"


def test_incident_deliveries_keep_their_order(tmp_path, receiver):
    sender = _sender(
        tmp_path, {"flaky": {"type": "webhook", "url": f"{receiver.url}/flaky"}}
    )
    for event in ("opened", "resolved"):
        body = {"type": f"incident.{event}"}
        sender.outbox.add("flaky", "webhook", "abc", event, body, 0.0)
    _drain(sender)

    # "opened" fails twice and waits to be retried; "resolved" must not pass it.
    types = [body["type"] for _, _, body in receiver.requests]
    assert types == [
        "incident.opened",
        "incident.opened",
        "incident.opened",
        "incident.resolved",
    ]


def test_cli_retry_sends_only_that_delivery(tmp_path, receiver, monkeypatch, capsys):
    config = _config_file(tmp_path, receiver, ["oncall", "chat"])
    monkeypatch.setenv("INCIDENT_CONFIG", str(config))
    outbox = Outbox(open_response_db(tmp_path))
    dead = outbox.add("oncall", "webhook", "abc", "opened", DOCUMENT, 0.0)
    outbox.mark_failed(dead, "HTTP 500", None, 0.0)
    other = outbox.add("chat", "webhook", "def", "opened", DOCUMENT, 0.0)
    unconfigured = outbox.add("pager", "webhook", "ghi", "opened", DOCUMENT, 0.0)
    outbox.mark_failed(unconfigured, "HTTP 500", None, 0.0)
    home = ["--home", str(tmp_path)]

    assert main([*home, "notifications", "retry", dead]) == 0
    assert capsys.readouterr().out.startswith(f"{dead} delivered after 1 attempt")
    assert outbox.get(other).status == "pending"
    assert len(receiver.requests) == 1

    # A dead letter to a channel the configuration no longer has would only be
    # dead again, so its retry is rejected and it stays as it was.
    assert main([*home, "notifications", "retry", unconfigured]) == 2
    assert "'pager', which is not in the configuration file" in capsys.readouterr().err
    assert outbox.get(unconfigured).status == "dead"

    monkeypatch.delenv("INCIDENT_CONFIG")
    assert main([*home, "notifications", "deliver"]) == 2
    assert "no notification channels configured" in capsys.readouterr().err
    assert outbox.get(other).status == "pending"


def test_change_and_its_deliveries_stored_together(tmp_path, receiver, monkeypatch):
    config = _config_file(tmp_path, receiver, ["oncall"])
    response = IncidentResponse(tmp_path, config)
    payload = _webhook([_disk_alert(1)])
    parsed = parse_alertmanager(payload)
    add = response.outbox.add

    def failing_add(*args, **kwargs):
        raise OSError("disk full")

    # A process that fails between the change and its notification must not
    # keep the change alone: the next webhook would see no change to notify.
    monkeypatch.setattr(response.outbox, "add", failing_add)
    with pytest.raises(OSError):
        response.handle_webhook(payload, parsed, [])
    monkeypatch.setattr(response.outbox, "add", add)

    [update] = response.handle_webhook(payload, parsed, [])
    assert update.change is not None
    assert update.change.event == "opened"
    assert len(update.deliveries) == 1
    assert response.outbox.get(update.deliveries[0]).status == "pending"


def test_unexpected_send_error_counts_as_attempt(tmp_path, receiver, monkeypatch):
    async def broken_post(*args, **kwargs):
        raise RuntimeError("a bug in sending")

    monkeypatch.setattr(delivery_module, "_post", broken_post)
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/ok"}}
    )
    delivery_id = _queue(sender, "oncall")
    _drain(sender)

    # Without the error recorded, the delivery would be claimed again each time
    # its lease ran out, forever, and hold up the incident's later deliveries.
    delivery = sender.outbox.get(delivery_id)
    assert delivery.status == "dead"
    assert delivery.attempts == FAST_RETRIES["max_attempts"]
    assert delivery.last_error == "unexpected error: RuntimeError"


def test_failing_worker_backs_off_with_one_traceback(tmp_path, caplog):
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": "http://127.0.0.1:9/x"}}
    )
    with sender.outbox.engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE notification_outbox RENAME TO outbox_hidden"
        )
    worker = DeliveryWorker(sender)
    worker.start()
    time.sleep(1.5)
    worker.stop()

    failures = [r for r in caplog.records if "worker pass failed" in r.getMessage()]
    # Two lanes polling every 0.05 s would fail about 60 times in 1.5 s. With
    # waits that double from 0.1 s, each lane fails at most 4 times.
    assert 2 <= len(failures) <= 8
    assert sum(1 for record in failures if record.exc_info) == 2


def test_retry_rejected_after_newer_delivered(tmp_path, receiver, capsys):
    config = _config_file(tmp_path, receiver, ["oncall"])
    response = IncidentResponse(tmp_path, config)
    opened = response.outbox.add("oncall", "webhook", "abc", "opened", DOCUMENT, 0.0)
    response.outbox.mark_failed(opened, "HTTP 500", None, 1.0)
    resolved = response.outbox.add(
        "oncall", "webhook", "abc", "resolved", DOCUMENT, 2.0
    )
    response.outbox.mark_delivered(resolved, 3.0)
    other = response.outbox.add("oncall", "webhook", "def", "opened", DOCUMENT, 4.0)
    response.outbox.mark_failed(other, "HTTP 500", None, 5.0)

    # The receiver already has "resolved": a late "opened" would show it open.
    with pytest.raises(DeliveryOutdatedError, match=f"older than delivery {resolved}"):
        response.retry(opened, 6.0)
    assert response.outbox.get(opened).status == "dead"
    # A dead letter of another incident is retried as before.
    assert response.retry(other, 6.0).status == "pending"
    with pytest.raises(DeliveryNotFoundError, match="is pending, not a dead letter"):
        response.retry(other, 7.0)


def test_title_names_firing_alerts_first():
    def alert(name, status):
        return AlertState(
            fingerprint=name, status=status, alertname=name, service="checkout"
        )

    incident = IncidentInProgress(
        id="abc",
        group_key="{}:{}",
        group_labels={},
        status="open",
        severity="SEV1",
        reasons=[],
        opened_at="2026-12-05T10:00:00+00:00",
        updated_at="2026-12-05T10:05:00+00:00",
        resolved_at=None,
        alerts=[
            alert("ContainerMemoryNearLimit", "resolved"),
            alert("HighErrorRate", "firing"),
            alert("KubeDeploymentReplicasMismatch", "resolved"),
            alert("KubePodCrashLooping", "firing"),
        ],
    )

    assert incident_title(incident) == (
        "HighErrorRate, KubePodCrashLooping, ContainerMemoryNearLimit and 1 more"
    )


def test_delivery_out_times_are_iso(tmp_path, receiver):
    sender = _sender(
        tmp_path, {"oncall": {"type": "webhook", "url": f"{receiver.url}/ok"}}
    )
    delivery_id = _queue(sender, "oncall", now=1_796_494_125.5)

    pending = delivery_out(sender.outbox.get(delivery_id))
    assert pending.next_attempt_at == "2026-12-05T18:08:45.500000+00:00"
    _drain(sender)
    delivered = delivery_out(sender.outbox.get(delivery_id))
    assert delivered.next_attempt_at is None


def test_group_first_seen_resolved_notifies_nobody(tmp_path, receiver):
    config = _config_file(tmp_path, receiver, ["oncall"])
    # A route that notifies resolves too.
    text = config.read_text().replace(
        "channels: [oncall]",
        "channels: [oncall]\n      events: [opened, resolved, reopened]",
    )
    config.write_text(text)
    response = IncidentResponse(tmp_path, config)
    resolved = _webhook([_disk_alert(1, status="resolved")])
    resolved["status"] = "resolved"

    [update] = response.handle_webhook(resolved, parse_alertmanager(resolved), [])

    assert update.change.event == "resolved"
    assert update.incident.status == "resolved"
    assert update.deliveries == []

    # A later occurrence opens it, and that is notified.
    firing = _webhook([_disk_alert(1, startsAt="2026-12-04T13:00:00Z")])
    [update] = response.handle_webhook(firing, parse_alertmanager(firing), [])
    assert update.change.event == "reopened"
    assert len(update.deliveries) == 1
