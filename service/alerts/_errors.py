"""The one exception a channel raises, and what the caller does with it.

``deliver`` either returns (the target accepted the alert) or raises ``DeliveryError``.
There is no tree of subclasses because the caller makes exactly one decision:

- ``transient=True``: the target may accept the same alert later (connection refused,
  timeouts, SMTP 4xx, HTTP 408/429/5xx). The caller retries with backoff, honouring
  ``retry_after_seconds`` when the target sent one, up to its attempt limit.
- ``transient=False``: sending the same bytes again will fail the same way (SMTP 5xx,
  HTTP 4xx, a malformed address or URL, an unknown channel). The caller records the
  attempt and dead-letters the delivery at once.

Messages name the target's host or address and the status, never secrets, signatures or
payloads, because they are logged and stored on the delivery row.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """An alert was not delivered. ``status`` is the HTTP status or SMTP reply code, if any."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after_seconds = retry_after_seconds

    def __repr__(self) -> str:
        return (
            f"DeliveryError({str(self)!r}, transient={self.transient}, status={self.status}, "
            f"retry_after_seconds={self.retry_after_seconds})"
        )
