"""Agents and the line, against fakes."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Dial, Enqueue, Hangup
from chalicelib.adapters.memory import memory_stores, FakeDialer, MemoryStores, FixedClock
from tests.fakes import FakeOrchestrator

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
QUEUES = QueueDirectory.from_config({"queues": [{"id": "support", "callback_reserve_agents": 0, "callback_guard_seconds": 20},
                                                {"id": "sales"}]})
AV = AgentStatus.AVAILABLE


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    return stores, orch, dialer, clock, Dispatcher(stores, orch, dialer, clock, QUEUES)


def live(stores: MemoryStores, call: str, queue: str = "support", priority: int = 0) -> Ticket:
    return stores.tickets.open_ticket(Ticket(queue, 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=call,
                                             priority=priority))


def parked(stores: MemoryStores, call: str, queue: str = "support") -> Ticket:
    t = live(stores, call, queue)
    stores.tickets.convert_to_callback(t.id, "+14155550100", NOW, NOW)
    stores.table.park(t.id, f"token-{t.id}")
    return stores.tickets.get(t.id)


def later(seconds: float = 1) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_available_agent_takes_the_head_live_caller_at_once(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    first, second = live(stores, "CA1"), live(stores, "CA2")
    agent, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert ticket.id == first.id
    [(call_id, script)] = dialer.redirects
    dial = script.verbs[-1]
    assert call_id == "CA1" and isinstance(dial, Dial) and dial.target == "client:alice"
    assert stores.tickets.get(first.id).status is TicketStatus.CONNECTING
    assert stores.agents.get_agent("alice").status is AgentStatus.BUSY
    assert stores.tickets.get(second.id).status is TicketStatus.WAITING


def test_a_parked_callback_is_resumed_with_the_agent(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    cb = parked(stores, "CA1")
    live(stores, "CA2")
    d.agent_event("bob", AV, contact="+14155550111", queues=("support",))
    assert orch.completed == [(f"token-{cb.id}", {"agent_id": "bob"})]
    assert dialer.redirects == []


def test_higher_priority_goes_first_then_ticket_number(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    live(stores, "CA1")
    vip = live(stores, "CA2", priority=1)
    _, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert ticket.id == vip.id


def test_agent_takes_their_queues_in_their_order(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    live(stores, "CA1", "support")
    sale = live(stores, "CA2", "sales")
    _, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("sales", "support"))
    assert ticket.id == sale.id


def test_duplicate_and_stale_events_do_not_double_book(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    live(stores, "CA1"), live(stores, "CA2")
    d.agent_event("alice", AV, at=NOW, contact="client:alice", queues=("support",), event_id="ev1")
    assert d.agent_event("alice", AV, at=NOW, event_id="ev1") == (None, None)  # same event again
    clock.advance(5)
    assert d.agent_event("alice", AV, at=NOW, event_id="ev0")[0] is None  # older than the reservation
    assert len(dialer.redirects) == 1


def test_agent_without_contact_or_not_available_gets_nothing(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    live(stores, "CA1")
    assert d.agent_event("alice", AV, queues=("support",))[1] is None
    assert d.agent_event("bob", AgentStatus.BUSY, contact="client:bob", queues=("support",))[1] is None
    assert stores.agents.staffing("support").staffed == 2 and stores.agents.staffing("support").idle == 1


def test_caller_gone_before_bridging_is_abandoned_and_agent_takes_next(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    gone, next_one = live(stores, "CA1"), live(stores, "CA2")
    dialer.gone.add("CA1")
    _, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert stores.tickets.get(gone.id).status is TicketStatus.ABANDONED
    assert ticket.id == next_one.id


def test_stale_token_frees_the_agent_for_the_next(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    cb = parked(stores, "CA1")
    orch._used.add(f"token-{cb.id}")  # its park timed out a moment ago
    nxt = live(stores, "CA2")
    _, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert ticket.id == nxt.id


def test_a_ticket_joining_the_line_goes_to_an_idle_agent(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    cb = parked(stores, "CA1")
    d.ticket_changed("support", cb.id, TicketStatus.WAITING, TicketStatus.SCHEDULED, None)
    assert orch.completed[0][0] == f"token-{cb.id}"
    assert stores.agents.get_agent("alice").ticket_id == cb.id


def test_bridge_result_serves_or_requeues_at_the_same_place(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    a, b = live(stores, "CA1"), live(stores, "CA2")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    script = d.bridge_result(a.id, "alice", answered=True)
    assert isinstance(script.verbs[-1], Hangup) and stores.tickets.get(a.id).status is TicketStatus.SERVED
    assert stores.agents.get_agent("alice").ticket_id == b.id  # freed, and took the next caller
    script = d.bridge_result(b.id, "alice", answered=False)
    assert isinstance(script.verbs[-1], Enqueue)
    assert stores.tickets.get(b.id).status is TicketStatus.WAITING and stores.line.ahead_of(stores.tickets.get(b.id)) == 0
    assert stores.agents.get_agent("alice").status is AgentStatus.OFFLINE  # missed a call: not handed more


def test_reparked_ticket_releases_a_stale_reservation(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    cb = parked(stores, "CA1")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    stores.table.park(cb.id, "token-2", attempt=2)  # no outcome came: the workflow re-parked it
    d.ticket_changed("support", cb.id, TicketStatus.WAITING, TicketStatus.CONNECTING, "alice")
    assert stores.agents.get_agent("alice").ticket_id == cb.id  # released, then took it again with the new token
    assert orch.completed[-1][0] == "token-2"


def test_two_hundred_racing_events_for_a_hundred_callbacks(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    callbacks = [parked(stores, f"CA{n}") for n in range(100)]
    events = [(f"agent{n}", f"ev{n}") for n in range(100)] * 2  # every event delivered twice
    random.Random(3).shuffle(events)
    for n in range(100):  # sign in busy first, so that 'available' is what dispatches
        d.agent_event(f"agent{n}", AgentStatus.BUSY, at=NOW - timedelta(minutes=1), contact=f"client:a{n}",
                      queues=("support",))
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda e: d.agent_event(e[0], AV, at=NOW, event_id=e[1]), events))
    resumed = [token for token, _ in orch.completed]
    assert sorted(resumed) == sorted(f"token-{c.id}" for c in callbacks)  # each exactly once
    agents = [stores.agents.get_agent(f"agent{n}") for n in range(100)]
    assert len({a.ticket_id for a in agents}) == 100 and all(a.status is AgentStatus.BUSY for a in agents)


def test_provider_down_keeps_the_caller_in_line_and_the_agent_available(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    first = live(stores, "CA1")
    dialer.fail_calls = True
    _, ticket = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert ticket is None
    assert stores.tickets.get(first.id).status is TicketStatus.WAITING and stores.line.ahead_of(stores.tickets.get(first.id)) == 0
    assert stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE


def test_caller_who_hangs_up_while_being_put_through_frees_the_agent(world) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.domain.callflow import CallFlow
    from chalicelib.domain.model import CallEvent, CallStatus
    from chalicelib.adapters.memory import FakeBus

    stores, orch, dialer, clock, d = world
    from chalicelib.domain.dispatch import HANG_UP_GRACE

    flow = CallFlow(stores, orch, clock, QUEUES, FakeBus())
    d.caller_gone = flow.recovery.caller_gone  # as the composition root wires it
    first, second = live(stores, "CA1"), live(stores, "CA2")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    clock.advance(30)
    flow.incoming(CallEvent("CA1", CallStatus.COMPLETED))  # gone before the Dial began: no Dial action
    ticket = stores.tickets.get(first.id)  # nothing says yet whether they talked: the bridge's result decides
    assert (ticket.status, ticket.lost_cause, ticket.hung_up_at) == (TicketStatus.CONNECTING, None, clock.now())
    clock.advance(HANG_UP_GRACE.total_seconds() - 1)
    d.sweep()
    assert stores.tickets.get(first.id).status is TicketStatus.CONNECTING  # still within the grace
    clock.advance(1)
    d.sweep()  # no result came: the caller never talked to Alice
    ticket = stores.tickets.get(first.id)
    assert (ticket.status, ticket.lost_cause, ticket.ended_at) == (TicketStatus.ABANDONED, "abandoned",
                                                                   NOW.replace(second=30))
    assert stores.agents.get_agent("alice").ticket_id == second.id  # freed, and took the next caller


def test_a_deployment_s_own_grace_settles_a_bridge_whose_result_never_came_that_long_after_the_hang_up() -> None:
    from datetime import timedelta

    from chalicelib.adapters.memory import FakeBus
    from chalicelib.domain.callflow import CallFlow
    from chalicelib.domain.model import CallEvent, CallStatus

    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    d = Dispatcher(stores, orch, dialer, clock, QUEUES, hang_up_grace=timedelta(seconds=10))
    flow = CallFlow(stores, orch, clock, QUEUES, FakeBus())
    d.caller_gone = flow.recovery.caller_gone
    first = live(stores, "CA1")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    flow.incoming(CallEvent("CA1", CallStatus.COMPLETED))  # the redirect took, the call ended before the Dial
    clock.advance(9)
    d.sweep()
    assert stores.tickets.get(first.id).status is TicketStatus.CONNECTING  # 9 s: still within its grace
    clock.advance(1)
    d.sweep()
    assert stores.tickets.get(first.id).status is TicketStatus.ABANDONED
    assert stores.agents.get_agent("alice").ticket_id is None


def test_an_agent_left_reserved_for_a_ticket_that_became_a_recovery_callback_is_freed_by_the_sweep() -> None:
    """Seen in the chaos test (telnyx:2): the bridge ended unanswered and the caller went back in line,
    but the agent's release never happened; the caller then hung up (lost, a recovery callback booked on
    the same ticket). The reservation names a ticket no longer CONNECTING: the sweep frees the agent once
    the reservation is RESUME_GRACE old, not before."""
    from chalicelib.domain.dispatch import RESUME_GRACE

    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    d = Dispatcher(stores, orch, dialer, clock, QUEUES)
    first = live(stores, "CA1")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert stores.agents.get_agent("alice").ticket_id == first.id  # claimed: CONNECTING, alice reserved
    assert stores.agents.requeue(first.id, "alice")  # the bridge ended unanswered: back in line, the
    # release lost; the caller hung up and a recovery callback for later was booked on the ticket
    stores.tickets.convert_to_callback(first.id, "+14155550100", NOW, NOW + timedelta(hours=1))
    ticket = stores.tickets.get(first.id)
    assert (ticket.kind, ticket.status) == (TicketKind.CALLBACK, TicketStatus.SCHEDULED)
    assert stores.agents.get_agent("alice").ticket_id == first.id
    clock.advance(RESUME_GRACE.total_seconds() - 1)
    d.sweep()
    assert stores.agents.get_agent("alice").ticket_id == first.id  # not yet: its release may still come
    clock.advance(1)
    d.sweep()
    alice = stores.agents.get_agent("alice")
    assert alice.ticket_id is None and alice.status is AgentStatus.AVAILABLE


def test_the_sweep_matches_idle_agents_with_waiting_tickets_a_trigger_missed(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    stores.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)  # no dispatch happened
    stores.agents.record_agent_status("bob", AV, NOW, "client:bob", ("support",), None)
    cbs = [parked(stores, f"CA{n}") for n in range(3)]
    assert d.sweep() == 2
    assert sorted(t for t, _ in orch.completed) == sorted(f"token-{c.id}" for c in cbs[:2])
    assert d.sweep() == 0  # nobody idle now


def test_the_sweep_frees_agents_left_reserved_for_finished_tickets(world) -> None:  # type: ignore[no-untyped-def]
    stores, orch, dialer, clock, d = world
    first, second = live(stores, "CA1"), live(stores, "CA2")
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))  # takes CA1
    stores.agents.mark_served(first.id, NOW)  # served, but the release was lost
    d.agent_event("bob", AgentStatus.BUSY, contact="client:bob", queues=("support",))  # busy by his own word
    assert d.sweep() == 1
    assert stores.agents.get_agent("alice").ticket_id == second.id  # freed, then took the next caller
    assert stores.agents.get_agent("bob").status is AgentStatus.BUSY
