"""The Dialing role in memory."""
from __future__ import annotations

from datetime import datetime

from ...domain.model import TicketKind, TicketStatus
from ...ports import SLOT_FULL, Dialing, SlotClaim

PENDING = (TicketStatus.SCHEDULED, TicketStatus.WAITING)
from .table import OnTable


class MemoryDialing(OnTable, Dialing):
    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime, answered: bool = False) -> bool:
        if answered:
            return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.agent_id == agent_id
                                     and t.answered_at is None, leg=leg, leg_at=at, answered_at=at)
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.agent_id == agent_id
                                 and t.leg != leg and not (t.leg == "talking" and leg == "ringing"), leg=leg, leg_at=at)

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.change(ticket_id, lambda t: t.agent_id == agent_id, agent_id=None)

    def cancel_callback(self, ticket_id: str, now: datetime, by_caller: bool = False, slot: str | None = None) -> bool:
        table = self.table
        mine = {"cancelled_by": "caller"} if by_caller else {}
        with table.lock:
            if not table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.status in PENDING
                                and t.slot == slot, status=TicketStatus.CANCELLED, ended_at=now, task_token=None, **mine):
                return False
            table.free_slot(table.get(ticket_id).queue_id, slot)
            return True

    def move_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime,
                      slot_from: str | None, slot_to: SlotClaim | None,
                      told: tuple[float, float] | None = None) -> int | str | None:
        table = self.table
        with table.lock:
            ticket = table.tickets.get(ticket_id)
            if ticket is None or ticket.kind is not TicketKind.CALLBACK or ticket.status not in PENDING \
                    or ticket.execution_id != execution_id or ticket.slot != slot_from:
                return None
            if slot_to is not None and not table.take_slot(ticket.queue_id, slot_to.key, slot_to.capacity):
                return SLOT_FULL
            table.free_slot(ticket.queue_id, slot_from)
            promise = {} if told is None else {"told_shape": told[0], "told_scale": told[1]}
            # out of the line until its new time (a callback holding its place there gives it up)
            table.put(ticket.evolve(status=TicketStatus.SCHEDULED, not_before=not_before, task_token=None,
                                    next_attempt_at=None, execution_id=None, slot=slot_to.key if slot_to else None,
                                    held=False, **promise))
            table.bookings[ticket_id] = table.bookings.get(ticket_id, 0) + 1
            return table.bookings[ticket_id]

    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        table = self.table
        with table.lock:
            if not table.change(ticket_id, lambda t: t.kind is TicketKind.CALLBACK and t.status is TicketStatus.SCHEDULED
                                and t.execution_id == execution_id, not_before=not_before, next_attempt_at=None,
                                execution_id=None):
                return None
            table.bookings[ticket_id] = table.bookings.get(ticket_id, 0) + 1
            return table.bookings[ticket_id]

    def begin_dial(self, ticket_id: str, dial_id: str, token: str, at: datetime | None = None) -> bool:
        table = self.table
        with table.lock:
            ticket = table.get(ticket_id)
            if f"DIAL#{dial_id}" in table.markers or ticket.status is not TicketStatus.CONNECTING:
                return False
            table.markers.add(f"DIAL#{dial_id}")
            table.dial_tokens[ticket_id] = token
            return table.change(ticket_id, lambda t: True, dial_id=dial_id, first_dial_at=ticket.first_dial_at or at)

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self.table.change(ticket_id, lambda t: t.dial_id is not None and t.dial_id == dial_id, ended_dial=dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None,
                    answered_at: datetime | None = None) -> str | None:
        table = self.table
        with table.lock:
            ended = now if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED) else None
            current = table.get(ticket_id)
            answered = (current.answered_at or answered_at) if status is TicketStatus.SERVED else None
            lost_at = (current.lost_at or now) if status is TicketStatus.LOST else current.lost_at
            if not table.change(ticket_id, lambda t: t.dial_id is not None and t.dial_id == dial_id,
                                status=status, dial_id=None,
                                attempts=attempts, last_outcome=outcome, next_attempt_at=next_attempt_at,
                                ended_at=ended, answered_at=answered, lost_at=lost_at):
                return None
            return table.dial_tokens.pop(ticket_id)

    def note_dialed(self, ticket_id: str, dial_id: str) -> bool:
        table = self.table
        with table.lock:
            if f"DIALED#{dial_id}" in table.markers:
                return False
            if not table.change(ticket_id, lambda t: True, dials=table.get(ticket_id).dials + 1):
                return False
            table.markers.add(f"DIALED#{dial_id}")
            return True
