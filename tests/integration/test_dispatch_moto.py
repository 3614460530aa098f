"""Agents racing for the line on DynamoDB (moto): the claims are the table's conditional writes, not
the in-memory twin's lock (tests/unit/test_dispatch.py races the twin with the same events)."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.bootstrap import Container, build_aws
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketStatus

NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)  # 10:00 in San Francisco: the support queue is open
CALLERS, AGENTS = 40, 30


@pytest.fixture
def app(settings) -> Container:  # type: ignore[no-untyped-def]
    return build_aws(settings, clock=FixedClock(NOW), dialer=FakeDialer())


def test_agents_racing_with_duplicated_events_each_take_one_caller_and_no_caller_two_agents(app: Container) -> None:
    callers = []
    for n in range(CALLERS):
        app.flow.incoming(CallEvent(f"CA{n:032d}", CallStatus.RINGING, f"+1415555{n:04d}", "+18005550100"))
        callers.append(app.stores.tickets.find_by_call(f"CA{n:032d}").id)
    for n in range(AGENTS):  # signed in busy first, so that 'available' is what dispatches
        app.dispatcher.agent_event(f"agent{n}", AgentStatus.BUSY, at=NOW - timedelta(minutes=1),
                                   contact=f"client:agent{n}", queues=("support",))
    events = [(f"agent{n}", f"ev{n}") for n in range(AGENTS)] * 2  # every event delivered twice
    random.Random(7).shuffle(events)
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda e: app.dispatcher.agent_event(e[0], AgentStatus.AVAILABLE, at=NOW, event_id=e[1]),
                      events))

    agents = {n: app.stores.agents.get_agent(f"agent{n}") for n in range(AGENTS)}
    tickets = {t: app.stores.tickets.get(t) for t in callers}
    taken = {t.id: t.agent_id for t in tickets.values() if t.status is TicketStatus.CONNECTING}
    # the first AGENTS callers in line are each with one agent; the rest still wait
    assert sorted(taken) == sorted(callers[:AGENTS])
    assert all(tickets[t].status is TicketStatus.WAITING for t in callers[AGENTS:])
    assert sorted(taken.values()) == sorted(f"agent{n}" for n in range(AGENTS))  # no agent twice
    for agent in agents.values():  # each agent names the ticket that names it
        assert agent.status is AgentStatus.BUSY and taken[agent.ticket_id] == agent.id
