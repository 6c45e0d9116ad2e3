"""Lockgate's job-completion trigger: a workflow started when upstream runs end.

Written inside the workflow's ``trigger`` block, in every input format::

    trigger:
      job_completion:
        if_status: SUCCESS            # SUCCESS (default) | FAILED | DONE
        condition: ALL                # ALL (default) | ANY
        min_time_between_triggers_seconds: 0
        upstreams:                    # 1..N, each exactly one of:
          - workflow: nightly-ingest  # a Lockgate workflow (its final outcome)
          - job_id: 123               # a Databricks job
          - job_name: ingest          # every job of that name in the workspace
          - job_tag: {team: finance}  # every job carrying these tags ("*": tag present)
        workspace: default            # the workspace profile the job upstreams live in

The outcome filter is Databricks' own (its job-completion trigger): SUCCESS matches
SUCCESS or SUCCESS_WITH_FAILURES, FAILED any other result, DONE any result. ``ALL`` fires
once every upstream has a new matching run since the last fire; ``ANY`` fires for each.
``pause_status: PAUSED`` on the ``trigger`` block pauses it, as for the other triggers.

Lockgate fires this trigger itself, and Databricks has no such setting, so the block is
never part of the job settings (``take_job_completion``). When the job declares job
parameters, the ``upstream_*`` parameters a fire passes are declared too (Databricks
refuses job parameters a job does not declare); without declared parameters they reach
notebooks as notebook parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from service.workflows._issues import Loc, SpecIssue, describe_value, format_path, issue
from service.workflows._seed_checks import WORKFLOW_TAG

# The tag naming the workflow on the job Lockgate deploys for it: a job run carrying
# the downstream's own name never triggers it.
OWN_JOB_TAG = WORKFLOW_TAG

BLOCK = "job_completion"
IF_STATUSES = ("SUCCESS", "FAILED", "DONE")
CONDITIONS = ("ALL", "ANY")
UPSTREAM_KINDS = ("workflow", "job_id", "job_name", "job_tag")
MAX_UPSTREAMS = 100
MAX_JOB_NAME_LENGTH = 500
DEFAULT_WORKSPACE = "default"
# What a fire passes to the run, comma-separated in upstream order.
UPSTREAM_PARAMETERS = (
    "upstream_run_ids",
    "upstream_job_ids",
    "upstream_result_states",
    "upstream_workflows",
)
# Databricks' own job-completion trigger counts SUCCESS_WITH_FAILURES as a success.
SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
# The trigger kinds Databricks allows one of, and ours.
TRIGGER_KINDS = ("file_arrival", "periodic", "table_update", "table", BLOCK)

_BLOCK_KEYS = frozenset(
    {"if_status", "condition", "min_time_between_triggers_seconds", "upstreams", "workspace"}
)
_WORKFLOW_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

UpstreamKind = Literal["workflow", "job_id", "job_name", "job_tag"]


@dataclass(frozen=True)
class Upstream:
    """One upstream selector; ``value`` is the workflow name, the job id, the job name,
    or the tags as sorted (name, value) pairs."""

    kind: UpstreamKind
    value: str | int | tuple[tuple[str, str], ...]
    path: str = field(default="", compare=False)  # where it is written, for messages

    @property
    def key(self) -> str:
        """Names the upstream whatever its place in the list (state is kept by it)."""
        if isinstance(self.value, tuple):
            return f"job_tag:{json.dumps(dict(self.value), sort_keys=True)}"
        return f"{self.kind}:{self.value}"

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.value) if isinstance(self.value, tuple) else {}

    def as_json(self) -> dict[str, Any]:
        """The selector as written (``{"job_tag": {...}}``), for storing."""
        value: Any = self.tags if self.kind == "job_tag" else self.value
        return {self.kind: value}


@dataclass(frozen=True)
class JobCompletionSpec:
    upstreams: tuple[Upstream, ...]
    if_status: str = "SUCCESS"
    condition: str = "ALL"
    min_time_between_triggers_seconds: int = 0
    workspace: str = DEFAULT_WORKSPACE
    paused: bool = False

    @property
    def workflow_upstreams(self) -> tuple[Upstream, ...]:
        return tuple(u for u in self.upstreams if u.kind == "workflow")


def upstream_from_json(selector: Mapping[str, Any]) -> Upstream:
    """An upstream read back from ``Upstream.as_json`` (a stored, checked selector)."""
    kind, value = next(iter(selector.items()))
    if kind == "job_tag":
        return Upstream("job_tag", tuple(sorted((str(k), str(v)) for k, v in value.items())))
    if kind == "job_id":
        return Upstream("job_id", int(value))
    if kind == "workflow":
        return Upstream("workflow", str(value))
    if kind == "job_name":
        return Upstream("job_name", str(value))
    raise ValueError(f"not an upstream selector: {selector!r}")


def status_matches(if_status: str, result_state: str | None) -> bool:
    """Databricks' outcome filter over a completed run's result state."""
    if if_status == "DONE":
        return True
    succeeded = (result_state or "").upper() in SUCCESS_RESULTS
    return succeeded if if_status == "SUCCESS" else not succeeded


def read_job_completion(
    trigger: Any, loc: Loc, *, check_kinds: bool = False
) -> tuple[JobCompletionSpec | None, list[SpecIssue]]:
    """The block inside ``trigger`` (found at ``loc``), or None when there is none;
    every problem at its JSON path. ``check_kinds`` also refuses a second trigger kind
    beside it (Jobs JSON checks that for every trigger already)."""
    if not isinstance(trigger, Mapping) or BLOCK not in trigger:
        return None, []
    at: Loc = (*loc, BLOCK)
    errors: list[SpecIssue] = []
    if check_kinds:
        kinds_issue = trigger_kinds_issue(trigger, loc)
        if kinds_issue is not None:
            errors.append(kinds_issue)
    block = trigger[BLOCK]
    if not isinstance(block, Mapping):
        return None, [*errors, issue(at, f"must be a mapping, not {describe_value(block)}")]
    for key in block:
        if key not in _BLOCK_KEYS:
            errors.append(
                issue(
                    (*at, str(key)),
                    f"unknown key; the block takes {', '.join(sorted(_BLOCK_KEYS))}",
                )
            )
    if_status = _choice(block, "if_status", IF_STATUSES, at, errors)
    condition = _choice(block, "condition", CONDITIONS, at, errors)
    min_time = block.get("min_time_between_triggers_seconds", 0)
    if isinstance(min_time, bool) or not isinstance(min_time, int) or min_time < 0:
        errors.append(
            issue(
                (*at, "min_time_between_triggers_seconds"),
                f"must be a whole number of seconds, at least 0, not {min_time!r}",
            )
        )
    workspace = block.get("workspace", DEFAULT_WORKSPACE)
    if not isinstance(workspace, str) or not workspace.strip():
        errors.append(issue((*at, "workspace"), "must name a workspace profile"))
    upstreams = _upstreams(block.get("upstreams"), (*at, "upstreams"), errors)
    if errors:
        return None, errors
    return (
        JobCompletionSpec(
            upstreams=upstreams,
            if_status=if_status,
            condition=condition,
            min_time_between_triggers_seconds=int(min_time),
            workspace=str(workspace),
            paused=trigger.get("pause_status") == "PAUSED",
        ),
        [],
    )


def trigger_kinds_issue(trigger: Mapping[str, Any], loc: Loc) -> SpecIssue | None:
    kinds = [kind for kind in TRIGGER_KINDS if kind in trigger]
    if len(kinds) == 1:
        return None
    return issue(
        loc,
        "needs exactly one of file_arrival, periodic, table_update or job_completion"
        + (f", not {len(kinds)} ({', '.join(kinds)})" if kinds else ""),
    )


def take_job_completion(settings: dict[str, Any]) -> None:
    """Removes the block from job settings: Databricks has no such field, and a
    ``trigger`` holding nothing else (or only ``pause_status``) is not sent at all."""
    trigger = settings.get("trigger")
    if not isinstance(trigger, Mapping) or BLOCK not in trigger:
        return
    rest = {key: value for key, value in trigger.items() if key != BLOCK}
    if set(rest) <= {"pause_status"}:
        del settings["trigger"]
    else:
        settings["trigger"] = rest


def declare_upstream_parameters(settings: dict[str, Any]) -> tuple[str, ...]:
    """Declares the ``upstream_*`` parameters (default "") in a job that declares job
    parameters, so that a fire's values are accepted; returns every declared name."""
    declared = [p for p in settings.get("parameters") or [] if isinstance(p, Mapping)]
    if declared:
        names = {p.get("name") for p in declared}
        settings["parameters"] = [
            *settings["parameters"],
            *({"name": name, "default": ""} for name in UPSTREAM_PARAMETERS if name not in names),
        ]
    return tuple(str(p["name"]) for p in settings.get("parameters") or [] if isinstance(p, Mapping))


