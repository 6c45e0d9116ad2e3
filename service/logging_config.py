"""Logging is configured once, by the CLI, never at import."""

from __future__ import annotations

import logging.config


def configure_logging(verbose: bool = False) -> None:
    level = "DEBUG" if verbose else "INFO"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
            },
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["stderr"], "level": level},
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
