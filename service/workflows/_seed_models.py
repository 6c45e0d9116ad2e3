"""Pydantic models of the seed ``workflow_config`` format (the contract users write).

Each model checks one level of the document: types, ranges and the shape of names,
addresses and cron text. Cross-references (``depends_on``, ``job_cluster_key``) are
checked over the whole document in ``_seed_checks``; conversion to Jobs JSON is in
``_seed_convert``. Defaults are the seed's, so a converted job behaves as the seed's did.

Task fields are split in two: ``SeedTask`` holds what every task has, and a model per
``type`` (``TASK_TYPES``) holds the rest. Both validate the same task mapping, so a
later task type is one more entry in the table.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from service.workflows._cron import CronInvalid, to_quartz
from service.workflows._issues import Loc, SpecIssue, describe_value, issue
from service.workflows._pydantic_issues import custom_error

DEFAULT_JOB_TIMEOUT_SECONDS = 86_400
DEFAULT_MAX_CONCURRENT_RUNS = 1
DEFAULT_TASK_TIMEOUT_SECONDS = 3_600
DEFAULT_MAX_RETRIES = 2
DEFAULT_MIN_RETRY_INTERVAL_MILLIS = 2_000
DEFAULT_SPARK_VERSION = "11.3.x-scala2.12"
DEFAULT_NODE_TYPE = "Standard_DS3_v2"

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_EMAIL = re.compile(
    r"^[^@\s<>,;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
MAX_NAME_LENGTH = 100


def _text(value: Any) -> Any:
    """Parameters, tags and Spark settings are strings in Databricks; YAML writes
    ``strict_mode: true`` or ``batch_size: 10000``, so scalars become the text they read as."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise custom_error(
            f"must be text, a number or true/false, not {describe_value(value)}"
            " (quote it to pass JSON text)"
        )
    return value


def _workflow_name(value: str) -> str:
    if not value.strip():
        raise custom_error("must not be empty: name the workflow with letters, digits, -, _ and .")
    if len(value) > MAX_NAME_LENGTH:
        raise custom_error(
            f"must be at most {MAX_NAME_LENGTH} characters long (it has {len(value)})"
        )
    if not _NAME.match(value) or set(value) == {"."}:
        raise custom_error(
            f"{value!r} may only use letters, digits, -, _ and . (it appears in URLs)"
        )
    return value


def _key(value: str) -> str:
    if not value:
        raise custom_error("must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise custom_error(
            f"must be at most {MAX_NAME_LENGTH} characters long (it has {len(value)})"
        )
    if not _KEY.match(value):
        raise custom_error(f"{value!r} may only use letters, digits, - and _")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise custom_error("must not be empty")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise custom_error(f"{value!r} is not an email address (expected name@example.com)")
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise custom_error(f"{value!r} is not an http(s) URL (expected https://host/path)")
    return value


def _cron(value: str) -> str:
    try:
        to_quartz(value)
    except CronInvalid as exc:
        raise custom_error(str(exc)) from None
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise custom_error(
            f"{value!r} is not a time zone id; use one such as UTC or Europe/Amsterdam"
        ) from None
    return value


def _task_type(value: str) -> str:
    if value not in TASK_TYPES:
        raise custom_error(f"unknown task type {value!r}; use one of {', '.join(TASK_TYPES)}")
    return value


def _max_retries(value: int) -> int:
    if value < -1:
        raise custom_error(
            f"must be -1 (retry forever), 0 (never retry) or a number of retries, not {value}"
        )
    return value


Text = Annotated[str, BeforeValidator(_text)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]
WorkflowName = Annotated[str, AfterValidator(_workflow_name)]
Key = Annotated[str, AfterValidator(_key)]
Email = Annotated[str, AfterValidator(_email)]
Url = Annotated[str, AfterValidator(_url)]
NonNegative = Annotated[int, Field(ge=0)]

_TEXT_LIST: TypeAdapter[list[str]] = TypeAdapter(list[Text])
_TEXT_MAP: TypeAdapter[dict[str, str]] = TypeAdapter(dict[str, Text])


