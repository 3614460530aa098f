"""In-memory adapters for unit tests. They subclass the ports, so a port change breaks them loudly."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from chalicelib.domain.errors import OrchestratorError, TicketNotFoundError
from chalicelib.domain.model import HOLDING, Ticket, TicketKind, TicketStatus
from chalicelib.ports import Clock, Orchestrator, Staffing, TicketStore


class FixedClock(Clock):
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeStore(TicketStore):
    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.calls: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.agents: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def next_number(self, queue_id: str) -> int:
        with self._lock:
            self.counters[queue_id] = self.counters.get(queue_id, 0) + 1
            return self.counters[queue_id]

    def open_ticket(self, ticket: Ticket) -> Ticket:
        existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
        if existing:
            return existing
        ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        with self._lock:
            if ticket.call_id in self.calls:
                return self.tickets[self.calls[ticket.call_id]]
            if ticket.call_id:
                self.calls[ticket.call_id] = ticket.id
            self.tickets[ticket.id] = ticket
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise TicketNotFoundError(ticket_id) from None

    def find_by_call(self, call_id: str) -> Ticket | None:
        ref = self.calls.get(call_id)
        return self.tickets[ref] if ref else None

    def _line(self, queue_id: str) -> list[Ticket]:
        return sorted((t for t in self.tickets.values()
                       if t.queue_id == queue_id and t.status is TicketStatus.WAITING),
                      key=lambda t: (-t.priority, t.number))

    def ahead_of(self, ticket: Ticket) -> int:
        mine = (-ticket.priority, ticket.number)
        return sum(1 for t in self._line(ticket.queue_id) if (-t.priority, t.number) < mine)

    def waiting_count(self, queue_id: str) -> int:
        return len(self._line(queue_id))

    def staffing(self, queue_id: str) -> Staffing:
        agents = self.agents.get(queue_id, {})
        staffed = sum(1 for s in agents.values() if s != "offline")
        return Staffing(staffed, sum(1 for s in agents.values() if s == "available"))

    def _change(self, ticket_id: str, ok: Any, **changes: Any) -> bool:
        with self._lock:
            ticket = self.get(ticket_id)
            if not ok(ticket):
                return False
            self.tickets[ticket_id] = ticket.evolve(**changes)
            return True

    def set_pending_number(self, ticket_id: str, number: str | None) -> None:
        self._change(ticket_id, lambda t: True, pending_number=number)

    def mark_wants_callback(self, ticket_id: str) -> None:
        self._change(ticket_id, lambda t: True, wants_callback=True)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime) -> bool:
        return self._change(ticket_id, lambda t: t.kind is TicketKind.LIVE and t.status in HOLDING,
                            kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED,
                            callback_number=number, not_before=not_before, pending_number=None)

    def revert_to_live(self, ticket_id: str) -> None:
        self._change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and not t.execution_id,
                     kind=TicketKind.LIVE, status=TicketStatus.WAITING, callback_number=None, not_before=None)

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self._change(ticket_id, lambda t: True, execution_id=execution_id)

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float) -> bool:
        return self._change(ticket_id, lambda t: t.kind is TicketKind.LIVE and t.status in HOLDING,
                            status=TicketStatus.ABANDONED, ended_at=ended_at, wait_seconds=wait_seconds)


class FakeOrchestrator(Orchestrator):
    def __init__(self, fail: bool = False) -> None:
        self.started: dict[str, Mapping[str, Any]] = {}
        self.fail = fail

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        if self.fail:
            raise OrchestratorError("down")
        self.started.setdefault(name, payload)
        return f"exec:{name}"
