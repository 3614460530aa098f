"""A caller's place from the snapshot and what the ticket remembers of joining (issue 11), against the
exact count: never below 1, never above the line's length, off by at most the abandonments since the
caller joined (seeded random arrivals, abandonments and services)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import memory_stores, MemoryStores
from chalicelib.domain import line
from chalicelib.domain.model import AgentStatus, JoinedLine, Ticket, TicketKind, TicketStatus
from chalicelib.ports import QueueSnapshot

START = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


def join(stores: MemoryStores, n: int) -> Ticket:
    snapshot = stores.line.snapshot("q")
    return stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, START + timedelta(seconds=n),
                                             call_id=f"CA{n}", joined=snapshot.joined(0)))


@pytest.mark.parametrize("seed", range(20))
def test_announced_place_is_bounded_by_the_abandonments_since_joining(seed: int) -> None:
    rng = random.Random(seed)
    stores = memory_stores()
    line_now: list[str] = []  # the waiting tickets, in order (the test's own record)
    abandoned_since: dict[str, int] = {}  # ticket -> abandonments since it joined
    for step in range(400):
        roll = rng.random()
        if roll < 0.45 or not line_now:
            ticket = join(stores, step)
            line_now.append(ticket.id)
            abandoned_since[ticket.id] = 0
        elif roll < 0.75:  # someone anywhere in line gives up
            gone = line_now.pop(rng.randrange(len(line_now)))
            assert stores.tickets.abandon(gone, START, 1.0)
            for other in line_now:
                abandoned_since[other] += 1
        else:  # an agent takes the head
            agent = stores.agents.record_agent_status(f"agent{step}", AgentStatus.AVAILABLE, START, "client:a", ("q",), None)
            assert agent is not None and stores.agents.claim(line_now.pop(0), agent.id, START)
        snapshot = stores.line.snapshot("q")
        assert stores.line.waiting_count("q") == len(line_now) == snapshot.total
        for tid in line_now:
            ticket = stores.tickets.get(tid)
            place = line.ahead(snapshot, ticket) + 1
            exact = stores.line.ahead_of(ticket) + 1
            assert 1 <= place <= len(line_now)
            assert abs(place - exact) <= abandoned_since[tid], (seed, step, tid)


def test_a_stale_snapshot_still_gives_a_place_in_the_line() -> None:
    """Stream lag: the caller's own arrival not yet counted, or departures counted twice over."""
    ticket = Ticket("q", 5, TicketKind.LIVE, TicketStatus.WAITING, START, joined=JoinedLine(4, 10, 0))
    assert line.ahead(QueueSnapshot({0: 0}, 10, 0), ticket) == 0  # empty by the snapshot: first
    assert line.ahead(QueueSnapshot({0: 3}, 30, 0), ticket) == 0  # more left than stood ahead
    assert line.ahead(QueueSnapshot({0: 9}, 10, 0), ticket) == 4
    assert line.ahead(QueueSnapshot({0: 9}, 11, 2), ticket) == 5  # two came back, one left


def test_short_lines_and_forgetful_tickets_are_counted() -> None:
    remembers = Ticket("q", 5, TicketKind.LIVE, TicketStatus.WAITING, START, joined=JoinedLine(4, 0, 0))
    forgets = remembers.evolve(joined=None)
    long_line = QueueSnapshot({0: line.SHORT_LINE + 1})
    assert line.counts_exactly(QueueSnapshot({0: 3}), remembers)
    assert not line.counts_exactly(long_line, remembers)
    assert line.counts_exactly(long_line, forgets)
