"""The Line role in memory."""
from __future__ import annotations

import bisect

from ...domain.model import Ticket, TicketKind
from ...ports import Arrival, Line, QueueSnapshot
from .table import OnTable


class MemoryLine(OnTable, Line):
    def snapshot(self, queue_id: str) -> QueueSnapshot:
        head = self.head(queue_id)
        return QueueSnapshot(
            self.table.line_counts(queue_id),
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
