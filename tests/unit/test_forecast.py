"""The arrivals forecast: same weekday and half hour on the queue's clock, recent weeks weighted,
weeks before the history left out, only completed half hours as history; its error as stated."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.forecast import Forecaster, half_hours, same_slot

LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc


def at(text: str, zone: ZoneInfo = LA) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def test_recent_weeks_weigh_more_and_weeks_before_the_history_are_left_out() -> None:
    slot = at("2025-11-17T10:30")  # a Monday
    history = {at("2025-11-10T10:30"): 10, at("2025-11-03T10:30"): 20, at("2025-10-27T10:30"): 40,
               at("2025-10-20T10:30"): 80}
    every_week = Forecaster(history, LA, at("2025-10-01T00:00"), at("2025-11-17T10:00"))
    assert every_week.forecast(slot) == pytest.approx(0.4 * 10 + 0.3 * 20 + 0.2 * 40 + 0.1 * 80)  # 26
    since_oct_27 = Forecaster(history, LA, at("2025-10-27T00:00"), at("2025-11-17T10:00"))
    assert since_oct_27.forecast(slot) == pytest.approx((0.4 * 10 + 0.3 * 20 + 0.2 * 40) / 0.9)  # 20
    # a week inside the history with no row had no calls: it counts as zero
    gap = Forecaster({at("2025-11-03T10:30"): 20}, LA, at("2025-11-01T00:00"), at("2025-11-17T10:00"))
    assert gap.forecast(slot) == pytest.approx(0.3 * 20 / 0.7)
    assert Forecaster({}, LA, at("2025-11-17T00:00"), at("2025-11-17T10:00")).forecast(slot) is None


def test_only_completed_half_hours_are_history() -> None:
    """At 10:10 the 10:00 half hour is still filling: a forecast of next Monday's 10:00 cannot use it,
    and it has no actual yet."""
    now_slot = at("2025-11-17T10:00")
    history = {now_slot: 3, at("2025-11-10T10:00"): 8}
    method = Forecaster(history, LA, at("2025-11-01T00:00"), now_slot)
    # week 1 back (today's 10:00) left out; week 2 had 8, week 3 (inside the history) none; week 4 before it
    assert method.forecast(at("2025-11-24T10:00")) == pytest.approx((0.3 * 8 + 0.2 * 0) / 0.5)
    assert method.actual(now_slot) is None and method.actual(at("2025-11-10T10:00")) == 8


def test_same_slot_keeps_the_wall_clock_across_a_daylight_saving_change() -> None:
    """Sunday 2 November 2025 LA left daylight time: Monday 10:30 PST is 18:30 UTC, a week earlier
    10:30 PDT was 17:30 UTC."""
    assert same_slot(at("2025-11-03T10:30"), 1, LA) == datetime(2025, 10, 27, 17, 30, tzinfo=UTC)
    day = half_hours(at("2025-11-02T00:00"), at("2025-11-03T00:00"), LA)
    assert len(day) == 50 and day[0] == datetime(2025, 11, 2, 7, 0, tzinfo=UTC)  # a 25-hour day


def test_the_error_is_forecast_minus_actual_over_the_half_hours_it_could_forecast() -> None:
    history = {at("2025-11-03T10:00"): 10, at("2025-11-10T10:00"): 6,  # forecast 10, came 6: +4
               at("2025-11-03T10:30"): 4, at("2025-11-10T10:30"): 8}   # forecast 4, came 8: -4
    method = Forecaster(history, LA, at("2025-11-03T00:00"), at("2025-11-17T10:00"))
    week = half_hours(at("2025-11-10T10:00"), at("2025-11-17T10:00"), LA)
    error = method.error(week)
    # 2025-11-17 10:00 is not complete; the other half hours forecast 0 and had 0: left out
    assert (error.half_hours, error.mean_absolute, error.bias, error.weighted_percent) == (2, 4.0, 0.0, round(8 / 14, 4))
    assert "positive = more calls were forecast than came" in error.as_json()["sign"]
