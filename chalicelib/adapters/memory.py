"""In-memory adapters: product code, used by the unit tests and the day simulator (bench/day.py).

They subclass the ports, so a port change breaks them loudly. `VirtualClock` runs scheduled work in
virtual time; `memory_stores()` builds every store role over one `MemoryTable`, which can report
ticket changes the way the table's stream does; and
`MemoryOrchestrator` follows infra/callback.asl.json's states and timers (a contract test runs the same
scenarios through it and through moto executing the ASL)."""
from __future__ import annotations

import bisect
import heapq
import json
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from chalicelib.domain.errors import (BadPageError, CallGoneError, OrchestratorError, StaleTokenError, TelephonyError, TicketNotFoundError,
                                      UnknownAgentError)
from chalicelib.domain.model import HOLDING, Agent, AgentStatus, Ticket, TicketKind, TicketStatus, is_stale
from chalicelib.domain.script import Script, Step
from chalicelib.ports import (BOOKING_MOVED, BOOKING_TAKEN, DEFAULT_PAGE, Agents, Arrival, Bookings, CallbackGuard, Clock,
                              Dialer, Dialing, EventBus, Line, LostCalls, Orchestrator, Page, QueueSnapshot, QueueStats,
                              Staffing, Stores, Tickets)
from chalicelib.domain.pages import decode_cursor, encode_cursor


class FixedClock(Clock):
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class VirtualClock(FixedClock):
    """Virtual time with scheduled work: `at(when, fn)` runs fn when the clock reaches `when`.

    Work scheduled for the same instant runs in the order it was scheduled."""

    def __init__(self, now: datetime | None = None) -> None:
        super().__init__(now)
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()

    def at(self, when: datetime, fn: Callable[[], None]) -> int:
        handle = next(self._seq)
        heapq.heappush(self._heap, (max(when, self.current), handle, fn))
        return handle

    def after(self, seconds: float, fn: Callable[[], None]) -> int:
        return self.at(self.current + timedelta(seconds=seconds), fn)

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self._cancelled.add(handle)

    def next_due(self) -> datetime | None:
        while self._heap and self._heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[1])
        return self._heap[0][0] if self._heap else None

    def run_until(self, until: datetime) -> None:
        """Run everything due up to `until` (including work that work schedules), then stand there."""
        while (due := self.next_due()) is not None and due <= until:
            when, _, fn = heapq.heappop(self._heap)
            self.current = max(self.current, when)
            fn()
        self.current = max(self.current, until)

    def advance(self, seconds: float) -> None:
        self.run_until(self.current + timedelta(seconds=seconds))

    def run_all(self, limit: int = 1_000_000) -> None:
        for _ in range(limit):
            due = self.next_due()
            if due is None:
                return
            self.run_until(due)
        raise RuntimeError("virtual clock: work keeps scheduling more work")