def _choice(
    block: Mapping[str, Any], key: str, allowed: tuple[str, ...], at: Loc, errors: list[SpecIssue]
) -> str:
    value = block.get(key, allowed[0])
    if isinstance(value, str) and value.upper() in allowed:
        return value.upper()
    errors.append(issue((*at, key), f"must be one of {', '.join(allowed)}, not {value!r}"))
    return allowed[0]


def _upstreams(value: Any, at: Loc, errors: list[SpecIssue]) -> tuple[Upstream, ...]:
    if not isinstance(value, list) or not value:
        errors.append(
            issue(
                at,
                "`upstreams` is required: a list of 1 to "
                f"{MAX_UPSTREAMS} entries, each naming a workflow, job_id, job_name or job_tag",
            )
        )
        return ()
    if len(value) > MAX_UPSTREAMS:
        errors.append(issue(at, f"has {len(value)} entries; at most {MAX_UPSTREAMS}"))
    found: list[Upstream] = []
    first: dict[str, int] = {}
    for position, entry in enumerate(value):
        upstream = _upstream(entry, (*at, position), errors)
        if upstream is None:
            continue
        if upstream.key in first:
            errors.append(
                issue(
                    (*at, position),
                    f"names the same upstream as upstreams[{first[upstream.key]}]",
                )
            )
            continue
        first[upstream.key] = position
        found.append(upstream)
    return tuple(found)


