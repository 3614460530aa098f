"""Expected arrivals (domain/demand.py): learned per half hour of the week from the line's counter,
scaled by today's pace, the last half hour's rate where nothing is learned."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.demand import Demand, joins

NY = ZoneInfo("America/New_York")
MONDAY_8 = datetime(2026, 11, 2, 8, 0, tzinfo=NY)  # a Monday, 08:00 New York


def feed(demand: Demand, start: datetime, minutes: int, per_minute: "callable", counter: int = 0) -> tuple[Demand, int]:
    """Read the counter every minute (as the sweep does), after `per_minute(local time)` more calls
    came in the minute since the last reading (named by its start)."""
    for m in range(minutes):
        now = start + timedelta(minutes=m)
        counter += per_minute((now - timedelta(minutes=1)).astimezone(NY))
        demand = demand.observe(counter, now, NY)
    return demand, counter


def half_hour(demand: Demand, at: datetime, now: datetime) -> float:
    return demand.rate(at, at + timedelta(minutes=30), NY, now) * 1800


def test_each_half_hour_of_the_week_is_learned_apart() -> None:
    # Monday: 1 call a minute, 2 from 12:00 to 13:00; the other days quiet (1 call every other
    # minute); two weeks of that, read every minute (a half hour of the week seen twice stands alone)
    def calls(local: datetime) -> int:
        if not 8 <= local.hour < 20:
            return 0
        if local.weekday() == 0:
            return 2 if local.hour == 12 else 1
        return local.minute % 2
    demand, counter = feed(Demand({}, {}), MONDAY_8, 14 * 24 * 60, calls)
    now = MONDAY_8 + timedelta(days=14)  # a Monday, 08:00
    assert half_hour(demand, now.replace(hour=9), now) == pytest.approx(30)
    assert half_hour(demand, now.replace(hour=12), now) == pytest.approx(60)  # Monday's busy hour
    tuesday = now + timedelta(days=1)
    assert half_hour(demand, tuesday.replace(hour=12), now) == pytest.approx(15)  # Tuesday's quiet one
    assert half_hour(demand, now.replace(hour=21), now) == pytest.approx(0)  # closed: nobody called


def test_a_half_hour_of_the_week_seen_less_than_twice_leans_on_the_same_half_hour_of_other_days() -> None:
    # three days of 1 call a minute at 12:00; a Thursday (never seen) at 12:00 is any day's 12:00
    demand, _ = feed(Demand({}, {}), MONDAY_8, 3 * 24 * 60, lambda t: int(12 <= t.hour < 13))
    thursday_noon = MONDAY_8 + timedelta(days=3, hours=4)
    assert half_hour(demand, thursday_noon, thursday_noon) == pytest.approx(30)
    # the next Monday at 12:00, seen once with 30 and any day's 12:00 at 30: 30; Monday 12:30 was
    # quiet on Monday only... so with a busy Tuesday 12:30 (60) seen once, it is their average
    demand, _ = feed(Demand({}, {}), MONDAY_8, 2 * 24 * 60, lambda t: (2 if t.weekday() == 1 else 0)
                     if (t.hour, t.minute // 30) == (12, 1) else 0)
    tuesday_1230 = MONDAY_8 + timedelta(days=8, hours=4, minutes=30)
    # Tuesday's own 12:30 (60, seen once) and any day's 12:30 (0 on Monday, 60 on Tuesday: 30)
    assert half_hour(demand, tuesday_1230, MONDAY_8 + timedelta(days=2)) == pytest.approx((60 + 30) / 2)


def test_a_busier_day_than_usual_scales_the_rest_of_it() -> None:
    # two days of 1 call a minute 08-20, then a day at 1.5 a minute until 12:00
    demand, counter = feed(Demand({}, {}), MONDAY_8 - timedelta(hours=8), 2 * 24 * 60, lambda t: int(8 <= t.hour < 20))
    wednesday = MONDAY_8 + timedelta(days=2)
    demand, counter = feed(demand, wednesday - timedelta(hours=8), 12 * 60 + 1, lambda t: (1 + (t.minute % 2))
                           if t.hour >= 8 else 0, counter)
    noon = wednesday + timedelta(hours=4)
    # 360 calls where 240 were expected: pace (360 + 30) / (240 + 30); the afternoon's 30 a half
    # hour becomes 30 x 390 / 270
    assert demand.pace(noon, NY) == pytest.approx(390 / 270, rel=1e-3)
    assert half_hour(demand, noon.replace(hour=15), noon) == pytest.approx(30 * 390 / 270, rel=1e-3)
    assert half_hour(demand, noon.replace(hour=15), noon + timedelta(days=1)) == pytest.approx(30)  # another day


def test_with_no_history_the_last_half_hour_stands_for_the_rest_of_the_day() -> None:
    demand, _ = feed(Demand({}, {}), MONDAY_8, 60, lambda t: 1)  # 08:00-09:00, 30 a half hour
    now = MONDAY_8 + timedelta(hours=1)
    demand = Demand({}, {}, demand.slot, demand.count, demand.joins, demand.at, demand.recent)  # nothing learned
    assert half_hour(demand, now.replace(hour=15), now) == pytest.approx(30)


def test_a_counter_that_went_back_counts_on_from_its_new_value() -> None:
    demand, _ = feed(Demand({}, {}), MONDAY_8, 20, lambda t: 1, counter=500)  # 19 counted after the first
    reset = demand.observe(3, MONDAY_8 + timedelta(minutes=21), NY)  # the snapshot was seeded again
    assert (reset.count, reset.joins) == (19, 3)
    after = reset.observe(13, MONDAY_8 + timedelta(minutes=22), NY)
    assert after.count == 29


def test_half_hours_the_queue_was_closed_teach_nothing() -> None:
    # readings from Sunday 19:00 (closed: the queue opens 08:00-20:00 Monday to Friday) to Monday
    # 20:00, 1 call a minute while open; then Tuesday 19:00's forecast
    def weekdays(moment: datetime) -> bool:
        local = moment.astimezone(NY)
        return local.weekday() < 5 and 8 <= local.hour < 20
    blind, heeding, counter = Demand({}, {}), Demand({}, {}), 0
    for m in range(25 * 60 + 1):
        now = MONDAY_8 - timedelta(hours=13) + timedelta(minutes=m)
        counter += int(weekdays(now - timedelta(minutes=1)))
        blind, heeding = blind.observe(counter, now, NY), heeding.observe(counter, now, NY, weekdays)
    tuesday_19 = MONDAY_8 + timedelta(days=1, hours=11)
    assert half_hour(heeding, tuesday_19, tuesday_19) == pytest.approx(30)  # Monday's 19:00 alone
    assert half_hour(blind, tuesday_19, tuesday_19) == pytest.approx(15)  # Sunday's closed 19:00 as 0 too


def test_state_round_trips() -> None:
    demand, _ = feed(Demand({}, {}), MONDAY_8, 90, lambda t: 1)
    again = Demand.from_state({"demand": demand.state()})
    assert again.state() == demand.state()
    assert half_hour(again, MONDAY_8 + timedelta(days=1), MONDAY_8) == half_hour(demand, MONDAY_8 + timedelta(days=1), MONDAY_8)


def test_joins_are_read_from_the_line_counters() -> None:
    # 5 callers joined; 3 left (2 served, 1 pressed 1); the callback parked again: 3 waiting
    assert joins(waiting=3, departed=3, returned=1) == 5
