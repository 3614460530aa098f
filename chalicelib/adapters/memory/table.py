"""The one in-memory table every role adapter shares: the dicts, the line kept in dispatch order with
its counts (moved by the very write that moves a ticket, as DynamoDB's transactions move them), and the
change feed (`on_change`) the memory world turns into the table's stream."""
from __future__ import annotations

import bisect
import threading
from datetime import datetime
from typing import Any, Callable

from ...domain.errors import TicketNotFoundError
from ...domain.model import HOLDING, Agent, Ticket, TicketKind, TicketStatus, ticket_id
from ...ports import LineCounts


class _TicketTable(dict):  # type: ignore[type-arg]
    """The tickets by id; every write (tests write directly too) keeps the table's indexes and stream."""

    def __init__(self, table: "MemoryTable") -> None:
        super().__init__()
        self._table = table

    def __setitem__(self, key: str, ticket: Ticket) -> None:
        if ticket.held and not (ticket.status is TicketStatus.SCHEDULED and ticket.kind is TicketKind.CALLBACK):
            ticket = ticket.evolve(held=False)  # a place is held only while its callback is being parked
        with self._table.lock:
            old = self.get(key)
            super().__setitem__(key, ticket)
            self._table._written(ticket, old)


class MemoryTable:
    """The one in-memory table every memory role reads and writes (as every DynamoDB role shares the one
    table): the items, the indexes DynamoDB would keep (the line in dispatch order, the lost-call list),
    and the change feed the table's stream would deliver."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = _TicketTable(self)
        self.calls: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.agents: dict[str, Agent] = {}
        self.markers: set[str] = set()
        self.dial_tokens: dict[str, str] = {}
        self.bookings: dict[str, int] = {}  # ticket id -> its booking count (names its workflow execution)
        self.open_markers: dict[tuple[str, str], str] = {}
        self.slots: dict[tuple[str, str], int] = {}  # (queue, slot key) -> callbacks booked into it
        self.opt_outs: set[str] = set()
        self.stats: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        # queue -> the line in dispatch order (WAITING tickets), and its live callers alone
        self.waiting: dict[str, list[tuple[int, int, str]]] = {}
        self.waiting_live: dict[str, list[tuple[int, int, str]]] = {}
        self.lost: dict[str, set[str]] = {}  # queue -> unrecovered lost ticket ids
        self.lost_by_number: dict[tuple[str, str], set[str]] = {}  # (queue, number) -> the same, by number
        # Called with (new, old) after every ticket write, like the table's stream (None: nobody listens).
        self.on_change: Callable[[Ticket, Ticket | None], None] | None = None
        # The line's counts (queue -> n{class}, d{class}, r{class}), moved with each write that moves a
        # ticket into or out of the line, as DynamoDB's counter item moves in the same transaction.
        self.line_counters: dict[str, dict[str, int]] = {}
        self.placed: set[str] = set()  # tickets counted in by take_place, not yet written

    @staticmethod
    def _place(line: list[tuple[int, int, str]], old: Ticket | None, new: Ticket | None) -> None:
        """Keep a line sorted in dispatch order: take out the old entry, put in the new one."""
        for t, add in ((old, False), (new, True)):
            if t is None:
                continue
            key = (-t.priority, t.number, t.id)
            i = bisect.bisect_left(line, key)
            present = i < len(line) and line[i] == key
            if add and not present:
                line.insert(i, key)
            elif not add and present:
                del line[i]

    def put(self, ticket: Ticket) -> None:
        """Write a ticket (the table works out what it replaced: indexes, snapshot, stream)."""
        self.tickets[ticket.id] = ticket

    def _written(self, ticket: Ticket, old: Ticket | None) -> None:
        for line, member in ((self.waiting, ticket.in_line),
                             (self.waiting_live, ticket.status is TicketStatus.WAITING and ticket.kind is TicketKind.LIVE)):
            self._place(line.setdefault(ticket.queue_id, []), old, ticket if member else None)
        is_lost = bool(ticket.lost_cause and not ticket.recovered_at)
        lost = self.lost.setdefault(ticket.queue_id, set())
        (lost.add if is_lost else lost.discard)(ticket.id)
        for number in {ticket.caller, ticket.callback_number, old.caller if old else None,
                       old.callback_number if old else None} - {None}:
            by_number = self.lost_by_number.setdefault((ticket.queue_id, str(number)), set())
            mine = is_lost and number in (ticket.caller, ticket.callback_number)
            (by_number.add if mine else by_number.discard)(ticket.id)
        self._count(ticket, old)
        if self.on_change is not None and ticket != old:  # a stream reports only real changes
            self.on_change(ticket, old)

    def _count(self, ticket: Ticket, old: Ticket | None) -> None:
        """The line's counts follow a ticket entering or leaving it, in the same write."""
        was = old.priority if old is not None and old.in_line else None
        now = ticket.priority if ticket.in_line else None
        if was == now:
            return
        counts = self.line_counters.setdefault(ticket.queue_id, {})
        if was is not None:
            counts[f"n{was}"] = counts.get(f"n{was}", 0) - 1
            counts[f"d{was}"] = counts.get(f"d{was}", 0) + 1
        if now is not None:
            if old is None and ticket.id in self.placed:
                self.placed.discard(ticket.id)  # counted in when it took its place
                return
            counts[f"n{now}"] = counts.get(f"n{now}", 0) + 1
            if old is not None:
                counts[f"r{now}"] = counts.get(f"r{now}", 0) + 1  # back at its own place

    def take_place(self, queue_id: str, number: int, priority: int) -> LineCounts:
        """Count a ticket about to be written into the line (a caller joining), and say the counts."""
        with self.lock:
            counts = self.line_counters.setdefault(queue_id, {})
            counts[f"n{priority}"] = counts.get(f"n{priority}", 0) + 1
            self.placed.add(ticket_id(queue_id, number))
            return self.line_counts(queue_id)

    def give_back(self, queue_id: str, number: int, priority: int) -> None:
        """A place taken by a ticket that was never written: it left the line (a departure)."""
        with self.lock:
            if ticket_id(queue_id, number) in self.placed:
                self.placed.discard(ticket_id(queue_id, number))
                counts = self.line_counters.setdefault(queue_id, {})
                counts[f"n{priority}"] = counts.get(f"n{priority}", 0) - 1
                counts[f"d{priority}"] = counts.get(f"d{priority}", 0) + 1

    def line_counts(self, queue_id: str) -> LineCounts:
        counts = dict(self.line_counters.get(queue_id, {}))
        by = {kind: {int(k[1:]): v for k, v in counts.items() if k[0] == kind} for kind in "ndr"}
        return LineCounts(by["n"], by["d"], by["r"])

    def get(self, ticket_id: str) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise TicketNotFoundError(ticket_id) from None

    def change(self, ticket_id: str, ok: Any, **changes: Any) -> bool:
        """One conditional write of a ticket: `changes` if `ok(ticket)`. True if it changed."""
        with self.lock:
            ticket = self.get(ticket_id)
            if not ok(ticket):
                return False
            self.put(ticket.evolve(**changes))
            return True

    def head(self, queue_id: str) -> Ticket | None:
        """The first claimable ticket in dispatch order (a callback holding its place is not, yet)."""
        for _, _, tid in self.waiting.get(queue_id, ()):
            ticket = self.tickets[tid]
            if ticket.status is TicketStatus.WAITING:
                return ticket
        return None

    def convert(self, ticket_id: str, number: str, not_before: datetime, now: datetime, recovering: bool,
                **also: Any) -> int | None:
        """LIVE (holding, or ABANDONED when recovering) -> SCHEDULED callback: the new booking count.
        A caller in line whose callback is due at once keeps standing in it (`held`) until the workflow
        parks it. `also` is written in the same change (one stream record, as DynamoDB)."""
        allowed = (lambda t: t.status is TicketStatus.ABANDONED) if recovering else (lambda t: t.status in HOLDING)
        with self.lock:
            current = self.get(ticket_id)
            held = current.status is TicketStatus.WAITING and not recovering and not_before <= now
            if not self.change(ticket_id, lambda t: t.kind is TicketKind.LIVE and allowed(t),
                               kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED, execution_id=None,
                               callback_number=number, not_before=not_before, pending_number=None, held=held,
                               **also):
                return None
            self.bookings[ticket_id] = self.bookings.get(ticket_id, 0) + 1
            return self.bookings[ticket_id]

    def count_allowance(self, number: str, day: str, per_number: int, daily_budget: int) -> str | None:
        with self.lock:
            if self.counters.get(f"RATE#{number}#{day}", 0) >= per_number:
                return "rate_limited"
            if self.counters.get(f"BUDGET#{day}", 0) >= daily_budget:
                return "budget_spent"
            for key in (f"RATE#{number}#{day}", f"BUDGET#{day}"):
                self.counters[key] = self.counters.get(key, 0) + 1
            return None

    def take_slot(self, queue_id: str, key: str, capacity: int) -> bool:
        """One more callback in the slot if it holds fewer than `capacity` (call under the lock)."""
        if self.slots.get((queue_id, key), 0) >= capacity:
            return False
        self.slots[(queue_id, key)] = self.slots.get((queue_id, key), 0) + 1
        return True

    def free_slot(self, queue_id: str, key: str | None) -> None:
        if key is not None:
            self.slots[(queue_id, key)] = self.slots.get((queue_id, key), 0) - 1

    # --- what a workflow does to the table (for tests without Step Functions) ---------------

    def park(self, ticket_id: str, token: str, attempt: int = 1) -> None:
        self.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK, status=TicketStatus.WAITING,
                    task_token=token, attempts=attempt, held=False)


class OnTable:
    """A role over the shared in-memory table."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