def _arguments(value: Any) -> Any:
    """A list of command-line arguments, or a mapping (named wheel parameters)."""
    if value is None:
        return None
    if isinstance(value, list):
        return _TEXT_LIST.validate_python(value, strict=True)
    if isinstance(value, dict):
        return _TEXT_MAP.validate_python(value, strict=True)
    raise custom_error(f"must be a list of command-line arguments, not {describe_value(value)}")


Arguments = Annotated[list[str] | dict[str, str] | None, BeforeValidator(_arguments)]


class _Model(BaseModel):
    # Unknown keys are warned about by _seed_checks (with their path), not refused here.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class EmailRoutes(_Model):
    on_start: list[Email] = []
    on_success: list[Email] = []
    on_failure: list[Email] = []


class WebhookRoutes(_Model):
    on_start: list[Url] = []
    on_success: list[Url] = []
    on_failure: list[Url] = []


class SeedSchedule(_Model):
    cron: Annotated[str, AfterValidator(_cron)]
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    pause_status: Literal["PAUSED", "UNPAUSED"] = "UNPAUSED"


class SeedJobCluster(_Model):
    cluster_key: Key
    spark_version: NonEmpty = DEFAULT_SPARK_VERSION
    node_type: NonEmpty = DEFAULT_NODE_TYPE
    driver_node_type: NonEmpty | None = None
    autoscale: bool = True
    num_workers: NonNegative = 2
    min_workers: NonNegative = 1
    max_workers: Annotated[int, Field(ge=1)] = 8
    init_scripts: list[dict[str, Any]] = []
    spark_conf: dict[str, Text] = {}
    spark_env_vars: dict[str, Text] = {}
    availability: Literal["ON_DEMAND_AZURE", "SPOT_AZURE", "SPOT_WITH_FALLBACK_AZURE"] = (
        "ON_DEMAND_AZURE"
    )
    first_on_demand: NonNegative = 1
    spot_bid_max_price: float = -1
    enable_elastic_disk: bool = True
    custom_disk: bool = False
    disk_size: Annotated[int, Field(ge=1)] = 100
    custom_tags: dict[str, Text] = {}

    def cross_field_issues(self, loc: Loc) -> list[SpecIssue]:
        if self.autoscale and self.min_workers > self.max_workers:
            return [
                issue(
                    (*loc, "max_workers"),
                    f"must be at least min_workers ({self.min_workers}), not {self.max_workers}",
                )
            ]
        return []


def _parameter_name(value: str) -> str:
    if not _NAME.match(value) or len(value) > MAX_NAME_LENGTH:
        raise custom_error(
            f"{value!r} may only use letters, digits, -, _ and . (at most {MAX_NAME_LENGTH})"
        )
    return value


class SeedJobParameter(_Model):
    name: Annotated[str, AfterValidator(_parameter_name)]
    default: Text


class SeedWorkflow(_Model):
    name: WorkflowName
    description: str | None = None
    tags: dict[str, Text] = {}
    timeout_seconds: NonNegative = DEFAULT_JOB_TIMEOUT_SECONDS
    max_concurrent_runs: Annotated[int, Field(ge=0, le=1000)] = DEFAULT_MAX_CONCURRENT_RUNS
    schedule: SeedSchedule | None = None
    notifications: EmailRoutes = EmailRoutes()
    webhooks: WebhookRoutes = WebhookRoutes()
    parameters: list[SeedJobParameter] = []
    # Databricks job settings the seed code does not read but users write beside it; they
    # pass through to the job as given (Databricks validates their contents).
    trigger: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    notification_settings: dict[str, Any] | None = None
    queue: dict[str, Any] | None = None
    # Lockgate's own run-engine options (mode, workspace, concurrency, retry); read by
    # service.runs.options, never sent to Databricks.
    lockgate: dict[str, Any] | None = None
    # Each job cluster and task is validated on its own (a task by SeedTask, then by its
    # type's model), so that one bad entry does not hide the problems of the others.
    job_clusters: list[dict[str, Any]] = []
    tasks: Annotated[list[dict[str, Any]], Field(max_length=1000)] = []


