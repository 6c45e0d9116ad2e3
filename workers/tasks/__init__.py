"""Thin Celery tasks: ids in, a session opened, a ``service`` function called."""
