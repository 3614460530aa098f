"""A callback at a chosen time in the memory world (the workflow's twin, the stream, the dispatcher in
virtual time): it waits for its slot, then goes ahead of the line, retries inside its slot ahead of it
too, and the reports count it booked and kept on time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.adapters.memory import FakeDialer, MemoryOperationsLog
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.operations import Operations
from chalicelib.domain.queues import QueueDirectory, parse_queue
from tests.helpers import choose_first_slot, record_changes, report_totals

WEEKDAYS = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
QUEUE = {"id": "sched", "numbers": ["+18005550100"], "offer_callback_after_seconds": 0, "average_handle_seconds": 300,
         "average_patience_seconds": 7200, "hours": {"timezone": "America/New_York", **WEEKDAYS},
         "scheduled_callbacks": {"slot_minutes": 30, "tolerance_seconds": 300}}
MONDAY_1PM_NY = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
SLOT_START = datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc)  # 13:30 in New York
SF = "+14158675309"


class World:
    def __init__(self) -> None:
        self.w: MemoryWorld = build_memory(QueueDirectory([parse_queue(QUEUE)]), MONDAY_1PM_NY, dialer=FakeDialer())
        self.history: list[tuple[Ticket | None, Ticket]] = record_changes(self.w)
        self.w.dispatcher.agent_event("alice", AgentStatus.BUSY, contact="client:alice", queues=("sched",))

    def live(self, sid: str, caller: str) -> str:
        self.w.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
        return self.w.stores.tickets.find_by_call(sid).id  # type: ignore[union-attr]

    def choose_first_slot(self, sid: str, caller: str) -> str:
        return choose_first_slot(self.w, sid, caller)

    def counts(self) -> dict[str, float]:
        return report_totals(self.history)


def test_a_chosen_time_goes_ahead_of_the_line_at_its_time_and_retries_inside_its_slot() -> None:
    world = World()
    w = world.w
    holding = [world.live(f"CA{n}", f"+1212555{n:04d}") for n in range(3)]  # live callers first in line
    booked = world.choose_first_slot("CA9", SF)
    ticket = w.stores.tickets.get(booked)
    assert (ticket.kind, ticket.slot, ticket.not_before) == (TicketKind.CALLBACK, "2026-11-23T18:30Z", SLOT_START)

    w.clock.run_until(SLOT_START - timedelta(seconds=1))
    assert w.stores.tickets.get(booked).status is TicketStatus.SCHEDULED  # not in line before its time
    w.clock.run_until(SLOT_START + timedelta(seconds=60))
    assert w.stores.tickets.get(booked).status is TicketStatus.WAITING  # in line at its own place, behind them

    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    # the promise falls due: alice takes the chosen time before the live callers who were ahead of it
    assert [c["to"] for c in w.dialer.calls] == ["client:alice"]
    first = w.stores.tickets.get(booked)
    assert first.first_dial_at == SLOT_START + timedelta(seconds=60)
    assert all(w.stores.tickets.get(t).status is TicketStatus.WAITING for t in holding)

    # the callee is busy: alice is free again and takes the first live caller (the retry is not due yet);
    # the queue's retry, 5 minutes later, falls inside the slot and goes ahead of the others again
    w.callbacks.dialed(booked, first.dial_id or "", CallEvent("CAo", CallStatus.IN_PROGRESS,
                                                              dial_status=CallStatus.BUSY))
    w.clock.advance(1)
    assert w.stores.tickets.get(holding[0]).status is TicketStatus.CONNECTING
    w.clock.advance(300)
    assert w.stores.tickets.get(booked).status is TicketStatus.WAITING
    w.dispatcher.agent_event("bob", AgentStatus.AVAILABLE, contact="client:bob", queues=("sched",))
    w.clock.advance(1)
    assert [c["to"] for c in w.dialer.calls] == ["client:alice", "client:bob"]
    retried = w.stores.tickets.get(booked)
    assert (retried.status, retried.attempts, retried.first_dial_at) == (TicketStatus.CONNECTING, 2, first.first_dial_at)
    assert all(w.stores.tickets.get(t).status is TicketStatus.WAITING for t in holding[1:])

    counts = world.counts()
    assert counts["scheduled"] == 1 and counts["scheduled_on_time"] == 1 and counts.get("scheduled_late", 0) == 0
    assert counts["scheduled_late_seconds"] == 60


def test_a_late_first_dial_is_counted_late() -> None:
    world = World()
    w = world.w
    booked = world.choose_first_slot("CA9", SF)
    w.clock.run_until(SLOT_START + timedelta(minutes=10))  # nobody free until ten minutes into the slot
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    assert w.stores.tickets.get(booked).first_dial_at == SLOT_START + timedelta(minutes=10)
    counts = world.counts()
    assert counts["scheduled_late"] == 1 and counts.get("scheduled_on_time", 0) == 0


def test_a_retry_after_its_slot_waits_like_any_callback() -> None:
    world = World()
    w = world.w
    booked = world.choose_first_slot("CA9", SF)
    w.clock.run_until(SLOT_START + timedelta(minutes=20))
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    holding = world.live("CA1", "+12125550001")  # a live caller arrives during the attempt
    w.callbacks.dialed(booked, w.stores.tickets.get(booked).dial_id or "",
                       CallEvent("CAo", CallStatus.IN_PROGRESS, dial_status=CallStatus.BUSY))
    w.clock.advance(15 * 60)  # the retry parks at 13:55 + 5 min = 14:00: the slot is over
    assert w.stores.tickets.get(booked).status is TicketStatus.WAITING
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    assert w.stores.tickets.get(holding).status is TicketStatus.CONNECTING  # the live caller first now
    assert w.stores.tickets.get(booked).status is TicketStatus.WAITING


def test_the_console_lists_scheduled_callbacks_by_slot() -> None:
    world = World()
    w = world.w
    world.choose_first_slot("CA1", SF)
    world.choose_first_slot("CA2", "+12125550002")
    ops = Operations(w.stores, MemoryOperationsLog(), w.flow.queues, w.clock, w.orchestrator, w.flow)
    slots = ops.scheduled("sched")
    # one agent signed in, 300 s a call: 6 callbacks in 30 minutes, half of them for chosen times
    assert slots[0] == {"slot": "2026-11-23T18:30Z", "start": "2026-11-23T18:30:00+00:00", "capacity": 3,
                        "booked": 2, "left": 1}
    assert slots[1]["slot"] == "2026-11-23T19:00Z" and slots[1]["booked"] == 0
    assert slots[8]["slot"] == "2026-11-23T22:30Z"  # the last whole slot before 18:00 in New York
    assert slots[9]["slot"] == "2026-11-24T14:00Z"  # then Tuesday from 09:00: 24 slots in all
    assert len(slots) == 24 and slots[-1]["slot"] == "2026-11-24T21:00Z"