class _TicketTable(dict):  # type: ignore[type-arg]
    """The tickets by id; every write (tests write directly too) keeps the table's indexes and stream."""

    def __init__(self, table: "MemoryTable") -> None:
        super().__init__()
        self._table = table

    def __setitem__(self, key: str, ticket: Ticket) -> None:
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
        # The line's snapshot counters (queue -> name -> count), kept as the table's stream keeps them;
        # `defer` runs that work (at once by default; the memory world schedules it, like the stream).
        self.snapshots: dict[str, dict[str, int]] = {}
        self.defer: Callable[[Callable[[], None]], None] = lambda work: work()

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
        for line, member in ((self.waiting, ticket.status is TicketStatus.WAITING),
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
        was = old.priority if old is not None and old.status is TicketStatus.WAITING else None
        now = ticket.priority if ticket.status is TicketStatus.WAITING else None
        if was != now:
            self.defer(lambda: self._line_moved(ticket.queue_id, was, now, returned=old is not None))
        if self.on_change is not None and ticket != old:  # a stream reports only real changes
            self.on_change(ticket, old)

    def _line_moved(self, queue_id: str, was: int | None, now: int | None, returned: bool) -> None:
        """The stream's work for one ticket entering or leaving the line (counted by priority class)."""
        with self.lock:
            counts = self.snapshots.setdefault(queue_id, {})
            if was is not None:
                counts[f"w:{was}"] = counts.get(f"w:{was}", 0) - 1
            if now is not None:
                counts[f"w:{now}"] = counts.get(f"w:{now}", 0) + 1
            if was is not None and now is None:
                counts["departed"] = counts.get("departed", 0) + 1
            elif was is None and now is not None and returned:
                counts["returned"] = counts.get("returned", 0) + 1

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
        waiting = self.waiting.get(queue_id)
        return self.tickets[waiting[0][2]] if waiting else None

    def convert(self, ticket_id: str, number: str, not_before: datetime, recovering: bool,
                **also: Any) -> int | None:
        """LIVE (holding, or ABANDONED when recovering) -> SCHEDULED callback: the new booking count.
        `also` is written in the same change (one stream record, as DynamoDB)."""
        allowed = (lambda t: t.status is TicketStatus.ABANDONED) if recovering else (lambda t: t.status in HOLDING)
        with self.lock:
            if not self.change(ticket_id, lambda t: t.kind is TicketKind.LIVE and allowed(t),
                               kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED, execution_id=None,
                               callback_number=number, not_before=not_before, pending_number=None, **also):
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

    # --- what a workflow does to the table (for tests without Step Functions) ---------------

    def park(self, ticket_id: str, token: str, attempt: int = 1) -> None:
        self.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK, status=TicketStatus.WAITING,
                    task_token=token, attempts=attempt)