class SeedTask(_Model):
    """What every task has, whatever its type."""

    task_key: Key
    type: Annotated[str, AfterValidator(_task_type)]
    description: str | None = None
    depends_on: list[NonEmpty] = []
    timeout_seconds: NonNegative = DEFAULT_TASK_TIMEOUT_SECONDS
    max_retries: Annotated[int, AfterValidator(_max_retries)] = DEFAULT_MAX_RETRIES
    min_retry_interval_millis: NonNegative = DEFAULT_MIN_RETRY_INTERVAL_MILLIS
    retry_on_timeout: bool = False
    job_cluster_key: NonEmpty | None = None
    existing_cluster_id: NonEmpty | None = None
    new_cluster: dict[str, Any] | None = None
    libraries: list[dict[str, Any]] = []
    email_notifications: EmailRoutes | None = None
    webhook_notifications: WebhookRoutes | None = None


class TaskTypeFields(_Model):
    """The fields of one task ``type``; subclasses add ``cross_field_issues`` rules."""

    def cross_field_issues(self, loc: Loc) -> list[SpecIssue]:
        return []


class NotebookFields(TaskTypeFields):
    notebook_path: NonEmpty
    parameters: dict[str, Text] = {}
    source: Literal["WORKSPACE", "GIT"] = "WORKSPACE"

    def cross_field_issues(self, loc: Loc) -> list[SpecIssue]:
        if self.source == "WORKSPACE" and not self.notebook_path.startswith("/"):
            return [
                issue(
                    (*loc, "notebook_path"),
                    f"{self.notebook_path!r} must be an absolute workspace path starting with / "
                    "(or set source: GIT for a path inside the repository)",
                )
            ]
        return []


class PythonFields(TaskTypeFields):
    """A Python script (``python_file``) or a wheel (``package_name`` + ``entry_point``)."""

    python_file: NonEmpty | None = None
    package_name: NonEmpty | None = None
    entry_point: NonEmpty | None = None
    parameters: Arguments = None
    source: Literal["WORKSPACE", "GIT"] | None = None

    @property
    def is_script(self) -> bool:
        return self.python_file is not None

    def cross_field_issues(self, loc: Loc) -> list[SpecIssue]:
        if self.is_script:
            if isinstance(self.parameters, dict):
                return [
                    issue(
                        (*loc, "parameters"),
                        "a Python script takes a list of command-line arguments, not a mapping",
                    )
                ]
            return []
        if self.package_name is None and self.entry_point is None:
            return [
                issue(
                    (*loc, "python_file"),
                    "a python task needs `python_file` (a script to run) or "
                    "`package_name` and `entry_point` (a wheel)",
                )
            ]
        if self.package_name is not None and self.entry_point is not None:
            return []
        missing = "entry_point" if self.package_name is not None else "package_name"
        return [issue((*loc, missing), f"`{missing}` is required to run a wheel")]


class JarFields(TaskTypeFields):
    main_class_name: NonEmpty
    parameters: list[Text] = []


class SqlFields(TaskTypeFields):
    """A saved query (``query_id``), a SQL file (``file``) or the seed's inline ``query``
    text. Databricks' sql_task has no field for text, so inline text is published as a
    workspace file and referenced (``_seed_convert``), with a warning."""

    warehouse_id: NonEmpty
    query_id: NonEmpty | None = None
    file: NonEmpty | None = None
    query: NonEmpty | None = None

    def cross_field_issues(self, loc: Loc) -> list[SpecIssue]:
        if self.query_id is None and self.file is None and self.query is None:
            return [
                issue(
                    (*loc, "query_id"),
                    "a sql task needs `query_id` (a saved query), `file` or `query` (SQL text)",
                )
            ]
        return []


class PipelineFields(TaskTypeFields):
    pipeline_id: NonEmpty
    full_refresh: bool = False


TASK_TYPES: dict[str, type[TaskTypeFields]] = {
    "notebook": NotebookFields,
    "python": PythonFields,
    "jar": JarFields,
    "sql": SqlFields,
    "dlt": PipelineFields,
}
