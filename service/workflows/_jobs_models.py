"""Pydantic models of Databricks Jobs settings (jobs/create 2.1 and 2.2, jobs/get).

They check types, ranges and enumerations field by field, so an error carries the JSON
path of the field. They do not rebuild the document: the settings Lockgate sends are the
user's own mapping (unknown keys warned about, not dropped), because Databricks grows
fields faster than this file, and "Jobs JSON unchanged" means unchanged. Rules that span
fields or tasks live in ``_jobs_checks``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from service.workflows._cron import CronInvalid, to_quartz
from service.workflows._pydantic_issues import custom_error
from service.workflows._seed_models import Email, Key, NonEmpty, Text, _time_zone

NonNegative = Annotated[int, Field(ge=0)]
RunIf = Literal[
    "ALL_SUCCESS",
    "AT_LEAST_ONE_SUCCESS",
    "NONE_FAILED",
    "ALL_DONE",
    "AT_LEAST_ONE_FAILED",
    "ALL_FAILED",
]
ConditionOp = Literal[
    "EQUAL_TO",
    "NOT_EQUAL",
    "GREATER_THAN",
    "GREATER_THAN_OR_EQUAL",
    "LESS_THAN",
    "LESS_THAN_OR_EQUAL",
]
Source = Literal["WORKSPACE", "GIT"]
PauseStatus = Literal["PAUSED", "UNPAUSED"]


def _quartz(value: str) -> str:
    try:
        to_quartz(value)
    except CronInvalid as exc:
        raise custom_error(str(exc)) from None
    return value


def _max_retries(value: int) -> int:
    if value < -1:
        raise custom_error(
            f"must be -1 (retry forever), 0 (never retry) or a number of retries, not {value}"
        )
    return value


class JobsModel(BaseModel):
    # Unknown keys are kept in the settings and warned about by _jobs_checks.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Autoscale(JobsModel):
    min_workers: NonNegative
    max_workers: Annotated[int, Field(ge=1)]


class ClusterSpec(JobsModel):
    spark_version: NonEmpty | None = None
    node_type_id: NonEmpty | None = None
    driver_node_type_id: NonEmpty | None = None
    instance_pool_id: NonEmpty | None = None
    driver_instance_pool_id: NonEmpty | None = None
    policy_id: NonEmpty | None = None
    apply_policy_default_values: bool | None = None
    num_workers: NonNegative | None = None
    autoscale: Autoscale | None = None
    azure_attributes: dict[str, Any] | None = None
    spark_conf: dict[str, Text] = {}
    spark_env_vars: dict[str, Text] = {}
    init_scripts: list[dict[str, Any]] = []
    custom_tags: dict[str, Text] = {}
    cluster_log_conf: dict[str, Any] | None = None
    enable_elastic_disk: bool | None = None
    enable_local_disk_encryption: bool | None = None
    data_security_mode: str | None = None
    single_user_name: str | None = None
    runtime_engine: Literal["STANDARD", "PHOTON", "NULL"] | None = None
    ssh_public_keys: list[str] = []
    cluster_name: str | None = None
    docker_image: dict[str, Any] | None = None
    kind: str | None = None
    is_single_node: bool | None = None
    use_ml_runtime: bool | None = None


class JobCluster(JobsModel):
    job_cluster_key: Key
    new_cluster: dict[str, Any]


class Environment(JobsModel):
    environment_key: Key
    spec: dict[str, Any] = {}


class Dependency(JobsModel):
    task_key: NonEmpty
    outcome: Literal["true", "false"] | None = None


class NotificationRoutes(JobsModel):
    on_start: list[Email] = []
    on_success: list[Email] = []
    on_failure: list[Email] = []
    on_duration_warning_threshold_exceeded: list[Email] = []
    on_streaming_backlog_exceeded: list[Email] = []
    no_alert_for_skipped_runs: bool | None = None


class Destination(JobsModel):
    id: NonEmpty


Destinations = Annotated[list[Destination], Field(max_length=3)]


class WebhookDestinations(JobsModel):
    on_start: Destinations = []
    on_success: Destinations = []
    on_failure: Destinations = []
    on_duration_warning_threshold_exceeded: Destinations = []
    on_streaming_backlog_exceeded: Destinations = []


class NotificationSettings(JobsModel):
    no_alert_for_skipped_runs: bool | None = None
    no_alert_for_canceled_runs: bool | None = None
    alert_on_last_attempt: bool | None = None


class HealthRule(JobsModel):
    metric: Literal[
        "RUN_DURATION_SECONDS",
        "STREAMING_BACKLOG_BYTES",
        "STREAMING_BACKLOG_RECORDS",
        "STREAMING_BACKLOG_SECONDS",
        "STREAMING_BACKLOG_FILES",
    ]
    op: Literal["GREATER_THAN"]
    value: NonNegative


class Health(JobsModel):
    rules: list[HealthRule] = []


class Library(JobsModel):
    pypi: dict[str, Any] | None = None
    maven: dict[str, Any] | None = None
    cran: dict[str, Any] | None = None
    jar: NonEmpty | None = None
    whl: NonEmpty | None = None
    egg: NonEmpty | None = None
    requirements: NonEmpty | None = None


class TaskCommon(JobsModel):
    task_key: Key
    description: str | None = None
    depends_on: list[Dependency] = []
    run_if: RunIf | None = None
    job_cluster_key: NonEmpty | None = None
    existing_cluster_id: NonEmpty | None = None
    new_cluster: dict[str, Any] | None = None
    environment_key: NonEmpty | None = None
    libraries: list[Library] = []
    max_retries: Annotated[int, AfterValidator(_max_retries)] | None = None
    min_retry_interval_millis: NonNegative | None = None
    retry_on_timeout: bool | None = None
    timeout_seconds: NonNegative | None = None
    email_notifications: NotificationRoutes | None = None
    webhook_notifications: WebhookDestinations | None = None
    notification_settings: NotificationSettings | None = None
    health: Health | None = None
    disabled: bool | None = None


class NotebookTask(JobsModel):
    notebook_path: NonEmpty
    base_parameters: dict[str, Text] = {}
    source: Source | None = None
    warehouse_id: NonEmpty | None = None


class SparkPythonTask(JobsModel):
    python_file: NonEmpty
    parameters: list[Text] = []
    source: Source | None = None


class PythonWheelTask(JobsModel):
    package_name: NonEmpty
    entry_point: NonEmpty
    parameters: list[Text] = []
    named_parameters: dict[str, Text] = {}


class SparkJarTask(JobsModel):
    main_class_name: NonEmpty
    parameters: list[Text] = []
    jar_uri: str | None = None


class SparkSubmitTask(JobsModel):
    parameters: list[Text] = []


class SqlQuery(JobsModel):
    query_id: NonEmpty


class SqlFile(JobsModel):
    path: NonEmpty
    source: Source | None = None


class SqlAlert(JobsModel):
    alert_id: NonEmpty
    subscriptions: list[dict[str, Any]] = []
    pause_subscriptions: bool | None = None


class SqlDashboard(JobsModel):
    dashboard_id: NonEmpty
    subscriptions: list[dict[str, Any]] = []
    custom_subject: str | None = None
    pause_subscriptions: bool | None = None


class SqlTask(JobsModel):
    warehouse_id: NonEmpty
    query: SqlQuery | None = None
    file: SqlFile | None = None
    alert: SqlAlert | None = None
    dashboard: SqlDashboard | None = None
    parameters: dict[str, Text] = {}


class PipelineTask(JobsModel):
    pipeline_id: NonEmpty
    full_refresh: bool | None = None


class DbtTask(JobsModel):
    commands: Annotated[list[NonEmpty], Field(min_length=1)]
    project_directory: str | None = None
    profiles_directory: str | None = None
    warehouse_id: str | None = None
    catalog: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    source: Source | None = None


class RunJobTask(JobsModel):
    job_id: int
    job_parameters: dict[str, Text] = {}


class ConditionTask(JobsModel):
    op: ConditionOp
    left: Text
    right: Text


class ForEachTask(JobsModel):
    inputs: NonEmpty
    concurrency: Annotated[int, Field(ge=1, le=100)] | None = None
    task: dict[str, Any]


# The task type keys: a task has exactly one of these.
TASK_TYPE_MODELS: dict[str, type[JobsModel]] = {
    "notebook_task": NotebookTask,
    "spark_python_task": SparkPythonTask,
    "python_wheel_task": PythonWheelTask,
    "spark_jar_task": SparkJarTask,
    "spark_submit_task": SparkSubmitTask,
    "sql_task": SqlTask,
    "pipeline_task": PipelineTask,
    "dbt_task": DbtTask,
    "run_job_task": RunJobTask,
    "condition_task": ConditionTask,
    "for_each_task": ForEachTask,
}


class Schedule(JobsModel):
    quartz_cron_expression: Annotated[str, AfterValidator(_quartz)]
    timezone_id: Annotated[str, AfterValidator(_time_zone)]
    pause_status: PauseStatus | None = None


class FileArrival(JobsModel):
    url: NonEmpty
    min_time_between_triggers_seconds: Annotated[int, Field(ge=60)] | None = None
    wait_after_last_change_seconds: Annotated[int, Field(ge=60)] | None = None


class Periodic(JobsModel):
    interval: Annotated[int, Field(ge=1)]
    unit: Literal["HOURS", "DAYS", "WEEKS"]


class TableUpdate(JobsModel):
    table_names: Annotated[list[NonEmpty], Field(min_length=1)]
    condition: Literal["ANY_UPDATED", "ALL_UPDATED"] | None = None
    min_time_between_triggers_seconds: Annotated[int, Field(ge=60)] | None = None
    wait_after_last_change_seconds: Annotated[int, Field(ge=60)] | None = None


class Trigger(JobsModel):
    pause_status: PauseStatus | None = None
    file_arrival: FileArrival | None = None
    periodic: Periodic | None = None
    table_update: TableUpdate | None = None
    table: TableUpdate | None = None
    # Lockgate's own (service.workflows.completion checks it); never sent to Databricks.
    job_completion: Any = None


class Continuous(JobsModel):
    pause_status: PauseStatus | None = None


class Queue(JobsModel):
    enabled: bool


class JobParameter(JobsModel):
    name: NonEmpty
    default: Text


class GitSource(JobsModel):
    git_url: NonEmpty
    git_provider: NonEmpty
    git_branch: str | None = None
    git_tag: str | None = None
    git_commit: str | None = None


class RunAs(JobsModel):
    user_name: str | None = None
    service_principal_name: str | None = None
    group_name: str | None = None


class JobSettingsModel(JobsModel):
    name: NonEmpty | None = None
    description: str | None = None
    tasks: list[dict[str, Any]] = []
    job_clusters: list[dict[str, Any]] = []
    environments: list[Environment] = []
    schedule: Schedule | None = None
    trigger: Trigger | None = None
    continuous: Continuous | None = None
    max_concurrent_runs: Annotated[int, Field(ge=0, le=1000)] | None = None
    queue: Queue | None = None
    timeout_seconds: NonNegative | None = None
    health: Health | None = None
    email_notifications: NotificationRoutes | None = None
    webhook_notifications: WebhookDestinations | None = None
    notification_settings: NotificationSettings | None = None
    parameters: list[JobParameter] = []
    tags: dict[str, Text] = {}
    git_source: GitSource | None = None
    run_as: RunAs | None = None
    format: Literal["SINGLE_TASK", "MULTI_TASK"] | None = None
    edit_mode: Literal["UI_LOCKED", "EDITABLE"] | None = None
    deployment: dict[str, Any] | None = None
    performance_target: str | None = None
    budget_policy_id: str | None = None
    access_control_list: list[dict[str, Any]] = []
