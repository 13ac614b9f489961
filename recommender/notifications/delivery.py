"""Sending deliveries: one HTTP POST per attempt, back-off, and the worker thread."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import httpx

from recommender.notifications.config import NotificationsConfig
from recommender.notifications.messages import slack_message
from recommender.notifications.outbox import Delivery, Outbox

logger = logging.getLogger(__name__)

USER_AGENT = "incident-recommender"
# Deliveries claimed per pass of the worker.
BATCH_SIZE = 20
# Kept of an error response body in the dead letter, so the reason is visible.
MAX_ERROR_BODY = 200


def backoff_seconds(
    attempt: int,
    initial: float,
    maximum: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Return the wait after failed attempt `attempt` (1-based), with jitter.

    The wait doubles with each attempt up to `maximum`, and a random share of up
    to half is taken off, so receivers that come back are not hit by every sender
    at once.
    """
    ceiling = min(maximum, initial * 2 ** (attempt - 1))
    return uniform(ceiling / 2, ceiling)


class Sender:
    """Sends deliveries to the channels of the configuration and records the outcome."""

    def __init__(
        self,
        config: NotificationsConfig,
        outbox: Outbox,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.outbox = outbox
        # httpx logs each request's full URL at INFO, and Slack webhook URLs are
        # credentials, so its request log is raised to WARNING for the process.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # Redirects are not followed: a channel sends to its configured URL only.
        self.client = client or httpx.Client(follow_redirects=False)
        self.clock = clock

    def run_due(self) -> int:
        """Send every delivery that is due now; return how many were attempted."""
        lease = self._longest_timeout() + 30
        attempted = 0
        while True:
            batch = self.outbox.claim_due(self.clock(), lease, BATCH_SIZE)
            if not batch:
                return attempted
            for delivery in batch:
                self.send(delivery)
            attempted += len(batch)

    def send(self, delivery: Delivery) -> bool:
        """Make one attempt; record success, a retry time or a dead letter."""
        channel = self.config.channels.get(delivery.channel)
        if channel is None:
            self._fail(
                delivery,
                f"channel {delivery.channel!r} is no longer in the configuration file",
                final=True,
            )
            return False

        body = delivery.body
        if delivery.channel_type == "slack":
            body = slack_message(delivery.body)
        timeout = channel.timeout_seconds or self.config.delivery.timeout_seconds
        try:
            response = self.client.post(
                channel.url.get_secret_value(),
                json=body,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT, "X-Delivery-ID": delivery.id},
            )
        except httpx.TimeoutException:
            self._fail(delivery, f"timed out after {timeout:g} s")
            return False
        except httpx.HTTPError as error:
            # httpx messages may contain the URL, so only the error type is kept.
            self._fail(delivery, f"request failed: {type(error).__name__}")
            return False

        if 200 <= response.status_code < 300:
            self.outbox.mark_delivered(delivery.id, self.clock())
            logger.info(
                "notification %s delivered to channel %s (incident %s, %s, attempt %d)",
                delivery.id,
                delivery.channel,
                delivery.incident_id,
                delivery.event,
                delivery.attempts,
            )
            return True
        excerpt = response.text[:MAX_ERROR_BODY].strip()
        self._fail(delivery, f"HTTP {response.status_code}: {excerpt}".rstrip(": "))
        return False

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def _fail(self, delivery: Delivery, error: str, final: bool = False) -> None:
        retry = self.config.delivery
        now = self.clock()
        if final or delivery.attempts >= retry.max_attempts:
            self.outbox.mark_failed(delivery.id, error, None, now)
            logger.warning(
                "notification %s to channel %s is a dead letter after %d attempt(s): "
                "%s; send it again with 'recommender notifications retry %s'",
                delivery.id,
                delivery.channel,
                delivery.attempts,
                error,
                delivery.id,
            )
            return
        wait = backoff_seconds(
            delivery.attempts, retry.initial_backoff_seconds, retry.max_backoff_seconds
        )
        self.outbox.mark_failed(delivery.id, error, now + wait, now)
        logger.warning(
            "notification %s to channel %s failed (attempt %d of %d): %s; "
            "retrying in %.1f s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            retry.max_attempts,
            error,
            wait,
        )

    def _longest_timeout(self) -> float:
        timeouts = [c.timeout_seconds or 0.0 for c in self.config.channels.values()]
        return max([self.config.delivery.timeout_seconds, *timeouts])


class DeliveryWorker:
    """A background thread that sends due deliveries until it is stopped.

    NOTE: one thread sends one delivery at a time, so a slow channel delays the
    others by up to its timeout on each attempt.
    """

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; pending deliveries left by a killed process go first."""
        self._thread = threading.Thread(
            target=self._run, name="notification-delivery", daemon=True
        )
        self._thread.start()
        logger.info(
            "notification worker started: %d channel(s), %d route(s)",
            len(self.sender.config.channels),
            len(self.sender.config.routes),
        )

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the attempt in progress, waiting up to `timeout` s."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sender.close()
        logger.info("notification worker stopped")

    def _run(self) -> None:
        poll = self.sender.config.delivery.poll_seconds
        while not self._stop.is_set():
            try:
                self.sender.run_due()
                next_due = self.sender.outbox.next_due()
            except Exception:
                # The worker must outlive a locked or broken database; it retries.
                logger.exception("notification worker pass failed; retrying")
                next_due = None
            wait = poll
            if next_due is not None:
                wait = min(poll, max(next_due - self.sender.clock(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()
