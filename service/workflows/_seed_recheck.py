"""The Jobs checks, run over what a seed document converts to, with every finding moved
back to the place in the seed document a person wrote.

The seed models check the seed's own fields; the rules Databricks applies to the result
(a jar task needs a cluster, a pipeline or SQL task takes none, autoscale or num_workers,
parameter sizes, one kind per library, trigger / health / queue values) live once, in
``_jobs_checks``. Running them here keeps the two formats from drifting apart: a seed
workflow is accepted only when its export would be.

A converted path maps back by its task or cluster index (the converted lists keep the
seed's order, but the seed's position is taken from where each entry was read) and a
small table of renamed fields (``notebook_task.base_parameters`` was ``parameters``,
``new_cluster.node_type_id`` was ``node_type``). A field with no seed spelling maps to
the entry it belongs to, so the path still names the task or cluster to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from service.workflows._issues import Loc, SpecIssue, format_path
from service.workflows._jobs_checks import check_job_settings

_INDEXED = re.compile(r"^\$\.(tasks|job_clusters)\[(\d+)\](.*)$")

# (converted suffix, seed suffix, whether the rest of the path follows): the first whose
# converted suffix is a whole-segment prefix of the path wins, so longer spellings come
# first. A field the seed spells as one value (``file``, ``query_id``) swallows the rest.
_FieldTable = tuple[tuple[str, str, bool], ...]
_TASK_FIELDS: _FieldTable = (
    (".notebook_task.base_parameters", ".parameters", True),
    (".notebook_task", "", True),
    (".spark_python_task", "", True),
    (".python_wheel_task.named_parameters", ".parameters", True),
    (".python_wheel_task", "", True),
    (".spark_jar_task", "", True),
    (".sql_task.query", ".query_id", False),
    (".sql_task.file", ".file", False),
    (".sql_task.parameters", ".query", False),  # only inline SQL has them: lifted from it
    (".sql_task", "", True),
    (".pipeline_task", "", True),
)
_CLUSTER_FIELDS: _FieldTable = (
    (".job_cluster_key", ".cluster_key", True),
    (".new_cluster.node_type_id", ".node_type", True),
    (".new_cluster.driver_node_type_id", ".driver_node_type", True),
    (".new_cluster.autoscale.min_workers", ".min_workers", True),
    (".new_cluster.autoscale.max_workers", ".max_workers", True),
    (".new_cluster.autoscale", ".autoscale", False),
    (".new_cluster.azure_attributes", "", True),
    (".new_cluster.cluster_log_conf", ".cluster_key", False),  # derived from the key
    (".new_cluster", "", True),
)
_TOP_FIELDS = (
    ("$.schedule.quartz_cron_expression", "$.schedule.cron"),
    ("$.schedule.timezone_id", "$.schedule.timezone"),
)
_DEPENDENCY_KEY = re.compile(r"^(\.depends_on\[\d+\])\.task_key")
# Databricks' minimum file-arrival timings bind Databricks' own trigger; a seed workflow's
# trigger is fired by Lockgate, which honours shorter ones (a warning, not an error).
_LOCKGATE_TIMINGS = re.compile(
    r"^\$\.trigger\.file_arrival\.(min_time_between_triggers_seconds|wait_after_last_change_seconds)$"
)


def recheck_converted(
    settings: Mapping[str, Any],
    *,
    task_locs: Sequence[Loc],
    cluster_locs: Sequence[Loc],
    inline_sql_tasks: frozenset[int],
    seed_warnings: Sequence[SpecIssue],
) -> tuple[list[SpecIssue], list[SpecIssue]]:
    """(errors, warnings) of the Jobs checks over ``settings``, at seed paths.

    ``task_locs[i]`` / ``cluster_locs[i]`` are where converted task / job cluster ``i``
    was read; ``inline_sql_tasks`` are the converted indices whose ``sql_task.file`` is
    the seed's inline ``query``. A Jobs warning at a path the seed checks already warned
    about is dropped: it says the same thing in other words.
    """
    found = check_job_settings(settings, ())
    warned = {warning.path for warning in seed_warnings}
    errors = [_moved(e, task_locs, cluster_locs, inline_sql_tasks) for e in found.errors]
    lockgate_timing = [e for e in errors if _LOCKGATE_TIMINGS.match(e.path)]
    errors = [e for e in errors if e not in lockgate_timing]
    warnings = [
        moved
        for moved in (_moved(w, task_locs, cluster_locs, inline_sql_tasks) for w in found.warnings)
        if moved.path not in warned
    ] + [
        SpecIssue(
            path=e.path,
            message=f"{e.message} in Databricks; Lockgate fires this trigger itself and "
            "keeps the value, but an exported job needs a value Databricks accepts",
        )
        for e in lockgate_timing
    ]
    return errors, warnings


def _moved(
    found: SpecIssue,
    task_locs: Sequence[Loc],
    cluster_locs: Sequence[Loc],
    inline_sql_tasks: frozenset[int],
) -> SpecIssue:
    return SpecIssue(
        path=seed_path(found.path, task_locs, cluster_locs, inline_sql_tasks),
        message=found.message,
    )


def seed_path(
    path: str,
    task_locs: Sequence[Loc],
    cluster_locs: Sequence[Loc],
    inline_sql_tasks: frozenset[int] = frozenset(),
) -> str:
    """A converted settings path -> the seed document's path for the same thing."""
    for converted, seed in _TOP_FIELDS:
        if _starts_segment(path, converted):
            return seed + path[len(converted) :]
    match = _INDEXED.match(path)
    if match is None:
        return path
    kind, index, rest = match[1], int(match[2]), match[3]
    locs = task_locs if kind == "tasks" else cluster_locs
    if index >= len(locs):
        return path
    if kind == "tasks":
        rest = _DEPENDENCY_KEY.sub(r"\1", rest)
        if index in inline_sql_tasks and _starts_segment(rest, ".sql_task.file"):
            rest = ".query"  # the file is the seed's inline text, published
        table = _TASK_FIELDS
    else:
        table = _CLUSTER_FIELDS
    for converted, seed, keep_rest in table:
        if _starts_segment(rest, converted):
            rest = seed + (rest[len(converted) :] if keep_rest else "")
            break
    return format_path(locs[index]) + rest


def _starts_segment(path: str, prefix: str) -> bool:
    """``prefix`` is a whole-segment prefix: ``.sql_task`` of ``.sql_task.file``, not of
    ``.sql_tasks``."""
    return path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", ".", "[")