class _OnTable:
    """A role over the shared in-memory table."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table


class MemoryTickets(_OnTable, Tickets):
    def next_number(self, queue_id: str) -> int:
        with self.table.lock:
            self.table.counters[queue_id] = self.table.counters.get(queue_id, 0) + 1
            return self.table.counters[queue_id]

    def open_ticket(self, ticket: Ticket) -> Ticket:
        if not ticket.number:  # else the caller took the number (after it looked the call up itself)
            existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if existing:
                return existing
            ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        table = self.table
        with table.lock:
            if ticket.call_id in table.calls:
                return table.tickets[table.calls[ticket.call_id]]
            if ticket.call_id:
                table.calls[ticket.call_id] = ticket.id
            table.put(ticket)
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        return self.table.get(ticket_id)

    def find_by_call(self, call_id: str, open_only: bool = False) -> Ticket | None:
        ref = self.table.calls.get(call_id)
        ticket = self.table.tickets[ref] if ref else None
        if open_only and ticket is not None and not (
                ticket.kind is TicketKind.LIVE and ticket.call_id == call_id
                and ticket.status in (*HOLDING, TicketStatus.CONNECTING)):
            return None
        return ticket

    def set_pending_number(self, ticket_id: str, number: str | None) -> None:
        self.table.change(ticket_id, lambda t: True, pending_number=number)

    def mark_wants_callback(self, ticket_id: str) -> None:
        self.table.change(ticket_id, lambda t: True, wants_callback=True)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        return self.table.convert(ticket_id, number, not_before, recovering)

    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str) -> Ticket:
        queue_id, num = ticket_id.rsplit("-", 1)
        ticket = Ticket(queue_id, int(num), TicketKind.CALLBACK, TicketStatus.SCHEDULED, now, caller=number,
                        language=language, callback_number=number, not_before=not_before)
        with self.table.lock:
            self.table.put(ticket)
            self.table.bookings[ticket.id] = 1  # its execution is booking 1, as in the DynamoDB store
        return ticket

    def revert_to_live(self, ticket_id: str, waiting: bool = True) -> None:
        self.table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and not t.execution_id,
                          kind=TicketKind.LIVE, status=TicketStatus.WAITING if waiting else TicketStatus.ABANDONED,
                          callback_number=None, not_before=None)

    def rejoin(self, ticket_id: str, call_id: str, now: datetime) -> bool:
        table = self.table
        with table.lock:
            if call_id in table.calls or not table.change(
                    ticket_id, lambda t: t.kind is TicketKind.CALLBACK
                    and t.status in (TicketStatus.SCHEDULED, TicketStatus.WAITING),
                    kind=TicketKind.LIVE, status=TicketStatus.WAITING, call_id=call_id, task_token=None,
                    wants_callback=False, execution_id=None):
                return False
            table.calls[call_id] = ticket_id
            return True

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self.table.change(ticket_id, lambda t: True, execution_id=execution_id)

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        return self.table.change(ticket_id, lambda t: t.kind is TicketKind.LIVE and t.status in HOLDING,
                                 status=TicketStatus.ABANDONED, ended_at=ended_at, wait_seconds=wait_seconds)


class MemoryLine(_OnTable, Line):
    def snapshot(self, queue_id: str) -> QueueSnapshot:
        counts = self.table.snapshots.get(queue_id, {})
        head = self.head(queue_id)
        return QueueSnapshot(
            {int(k[2:]): v for k, v in counts.items() if k.startswith("w:") and v > 0},
            counts.get("departed", 0), counts.get("returned", 0),
            tuple(a for a in list(self.table.agents.values()) if queue_id in a.queues),
            head.created_at if head is not None and head.kind is TicketKind.LIVE else None,
            self.table.stats.get(queue_id))

    def arrival(self, queue_id: str, call_id: str, open_for: str | None) -> Arrival:
        return Arrival(self.snapshot(queue_id), self.table.calls.get(call_id),
                       self.table.open_markers.get((queue_id, open_for)) if open_for else None)

    def view(self, ticket_id: str) -> tuple[Ticket, QueueSnapshot]:
        ticket = self.table.get(ticket_id)
        return ticket, self.snapshot(ticket.queue_id)

    def ahead_of(self, ticket: Ticket) -> int:
        return bisect.bisect_left(self.table.waiting.get(ticket.queue_id, []), (-ticket.priority, ticket.number, ""))

    def waiting_count(self, queue_id: str) -> int:
        return len(self.table.waiting.get(queue_id, ()))

    def head(self, queue_id: str) -> Ticket | None:
        return self.table.head(queue_id)

    def first_live(self, queue_id: str) -> Ticket | None:
        live = self.table.waiting_live.get(queue_id)
        return self.table.tickets[live[0][2]] if live else None


class MemoryLostCalls(_OnTable, LostCalls):
    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        self.table.change(ticket_id, lambda t: True, lost_cause=cause, lost_at=at)

    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        mine = [self.table.tickets[i] for i in list(self.table.lost_by_number.get((queue_id, number), ()))]
        for t in mine:
            self.table.change(t.id, lambda x: True, recovered_at=at)
        return len(mine)

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[Ticket]:
        after = decode_cursor(cursor) if cursor else None  # [queue, lost_at, number] of the page before's last
        try:
            start = (datetime.fromisoformat(after[1]), int(after[2])) if after is not None else None
        except (TypeError, ValueError, KeyError, IndexError):
            start = (datetime.min, 0)  # naive: refused below
        if start is not None and (start[0].tzinfo is None or after[0] != queue_id):
            raise BadPageError("the cursor is not one of this list's")
        lost = sorted((self.table.tickets[i] for i in self.table.lost.get(queue_id, ())),
                      key=lambda t: (t.lost_at, t.number))
        if start is not None:
            lost = [t for t in lost if (t.lost_at, t.number) > start]
        last = lost[limit - 1] if len(lost) > limit else None
        return Page(lost[:limit], encode_cursor([queue_id, last.lost_at.isoformat(), last.number]) if last else None)


class MemoryQueueStats(_OnTable, QueueStats):
    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        self.table.change(ticket_id, lambda t: True, told_shape=shape, told_scale=scale, told_ahead=ahead)

    def queue_stats(self, queue_id: str) -> dict[str, Any] | None:
        return self.table.stats.get(queue_id)

    def update_queue_stats(self, queue_id: str, apply: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
        with self.table.lock:
            self.table.stats[queue_id] = apply(self.table.stats.get(queue_id))


class MemoryBookings(_OnTable, Bookings):
    def _open_callback(self, ticket_id: str | None) -> Ticket | None:
        ticket = self.table.tickets.get(ticket_id or "")
        open_statuses = (TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING)
        return ticket if ticket and ticket.kind is TicketKind.CALLBACK and ticket.status in open_statuses else None

    def reserve_open_callback(self, queue_id: str, number: str, ticket_id: str) -> str:
        with self.table.lock:
            holder = self.table.open_markers.get((queue_id, number))
            if holder != ticket_id and self._open_callback(holder):
                return str(holder)
            self.table.open_markers[(queue_id, number)] = ticket_id
            return ticket_id

    def open_callback_for(self, queue_id: str, number: str) -> Ticket | None:
        return self._open_callback(self.table.open_markers.get((queue_id, number)))

    def set_opt_out(self, number: str, opted_out: bool, at: datetime) -> None:
        (self.table.opt_outs.add if opted_out else self.table.opt_outs.discard)(number)

    def is_opted_out(self, number: str) -> bool:
        return number in self.table.opt_outs

    def take_allowance(self, number: str, day: str, per_number: int, daily_budget: int) -> str | None:
        return self.table.count_allowance(number, day, per_number, daily_budget)

    def callback_guard(self, queue_id: str, number: str) -> CallbackGuard:
        return CallbackGuard(number in self.table.opt_outs, self.table.open_markers.get((queue_id, number)))

    def book_callback(self, ticket: Ticket, number: str, not_before: datetime, now: datetime, recovering: bool,
                      holder: str | None, day: str, per_number: int, daily_budget: int,
                      told: tuple[float, float] | None = None) -> int | str:
        table = self.table
        with table.lock:  # all or nothing, like the DynamoDB store's transaction
            if table.open_markers.get((ticket.queue_id, number)) != holder:
                return BOOKING_TAKEN
            current = table.get(ticket.id)
            allowed = current.status is TicketStatus.ABANDONED if recovering else current.status in HOLDING
            if current.kind is not TicketKind.LIVE or not allowed:
                return BOOKING_MOVED
            refused = table.count_allowance(number, day, per_number, daily_budget)  # counts only if allowed
            if refused is not None:
                return refused
            table.open_markers[(ticket.queue_id, number)] = ticket.id
            promise = {} if told is None else {"told_shape": told[0], "told_scale": told[1]}
            booking = table.convert(ticket.id, number, not_before, recovering, **promise)
            assert booking is not None  # checked above, under the same lock
            return booking


class MemoryAgents(_OnTable, Agents):
    def staffing(self, queue_id: str) -> Staffing:
        mine = [a for a in list(self.table.agents.values()) if queue_id in a.queues]
        return Staffing(sum(a.status is not AgentStatus.OFFLINE for a in mine),
                        sum(a.status is AgentStatus.AVAILABLE for a in mine))

    def record_agent_status(self, agent_id: str, status: AgentStatus, at: datetime, contact: str | None,
                            queues: tuple[str, ...] | None, event_id: str | None,
                            until: datetime | None = None, read_along: tuple[str, ...] = ()) -> Agent | None:
        table = self.table
        with table.lock:
            if event_id and f"EVENT#{event_id}" in table.markers:
                return None
            current = table.agents.get(agent_id)
            if current and is_stale(current.changed_at, bool(current.ticket_id), at):
                return None
            if current and current.ticket_id and status is AgentStatus.AVAILABLE:
                return current  # already reserved: 'available' again changes nothing
            if event_id:
                table.markers.add(f"EVENT#{event_id}")
            agent = Agent(agent_id, status, tuple(queues) if queues is not None else (current.queues if current else ()),
                          contact or (current.contact if current else None), None, at,
                          None if status is AgentStatus.OFFLINE else until or (current.until if current else None))
            table.agents[agent_id] = agent
            return agent

    def get_agent(self, agent_id: str) -> Agent:
        try:
            return self.table.agents[agent_id]
        except KeyError:
            raise UnknownAgentError(agent_id) from None

    def _present(self, queue_id: str, status: AgentStatus) -> list[Agent]:
        return [a for a in list(self.table.agents.values()) if queue_id in a.queues and a.status is status]

    def idle_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.AVAILABLE)

    def busy_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.BUSY)

    def claim(self, ticket_id: str, agent_id: str, now: datetime, agent: Agent | None = None) -> bool:
        table = self.table
        with table.lock:
            ticket, agent = table.get(ticket_id), table.agents.get(agent_id)  # its own copy is the authority
            if ticket.status is not TicketStatus.WAITING or agent is None or agent.status is not AgentStatus.AVAILABLE:
                return False
            table.put(ticket.evolve(status=TicketStatus.CONNECTING, agent_id=agent_id, leg=None, leg_at=None))
            table.agents[agent_id] = Agent(agent.id, AgentStatus.BUSY, agent.queues, agent.contact, ticket_id, now, agent.until)
            return True

    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        table = self.table
        with table.lock:
            agent = table.agents.get(agent_id)
            if agent is None or agent.ticket_id != ticket_id:
                return False
            table.agents[agent_id] = Agent(agent.id, status, agent.queues, agent.contact, None, now, agent.until)
            return True

    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.agent_id == agent_id,
                                 status=TicketStatus.WAITING, agent_id=None)

    def mark_served(self, ticket_id: str, now: datetime, call_id: str | None = None) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING,
                                 status=TicketStatus.SERVED, ended_at=now)

    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float,
                        call_id: str | None = None) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.kind is TicketKind.LIVE,
                                 status=TicketStatus.ABANDONED, ended_at=ended_at, wait_seconds=wait_seconds)


class MemoryDialing(_OnTable, Dialing):
    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.agent_id == agent_id
                                 and t.leg != leg and not (t.leg == "talking" and leg == "ringing"), leg=leg, leg_at=at)

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.change(ticket_id, lambda t: t.agent_id == agent_id, agent_id=None)

    def cancel_callback(self, ticket_id: str, now: datetime) -> bool:
        return self.table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.status in (
            TicketStatus.SCHEDULED, TicketStatus.WAITING), status=TicketStatus.CANCELLED, ended_at=now, task_token=None)

    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        table = self.table
        with table.lock:
            if not table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.status is TicketStatus.SCHEDULED
                                and t.execution_id == execution_id, not_before=not_before, next_attempt_at=None,
                                execution_id=None):
                return None
            table.bookings[ticket_id] = table.bookings.get(ticket_id, 0) + 1
            return table.bookings[ticket_id]

    def begin_dial(self, ticket_id: str, dial_id: str, token: str) -> bool:
        table = self.table
        with table.lock:
            if f"DIAL#{dial_id}" in table.markers or table.get(ticket_id).status is not TicketStatus.CONNECTING:
                return False
            table.markers.add(f"DIAL#{dial_id}")
            table.dial_tokens[ticket_id] = token
            return table.change(ticket_id, lambda t: True, dial_id=dial_id)

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self.table.change(ticket_id, lambda t: t.dial_id is not None and t.dial_id == dial_id, ended_dial=dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None) -> str | None:
        table = self.table
        with table.lock:
            ended = now if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED) else None
            if not table.change(ticket_id, lambda t: t.dial_id is not None and t.dial_id == dial_id,
                                status=status, dial_id=None,
                                attempts=attempts, last_outcome=outcome, next_attempt_at=next_attempt_at,
                                ended_at=ended):
                return None
            return table.dial_tokens.pop(ticket_id)


@dataclass(frozen=True)
class MemoryStores(Stores):
    """The roles over one in-memory table, and the table (the memory world's stream and the workflow
    reach it directly, as the table's stream and the ASL's own DynamoDB steps do)."""

    table: MemoryTable


def memory_stores(table: MemoryTable | None = None) -> MemoryStores:
    """Every role over one shared in-memory table (a new one unless given)."""
    table = table or MemoryTable()
    return MemoryStores(tickets=MemoryTickets(table), line=MemoryLine(table), lost=MemoryLostCalls(table),
                        stats=MemoryQueueStats(table), bookings=MemoryBookings(table), agents=MemoryAgents(table),
                        dialing=MemoryDialing(table), table=table)


class FakeOrchestrator(Orchestrator):
    def __init__(self, fail: bool = False) -> None:
        self.started: dict[str, Mapping[str, Any]] = {}
        self.completed: list[tuple[str, Mapping[str, Any]]] = []
        self.stopped: list[str] = []
        self.fail = fail
        self.fail_completes = 0  # the next SendTaskSuccess calls that fail (a transient service error)
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        if self.fail:
            raise OrchestratorError("down")
        self.started.setdefault(name, payload)
        return f"exec:{name}"

    def stop(self, execution_id: str) -> None:
        self.stopped.append(execution_id)

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        with self._lock:  # like Step Functions: a token answers once
            if self.fail_completes:
                self.fail_completes -= 1
                raise OrchestratorError("ServiceUnavailable")
            if token in self._used:
                raise StaleTokenError("InvalidToken")
            self._used.add(token)
            self.completed.append((token, dict(output)))


_SCHEDULED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_PARKABLE = (TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING)


@dataclass
class Execution:
    """One callback workflow run: the ASL's input document as it moves through the states."""

    name: str
    data: dict[str, Any]
    state: str = "Schedule"
    status: str = "RUNNING"  # SUCCEEDED, FAILED, ABORTED
    error: str | None = None
    token: str | None = None
    timer: int | None = None
    states: list[str] = field(default_factory=list)  # every state entered, in order


