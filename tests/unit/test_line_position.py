"""A caller's place from the line's counts and what the ticket remembers of joining (issues 11, 20),
against the exact count, on the in-memory store: seeded joins, hang-ups, claims, bookings (held or for
later), parks, requeues, rejoins and cancellations. The counts move with each write, so they equal the
line at every step; the place is never worse than the exact one, and better by at most the departures
behind the caller (of their class) since they joined."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import MemoryStores, memory_stores
from chalicelib.domain import line
from chalicelib.domain.model import AgentStatus, JoinedLine, Ticket, TicketKind, TicketStatus
from chalicelib.ports import LineCounts

START = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
LATER = START + timedelta(hours=1)


def join(stores: MemoryStores, n: int, priority: int = 0) -> Ticket:
    return stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, START + timedelta(seconds=n),
                                             call_id=f"CA{n}", priority=priority))


class Line:
    """The test's own record: who stands in the line, and, per ticket, the departures behind it (of its
    class) since it joined (the documented bound)."""

    def __init__(self, stores: MemoryStores) -> None:
        self.stores = stores
        self.behind: dict[str, int] = {}

    def standing(self) -> list[Ticket]:
        tickets = [self.stores.tickets.get(t) for t in self.behind]
        return [t for t in tickets if t.in_line]

    def left(self, gone: Ticket) -> None:
        for tid in self.behind:
            other = self.stores.tickets.get(tid)
            if tid != gone.id and other.priority == gone.priority and other.number < gone.number:
                self.behind[tid] += 1

    def check(self) -> None:
        counts = self.stores.line.snapshot("q").line
        standing = self.standing()
        assert counts.total == len(standing) == self.stores.line.waiting_count("q")
        for ticket in standing:
            place = line.ahead(counts, ticket) + 1
            exact = self.stores.line.ahead_of(ticket) + 1
            assert 1 <= place <= len(standing)
            assert exact - self.behind[ticket.id] <= place <= exact, (ticket.id, place, exact)


@pytest.mark.parametrize("seed", range(20))
def test_the_place_is_never_worse_and_better_by_at_most_the_departures_behind(seed: int) -> None:
    rng = random.Random(seed)
    stores = memory_stores()
    record = Line(stores)
    agents = 0
    for step in range(400):
        standing = record.standing()
        waiting = [t for t in standing if t.status is TicketStatus.WAITING]
        roll = rng.random()
        if roll < 0.35 or not standing:
            ticket = join(stores, step, priority=int(rng.random() < 0.15))
            record.behind[ticket.id] = 0
        elif roll < 0.5 and waiting:  # someone anywhere gives up (a callback is cancelled)
            gone = rng.choice(waiting)
            if gone.kind is TicketKind.LIVE:
                assert stores.tickets.abandon(gone.id, START, 1.0)
            else:
                assert stores.dialing.cancel_callback(gone.id, START)
            record.left(gone)
        elif roll < 0.65 and waiting:  # an agent takes someone (the head, or a live caller further back)
            taken = waiting[0] if rng.random() < 0.7 else rng.choice(waiting)
            agents += 1
            agent = stores.agents.record_agent_status(f"a{agents}", AgentStatus.AVAILABLE, START, "client:a", ("q",), None)
            assert agent is not None and stores.agents.claim(taken.id, agent.id, START)
            record.left(taken)
            if rng.random() < 0.3:  # the bridge failed: back at their own place
                assert stores.agents.requeue(taken.id, agent.id)
        elif roll < 0.8:  # a caller in line presses 1: due at once (holds the place) or later (leaves)
            live = [t for t in waiting if t.kind is TicketKind.LIVE]
            if live:
                booked = rng.choice(live)
                later = rng.random() < 0.3
                assert stores.tickets.convert_to_callback(booked.id, "+14155550100", LATER if later else START, START)
                if later:
                    record.left(booked)
        else:  # a workflow parks a booked callback; or a caller with a pending callback calls again
            out = [stores.tickets.get(t) for t in record.behind]
            pending = [t for t in out if t.kind is TicketKind.CALLBACK and t.status is TicketStatus.SCHEDULED]
            if pending:
                chosen = rng.choice(pending)
                if rng.random() < 0.8:
                    stores.table.park(chosen.id, f"token{step}")
                else:
                    assert stores.tickets.rejoin(chosen.id, f"CAagain{step}", START)
        record.check()


def test_a_callback_due_at_once_never_leaves_the_line() -> None:
    """Pressing 1 keeps the place: the caller behind hears the same place before and after the booking,
    and after the workflow parks it (no departure, no return)."""
    stores = memory_stores()
    first, second = join(stores, 1), join(stores, 2)
    before = line.ahead(stores.line.snapshot("q").line, stores.tickets.get(second.id))
    stores.tickets.convert_to_callback(first.id, "+14155550100", START, START)
    assert stores.tickets.get(first.id).in_line and stores.line.head("q").id == second.id  # not claimable yet
    during = line.ahead(stores.line.snapshot("q").line, stores.tickets.get(second.id))
    stores.table.park(first.id, "token")
    after = line.ahead(stores.line.snapshot("q").line, stores.tickets.get(second.id))
    assert before == during == after == 1 == stores.line.ahead_of(stores.tickets.get(second.id))
    assert stores.line.head("q").id == first.id


def test_a_place_taken_for_a_ticket_never_written_is_given_back() -> None:
    """Two deliveries of one incoming webhook: one ticket; the other's place leaves the line."""
    stores = memory_stores()
    join(stores, 1)
    number, counts = stores.tickets.take_place("q")
    assert counts.total == 2
    loser = stores.tickets.open_ticket(Ticket("q", number, TicketKind.LIVE, TicketStatus.WAITING, START,
                                              call_id="CA1", joined=counts.joined(0)))
    assert loser.number == 1  # the call's ticket, opened by the other delivery
    assert stores.line.snapshot("q").line == LineCounts({0: 1}, {0: 1}, {})


def test_counts_and_memory_from_joining() -> None:
    ticket = Ticket("q", 5, TicketKind.LIVE, TicketStatus.WAITING, START, joined=JoinedLine(4, 10, 0))
    assert line.ahead(LineCounts({0: 1}, {0: 10}), ticket) == 0  # alone in its class: first
    assert line.ahead(LineCounts({0: 4}, {0: 30}), ticket) == 0  # more left than stood ahead
    assert line.ahead(LineCounts({0: 9}, {0: 10}), ticket) == 4
    assert line.ahead(LineCounts({0: 9}, {0: 11}, {0: 2}), ticket) == 5  # two came back, one left
    assert line.ahead(LineCounts({0: 9, 1: 3}, {0: 11, 1: 7}, {0: 2}), ticket) == 3 + 5  # the class above, all ahead
    out = ticket.evolve(status=TicketStatus.SCHEDULED)  # out of the line: its own last departure is its own
    assert line.ahead(LineCounts({0: 9}, {0: 11}, {0: 2}), out) == 6


def test_short_lines_and_forgetful_tickets_are_counted() -> None:
    remembers = Ticket("q", 5, TicketKind.LIVE, TicketStatus.WAITING, START, joined=JoinedLine(4, 0, 0))
    forgets = remembers.evolve(joined=None)
    long_line = LineCounts({0: line.SHORT_LINE + 1})
    assert line.counts_exactly(LineCounts({0: 3}), remembers)
    assert not line.counts_exactly(long_line, remembers)
    assert line.counts_exactly(long_line, forgets)
