"""A local stand-in for the Databricks Jobs service: the Jobs REST API over HTTP, tasks as
local processes. Lockgate's client and the databricks-sdk work against it unchanged.

Jobs, runs and notification destinations are kept in memory and written through to a
SQLite file, so they survive a restart; see ``_store.py`` and ``_destination_store.py``.
Runs post Databricks' job webhook notifications to their destinations
(``_run_notifications.py``).
"""

from ._app import create_local_backend, serve_local_backend
from ._config import LocalBackendConfig
from ._example import seed_example

__all__ = ["LocalBackendConfig", "create_local_backend", "seed_example", "serve_local_backend"]
