"""Chosen-time slots: the configuration, which slots a callee may be offered, and each slot's capacity
(agents expected then, less those the expected live calls need, at most a share)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import FixedClock, MemoryOperationsLog, memory_stores
from chalicelib.domain.errors import ConfigError
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import parse_queue
from chalicelib.domain.slotbook import SlotBook, live_rate
from chalicelib.ports import SlotClaim
from chalicelib.domain.slots import SlotPolicy, candidates, capacity, compact, expand, expected_agents, slot_key

HOURS = {"timezone": "America/New_York", **{d: ["09:00-17:45"] for d in ("mon", "tue", "wed", "thu", "fri")}}
MONDAY_1PM_NY = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


def queue(**extra: object):  # type: ignore[no-untyped-def]
    return parse_queue({"id": "q", "hours": HOURS, "scheduled_callbacks": {"slot_minutes": 30}, **extra})


@pytest.mark.parametrize("raw, problem", [
    ({"slot_minutes": 25}, "slot_minutes"), ({"offered": 9}, "offered"), ({"max_share": 0}, "max_share"),
    ({"max_share": 1.5}, "max_share"), ({"another_day": "yes"}, "another_day"), ({"slots": 3}, "unknown"),
    ({"tolerance_seconds": -1}, "tolerance_seconds")])
def test_bad_settings_are_refused_at_start(raw: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SlotPolicy.from_config(raw, "queues.q.scheduled_callbacks")


def test_keys_name_the_utc_start_and_travel_compactly() -> None:
    start = datetime(2026, 11, 23, 13, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert slot_key(start) == "2026-11-23T18:30Z"
    assert expand(compact(["2026-11-23T18:30Z", "2026-11-24T16:00Z"])) == ["2026-11-23T18:30Z", "2026-11-24T16:00Z"]


def test_only_whole_slots_inside_hours_and_the_callees_window() -> None:
    q = queue()
    ny = list(candidates(q, q.scheduled_callbacks, "+12125550142", datetime(2026, 11, 23, 21, 0, tzinfo=timezone.utc)))
    # 16:00 NY now: 16:15 at the earliest, so 16:30 and 17:00; 17:30-18:00 runs past the 17:45 closing
    assert [s.strftime("%H:%M") for s in ny[:3]] == ["21:30", "22:00", "14:00"]
    sf = list(candidates(q, q.scheduled_callbacks, "+14158675309", datetime(2026, 11, 23, 21, 0, tzinfo=timezone.utc)))
    # a San Francisco callee: Tuesday's slots begin when their calling window opens, 08:00 theirs (11:00 NY)
    assert sf[2] == datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
    london = list(candidates(parse_queue({"id": "q", "hours": HOURS, "allowed_countries": ["GB"],
                                          "scheduled_callbacks": {}}), SlotPolicy(), "+442079460000",
                             datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)))
    # 09:00 NY is 14:00 in London; their window closes at 21:00 theirs, 16:00 NY: the last slot is 15:30 NY
    monday = [s for s in london if s.date() == datetime(2026, 11, 23).date()]
    assert monday[-1] == datetime(2026, 11, 23, 20, 30, tzinfo=timezone.utc)


def test_capacity_is_the_spare_agents_at_most_a_share() -> None:
    policy = SlotPolicy(slot_minutes=30, max_share=0.5)
    # no live calls expected: 4 agents make 4 x 6 callbacks in 30 minutes of 300 s; half of that is 12
    assert capacity(policy, 4, 0.0, 300, 600) == 12
    # 24 live calls an hour of 300 s are 2 erlangs: Erlang C wants 4 agents for 80% in 20 s (C(3,2) = 4/9
    # leaves 58% in 20 s; C(4,2) = 4/23 gives 85%). 6 agents leave 2 spare: 12 callbacks, under the share (18)
    assert capacity(policy, 6, 24 / 3600, 300, 600) == 12
    assert capacity(SlotPolicy(slot_minutes=30, max_share=0.25), 6, 24 / 3600, 300, 600) == 9
    assert capacity(policy, 4, 24 / 3600, 300, 600) == 0  # every agent is needed for the live calls
    assert capacity(policy, 0, 0.0, 300, 600) == 0


def test_agents_expected_come_from_the_roster_else_those_signed_in() -> None:
    roster = {"mon": {"09:00": 3, "14:00": 7, "17:00": 0}}
    q = queue(roster=roster)
    assert expected_agents(q, datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc), staffed_now=1) == 3  # 13:30
    assert expected_agents(q, datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc), staffed_now=1) == 7  # 14:30
    plain = queue(assumed_agents=2)
    assert expected_agents(plain, datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc), staffed_now=5) == 5
    assert expected_agents(plain, datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc), staffed_now=0) == 2
    assert expected_agents(plain, datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc), staffed_now=5) == 0  # closed


def test_live_calls_come_from_the_same_half_hour_a_week_before() -> None:
    policy = SlotPolicy(slot_minutes=30, live_calls_per_hour=100)
    start = datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc)
    history = {"2026-11-16T18:30": {"offered": 15, "after_hours": 3}, "2026-11-16T19:00": {"offered": 40}}
    assert live_rate(policy, history, start) == pytest.approx(24 / 3600)  # 12 in hours that half hour
    assert live_rate(policy, {}, start) == pytest.approx(100 / 3600)  # no history yet: the configured rate
    assert live_rate(SlotPolicy(), {}, start) == 0.0


def test_the_slot_book_reads_history_and_counts() -> None:
    """Six agents rostered, last week's 24 live calls an hour at 13:30: 12 a slot (as above); one
    booked already leaves 11; the 14:00 half hour had no calls: the share (18) bounds it."""
    stores = memory_stores()
    history = MemoryOperationsLog()
    history.record("f1", "q", "2026-11-16T18:30", {"offered": 12})
    caller = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, MONDAY_1PM_NY, call_id="CA1"))
    assert stores.bookings.book_callback(caller, "+12125550199", datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc),
                                         MONDAY_1PM_NY, False, None, "2026-11-23", 3, 100,
                                         slot=SlotClaim("2026-11-23T18:30Z", 12)) == 1  # one booked already
    q = queue(roster={"mon": {"09:00": 6}}, average_handle_seconds=300, scheduled_callbacks={"offered": 2})
    book = SlotBook(stores.bookings, stores.line, history, FixedClock(MONDAY_1PM_NY))
    slots = book.open_slots(q, "+12125550142")
    assert [(s.key, s.capacity, s.left) for s in slots] == [("2026-11-23T18:30Z", 12, 11), ("2026-11-23T19:00Z", 18, 18)]
    assert book.claim(q, "+12125550142", "2026-11-23T18:30Z").capacity == 12  # type: ignore[union-attr]
    assert book.claim(q, "+12125550142", "2026-11-23T18:45Z") is None  # not a slot boundary
    assert book.claim(q, "+12125550142", "2026-11-23T17:00Z") is None  # past
    assert book.claim(q, "+14158675309", "2026-11-24T14:00Z") is None  # 06:00 in San Francisco
