"""Dynamic value references: resolving at run time and checking at accept time."""

from __future__ import annotations

import pytest

from service.workflows.references import (
    ReferenceContext,
    check_references,
    resolve_references,
    rewrite_legacy_references,
)

# 2024-03-01T02:03:04Z, a Friday
START_MS = 1_709_258_584_000


def _context(**overrides: object) -> ReferenceContext:
    values: dict[str, object] = {
        "job_id": 11,
        "job_name": "orders",
        "run_id": 22,
        "start_time_ms": START_MS,
        "workspace_id": 33,
        "task_key": "load",
        "task_run_id": 44,
        "attempt_number": 1,
        "repair_count": 2,
        "parameters": {"date": "2024-02-29", "my param": "spaced"},
        "task_values": {"extract": {"rows": 5, "name": "x", "ok": True}},
        "task_result_states": {"extract": "SUCCESS"},
        "task_error_codes": {"extract": "NONE"},
        "trigger_type": "FILE_ARRIVAL",
        "trigger_time_ms": START_MS + 3_600_000,
        "file_arrival_location": "abfss://in@acct.dfs.core.windows.net/orders/",
        "for_each_input": {"city": "Oslo", "n": 3},
    }
    values.update(overrides)
    return ReferenceContext(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{job.id}}", "11"),
        ("{{job.name}}", "orders"),
        ("run {{job.run_id}}!", "run 22!"),
        ("{{job.repair_count}}", "2"),
        ("{{ job.start_time.iso_date }}", "2024-03-01"),
        ("{{job.start_time.iso_datetime}}", "2024-03-01T02:03:04"),
        ("{{job.start_time.year}}-{{job.start_time.month}}-{{job.start_time.day}}", "2024-3-1"),
        ("{{job.start_time.hour}}:{{job.start_time.minute}}:{{job.start_time.second}}", "2:3:4"),
        ("{{job.start_time.timestamp_ms}}", str(START_MS)),
        ("{{job.start_time.iso_weekday}} {{job.start_time.is_weekday}}", "5 true"),
        ("{{job.parameters.date}}", "2024-02-29"),
        ("{{job.parameters.`my param`}}", "spaced"),
        ("{{job.trigger.type}}", "FILE_ARRIVAL"),
        ("{{job.trigger.time.hour}}", "3"),
        ("{{job.trigger.file_arrival.location}}", "abfss://in@acct.dfs.core.windows.net/orders/"),
        ("{{task.name}}/{{task.run_id}}/{{task.execution_count}}", "load/44/2"),
        ("{{tasks.extract.values.rows}}", "5"),
        ("{{tasks.extract.values.ok}}", "true"),
        ("{{tasks.`extract`.values.name}}", "x"),
        ("{{tasks.extract.result_state}} {{tasks.extract.error_code}}", "SUCCESS NONE"),
        ("{{input}}", '{"city":"Oslo","n":3}'),
        ("{{input.city}}", "Oslo"),
        ("{{workspace.id}}", "33"),
        # legacy forms
        ("{{job_id}} {{run_id}} {{parent_run_id}} {{task_key}}", "11 44 22 load"),
        ("{{start_date}}", "2024-03-01"),
        ("{{job.start_time}}", "2024-03-01T02:03:04"),
        ("{{start_time}}", str(START_MS)),
        # a retry count (attempt 1 is the first retry), not task.execution_count's 2
        ("{{task_retry_count}}", "1"),
        # not known at run time: left as written
        ("{{tasks.extract.values.missing}}", "{{tasks.extract.values.missing}}"),
        ("{{job.parameters.nope}}", "{{job.parameters.nope}}"),
        ("{{other.thing}}", "{{other.thing}}"),
        # syntax errors are literal text
        ("{{ }}", "{{ }}"),
        ("{{job..id}}", "{{job..id}}"),
        ("{{job.id", "{{job.id"),
        ("{{job.id}", "{{job.id}"),
        ("{{job id}}", "{{job id}}"),
        ("{{`unclosed.id}}", "{{`unclosed.id}}"),
        ("{ {job.id}}", "{ {job.id}}"),
    ],
)
def test_resolve(text: str, expected: str) -> None:
    assert resolve_references(text, _context()) == expected


