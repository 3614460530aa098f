"""Holdfast on the in-memory adapters in virtual time (the simulator's engine): whole callbacks."""
from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.adapters.memory import FakeDialer
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.bootstrap import build_memory

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def booked_world(**queue: object):  # type: ignore[no-untyped-def]
    w = build_memory(QueueDirectory([parse_queue({"id": "support", **queue})]), MONDAY_10_NY, dialer=FakeDialer())
    w.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+12125550100", "+18005550100"))
    tid = w.stores.tickets.find_by_call("CA1").id
    for step in ("offer", "confirm"):
        getattr(w.flow, step)(tid, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=("support",))
    w.clock.advance(1)
    return w, tid


def test_a_long_callback_conversation_is_not_dialed_again() -> None:
    # The outcome of an agent-first callback comes when the conversation ends: a 15-minute talk must
    # not run past the Dial step's timeout, or the workflow counts the attempt and dials again.
    w, tid = booked_world()
    assert len(w.dialer.calls) == 1
    did = w.stores.tickets.get(tid).dial_id
    w.callbacks.answered(tid, did, CallEvent("CAout1", CallStatus.IN_PROGRESS))
    w.clock.advance(15 * 60)
    w.callbacks.dialed(tid, did, CallEvent("CAout1", CallStatus.IN_PROGRESS,
                                           dial_status=CallStatus.COMPLETED, dial_seconds=900.0))
    w.callbacks.call_status(tid, did, CallEvent("CAout1", CallStatus.COMPLETED))
    w.clock.advance(60)
    assert len(w.dialer.calls) == 1
    assert w.stores.tickets.get(tid).status is TicketStatus.SERVED
    assert w.orchestrator.status(w.stores.tickets.get(tid).execution_id or "") == ("SUCCEEDED", None)
    assert w.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE


def test_a_callback_left_at_closing_time_resumes_at_the_next_opening() -> None:
    hours = {"timezone": "America/New_York", "mon": ["08:00-20:00"], "tue": ["08:00-20:00"]}
    w = build_memory(QueueDirectory([parse_queue({"id": "support", "hours": hours})]),
                     datetime(2026, 11, 24, 0, 50, tzinfo=timezone.utc), dialer=FakeDialer())  # Mon 19:50 NY
    w.dispatcher.agent_event("alice", AgentStatus.BUSY, contact="client:alice", queues=("support",))
    w.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+12125550100", "+18005550100"))
    tid = w.stores.tickets.find_by_call("CA1").id
    for step in ("offer", "confirm"):
        getattr(w.flow, step)(tid, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    w.clock.advance(60)
    assert w.stores.tickets.get(tid).status is TicketStatus.WAITING  # parked in line before closing
    w.dispatcher.agent_event("alice", AgentStatus.OFFLINE)
    w.clock.run_until(datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc))  # Tue 08:00 NY: 12 h later
    assert w.stores.tickets.get(tid).status is TicketStatus.WAITING
    assert w.orchestrator.status(w.stores.tickets.get(tid).execution_id or "") == ("RUNNING", None)
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    assert len(w.dialer.calls) == 1 and w.dialer.calls[0]["to"] == "client:alice"
