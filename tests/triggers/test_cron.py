"""Cron fire times: Quartz specials, Unix semantics (croniter as the oracle), DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from service.triggers.cron import CronError, next_fire, parse


def _fires(expression: str, start: str, count: int, tz: str = "UTC") -> list[str]:
    spec = parse(expression, tz)
    moment = datetime.fromisoformat(start)
    found = []
    for _ in range(count):
        fire = next_fire(spec, moment)
        assert fire is not None
        found.append(fire.astimezone(spec.zone).isoformat())
        moment = fire
    return found


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # Quartz: seconds, `?`, day-of-week 1-7 = SUN-SAT
        ("0 0 2 * * ?", "2026-11-25T00:00:00+00:00", ["2026-11-25T02:00:00+00:00"]),
        ("30 15 10 ? * 2", "2026-11-25T00:00:00+00:00", ["2026-11-30T10:15:30+00:00"]),  # MON
        ("0 0 12 ? * MON-FRI", "2026-11-27T13:00:00+00:00", ["2026-11-30T12:00:00+00:00"]),
        # L: last day; L-2; LW: last weekday; 15W nearest weekday to the 15th
        ("0 0 0 L * ?", "2026-02-01T00:00:00+00:00", ["2026-02-28T00:00:00+00:00"]),
        ("0 0 0 L-2 * ?", "2026-02-01T00:00:00+00:00", ["2026-02-26T00:00:00+00:00"]),
        ("0 0 0 LW * ?", "2026-05-01T00:00:00+00:00", ["2026-05-29T00:00:00+00:00"]),  # 31st=SUN
        ("0 0 0 15W * ?", "2026-08-01T00:00:00+00:00", ["2026-08-14T00:00:00+00:00"]),  # 15=SAT
        ("0 0 0 1W * ?", "2026-08-01T00:00:00+00:00", ["2026-08-03T00:00:00+00:00"]),  # 1=SAT
        # 6L: last Friday; 2#1: first Monday
        ("0 0 9 ? * 6L", "2026-11-01T00:00:00+00:00", ["2026-11-27T09:00:00+00:00"]),
        ("0 0 9 ? * 2#1", "2026-11-03T00:00:00+00:00", ["2026-12-07T09:00:00+00:00"]),
        ("0 0 9 ? * L", "2026-11-25T00:00:00+00:00", ["2026-11-28T09:00:00+00:00"]),  # SAT
        # year field; wrapping range
        ("0 0 0 1 1 ? 2028", "2026-11-25T00:00:00+00:00", ["2028-01-01T00:00:00+00:00"]),
        ("0 0 22-1 * * ?", "2026-11-25T21:30:00+00:00", ["2026-11-25T22:00:00+00:00"]),
        # Unix: 5 fields, day-of-week 0 and 7 are Sunday, macros
        ("0 2 * * 0", "2026-11-25T00:00:00+00:00", ["2026-11-29T02:00:00+00:00"]),
        ("0 2 * * 7", "2026-11-25T00:00:00+00:00", ["2026-11-29T02:00:00+00:00"]),
        ("@daily", "2026-11-25T00:00:00+00:00", ["2026-11-26T00:00:00+00:00"]),
    ],
)
def test_quartz_and_unix_fire_times(expression: str, start: str, expected: list[str]) -> None:
    assert _fires(expression, start, len(expected)) == expected


def test_unix_day_of_month_or_day_of_week() -> None:
    # Vixie cron: with both restricted, either matches (the 1st, or any Monday).
    assert _fires("0 0 1 * 1", "2026-11-25T00:00:00+00:00", 3) == [
        "2026-11-30T00:00:00+00:00",
        "2026-12-01T00:00:00+00:00",
        "2026-12-07T00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    "bad",
    ["0 0 2 * * *", "0 0 2 ? * ?", "61 * * * * ?", "* * *", "0 0 0 32 * ?", "0 0 0 ? * 8"],
)
def test_bad_expressions_are_refused(bad: str) -> None:
    with pytest.raises(CronError):
        parse(bad)
    with pytest.raises(CronError):
        parse("0 0 * * *", "Mars/Olympus")


def test_spring_forward_fires_once_after_the_gap() -> None:
    # Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29.
    assert _fires("0 30 2 * * ?", "2026-03-28T12:00:00+00:00", 3, "Europe/Berlin") == [
        "2026-03-29T03:30:00+02:00",  # 02:30 does not exist: the same distance past the gap
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    # Every 30 minutes keeps running in real time across the gap.
    assert _fires("0 0/30 * * * ?", "2026-03-29T00:45:00+00:00", 3, "Europe/Berlin") == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


def test_fall_back_fires_a_fixed_time_once_and_wildcard_hours_twice() -> None:
    # Europe/Berlin repeats 02:00-03:00 on 2026-10-25.
    assert _fires("0 30 2 * * ?", "2026-10-24T12:00:00+00:00", 2, "Europe/Berlin") == [
        "2026-10-25T02:30:00+02:00",  # the first 02:30 only
        "2026-10-26T02:30:00+01:00",
    ]
    fires = _fires("0 30 * * * ?", "2026-10-24T23:00:00+00:00", 4, "Europe/Berlin")
    assert fires == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",  # the repeated hour runs too: an hourly job stays hourly
        "2026-10-25T03:30:00+01:00",
    ]
    utc = [datetime.fromisoformat(f).astimezone(UTC) for f in fires]
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(utc))


def test_java_zone_ids_and_no_next_fire() -> None:
    assert _fires("0 0 6 ? * MON-FRI", "2026-11-27T09:00:00+00:00", 1, "America/Sao_Paulo") == [
        "2026-11-30T06:00:00-03:00"
    ]
    assert next_fire(parse("0 0 0 30 2 ?"), datetime(2026, 1, 1, tzinfo=UTC)) is None


_FIELD = st.sampled_from(["*", "*/5", "0", "7", "1-5", "10-20/3", "3,9,15"])


@settings(max_examples=60, deadline=None)
@given(
    minute=st.sampled_from(["*", "*/7", "0", "30", "5-10", "0,15,45"]),
    hour=st.sampled_from(["*", "*/3", "0", "13", "9-17"]),
    dom=st.sampled_from(["*", "1", "15", "28-31", "*/10"]),
    month=st.sampled_from(["*", "2", "1-6", "*/4", "12"]),
    dow=st.sampled_from(["*", "0", "1-5", "6,0", "3"]),
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_unix_expressions_agree_with_croniter_in_utc(
    minute: str, hour: str, dom: str, month: str, dow: str, start: datetime
) -> None:
    expression = f"{minute} {hour} {dom} {month} {dow}"
    begin = start.replace(tzinfo=UTC)
    oracle = croniter(expression, begin)
    spec = parse(expression)
    moment = begin
    for _ in range(3):
        expected = oracle.get_next(datetime)
        found = next_fire(spec, moment)
        assert found == expected, expression
        moment = expected
