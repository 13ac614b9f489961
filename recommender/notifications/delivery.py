"""Sending deliveries: one HTTP POST per attempt, back-off, and the worker threads.

Each channel has a lane of its own, a thread that sends that channel's deliveries
one at a time. A receiver that hangs until the timeout then delays only its own
channel: a pager webhook is not held up behind a slow chat webhook.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
import certifi
import httpx

from recommender.notifications.config import NotificationsConfig
from recommender.notifications.messages import slack_message
from recommender.notifications.outbox import Delivery, Lane, Outbox

logger = logging.getLogger(__name__)

USER_AGENT = "incident-recommender"
# Added to a channel's timeout for the lease of a delivery being sent, so that
# recording the outcome fits in the lease too.
LEASE_MARGIN_SECONDS = 30
# Maximum wait of a lane between passes while each pass fails, such as while a
# database table is missing.
MAX_FAILURE_WAIT_SECONDS = 60
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.outbox = outbox
        # httpx logs each request's full URL at INFO, and Slack webhook URLs are
        # credentials, so its request log is raised to WARNING for the process.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.clock = clock
        # Each attempt has a client of its own, on an event loop of its own, and
        # loading the CA bundle for each one took 30 ms, so the context is shared.
        self._tls = ssl.create_default_context(cafile=certifi.where())

    def lanes(self, removed_channels: bool = True) -> list[Lane]:
        """Return one lane per configured channel, and one for any other channel.

        The last lane takes deliveries to channels removed from the configuration
        since they were queued, which become dead letters at their first attempt.
        Without removed_channels it is left out, for a process that may have been
        started without the service's configuration file.
        """
        names = tuple(self.config.channels)
        lanes = [Lane(name) for name in names]
        if removed_channels:
            lanes.append(Lane(None, other_than=names))
        return lanes

    def run_due(self) -> int:
        """Send every due delivery to a configured channel, the lanes side by side.

        Deliveries to other channels are left pending: the command line may run
        without the configuration file that the service reads. Returns how many
        deliveries were attempted.
        """
        lanes = self.lanes(removed_channels=False)
        if not lanes:
            return 0
        with ThreadPoolExecutor(
            max_workers=len(lanes), thread_name_prefix="notification-lane"
        ) as pool:
            return sum(pool.map(self.run_lane, lanes))

    def run_lane(self, lane: Lane, stop: threading.Event | None = None) -> int:
        """Send the due deliveries of one lane, oldest first, and return how many.

        Each delivery is claimed just before its attempt, so its lease covers
        that attempt alone however long the ones before it took. With `stop`,
        the lane ends after the attempt in progress once stop is set.
        """
        lease = self._timeout(lane.channel) + LEASE_MARGIN_SECONDS
        attempted = 0
        while stop is None or not stop.is_set():
            claimed = self.outbox.claim_due(self.clock(), lease, 1, lane)
            if not claimed:
                break
            self.send(claimed[0])
            attempted += 1
        return attempted

    def send_now(self, delivery_id: str) -> Delivery | None:
        """Send one due delivery now, outside its lane, and return it afterwards.

        Returns None when Outbox.claim() does not give it: it is not due, for
        example because another process is sending it, or it waits behind an
        older delivery of its incident to the same channel.
        """
        # The channel is known only once the delivery is claimed.
        longest = max(map(self._timeout, [None, *self.config.channels]))
        lease = longest + LEASE_MARGIN_SECONDS
        delivery = self.outbox.claim(delivery_id, self.clock(), lease)
        if delivery is None:
            return None
        self.send(delivery)
        return self.outbox.get(delivery_id)

    def send(self, delivery: Delivery) -> bool:
        """Make one attempt; record success, a retry time or a dead letter."""
        channel = self.config.channels.get(delivery.channel)
        if channel is None:
            self.outbox.mark_failed(
                delivery.id,
                f"channel {delivery.channel!r} is not in the configuration file; add "
                "it back, then retry the delivery",
                None,
                self.clock(),
                attempted=False,
            )
            logger.warning(
                "notification %s is a dead letter: channel %s is not in the "
                "configuration file",
                delivery.id,
                delivery.channel,
            )
            return False

        body = delivery.body
        if delivery.channel_type == "slack":
            body = slack_message(delivery.body)
        timeout = self._timeout(delivery.channel)
        try:
            response = anyio.run(
                _post,
                channel.url.get_secret_value(),
                body,
                {"User-Agent": USER_AGENT, "X-Delivery-ID": delivery.id},
                timeout,
                self._tls,
            )
        except (httpx.TimeoutException, TimeoutError):
            self._fail(delivery, f"timed out after {timeout:g} s")
            return False
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            # httpx messages may contain the URL, so only the error type is kept.
            self._fail(delivery, f"request failed: {type(error).__name__}")
            return False
        except Exception as error:
            # Any other failure still counts as a failed attempt, so the delivery
            # is retried and becomes a dead letter instead of being claimed again
            # and again with no error recorded.
            logger.exception("notification %s: unexpected error", delivery.id)
            self._fail(delivery, f"unexpected error: {type(error).__name__}")
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

    def _fail(self, delivery: Delivery, error: str) -> None:
        retry = self.config.delivery
        now = self.clock()
        if delivery.attempts >= retry.max_attempts:
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

    def _timeout(self, channel_name: str | None) -> float:
        channel = self.config.channels.get(channel_name or "")
        if channel is not None and channel.timeout_seconds:
            return channel.timeout_seconds
        return self.config.delivery.timeout_seconds


async def _post(
    url: str,
    body: dict[str, object],
    headers: dict[str, str],
    timeout: float,
    tls: ssl.SSLContext,
) -> httpx.Response:
    """POST body as JSON to url; the whole attempt takes at most timeout seconds.

    httpx's timeout applies to each read, so a receiver that sends its answer a
    byte at a time could hold an attempt far past its lease. Redirects are not
    followed: a channel sends to its configured URL only.
    """
    with anyio.fail_after(timeout):
        async with httpx.AsyncClient(follow_redirects=False, verify=tls) as client:
            return await client.post(url, json=body, headers=headers, timeout=timeout)


class DeliveryWorker:
    """Background threads, one per lane, that send due deliveries until stopped."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._lanes = sender.lanes()
        self._wakes = [threading.Event() for _ in self._lanes]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads; pending deliveries left by a killed process go first."""
        for number, (lane, wake) in enumerate(
            zip(self._lanes, self._wakes, strict=True)
        ):
            thread = threading.Thread(
                target=self._run,
                args=(lane, wake),
                name=f"notification-delivery-{number}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        logger.info(
            "notification worker started: %d channel(s), %d route(s)",
            len(self.sender.config.channels),
            len(self.sender.config.routes),
        )

    def wake(self) -> None:
        """Look for due deliveries now instead of at the next poll."""
        for wake in self._wakes:
            wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads after their attempts in progress, up to `timeout` s."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        busy = sum(thread.is_alive() for thread in self._threads)
        if busy:
            # Their deliveries stay leased, so they are sent again after a restart
            # once the lease (channel timeout + LEASE_MARGIN_SECONDS) has run out.
            logger.warning(
                "notification worker stopped with %d attempt(s) still waiting for "
                "a receiver",
                busy,
            )
            return
        logger.info("notification worker stopped")

    def _run(self, lane: Lane, wake: threading.Event) -> None:
        poll = self.sender.config.delivery.poll_seconds
        failures = 0
        while not self._stop.is_set():
            try:
                self.sender.run_lane(lane, self._stop)
                next_due = self.sender.outbox.next_due(lane)
                failures = 0
            except Exception as error:
                # The worker must outlive a locked or broken database, so it retries,
                # less often while the failure lasts and with one traceback.
                failures += 1
                if failures == 1:
                    logger.exception("notification worker pass failed; retrying")
                else:
                    logger.warning(
                        "notification worker pass failed again (%d in a row): %s",
                        failures,
                        error,
                    )
                next_due = None
            wait = poll
            if failures:
                wait = min(poll * 2**failures, MAX_FAILURE_WAIT_SECONDS)
            elif next_due is not None:
                wait = min(poll, max(next_due - self.sender.clock(), 0.0))
            wake.wait(wait)
            wake.clear()
