"""The live-service guard: a callback keeps its place until it would cost live callers the target."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import memory_stores, FakeDialer, FixedClock
from tests.fakes import FakeOrchestrator
from chalicelib.domain import guard
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.errors import ConfigError
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
QUEUE = parse_queue({"id": "support"})


def ticket(number: int, kind: TicketKind = TicketKind.CALLBACK, age: float = 0.0, **extra: object) -> Ticket:
    return Ticket("support", number, kind, TicketStatus.WAITING, NOW - timedelta(seconds=age), **extra)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_defaults_and_settings_parse() -> None:
    # issue 22: the reserve is the callback plan's by default (None), no longer a fixed 4
    assert (QUEUE.live_guard, QUEUE.callback_guard_seconds, QUEUE.recovery_guard_seconds,
            QUEUE.callback_promise_lead_seconds, QUEUE.callback_reserve_agents) == (True, 0, 0, 120, None)
    assert parse_queue({"id": "x", "callback_reserve_agents": 4}).callback_reserve_agents == 4
    assert parse_queue({"id": "x", "callback_reserve_agents": "auto"}).callback_reserve_agents is None
    with pytest.raises(ConfigError):
        parse_queue({"id": "x", "callback_plan_allowance": 0.3, "callback_plan_allowance_max": 0.2})
    assert QUEUE.max_park_seconds >= 3 * 24 * 3600  # a Friday evening's callbacks resume on Monday
    q = parse_queue({"id": "x", "live_guard": False, "callback_guard_seconds": 30, "recovery_guard_seconds": 10,
                     "callback_promise_lead_seconds": 600})
    assert (q.live_guard, q.callback_guard_seconds, q.recovery_guard_seconds, q.callback_promise_lead_seconds) == \
        (False, 30, 10, 600)
    with pytest.raises(ConfigError):
        parse_queue({"id": "x", "live_guard": "yes"})
    with pytest.raises(ConfigError):
        parse_queue({"id": "x", "callback_guard_seconds": -1})


def test_a_requested_callback_keeps_its_place_until_the_live_caller_reaches_the_target() -> None:
    head, live = ticket(1), ticket(2, TicketKind.LIVE)
    target = parse_queue({"id": "support", "callback_guard_seconds": 20})
    assert guard.next_ticket(head, live, target, at(19)) is head
    assert guard.next_ticket(head, live, target, at(20)) is live
    assert guard.next_ticket(head, live, QUEUE, NOW) is live  # the default: live callers first


def test_a_recovery_callback_yields_to_any_live_caller_by_default() -> None:
    head = ticket(1, lost_cause="abandoned", lost_at=NOW)
    live = ticket(2, TicketKind.LIVE)
    assert guard.next_ticket(head, live, QUEUE, NOW) is live
    patient = parse_queue({"id": "support", "recovery_guard_seconds": 30})
    assert guard.next_ticket(head, live, patient, at(29)) is head
    assert guard.next_ticket(head, live, patient, at(30)) is live


def test_a_callback_goes_first_from_the_lead_before_the_time_its_caller_was_told() -> None:
    # told "within 5 minutes" (recorded as a wait of 300 s from the call's start at NOW)
    head = ticket(1, told_shape=5.0, told_scale=60.0)
    live = ticket(2, TicketKind.LIVE, age=-100)  # arrives later and has waited long enough
    assert guard.next_ticket(head, live, QUEUE, at(300 - 121)) is live
    assert guard.next_ticket(head, live, QUEUE, at(300 - 120)) is head
    slot = ticket(1, told_shape=1.0, told_scale=60.0, not_before=at(3600))  # booked for a later slot
    assert guard.promised_at(slot) == at(3600)
    assert guard.next_ticket(slot, live, QUEUE, at(3600 - 121)) is live
    assert guard.next_ticket(slot, live, QUEUE, at(3600 - 120)) is slot
    retry = ticket(1, told_shape=5.0, told_scale=60.0, attempts=2)  # the first attempt kept the promise
    assert guard.next_ticket(retry, live, QUEUE, at(3600)) is live
    untold = ticket(1)  # "as soon as an agent is available": no time, no bound
    assert guard.promised_at(untold) is None
    assert guard.next_ticket(untold, live, QUEUE, at(7200)) is live


def test_no_guard_no_live_caller_or_a_live_head_change_nothing() -> None:
    head, live = ticket(1), ticket(2, TicketKind.LIVE)
    off = parse_queue({"id": "support", "live_guard": False})
    assert guard.next_ticket(head, live, off, at(600)) is head
    assert guard.next_ticket(head, None, QUEUE, at(600)) is head
    assert guard.next_ticket(live, live, QUEUE, at(600)) is live


def test_the_dispatcher_gives_the_agent_the_live_caller_the_guard_picks() -> None:
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    d = Dispatcher(stores, orch, dialer, clock, QueueDirectory([parse_queue({"id": "support", "callback_reserve_agents": 0})]))
    recovery = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
    stores.tickets.abandon(recovery.id, NOW, 30)
    stores.lost.mark_lost(recovery.id, "abandoned", NOW)
    stores.tickets.convert_to_callback(recovery.id, "+14155550100", NOW, NOW, recovering=True)
    stores.table.park(recovery.id, "token-1")
    caller = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA2"))
    assert stores.line.first_live("support").id == caller.id and stores.line.head("support").id == recovery.id
    _, took = d.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=("support",))
    assert took.id == caller.id and [c for c, _ in dialer.redirects] == ["CA2"]
    _, took = d.agent_event("bob", AgentStatus.AVAILABLE, contact="client:bob", queues=("support",))
    assert took.id == recovery.id  # nobody live is waiting: the recovery callback gets bob


def test_with_nobody_live_waiting_a_callback_leaves_agents_idle_for_the_next_caller() -> None:
    head = ticket(1, lost_cause="abandoned", lost_at=NOW)
    two = parse_queue({"id": "support", "callback_reserve_agents": 2})
    assert guard.next_ticket(head, None, two, NOW, idle_others=2, staffed=13) is head
    assert guard.next_ticket(head, None, two, NOW, idle_others=1, staffed=13) is None
    assert guard.next_ticket(head, None, two, NOW, idle_others=0, staffed=1) is head  # a lone agent still calls
    assert guard.next_ticket(head, None, two, NOW, idle_others=1, staffed=2) is head
    assert guard.next_ticket(head, None, QUEUE, NOW, idle_others=3, staffed=13) is None  # no plan: 4 kept
    promised = ticket(1, told_shape=5.0, told_scale=60.0)  # the promise wins over the reserve
    assert guard.next_ticket(promised, None, two, at(300 - 120), idle_others=0, staffed=13) is promised
    assert guard.next_ticket(promised, None, two, at(300 - 121), idle_others=0, staffed=13) is None


def test_the_dispatcher_keeps_the_reserve() -> None:
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    d = Dispatcher(stores, orch, dialer, clock, QueueDirectory([parse_queue({"id": "support",
                                                                          "callback_reserve_agents": 2})]))
    for n in range(2):
        t = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=f"CA{n}"))
        stores.tickets.convert_to_callback(t.id, f"+1415555010{n}", NOW, NOW)
        stores.table.park(t.id, f"token-{n}")
    for name in ("a", "b", "c"):  # three idle agents, two callbacks: only one is taken, two stay idle
        d.agent_event(name, AgentStatus.AVAILABLE, contact=f"client:{name}", queues=("support",))
    assert len(orch.completed) == 1
    assert len(stores.agents.idle_agents("support")) == 2
