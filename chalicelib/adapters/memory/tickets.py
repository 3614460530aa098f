"""The Tickets role in memory."""
from __future__ import annotations

from datetime import datetime

from ...domain.model import HOLDING, Ticket, TicketKind, TicketStatus
from ...ports import LineCounts, SlotClaim, Tickets
from .table import OnTable


class MemoryTickets(OnTable, Tickets):
    def next_number(self, queue_id: str) -> int:
        with self.table.lock:
            self.table.counters[queue_id] = self.table.counters.get(queue_id, 0) + 1
            return self.table.counters[queue_id]

    def take_place(self, queue_id: str, priority: int = 0) -> tuple[int, LineCounts]:
        with self.table.lock:  # one write, as DynamoDB's UpdateItem on the counter item
            number = self.next_number(queue_id)
            return number, self.table.take_place(queue_id, number, priority)

    def open_ticket(self, ticket: Ticket) -> Ticket:
        if not ticket.number:  # else the caller took the number (after it looked the call up itself)
            existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if existing:
                return existing
            if ticket.status is TicketStatus.WAITING:
                number, line = self.take_place(ticket.queue_id, ticket.priority)
                ticket = ticket.evolve(number=number, joined=line.joined(ticket.priority))
            else:
                ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        table = self.table
        with table.lock:
            if ticket.call_id in table.calls:
                table.give_back(ticket.queue_id, ticket.number, ticket.priority)
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

    def mark_wants_callback(self, ticket_id: str, choose: bool = False) -> None:
        self.table.change(ticket_id, lambda t: True, wants_callback=True, wants_time=choose)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        return self.table.convert(ticket_id, number, not_before, now, recovering)

    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str, origin: str | None = None, told: tuple[float, float] | None = None,
                        slot: SlotClaim | None = None) -> Ticket | None:
        queue_id, num = ticket_id.rsplit("-", 1)
        ticket = Ticket(queue_id, int(num), TicketKind.CALLBACK, TicketStatus.SCHEDULED, now, caller=number,
                        language=language, callback_number=number, not_before=not_before, origin=origin,
                        slot=slot.key if slot is not None else None)
        if told is not None:
            ticket = ticket.evolve(told_shape=told[0], told_scale=told[1])
        with self.table.lock:  # all or nothing, like the DynamoDB store's transaction
            if slot is not None and not self.table.take_slot(queue_id, slot.key, slot.capacity):
                return None
            self.table.put(ticket)
            self.table.bookings[ticket.id] = 1  # its execution is booking 1, as in the DynamoDB store
        return ticket

    def revert_to_live(self, ticket_id: str, waiting: bool = True, slot: str | None = None) -> None:
        table = self.table
        with table.lock:
            if table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and not t.execution_id and t.slot == slot,
                            kind=TicketKind.LIVE, status=TicketStatus.WAITING if waiting else TicketStatus.ABANDONED,
                            callback_number=None, not_before=None, slot=None):
                table.free_slot(table.get(ticket_id).queue_id, slot)

    def rejoin(self, ticket_id: str, call_id: str, now: datetime, slot: str | None = None) -> bool:
        table = self.table
        with table.lock:
            if call_id in table.calls or not table.change(
                    ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.slot == slot
                    and t.status in (TicketStatus.SCHEDULED, TicketStatus.WAITING),
                    kind=TicketKind.LIVE, status=TicketStatus.WAITING, call_id=call_id, task_token=None,
                    wants_callback=False, execution_id=None, slot=None, held=False):
                return False
            table.free_slot(table.get(ticket_id).queue_id, slot)
            table.calls[call_id] = ticket_id
            return True

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self.table.change(ticket_id, lambda t: True, execution_id=execution_id)

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        return self.table.change(ticket_id, lambda t: t.kind is TicketKind.LIVE and t.status in HOLDING,
                                 status=TicketStatus.ABANDONED, ended_at=ended_at, wait_seconds=wait_seconds)
