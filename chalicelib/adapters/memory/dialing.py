"""The Dialing role in memory."""
from __future__ import annotations

from datetime import datetime

from ...domain.model import TicketKind, TicketStatus
from ...ports import Dialing
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
