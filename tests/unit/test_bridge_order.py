"""A live caller bridged to an agent (issue 21, item 1): the provider sends the agent leg's events, the
call's status callback and the Dial's action at once, in any order, duplicated and late. Whoever talked
to the agent is served: never recorded lost, never booked a recovery callback, never dialed again.
Whoever did not is lost once, with one recovery. Every order of the events, each with seeded
duplicates and gaps, on the memory world (the stream, the workflow and the sweep as scheduled work)."""
from __future__ import annotations

import itertools
import random
from datetime import datetime, timezone
from typing import Callable

import pytest

from chalicelib.adapters.memory import FakeDialer
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
CALL, CALLER, SUPPORT = "CA1", "+12125550100", "+18005550100"
WAITED = 40  # past the short-abandon threshold: a lost call would be booked a recovery
TALKED = 95
SETTLED = 15 * 60  # long after every event: the sweep has run many times, any booked callback dialed

Event = Callable[[MemoryWorld, str], object]


def leg_ringing(w: MemoryWorld, tid: str) -> object:
    return w.dispatcher.bridge_leg(tid, "ann", CallStatus.RINGING)


def leg_answered(w: MemoryWorld, tid: str) -> object:
    return w.dispatcher.bridge_leg(tid, "ann", CallStatus.IN_PROGRESS)


def status_completed(w: MemoryWorld, tid: str) -> object:
    return w.flow.incoming(CallEvent(CALL, CallStatus.COMPLETED, CALLER, SUPPORT))


def dial_answered(w: MemoryWorld, tid: str) -> object:
    return w.dispatcher.bridge_result(tid, "ann", True, float(TALKED))


def dial_not_answered(w: MemoryWorld, tid: str) -> object:
    return w.dispatcher.bridge_result(tid, "ann", False, 0.0)


def bridged() -> tuple[MemoryWorld, str]:
    """A caller waits 40 s, then Ann is free and the caller is put through to her."""
    w = build_memory(QueueDirectory([parse_queue({"id": "support"})]), MONDAY_10_NY, dialer=FakeDialer())
    w.flow.incoming(CallEvent(CALL, CallStatus.RINGING, CALLER, SUPPORT))
    tid = w.stores.tickets.find_by_call(CALL).id
    w.clock.advance(WAITED)
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.clock.advance(0.5)
    assert [call for call, _ in w.dialer.redirects] == [CALL]
    assert w.stores.tickets.get(tid).status is TicketStatus.CONNECTING
    return w, tid


def deliver(w: MemoryWorld, tid: str, events: list[Event], rng: random.Random) -> list[str]:
    """The events in this order, each maybe repeated at once or later, a random gap before each: all sent
    as the conversation (if any) ended, delivered late and out of order."""
    w.clock.advance(TALKED + 3)
    sent = [e for e in events for _ in range(1 + (rng.random() < 0.3))]
    sent += [rng.choice(events) for _ in range(rng.randrange(2))]  # a late repeat after the rest
    for event in sent:
        w.clock.advance(rng.uniform(0, 3))
        event(w, tid)
    w.clock.advance(SETTLED)
    return [e.__name__ for e in sent]


def orders(events: tuple[Event, ...], seeds: int) -> list[tuple[list[Event], int]]:
    return [(list(p), seed) for p in itertools.permutations(events) for seed in range(seeds)]


TALKED_CASES = (
    # (a) the agent's leg answered; the call's end and the Dial's end come in any order
    orders((leg_ringing, leg_answered, status_completed, dial_answered), 3)
    # (b) no leg event at all: only the Dial's action says they talked
    + orders((status_completed, dial_answered), 6)
    + orders((leg_ringing, status_completed, dial_answered), 3)
)


@pytest.mark.parametrize(("events", "seed"), TALKED_CASES)
def test_a_caller_who_talked_is_served_whatever_the_order(events: list[Event], seed: int) -> None:
    w, tid = bridged()
    sent = deliver(w, tid, events, random.Random(seed))
    ticket = w.stores.tickets.get(tid)
    assert (ticket.status, ticket.kind, ticket.lost_cause) == (TicketStatus.SERVED, TicketKind.LIVE, None), sent
    assert w.stores.lost.lost_calls("support").items == [], sent
    assert [e for e in w.bus.events if e.get("event") == "lost_call"] == [], sent
    assert w.orchestrator.executions == {}, sent  # no recovery callback booked
    assert w.dialer.calls == [], sent  # nobody dialed
    assert w.stores.agents.get_agent("ann").status is AgentStatus.AVAILABLE, sent


NOT_TALKED_CASES = (
    # the caller hung up while Ann's phone rang: the Dial's action says not answered (or never comes)
    orders((leg_ringing, status_completed, dial_not_answered), 4)
    + orders((status_completed, dial_not_answered), 6)
    + orders((leg_ringing, status_completed), 6)
    + [([status_completed], seed) for seed in range(6)]
)


@pytest.mark.parametrize(("events", "seed"), NOT_TALKED_CASES)
def test_a_caller_who_never_talked_is_lost_once_with_one_recovery(events: list[Event], seed: int) -> None:
    w, tid = bridged()
    sent = deliver(w, tid, events, random.Random(seed))
    ticket = w.stores.tickets.get(tid)
    assert (ticket.lost_cause, ticket.kind) == ("abandoned", TicketKind.CALLBACK), sent  # its recovery
    assert [t.id for t in w.stores.lost.lost_calls("support").items] == [tid], sent
    assert [e["ticket_id"] for e in w.bus.events if e.get("event") == "lost_call"] == [tid], sent
    assert list(w.orchestrator.executions) == [f"mem:{tid}-1"], sent  # one recovery
    assert len(w.dialer.calls) <= 1, sent  # the one recovery, dialed once at most


def test_a_dial_end_later_than_the_grace_cancels_the_recovery_booked_meanwhile() -> None:
    from chalicelib.domain.dispatch import HANG_UP_GRACE

    w, tid = bridged()
    w.dispatcher.agent_event("ann", AgentStatus.OFFLINE)  # signs out on the call: free for nobody after it
    w.clock.advance(TALKED)
    status_completed(w, tid)
    w.clock.advance(HANG_UP_GRACE.total_seconds() + 61)  # no result came: the sweep gave the caller up
    ticket = w.stores.tickets.get(tid)
    assert (ticket.kind, ticket.lost_cause, ticket.status) == (TicketKind.CALLBACK, "abandoned", TicketStatus.WAITING)
    execution = ticket.execution_id or ""
    dial_answered(w, tid)  # the Dial's end, very late: they talked
    w.clock.advance(SETTLED)
    ticket = w.stores.tickets.get(tid)
    assert ticket.status is TicketStatus.CANCELLED and ticket.recovered_at is not None
    assert w.orchestrator.status(execution)[0] == "ABORTED"
    assert w.stores.lost.lost_calls("support").items == [] and w.dialer.calls == []
