from datetime import datetime, timedelta, timezone

from chalicelib.domain.model import Outcome
from chalicelib.domain.queues import parse_queue
from chalicelib.domain.retry import next_slot, plan_next, recovery_deadline

SF = "+14158675309"  # America/Los_Angeles
ALWAYS = parse_queue({"id": "q"})
KYIV_HOURS = parse_queue({"id": "k", "hours": {"timezone": "Europe/Kyiv", "mon": ["09:00-18:00"],
                                               "tue": ["09:00-18:00"]}})


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def test_inside_hours_and_window_is_now() -> None:
    now = utc(2026, 11, 23, 18, 0)  # 10:00 in San Francisco
    assert next_slot(ALWAYS, SF, now) == now


def test_too_early_for_the_callee_waits_for_eight_their_time() -> None:
    assert next_slot(ALWAYS, SF, utc(2026, 11, 23, 15, 0)) == utc(2026, 11, 23, 16, 0)  # 08:00 PST


def test_too_late_for_the_callee_waits_for_tomorrow_morning() -> None:
    assert next_slot(ALWAYS, SF, utc(2026, 11, 24, 5, 30)) == utc(2026, 11, 24, 16, 0)  # 21:30 PST


def test_both_business_hours_and_the_calling_window_must_hold() -> None:
    # Kyiv opens 07:00 UTC, but San Francisco is asleep until 16:00 UTC, and Kyiv closes at 16:00 UTC
    # on Monday: Tuesday 16:00 UTC is 18:00 Kyiv (closed) -> never on Tue either, so next Monday? no:
    # the first instant both hold is Monday 16:00 UTC? Kyiv closes 18:00 local = 16:00 UTC (exclusive).
    slot = next_slot(KYIV_HOURS, "+380441234567", utc(2026, 11, 23, 5, 0))
    assert slot == utc(2026, 11, 23, 7, 0)  # a Kyiv number: 09:00 both for the queue and the callee
    assert next_slot(KYIV_HOURS, SF, utc(2026, 11, 23, 5, 0)) is None  # windows never overlap


def test_plan_follows_the_queue_delays_and_stops_after_the_last_attempt() -> None:
    now = utc(2026, 11, 23, 18, 0)
    assert plan_next(ALWAYS, SF, now, 1, Outcome.BUSY) == (now + timedelta(seconds=300), 2)
    assert plan_next(ALWAYS, SF, now, 3, Outcome.NO_ANSWER) == (now + timedelta(seconds=1800), 4)
    assert plan_next(ALWAYS, SF, now, 7, Outcome.MACHINE) == (now + timedelta(seconds=28800), 8)
    assert plan_next(ALWAYS, SF, now, 8, Outcome.MACHINE) is None
    assert plan_next(ALWAYS, SF, now, 1, Outcome.CONNECTED) is None


def test_attempts_that_were_not_the_callees_do_not_count() -> None:
    now = utc(2026, 11, 23, 18, 0)
    assert plan_next(ALWAYS, SF, now, 4, Outcome.AGENT_MISSED) == (now, 4)
    early = utc(2026, 11, 23, 15, 0)
    assert plan_next(ALWAYS, SF, early, 2, Outcome.NOT_NOW) == (utc(2026, 11, 23, 16, 0), 2)


def test_a_number_spanning_zones_waits_for_the_last_of_them_to_wake() -> None:
    st_johns = "+17095550142"  # Newfoundland (UTC-3:30) and Labrador (UTC-4)
    # 05:00 UTC: 01:00 / 01:30 there. The queue's zone (UTC) would allow 08:00 UTC, 04:00 in Labrador
    assert next_slot(ALWAYS, st_johns, utc(2026, 11, 23, 5, 0)) == utc(2026, 11, 23, 12, 0)  # 08:00 in Labrador
    # 00:40 UTC: 20:40 in Labrador but 21:10 in St. John's: tomorrow, when Labrador wakes
    assert next_slot(ALWAYS, st_johns, utc(2026, 11, 24, 0, 40)) == utc(2026, 11, 24, 12, 0)
    assert next_slot(ALWAYS, st_johns, utc(2026, 11, 24, 0, 20)) == utc(2026, 11, 24, 0, 20)  # both awake


def test_a_russian_mobile_is_called_only_while_every_russian_zone_is_awake() -> None:
    moscow_mobile = "+79161234567"  # phonenumbers: any zone from Kaliningrad's neighbour to Kamchatka
    assert next_slot(ALWAYS, moscow_mobile, utc(2026, 11, 23, 12, 0)) == utc(2026, 11, 24, 6, 0)
    assert next_slot(ALWAYS, moscow_mobile, utc(2026, 11, 24, 8, 30)) == utc(2026, 11, 24, 8, 30)
def test_a_recovery_is_retried_only_within_its_horizon_of_open_time() -> None:
    # 09:00-18:00 Kyiv, Monday and Tuesday; a recovery lost Monday at 17:00 Kyiv (15:00 UTC) with a
    # 2-hour horizon: 1 open hour on Monday, 1 on Tuesday -> its deadline is Tuesday 10:00 Kyiv
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
    queue = parse_queue({"id": "k", "hours": {"timezone": "Europe/Kyiv", "mon": ["09:00-18:00"],
                                             "tue": ["09:00-18:00"]}, "recovery_horizon_seconds": 7200,
                         "retry_delays_seconds": [0, 1800, 1800, 1800]})
    lost = Ticket("k", 1, TicketKind.CALLBACK, TicketStatus.SCHEDULED, utc(2026, 11, 23, 15, 0),
                  lost_cause="abandoned", lost_at=utc(2026, 11, 23, 15, 0))
    deadline = recovery_deadline(queue, lost)
    assert deadline == utc(2026, 11, 24, 8, 0)  # Tuesday 10:00 Kyiv
    kyiv = "+380441234567"
    # a no-answer Tuesday 09:20: next at 09:50, inside; at 09:40: 10:10, outside -> given up
    assert plan_next(queue, kyiv, utc(2026, 11, 24, 7, 20), 1, Outcome.NO_ANSWER, deadline) == (utc(2026, 11, 24, 7, 50), 2)
    assert plan_next(queue, kyiv, utc(2026, 11, 24, 7, 40), 1, Outcome.NO_ANSWER, deadline) is None
    asked = Ticket("k", 2, TicketKind.CALLBACK, TicketStatus.SCHEDULED, utc(2026, 11, 23, 15, 0))
    assert recovery_deadline(queue, asked) is None  # a callback the caller asked for has its promise
    assert recovery_deadline(parse_queue({"id": "k", "recovery_horizon_seconds": 0}), lost) is None
