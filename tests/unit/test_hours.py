from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.errors import ConfigError
from chalicelib.domain.hours import BusinessHours

KYIV = BusinessHours.from_config({
    "timezone": "Europe/Kyiv", "mon": ["09:00-18:00"], "tue": ["09:00-13:00", "14:00-18:00"],
    "fri": ["09:00-17:00"], "holidays": ["2026-12-25"],
})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_open_inside_hours_in_queue_time_zone() -> None:
    # Monday 2026-11-23 10:00 Kyiv is 08:00 UTC
    assert KYIV.is_open(utc(2026, 11, 23, 8, 0))
    assert not KYIV.is_open(utc(2026, 11, 23, 6, 59))
    assert not KYIV.is_open(utc(2026, 11, 23, 16, 0))  # 18:00 Kyiv: closed


def test_lunch_break_closes_and_reopens() -> None:
    assert not KYIV.is_open(utc(2026, 11, 24, 11, 30))  # 13:30 Kyiv Tuesday
    assert KYIV.next_opening(utc(2026, 11, 24, 11, 30)) == utc(2026, 11, 24, 12, 0)


def test_next_opening_skips_closed_days_and_holidays() -> None:
    # Tuesday evening -> next is Friday (no hours Wed/Thu)
    assert KYIV.next_opening(utc(2026, 11, 24, 17, 0)) == utc(2026, 11, 27, 7, 0)
    # Christmas Friday is a holiday -> Monday 28th
    assert KYIV.next_opening(utc(2026, 12, 24, 16, 0)) == utc(2026, 12, 28, 7, 0)


def test_next_opening_when_open_is_now() -> None:
    now = utc(2026, 11, 23, 8, 0)
    assert KYIV.next_opening(now) == now


def test_always_open_and_midnight_close() -> None:
    always = BusinessHours.always("America/New_York")
    assert always.is_open(utc(2026, 11, 23, 4, 0))
    night = BusinessHours.from_config({"timezone": "UTC", "mon": ["20:00-00:00"]})
    assert night.is_open(utc(2026, 11, 23, 23, 59))
    assert not night.is_open(utc(2026, 11, 24, 0, 0))


@pytest.mark.parametrize("raw, field", [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"mon": ["nine-to-five"]}, "mon"),
    ({"mon": ["18:00-09:00"]}, "closes before it opens"),
    ({"holidays": ["25.12.2026"]}, "holidays"),
])
def test_bad_hours_are_config_errors_naming_the_field(raw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        BusinessHours.from_config(raw)


def test_staffed_hours_take_the_queues_time_zone_and_opt_out_hint_is_checked() -> None:
    from chalicelib.domain.queues import parse_queue
    queue = parse_queue({"id": "ny", "hours": {"timezone": "America/New_York", "mon": ["00:00-00:00"]},
                         "staffed_hours": {"mon": ["10:00-18:00"]}, "opt_out_hint": "every_caller"})
    assert queue.staffed_hours is not None and queue.staffed_hours.tz == "America/New_York"
    assert queue.staffed_hours.next_opening(utc(2026, 11, 23, 5, 0)) == utc(2026, 11, 23, 15, 0)
    assert parse_queue({"id": "x"}).staffed_hours is None and parse_queue({"id": "x"}).opt_out_hint == "after_choice"
    with pytest.raises(ConfigError, match="opt_out_hint"):
        parse_queue({"id": "x", "opt_out_hint": "sometimes"})
    with pytest.raises(ConfigError, match="staffed_hours.mon"):
        parse_queue({"id": "x", "staffed_hours": {"mon": ["late"]}})


def test_open_time_counts_only_the_hours_the_queue_is_open() -> None:
    # Kyiv (above): Monday 09:00-18:00, Tuesday 09:00-13:00 and 14:00-18:00
    monday_17 = datetime(2026, 11, 23, 17, 0, tzinfo=ZoneInfo("Europe/Kyiv"))
    assert KYIV.after_open(monday_17, 1800) == monday_17 + timedelta(minutes=30)  # before closing
    tuesday_0930 = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("Europe/Kyiv"))
    assert KYIV.after_open(monday_17, 5400) == tuesday_0930  # 1 h on Monday, then 30 min on Tuesday
    assert KYIV.after_open(monday_17 - timedelta(hours=10), 3600) == monday_17 - timedelta(hours=7)  # from opening
    tuesday_1230 = datetime(2026, 11, 24, 12, 30, tzinfo=ZoneInfo("Europe/Kyiv"))
    assert KYIV.after_open(tuesday_1230, 3600) == tuesday_1230 + timedelta(hours=2)  # across lunch