def test_input_outside_for_each_stays_as_written() -> None:
    from service.workflows.references import NO_INPUT

    assert resolve_references("{{input}}", _context(for_each_input=NO_INPUT)) == "{{input}}"
    assert resolve_references("{{input}}", _context(for_each_input="a")) == "a"
    assert resolve_references("{{input}}", _context(for_each_input=7)) == "7"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{job.naem}}", "did you mean `{{job.name}}`"),
        ("{{job.start_time.iso_dat}}", "did you mean `{{job.start_time.iso_date}}`"),
        ("{{task.nme}}", "did you mean `{{task.name}}`"),
        ("{{workspace.idd}}", "not a dynamic value reference"),
        ("{{tasks.extract.valuez.x}}", "is not a task reference"),
        ("{{tasks.extrac.values.x}}", "names task 'extrac', which is not in this workflow"),
        ("{{job.trigger.time.century}}", "not a dynamic value reference"),
    ],
)
def test_unknown_names_in_known_namespaces_are_errors(text: str, fragment: str) -> None:
    findings = check_references(f"x {text} y", task_keys=frozenset({"extract"}))
    assert len(findings) == 1 and findings[0].error, findings
    assert fragment in findings[0].message


def test_input_is_an_error_outside_for_each() -> None:
    [finding] = check_references("{{input}}", in_for_each=False)
    assert finding.error and "for_each_task" in finding.message
    assert check_references("{{input.city}}", in_for_each=True) == []


@pytest.mark.parametrize(
    "text",
    [
        "{{job.id}} {{job.run_id}} {{job.start_time.iso_date}} {{workspace.id}}",
        "{{tasks.extract.values.n}} {{tasks.extract.result_state}}",
        "{{other.namespace}} {{ }} {{job..x}}",
        "{{job.trigger.file_arrival.location}} {{job.trigger.time.iso_date}}",
    ],
)
def test_known_and_foreign_names_pass(text: str) -> None:
    assert check_references(text, task_keys=frozenset({"extract"})) == []


def test_unknown_job_parameter_is_a_warning() -> None:
    [finding] = check_references("{{job.parameters.dat}}", job_parameters=frozenset({"date"}))
    assert not finding.error and "did you mean `date`" in finding.message


@pytest.mark.parametrize(
    ("legacy", "current", "fragment"),
    [
        ("{{job_id}}", "{{job.id}}", "legacy reference"),
        ("{{run_id}}", "{{task.run_id}}", "legacy reference"),
        ("{{parent_run_id}}", "{{job.run_id}}", "legacy reference"),
        ("{{task_key}}", "{{task.name}}", "legacy reference"),
        ("{{start_date}}", "{{job.start_time.iso_date}}", "legacy reference"),
        ("{{start_time}}", "{{job.start_time.timestamp_ms}}", "when the job run started"),
        ("{{task_retry_count}}", "{{task.execution_count}}", "counts runs of the task from 1"),
        ("{{ job.start_time }}", "{{job.start_time.iso_datetime}}", "needs an argument"),
        ("{{job.trigger.time}}", "{{job.trigger.time.iso_datetime}}", "needs an argument"),
    ],
)
def test_each_legacy_name_has_its_replacement(legacy: str, current: str, fragment: str) -> None:
    text, [note] = rewrite_legacy_references(f"at {legacy}!")
    assert text == f"at {current}!"
    assert fragment in note
    [finding] = check_references(legacy)
    assert not finding.error and finding.message == note


def test_legacy_names_are_rewritten_with_a_note_each() -> None:
    text, notes = rewrite_legacy_references(
        "{{start_date}} {{job.start_time}} {{job_id}} {{job_id}} `{{job.id}}`"
    )
    assert text == (
        "{{job.start_time.iso_date}} {{job.start_time.iso_datetime}} {{job.id}} {{job.id}} "
        "`{{job.id}}`"
    )
    assert len(notes) == 3
    assert any("legacy reference" in note and "{{job.id}}" in note for note in notes)
