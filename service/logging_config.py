"""Logging is configured once, by the CLI, never at import.

Two formats: plain lines for a terminal, or JSON lines (structlog) for a log pipeline,
with the ids passed in ``extra`` (run_id, event_id, delivery_id, ...) as fields. Either
way, secrets never reach the output: values of fields named like secrets are masked, and
every secret Lockgate was configured with is scrubbed from messages wherever it appears.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

from service.settings import Settings, get_settings

MASK = "***"
_SECRET_FIELD = re.compile(r"token|secret|password|authorization|signature|api_key", re.I)


class SecretScrubber:
    """A structlog processor (and the same logic for plain records)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if _SECRET_FIELD.search(key) and key != "event":
                event[key] = MASK
            elif isinstance(value, str):
                event[key] = self.scrub(value)
        return event


class _ScrubbingPlainFormatter(logging.Formatter):
    def __init__(self, scrubber: SecretScrubber) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._scrubber = scrubber

    def format(self, record: logging.LogRecord) -> str:
        return self._scrubber.scrub(super().format(record))


def configured_secrets(settings: Settings) -> list[str]:
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
    return values


def configure_logging(verbose: bool = False, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    level = "DEBUG" if verbose else "INFO"
    scrubber = SecretScrubber(configured_secrets(settings))
    if settings.log_format == "json":
        formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrubber,
                structlog.processors.JSONRenderer(),
            ],
        )
    else:
        formatter = _ScrubbingPlainFormatter(scrubber)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "root": {"level": level},
            "loggers": {
                "httpx": {"level": "WARNING"},
                "uvicorn.access": {"level": "WARNING"},
                "celery": {"level": "INFO"},
                # The poll and sweep run every few seconds: their per-task lines are
                # noise unless debugging. Task failures still log at ERROR.
                "celery.app.trace": {"level": level if verbose else "WARNING"},
                "celery.worker.strategy": {"level": level if verbose else "WARNING"},
                "celery.beat": {"level": level if verbose else "WARNING"},
            },
        }
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
