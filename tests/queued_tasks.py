"""What waits in the real Redis task queue, read back from kombu's message format."""

from __future__ import annotations

import base64
import json

import redis

from service.runs.queue import DISPATCH_EVENTS


def queued_tasks(broker: redis.Redis, prefix: str) -> list[tuple[str, list[object]]]:
    """(task name, args) of every message in the queue, oldest first."""
    tasks: list[tuple[str, list[object]]] = []
    for raw in reversed(broker.lrange(f"{prefix}:{prefix}.tasks", 0, -1)):
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        tasks.append((message["headers"]["task"], list(args)))
    return tasks


def queued_work(broker: redis.Redis, prefix: str) -> int:
    """Work items waiting: a dispatch_events message counts once per event it carries."""
    return sum(
        len(args) if name == DISPATCH_EVENTS else 1 for name, args in queued_tasks(broker, prefix)
    )