class MemoryOrchestrator(Orchestrator):
    """infra/callback.asl.json in virtual time: Schedule (Wait until not_before) -> Park (the ticket
    WAITING with a task token, under the same condition; park_timeout_seconds -> GiveUp) -> Dial (a
    message to the dial worker with a task token; dial_timeout_seconds -> NoOutcome: count the attempt
    and park again while attempts are left) -> Outcome (connected: Recovered; cancelled: Closed; a next
    slot: Reschedule -> Schedule; else GiveUp) ; GiveUp (LOST, unless served) -> Notify -> Lost.

    `dial_worker` receives the Dial step's message body (the SQS queue in AWS); it is delivered
    asynchronously, as the next piece of work at the current instant."""

    def __init__(self, table: MemoryTable, clock: VirtualClock, bus: EventBus | None = None) -> None:
        self.table = table
        self.clock = clock
        self.bus = bus
        self.dial_worker: Callable[[dict[str, Any]], None] | None = None
        self.executions: dict[str, Execution] = {}
        self._tasks: dict[str, Execution] = {}
        self._tokens = itertools.count(1)

    # --- the port ---------------------------------------------------------------------------

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        execution_id = f"mem:{name}"
        if execution_id not in self.executions:  # idempotent by name, like StartExecution
            ex = Execution(name, json.loads(json.dumps(dict(payload))))
            self.executions[execution_id] = ex
            self._schedule(ex)
        return execution_id

    def stop(self, execution_id: str) -> None:
        ex = self.executions.get(execution_id)
        if ex is not None and ex.status == "RUNNING":
            self._end(ex, "ABORTED", "Holdfast.Rejoined")

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        ex = self._tasks.pop(token, None)
        if ex is None or ex.status != "RUNNING" or ex.token != token:
            raise StaleTokenError("TaskTimedOut")  # timed out, finished, or answered before
        self.clock.cancel(ex.timer)
        ex.token = ex.timer = None
        if ex.state == "Park":
            ex.data["agent"] = json.loads(json.dumps(dict(output)))
            self._dial(ex)
        else:
            ex.data["outcome"] = json.loads(json.dumps(dict(output)))
            self._outcome(ex)

    def status(self, execution_id: str) -> tuple[str, str | None]:
        ex = self.executions[execution_id]
        return ex.status, ex.error

    # --- the states ---------------------------------------------------------------------------

    def _enter(self, ex: Execution, state: str) -> None:
        ex.state = state
        ex.states.append(state)

    def _task(self, ex: Execution, timeout_seconds: float, on_timeout: Callable[[Execution], None]) -> str:
        """A waitForTaskToken task: its token, and its timeout (States.Timeout) -> on_timeout."""
        token = f"{ex.name}#{next(self._tokens)}"
        ex.token = token
        self._tasks[token] = ex

        def timed_out() -> None:
            if ex.token == token and ex.status == "RUNNING":
                self._tasks.pop(token, None)
                ex.token = ex.timer = None
                on_timeout(ex)

        ex.timer = self.clock.after(timeout_seconds, timed_out)
        return token

    def _schedule(self, ex: Execution) -> None:
        self._enter(ex, "Schedule")
        when = datetime.strptime(ex.data["schedule"]["not_before"], _SCHEDULED_FORMAT).replace(tzinfo=timezone.utc)
        ex.timer = self.clock.at(when, lambda: self._park(ex))

    def _park(self, ex: Execution) -> None:
        if ex.status != "RUNNING":
            return
        self._enter(ex, "Park")
        ticket_id, attempt = ex.data["ticket_id"], int(ex.data["schedule"]["attempt"])
        token = self._task(ex, float(ex.data["park_timeout_seconds"]), self._give_up)
        with self.table.lock:  # one conditional update, like the ASL's updateItem
            parked = self.table.change(
                ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.status in _PARKABLE,
                task_token=token, status=TicketStatus.WAITING, attempts=attempt, dial_id=None)
            if parked:
                self.table.dial_tokens.pop(ticket_id, None)
        if not parked:
            self._end(ex, "SUCCEEDED", None, "Closed")

    def _dial(self, ex: Execution) -> None:
        self._enter(ex, "Dial")
        token = self._task(ex, float(ex.data["dial_timeout_seconds"]), self._no_outcome)
        body = {"ticket_id": ex.data["ticket_id"], "attempt": ex.data["schedule"]["attempt"],
                "agent": ex.data["agent"], "token": token}
        if self.dial_worker is not None:
            worker = self.dial_worker
            self.clock.after(0, lambda: worker(body))

    def _outcome(self, ex: Execution) -> None:
        self._enter(ex, "Outcome")
        outcome = ex.data["outcome"]
        if outcome.get("result") == "connected":
            return self._end(ex, "SUCCEEDED", None, "Recovered")
        if outcome.get("result") == "cancelled":
            return self._end(ex, "SUCCEEDED", None, "Closed")
        if "next" in outcome:
            self._enter(ex, "Reschedule")
            ex.data["schedule"] = outcome["next"]
            return self._schedule(ex)
        self._give_up(ex)

    def _no_outcome(self, ex: Execution) -> None:
        self._enter(ex, "NoOutcome")
        ex.data["schedule"] = {"not_before": ex.data["schedule"]["not_before"],
                               "attempt": int(ex.data["schedule"]["attempt"]) + 1}
        self._enter(ex, "AttemptsLeft")
        if ex.data["schedule"]["attempt"] <= int(ex.data["max_attempts"]):
            return self._park(ex)
        self._give_up(ex)

    def _give_up(self, ex: Execution) -> None:
        self._enter(ex, "GiveUp")
        now = self.clock.now()
        ticket_id = ex.data["ticket_id"]
        with self.table.lock:
            ticket = self.table.tickets.get(ticket_id)
            lost = ticket is not None and self.table.change(
                ticket_id, lambda t: t.status is not TicketStatus.SERVED, status=TicketStatus.LOST,
                lost_cause=ticket.lost_cause or "callback_failed", lost_at=ticket.lost_at or now,
                task_token=None, dial_id=None)
            if lost:
                self.table.dial_tokens.pop(ticket_id, None)
        if not lost:
            return self._end(ex, "SUCCEEDED", None, "Closed")
        self._enter(ex, "Notify")
        if self.bus is not None:
            self.bus.publish({"event": "callback_lost", "ticket_id": ticket_id})
        self._end(ex, "FAILED", "Holdfast.CallbackLost", "Lost")

    def _end(self, ex: Execution, status: str, error: str | None, state: str | None = None) -> None:
        if state:
            self._enter(ex, state)
        self.clock.cancel(ex.timer)
        if ex.token:
            self._tasks.pop(ex.token, None)
        ex.status, ex.error, ex.token, ex.timer = status, error, None, None


class FakeDialer(Dialer):
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.redirects: list[tuple[str, Script]] = []
        self.fail_calls = False
        self.gone: set[str] = set()
        self._lock = threading.Lock()

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int) -> str:
        if self.fail_calls:
            raise TelephonyError("refused")
        with self._lock:
            self.calls.append({"to": to, "from": caller_id, "answer": answer, "status": status,
                               "amd": machine_detection})
            return f"CAout{len(self.calls)}"

    def redirect(self, call_id: str, script: Script) -> None:
        if call_id in self.gone:
            raise CallGoneError("call completed")
        if self.fail_calls:
            raise TelephonyError("provider unreachable")
        self.redirects.append((call_id, script))


class FakeBus(EventBus):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: Mapping[str, Any]) -> None:
        self.events.append(dict(event))
