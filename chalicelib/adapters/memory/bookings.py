"""The Bookings role in memory."""
from __future__ import annotations

from datetime import datetime

from ...domain.model import HOLDING, Ticket, TicketKind, TicketStatus
from ...ports import BOOKING_MOVED, BOOKING_TAKEN, SLOT_FULL, Bookings, CallbackGuard, SlotClaim
from .table import OnTable


class MemoryBookings(OnTable, Bookings):
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

    def take_quota(self, key: str, window: str, limit: int, expires: datetime) -> bool:
        with self.table.lock:
            counted = self.table.counters.get(f"QUOTA#{key}#{window}", 0)
            if counted >= limit:
                return False
            self.table.counters[f"QUOTA#{key}#{window}"] = counted + 1
            return True

    def callback_guard(self, queue_id: str, number: str) -> CallbackGuard:
        return CallbackGuard(number in self.table.opt_outs, self.table.open_markers.get((queue_id, number)))

    def book_callback(self, ticket: Ticket, number: str, not_before: datetime, now: datetime, recovering: bool,
                      holder: str | None, day: str, per_number: int, daily_budget: int,
                      told: tuple[float, float] | None = None, slot: SlotClaim | None = None) -> int | str:
        table = self.table
        with table.lock:  # all or nothing, like the DynamoDB store's transaction
            if table.open_markers.get((ticket.queue_id, number)) != holder:
                return BOOKING_TAKEN
            current = table.get(ticket.id)
            allowed = current.status is TicketStatus.ABANDONED if recovering else current.status in HOLDING
            if current.kind is not TicketKind.LIVE or not allowed:
                return BOOKING_MOVED
            if slot is not None and table.slots.get((ticket.queue_id, slot.key), 0) >= slot.capacity:
                return SLOT_FULL
            refused = table.count_allowance(number, day, per_number, daily_budget)  # counts only if allowed
            if refused is not None:
                return refused
            if slot is not None:
                table.take_slot(ticket.queue_id, slot.key, slot.capacity)
            table.open_markers[(ticket.queue_id, number)] = ticket.id
            promise: dict = {} if told is None else {"told_shape": told[0], "told_scale": told[1]}
            if slot is not None:
                promise["slot"] = slot.key
            booking = table.convert(ticket.id, number, not_before, now, recovering, **promise)
            assert booking is not None  # checked above, under the same lock
            return booking

    def slot_counts(self, queue_id: str, keys: list[str]) -> dict[str, int]:
        with self.table.lock:
            return {key: self.table.slots[(queue_id, key)] for key in keys if (queue_id, key) in self.table.slots}