def _upstream(entry: Any, at: Loc, errors: list[SpecIssue]) -> Upstream | None:
    if not isinstance(entry, Mapping):
        errors.append(issue(at, f"must be a mapping, not {describe_value(entry)}"))
        return None
    named = [kind for kind in UPSTREAM_KINDS if kind in entry]
    unknown = [str(key) for key in entry if key not in UPSTREAM_KINDS]
    if len(named) != 1 or unknown:
        extra = f" (found {', '.join(named + unknown)})" if named or unknown else ""
        errors.append(issue(at, f"name exactly one of workflow, job_id, job_name, job_tag{extra}"))
        return None
    kind = named[0]
    value = entry[kind]
    where: Loc = (*at, kind)
    path = format_path(at)
    if kind == "workflow":
        if isinstance(value, str) and _WORKFLOW_NAME.match(value):
            return Upstream("workflow", value, path)
        errors.append(issue(where, f"must name a Lockgate workflow, not {value!r}"))
    elif kind == "job_id":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return Upstream("job_id", value, path)
        errors.append(issue(where, f"must be a Databricks job id (a whole number), not {value!r}"))
    elif kind == "job_name":
        if isinstance(value, str) and value.strip() and len(value) <= MAX_JOB_NAME_LENGTH:
            return Upstream("job_name", value, path)
        errors.append(
            issue(where, f"must be the name of a Databricks job (at most {MAX_JOB_NAME_LENGTH})")
        )
    else:
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items())
        ):
            return Upstream("job_tag", tuple(sorted(value.items())), path)
        errors.append(
            issue(where, 'must be a mapping of tag names to text values ("*": the tag is present)')
        )
    return None
