"""What the Jobs API has cost so far and how much of each request budget is in use,
read from the same Redis hash and token buckets the workers write (``/metrics`` reads
the counts the same way). Read-only: nothing here takes a token."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from service.databricks.budget import RequestClass
from service.databricks.profiles import DEFAULT_PROFILE, budget_size, workspace_profile
from service.observability.jobs_api_counters import jobs_api_counters_key, read_jobs_api_counts
from service.runs.workspaces import budget_key
from service.settings import Settings


@dataclass(frozen=True)
class BudgetUse:
    workspace: str
    request_class: str
    rate: float  # requests per second the bucket refills
    burst: int
    available: float  # tokens in the bucket now (negative: paused after a 429)

    @property
    def used_percent(self) -> int:
        return max(0, min(100, round(100 * (self.burst - self.available) / self.burst)))

    @property
    def paused(self) -> bool:
        return self.available < 0


@dataclass(frozen=True)
class JobsApiUse:
    calls: int
    errors: int  # answers other than 2xx (and calls with no answer)
    by_endpoint: list[tuple[str, int]]
    budgets: list[BudgetUse]
    available: bool = True  # False: Redis did not answer


def _available(fields: list[bytes | str | None], rate: float, burst: int, now: float) -> float:
    tokens, at = fields
    if tokens is None or at is None:
        return float(burst)  # no key: a full bucket (the scripts let it expire when full)
    return min(float(burst), float(tokens) + max(0.0, now - float(at)) * rate)


def jobs_api_use(client: redis.Redis | None, settings: Settings) -> JobsApiUse:
    if client is None:
        return JobsApiUse(0, 0, [], [], available=False)
    try:
        counts = read_jobs_api_counts(client, jobs_api_counters_key(settings))
        seconds, micros = client.time()
        now = seconds + micros / 1_000_000
        budgets = []
        for name in [
            DEFAULT_PROFILE,
            *sorted(set(settings.databricks_profiles) - {DEFAULT_PROFILE}),
        ]:
            profile = workspace_profile(settings, name)
            for request_class in RequestClass:
                size = budget_size(settings, profile, request_class)
                fields = client.hmget(budget_key(settings, name, request_class), ["tokens", "at"])
                budgets.append(
                    BudgetUse(
                        workspace=name,
                        request_class=request_class.value,
                        rate=size.rate,
                        burst=size.burst,
                        available=_available(list(fields), size.rate, size.burst, now),
                    )
                )
    except (redis.RedisError, ValueError):
        return JobsApiUse(0, 0, [], [], available=False)
    by_endpoint: dict[str, int] = {}
    errors = 0
    for (endpoint, status), count in counts.items():
        by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + count
        if not status.startswith("2"):
            errors += count
    return JobsApiUse(
        calls=sum(by_endpoint.values()),
        errors=errors,
        by_endpoint=sorted(by_endpoint.items(), key=lambda item: (-item[1], item[0])),
        budgets=budgets,
    )
