"""Cron checking and Unix -> Quartz conversion, as a table."""

from __future__ import annotations

import pytest

from service.workflows._cron import CronInvalid, to_quartz


@pytest.mark.parametrize(
    ("unix", "quartz"),
    [
        ("0 2 * * *", "0 0 2 * * ?"),
        ("0 6 * * 1", "0 0 6 ? * 2"),
        ("30 4 1 * *", "0 30 4 1 * ?"),
        ("*/15 9-17 * * 1-5", "0 */15 9-17 ? * 2-6"),
        ("0 0 * * 0", "0 0 0 ? * 1"),
        ("0 0 * * 7", "0 0 0 ? * 1"),
        ("0 0 * * 5-7", "0 0 0 ? * 1,6,7"),
        ("0 0 * * */2", "0 0 0 ? * 1/2"),
        ("0 0 * * 1,3,5", "0 0 0 ? * 2,4,6"),
        ("0 8 * * MON-FRI", "0 0 8 ? * MON-FRI"),
        # a range mixing a name and a number shifts as numbers
        ("0 0 * * MON-5", "0 0 0 ? * 2-6"),
        ("0 0 * * 1-SAT", "0 0 0 ? * 2-7"),
        ("0 0 * * sun-3", "0 0 0 ? * 1-4"),
        ("0 0 * * WED-7", "0 0 0 ? * 1,4,5,6,7"),
        ("0 0 * * MON-5/2", "0 0 0 ? * 2-6/2"),
        ("0 0 * * MON-FRI,0", "0 0 0 ? * MON-FRI,1"),
        ("0 0 1 JAN-MAR *", "0 0 0 1 JAN-MAR ?"),
        ("  0   2 * *  * ", "0 0 2 * * ?"),
        ("@daily", "0 0 0 * * ?"),
        ("@weekly", "0 0 0 ? * 1"),
        ("@hourly", "0 0 * * * ?"),
    ],
)
def test_unix_cron_becomes_quartz(unix: str, quartz: str) -> None:
    assert to_quartz(unix) == (quartz, True)


@pytest.mark.parametrize(
    "quartz",
    [
        "0 0 2 * * ?",
        "0 0 2 ? * MON-FRI",
        "0 15 10 L * ?",
        "0 0 12 15W * ?",
        "0 0 12 ? * 6L",
        "0 0 12 ? * 2#3",
        "0 0 12 ? * * 2030",
        "0 0/5 14,18 * * ?",
    ],
)
def test_quartz_passes_through(quartz: str) -> None:
    assert to_quartz(quartz) == (quartz, False)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("60 * * * *", "the minute field `60`"),
        ("0 24 * * *", "the hour field `24`"),
        ("0 0 0 * *", "the day-of-month field `0`"),
        ("0 0 * 13 *", "the month field `13`"),
        ("0 0 * * 8", "the day-of-week field `8`"),
        ("0 0 * * FUN", "`FUN` is not a number or a name (SUN-SAT)"),
        ("0 9-5 * * *", "runs backwards"),
        ("*/0 * * * *", "a step of 0"),
        ("0 0 L * *", "uses Quartz syntax"),
        ("0 0 * * 5#3", "uses Quartz syntax"),
        ("0 0 1 * 1", "sets both day-of-month and day-of-week"),
        ("0 0 2 * * *", "`?` in exactly one"),
        ("0 0 2 ? * ?", "`?` in exactly one"),
        ("61 0 2 * * ?", "the second field `61`"),
        ("0 0 2 ? * 0", "the day-of-week field `0`"),
        ("0 0 2 * * ? 1969", "the year field `1969`"),
        ("0 2 * *", "has 4 fields"),
        ("@reboot", "`@reboot` is not a schedule"),
        ("", "has 0 fields"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, fragment: str) -> None:
    with pytest.raises(CronInvalid) as caught:
        to_quartz(expression)

    assert fragment in str(caught.value)
