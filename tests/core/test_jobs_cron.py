"""Cron: parsing, Metronome's validity rules, L/W/#, and DST in New York and Berlin (pure, no clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.jobs.cron import CronError, cron_problem, fires_between, next_fire, parse_cron

NY, BERLIN, UTC = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")


def fires(cron: str, start: datetime, n: int, tz: ZoneInfo) -> list[datetime]:
    parsed, at, out = parse_cron(cron), start.timestamp(), []
    for _ in range(n):
        nxt = next_fire(parsed, at, tz)
        assert nxt is not None
        out.append(datetime.fromtimestamp(nxt, tz))
        at = nxt
    return out


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "0 0 29 2 * 2027",
                                  "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                                  "* * * *", "* * * * * * *", "a * * * *", "5-1 * * * *", "* * ? * ?",
                                  "*/0 * * * *", "0 0 * * 1#6"])
def test_invalid_expressions_are_refused(cron: str) -> None:
    assert cron_problem(cron) is not None
    with pytest.raises(CronError):
        parse_cron(cron)


@pytest.mark.parametrize("cron", ["* * * * *", "0 0 29 2 *", "0 0 29 2 * 2028", "0 0 L * *", "0 0 15W * *",
                                  "0 0 LW * *", "0 0 * * 5L", "0 0 * * 1#2", "0 9 * JAN-MAR MON-FRI",
                                  "*/15 8-18 * * 1-5", "0 0 1 1 * 2030", "0 0 ? * 0", "0 0 * * 7"])
def test_valid_expressions_parse(cron: str) -> None:
    assert cron_problem(cron) is None


def test_spring_forward_gap_fires_once_at_the_first_valid_instant_new_york() -> None:
    got = fires("30 2 * * *", datetime(2026, 3, 7, 12, tzinfo=NY), 3, NY)
    assert [d.isoformat() for d in got] == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00",
                                            "2026-03-10T02:30:00-04:00"]


def test_every_minute_in_the_gap_fires_once_at_its_end_berlin() -> None:
    got = fires("* 2 * * *", datetime(2026, 3, 29, 1, 58, tzinfo=BERLIN), 3, BERLIN)
    # 02:00-02:59 do not exist on 2026-03-29 in Berlin: one run at 03:00 CEST, then 02:00 the next day.
    assert [d.isoformat() for d in got] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00",
                                            "2026-03-30T02:01:00+02:00"]


def test_fall_back_runs_the_repeated_time_once_new_york() -> None:
    got = fires("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=NY), 2, NY)
    assert [d.isoformat() for d in got] == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_fall_back_hourly_skips_the_second_pass_berlin() -> None:
    got = fires("15 * * * *", datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN), 3, BERLIN)
    # 02:15 happens twice (CEST, then CET): only the first; then 03:15 CET.
    assert [d.isoformat() for d in got] == ["2026-10-25T02:15:00+02:00", "2026-10-25T03:15:00+01:00",
                                            "2026-10-25T04:15:00+01:00"]


def test_after_a_time_inside_the_second_pass_the_repeat_does_not_fire() -> None:
    second_pass = datetime(2026, 11, 1, 1, 10, tzinfo=NY).replace(fold=1)  # 01:10 EST
    got = fires("30 1 * * *", second_pass, 1, NY)
    assert got[0].isoformat() == "2026-11-02T01:30:00-05:00"


def test_l_w_and_hash() -> None:
    assert [d.day for d in fires("0 0 L * *", datetime(2028, 1, 15, tzinfo=UTC), 3, UTC)] == [31, 29, 31]
    # 2026-02-15 is a Sunday: 15W is Monday the 16th; 2026-08-15 a Saturday: Friday the 14th.
    assert fires("0 0 15W 2 *", datetime(2026, 1, 1, tzinfo=UTC), 1, UTC)[0].day == 16
    assert fires("0 0 15W 8 *", datetime(2026, 1, 1, tzinfo=UTC), 1, UTC)[0].day == 14
    # 2026-05-31 is a Sunday: the last weekday of May 2026 is Friday the 29th.
    assert fires("0 0 LW 5 *", datetime(2026, 1, 1, tzinfo=UTC), 1, UTC)[0].day == 29
    assert [d.day for d in fires("0 0 * * 5L", datetime(2026, 12, 1, tzinfo=UTC), 2, UTC)] == [25, 29]
    assert [d.day for d in fires("0 0 * * 1#2", datetime(2026, 12, 1, tzinfo=UTC), 2, UTC)] == [14, 11]


def test_day_of_month_and_week_match_either_when_both_are_given() -> None:
    got = fires("0 0 1 * 1", datetime(2026, 6, 1, 0, 1, tzinfo=UTC), 3, UTC)
    assert [d.day for d in got] == [8, 15, 22]  # Mondays; and the 1st of July after them
    assert fires("0 0 1 * 1", datetime(2026, 6, 29, 1, tzinfo=UTC), 1, UTC)[0].day == 1


def test_year_field_ends_the_schedule() -> None:
    cron = parse_cron("0 0 1 1 * 2027")
    first = next_fire(cron, datetime(2026, 6, 1, tzinfo=UTC).timestamp(), UTC)
    assert first == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert next_fire(cron, first, UTC) is None


def test_fires_between_caps_the_backlog() -> None:
    cron = parse_cron("* * * * *")
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    due, more = fires_between(cron, start, start + 600, UTC, 5)
    assert len(due) == 5 and more
    due, more = fires_between(cron, start, start + 180, UTC, 5)
    assert due == [start + 60, start + 120, start + 180] and not more


@settings(max_examples=60, deadline=None)
@given(minute=st.integers(0, 59), hour=st.integers(0, 23),
       start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
       tz=st.sampled_from([NY, BERLIN, UTC, ZoneInfo("Australia/Lord_Howe")]))
def test_a_daily_schedule_fires_once_per_local_day_in_order(minute: int, hour: int, start: datetime,
                                                              tz: ZoneInfo) -> None:
    cron = parse_cron(f"{minute} {hour} * * *")
    at = start.replace(tzinfo=timezone.utc).timestamp()
    days = []
    for _ in range(4):
        nxt = next_fire(cron, at, tz)
        assert nxt is not None and nxt > at
        local = datetime.fromtimestamp(nxt, tz)
        assert (local.hour, local.minute) == (hour, minute) or local.hour > hour or \
            (local.hour == hour and local.minute > minute)  # moved forward only in a gap
        assert local.timestamp() - at <= timedelta(days=2).total_seconds()
        days.append(local.date())
        at = nxt
    assert len(set(days)) == len(days)
