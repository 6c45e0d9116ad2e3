"""Pure decisions of the control-flow tasks: condition_task and for_each_task inputs.

condition_task (Jobs API): EQUAL_TO and NOT_EQUAL compare the operands as strings
(``"12.0" == "12"`` is false); the four ordering ops compare them as numbers and fail
the task when an operand is not a number. for_each_task ``inputs`` is a JSON array
(after dynamic value references are resolved); each item is one iteration, passed to
the inner task as ``{{input}}`` (objects and arrays as JSON text).
"""

from __future__ import annotations

import json
import math

MAX_ITERATIONS = 5000  # the Jobs API's limit on a for-each task's inputs


class ConditionError(ValueError):
    pass


def evaluate_condition(op: str, left: str, right: str) -> bool:
    if op == "EQUAL_TO":
        return left == right
    if op == "NOT_EQUAL":
        return left != right
    a, b = _number(left, "left"), _number(right, "right")
    if op == "GREATER_THAN":
        return a > b
    if op == "GREATER_THAN_OR_EQUAL":
        return a >= b
    if op == "LESS_THAN":
        return a < b
    if op == "LESS_THAN_OR_EQUAL":
        return a <= b
    raise ConditionError(f"unknown condition op {op!r}")


def _number(text: str, side: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConditionError(
            f"the {side} operand {text!r} is not a number (required by numeric comparisons)"
        ) from None
    if math.isnan(value):
        raise ConditionError(f"the {side} operand {text!r} is not a number")
    return value


def parse_for_each_inputs(text: str) -> list[str]:
    """The iteration inputs, each as JSON text (``{{input}}`` renders strings unquoted)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"inputs is not a JSON array: {text[:200]!r} ({exc})") from None
    if not isinstance(items, list):
        raise ValueError(f"inputs must be a JSON array, got {type(items).__name__}")
    if len(items) > MAX_ITERATIONS:
        raise ValueError(f"inputs has {len(items)} items; the limit is {MAX_ITERATIONS}")
    return [json.dumps(item) for item in items]
