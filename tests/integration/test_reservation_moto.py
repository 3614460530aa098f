"""One agent, one call (issue 21, item 2), on DynamoDB (moto) through the adapters: an agent's own events
while reserved (signing out, back in, busy) never end the reservation; only its ticket does, and what
the agent said meanwhile is what they are once it ends."""
from __future__ import annotations

from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketStatus


def status(built, ticket_id: str) -> tuple[TicketStatus, str | None]:  # type: ignore[no-untyped-def]
    ticket = built.stores.tickets.get(ticket_id)
    return ticket.status, ticket.agent_id


def test_an_agent_s_own_events_never_end_a_reservation(built) -> None:  # type: ignore[no-untyped-def]
    clock = built.dispatcher.clock
    for n in (1, 2, 3):
        built.flow.incoming(CallEvent(f"CA{n}", CallStatus.RINGING, f"+1415555010{n}", "+18005550100"))
    clock.advance(10)
    built.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    assert status(built, "support-1") == (TicketStatus.CONNECTING, "ann")
    clock.advance(1)
    built.dispatcher.agent_event("ann", AgentStatus.OFFLINE)  # her app signs out while the bridge rings
    clock.advance(1)
    built.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    assert status(built, "support-2") == (TicketStatus.WAITING, None)  # not a second call for Ann
    ann = built.stores.agents.get_agent("ann")
    assert (ann.status, ann.ticket_id) == (AgentStatus.BUSY, "support-1")
    built.dispatcher.sweep()
    assert status(built, "support-2") == (TicketStatus.WAITING, None)

    clock.advance(30)
    built.dispatcher.bridge_result("support-1", "ann", True, 25.0)  # the first bridge ends: now the next
    assert status(built, "support-1")[0] is TicketStatus.SERVED
    assert status(built, "support-2") == (TicketStatus.CONNECTING, "ann")

    clock.advance(1)
    built.dispatcher.agent_event("ann", AgentStatus.OFFLINE)  # signs out during the second bridge: her word
    built.dispatcher.bridge_result("support-2", "ann", True, 1.0)
    ann = built.stores.agents.get_agent("ann")
    assert (ann.status, ann.ticket_id) == (AgentStatus.OFFLINE, None)  # kept once the reservation ended
    assert status(built, "support-3") == (TicketStatus.WAITING, None)
