"""Delivering webhook notifications: POST the payload to a destination, off the run's path.

``send`` only queues (it is called with the run store's lock held), and a small pool of
threads posts at once, so a notice leaves within milliseconds of the state change. Each
destination has its own lane: its notices go out one at a time, in the order the
changes happened (a run's start before its end), while a slow or dead destination
holds up only its own lane. A generic webhook gets the JSON body, with HTTP Basic auth
when the destination has a username or password. A connection error, a timeout, a 429
or a 5xx is tried again after a short pause (on the timer thread, so nothing waits in a
worker), up to ``MAX_ATTEMPTS``; a retry rejoins the back of its lane. Then the notice
is dropped with a warning: a workspace documents delivery as not guaranteed either.
Nothing here can fail or slow a run.

The destination is looked up when posting, so an update (a new URL, new credentials)
applies to notices still queued. Destinations of other kinds (Slack, email, Teams,
PagerDuty) are stored but not delivered by this backend.

Logs name the destination id, the event and the run, never the URL or credentials.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ._delayed_calls import DelayedCalls
from ._destination_store import DestinationStore
from ._destinations import GENERIC_WEBHOOK

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
FIRST_RETRY_DELAY_SECONDS = 0.5  # then x4: 0.5 s, 2 s
SENDER_THREADS = 4


@dataclass(frozen=True)
class Delivery:
    destination_id: str
    payload: dict[str, Any]
    attempt: int = 1

    def describe(self) -> str:
        run = self.payload.get("run", {})
        return f"{self.payload.get('event_type')} of run {run.get('run_id')}"


class WebhookSender:
    def __init__(
        self,
        destinations: DestinationStore,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._destinations = destinations
        self._max_attempts = max_attempts
        self._http = httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._pool = ThreadPoolExecutor(
            max_workers=SENDER_THREADS, thread_name_prefix="local-webhooks"
        )
        self._retries = DelayedCalls()
        self._lanes_lock = threading.Lock()
        self._lanes: dict[str, deque[Delivery]] = {}  # destination id -> waiting; busy if present
        self._closed = False

    def send(self, destination_ids: tuple[str, ...], payload: dict[str, Any]) -> None:
        """Queue one POST per destination; returns at once."""
        for destination_id in destination_ids:
            self._submit(Delivery(destination_id, payload))

    def close(self) -> None:
        """Drop what is still queued; posts in flight finish (bounded by the timeout)."""
        self._closed = True
        self._retries.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def _submit(self, delivery: Delivery) -> None:
        if self._closed:
            return
        with self._lanes_lock:
            lane = self._lanes.get(delivery.destination_id)
            if lane is not None:  # a worker is draining it and will get to this one
                lane.append(delivery)
                return
            self._lanes[delivery.destination_id] = deque([delivery])
        with suppress(RuntimeError):  # raised when the pool was shut down meanwhile
            self._pool.submit(self._drain, delivery.destination_id)

    def _drain(self, destination_id: str) -> None:
        while not self._closed:
            with self._lanes_lock:
                lane = self._lanes[destination_id]
                if not lane:
                    del self._lanes[destination_id]
                    return
                delivery = lane.popleft()
            self._deliver(delivery)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            retry_reason = self._post(delivery)
        except Exception:  # a bug here must not kill the pool thread silently
            logger.exception(
                "webhook notification %s failed inside the backend", delivery.describe()
            )
            return
        if retry_reason is None:
            return
        if delivery.attempt >= self._max_attempts or self._closed:
            logger.warning(
                "dropped webhook notification %s to destination %s after %d attempts: %s",
                delivery.describe(),
                delivery.destination_id,
                delivery.attempt,
                retry_reason,
            )
            return
        delay = FIRST_RETRY_DELAY_SECONDS * 4 ** (delivery.attempt - 1)
        again = replace(delivery, attempt=delivery.attempt + 1)
        with suppress(RuntimeError):  # raised when shutting down
            self._retries.call_later(delay, lambda: self._submit(again))

    def _post(self, delivery: Delivery) -> str | None:
        """Post once; the reason to try again, or None when done (delivered or hopeless)."""
        destination = self._destinations.find(delivery.destination_id)
        if destination is None:
            logger.warning(
                "webhook notification %s names unknown destination %s; not sent",
                delivery.describe(),
                delivery.destination_id,
            )
            return None
        if destination.kind != GENERIC_WEBHOOK:
            logger.info(
                "webhook notification %s: %s destinations are not delivered locally",
                delivery.describe(),
                destination.destination_type,
            )
            return None
        values = destination.values
        username, password = values.get("username"), values.get("password")
        try:
            if username or password:
                auth = httpx.BasicAuth(username or "", password or "")
                response = self._http.post(values["url"], json=delivery.payload, auth=auth)
            else:
                response = self._http.post(values["url"], json=delivery.payload)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.is_success:
            logger.debug(
                "delivered webhook notification %s to destination %s",
                delivery.describe(),
                delivery.destination_id,
            )
            return None
        if response.status_code == 429 or response.status_code >= 500:
            return f"HTTP {response.status_code}"
        logger.warning(
            "destination %s refused webhook notification %s: HTTP %d",
            delivery.destination_id,
            delivery.describe(),
            response.status_code,
        )
        return None
