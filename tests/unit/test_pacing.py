"""Outbound pacing (issue 24): dials due at once are let out at the provider account's pace, each once,
in the order they are owed, in virtual time (the in-memory twin; tests/integration/test_pace_moto.py
holds the DynamoDB bucket to the same rules under concurrent workers)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import VirtualClock
from chalicelib.adapters.memory import MemoryAlarm, MemoryPace
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.domain.pacing import Pacer, bridge_dial, callback_dial
from chalicelib.ports import PendingDial

OPENING = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)  # 09:00 in San Francisco


def promised_callback(number: int, promised: datetime, booked: datetime) -> Ticket:
    """A callback whose caller was told to expect it at `promised` (told as a wait from their call)."""
    wait = (promised - booked).total_seconds()
    return Ticket("support", number, TicketKind.CALLBACK, TicketStatus.CONNECTING, booked, caller="+14155550100",
                  callback_number="+14155550100", not_before=OPENING, told_shape=2.0, told_scale=wait / 2)


def world(rate: float) -> tuple[VirtualClock, Pacer, list[tuple[datetime, PendingDial]]]:
    clock = VirtualClock(OPENING)
    dialed: list[tuple[datetime, PendingDial]] = []
    alarm = MemoryAlarm(clock.at)
    pacer = Pacer(MemoryPace(), alarm, clock, "twilio", rate)
    alarm.drain = lambda account: pacer.drain(lambda d: dialed.append((clock.now(), d)))
    return clock, pacer, dialed


def test_a_thousand_callbacks_due_at_once_are_dialed_one_a_second_each_once_in_order_of_promise() -> None:
    clock, pacer, dialed = world(rate=1.0)
    # Promised during the night's outage for 08:00..08:59 (each told its own minute and second); the
    # dial worker hands them in in any order at 09:00, with a few handed in twice (redelivered).
    promises = {n: OPENING - timedelta(hours=1) + timedelta(seconds=3.5 * n) for n in range(1, 1001)}
    tickets = [promised_callback(n, promises[n], OPENING - timedelta(hours=13)) for n in promises]
    random.Random(24).shuffle(tickets)
    for ticket in tickets + tickets[:50]:
        pacer.submit(callback_dial(ticket, f"d{ticket.number}", clock.now()))
    pacer.drain(lambda d: dialed.append((clock.now(), d)))
    clock.run_until(OPENING + timedelta(hours=1))
    assert len(dialed) == 1000
    assert sorted(d.ticket_id for _, d in dialed) == sorted({t.id for t in tickets})       # each once
    assert [d.ticket_id for _, d in dialed] == [f"support-{n}" for n in sorted(promises, key=promises.get)]
    times = [at for at, _ in dialed]
    assert all(b - a >= timedelta(seconds=1) for a, b in zip(times, times[1:]))           # 1 a second at most
    assert times[0] == OPENING and times[-1] == OPENING + timedelta(seconds=999)            # and no slower
    assert pacer.pace.backlog("twilio") == 0


@pytest.mark.parametrize("rate", [5.0, 0.5])
def test_no_two_dials_closer_than_the_pace_allows(rate: float) -> None:
    clock, pacer, dialed = world(rate)
    for n in range(1, 101):
        pacer.submit(callback_dial(promised_callback(n, OPENING, OPENING - timedelta(hours=1)), f"d{n}", clock.now()))
    pacer.drain(lambda d: dialed.append((clock.now(), d)))
    clock.run_until(OPENING + timedelta(minutes=5))
    times = [at for at, _ in dialed]
    assert len(times) == 100 and times[0] == OPENING
    assert all((b - a).total_seconds() >= 1 / rate - 1e-6 for a, b in zip(times, times[1:]))
    for start in times:  # hence never more than `rate` in any second
        assert sum(1 for t in times if start <= t < start + timedelta(seconds=1)) <= max(1, rate)


def test_a_dial_goes_at_once_only_when_its_slot_has_come_and_nobody_waits() -> None:
    clock, pacer, dialed = world(rate=1.0)
    pacer.alarm.drain = None  # type: ignore[attr-defined]  # the alarm is set, but nobody answers it yet
    first, second, third = (promised_callback(n, OPENING, OPENING - timedelta(hours=1)) for n in (1, 2, 3))
    assert pacer.now_or_wait(callback_dial(first, "a", clock.now()))            # the slot had come
    assert not pacer.now_or_wait(callback_dial(second, "b", clock.now()))       # too soon: waits, alarm set
    clock.advance(5)
    assert not pacer.now_or_wait(callback_dial(third, "c", clock.now()))        # the slot came, but b waits first
    assert pacer.pace.backlog("twilio") == 2
    assert pacer.alarm.set == [("twilio", OPENING + timedelta(seconds=1)), ("twilio", clock.now())]  # type: ignore[attr-defined]
    pacer.alarm.drain = lambda account: pacer.drain(lambda d: dialed.append((clock.now(), d)))  # type: ignore[attr-defined]
    pacer.alarm.drain("twilio")  # type: ignore[attr-defined]  # answered now: b goes, c at the next slot
    clock.run_until(OPENING + timedelta(seconds=30))
    assert [d.ref for _, d in dialed] == ["b", "c"] and pacer.pace.backlog("twilio") == 0


def test_promised_and_due_callbacks_go_first_then_holding_callers_agents_then_the_rest() -> None:
    clock, pacer, dialed = world(rate=1.0)
    due = promised_callback(7, OPENING - timedelta(minutes=5), OPENING - timedelta(hours=2))
    later = promised_callback(3, OPENING + timedelta(hours=2), OPENING - timedelta(hours=2))  # not yet due
    recovery = Ticket("support", 2, TicketKind.CALLBACK, TicketStatus.CONNECTING, OPENING - timedelta(hours=3),
                      callback_number="+14155550101", not_before=OPENING - timedelta(hours=1), lost_cause="abandoned")
    holding = Ticket("support", 9, TicketKind.LIVE, TicketStatus.CONNECTING, OPENING - timedelta(minutes=4))
    for dial in (callback_dial(recovery, "r", OPENING), callback_dial(later, "l", OPENING),
                 bridge_dial(holding, "ann", OPENING), callback_dial(due, "d", OPENING)):
        pacer.submit(dial)
    pacer.drain(lambda d: dialed.append((clock.now(), d)))
    clock.run_until(OPENING + timedelta(minutes=1))
    assert [d.ref for _, d in dialed] == ["d", "ann", "r", "l"]


def test_a_failed_placement_costs_its_turn_only() -> None:
    clock, pacer, dialed = world(rate=1.0)

    def place(dial: PendingDial) -> None:
        if dial.ref == "d1":
            raise RuntimeError("provider down for this one")
        dialed.append((clock.now(), dial))

    pacer.alarm.drain = lambda account: pacer.drain(place)  # type: ignore[attr-defined]
    for n in (1, 2):
        pacer.submit(callback_dial(promised_callback(n, OPENING, OPENING - timedelta(hours=1)), f"d{n}", clock.now()))
    pacer.drain(place)
    clock.run_until(OPENING + timedelta(seconds=10))
    assert [(at, d.ref) for at, d in dialed] == [(OPENING + timedelta(seconds=1), "d2")]


def test_a_pace_needs_a_rate() -> None:
    clock = VirtualClock(OPENING)
    with pytest.raises(ValueError):
        Pacer(MemoryPace(), MemoryAlarm(clock.at), clock, "twilio", 0.0)
