"""The parts of one local backend, shared by its request handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._config import LocalBackendConfig
from ._destination_store import DestinationStore
from ._persistence import StateDatabase
from ._scheduler import RunScheduler
from ._store import RunStore
from ._webhook_sender import WebhookSender

# Every job and run is owned by this user; the backend accepts any bearer token.
LOCAL_USER = "local-user@lockgate.local"


@dataclass
class LocalBackend:
    config: LocalBackendConfig
    store: RunStore = field(init=False)
    destinations: DestinationStore = field(init=False)
    scheduler: RunScheduler = field(init=False)

    def __post_init__(self) -> None:
        for directory in (self.config.workspace_dir, self.config.dbfs_root, self.config.runs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._database = StateDatabase(self.config.database_path)
        self.store = RunStore(self._database)  # ends runs the last process left active
        self.destinations = DestinationStore(self._database)
        self._webhooks = WebhookSender(self.destinations)
        self.scheduler = RunScheduler(config=self.config, store=self.store, webhooks=self._webhooks)

    def close(self) -> None:
        self.scheduler.close()
        self._webhooks.close()
        self._database.close()
