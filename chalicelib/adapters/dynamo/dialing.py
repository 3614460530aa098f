"""The Dialing role on DynamoDB: dial attempts, bridge legs, an admin's changes to a callback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.errors import TicketNotFoundError
from ...domain.model import Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import SLOT_FULL, Dialing, SlotClaim
from .items import LEFT, free_slot, in_line, leave_line, out_of_line, take_slot
from .schema import MarkerItem, TicketItem, queue_pk, ticket_sk
from .table import CONDITION_FAILED, Move, OnTable

PENDING = (TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value)


def _where(found: Ticket) -> tuple[object, int, int]:
    """Where a pending callback stands: the condition that it still does, what leaving its state does to
    the line (LEFT, standing in it; else nothing) and its class."""
    p = found.priority
    return (in_line(p), LEFT, p) if found.in_line else (out_of_line(p), 0, p)


class DynamoDialing(OnTable, Dialing):
    """Callback dial attempts (DIAL# markers), the bridge's leg progress, an admin's changes to a callback."""

    def begin_dial(self, ticket_id: str, dial_id: str, token: str, at: datetime | None = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        first = [] if at is None else [TicketItem.first_dial_at.set(TicketItem.first_dial_at | at)]

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(f"DIAL#{dial_id}", "DIAL", expires_at=datetime.now(timezone.utc) + timedelta(days=7)),
                    condition=MarkerItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.dial_id.set(dial_id), TicketItem.dial_token.set(token), *first],
                condition=TicketItem.status == TicketStatus.CONNECTING.value)

        return self.table.transact(write) is None

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self.table.update(ticket_id, [TicketItem.ended_dial.set(dial_id)], TicketItem.dial_id == dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None,
                    answered_at: datetime | None = None) -> str | None:
        item = self.table.get_item(ticket_id)
        if item.dial_id != dial_id or not item.dial_token:
            return None
        actions = [TicketItem.status.set(status.value), TicketItem.dial_id.remove(), TicketItem.dial_token.remove(),
                   TicketItem.attempts.set(attempts), TicketItem.last_outcome.set(outcome)]
        actions.append(TicketItem.next_attempt_at.set(next_attempt_at) if next_attempt_at
                       else TicketItem.next_attempt_at.remove())
        if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED):
            actions.append(TicketItem.ended_at.set(now))
        if status is TicketStatus.SERVED:  # when the callee was reached, unless a leg event said so first
            if answered_at is not None:
                actions.append(TicketItem.answered_at.set(TicketItem.answered_at | answered_at))
        else:  # this attempt reached nobody
            actions.append(TicketItem.answered_at.remove())
        if status is TicketStatus.LOST:  # on the lost-call list from now (GiveUp keeps an earlier time)
            actions.append(TicketItem.lost_at.set(TicketItem.lost_at | now))
        if not self.table.update(ticket_id, actions, TicketItem.dial_id == dial_id):
            return None
        return item.dial_token

    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime, answered: bool = False) -> bool:
        condition = (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
        actions = [TicketItem.leg.set(leg), TicketItem.leg_at.set(at)]
        if answered:  # recorded once, whatever leg events came before
            condition &= TicketItem.answered_at.does_not_exist()
            actions.append(TicketItem.answered_at.set(at))
        else:
            condition &= TicketItem.leg.does_not_exist() | ((TicketItem.leg != leg) & (TicketItem.leg != "talking"))
        return self.table.update(ticket_id, actions, condition)

    def note_dialed(self, ticket_id: str, dial_id: str) -> bool:
        # `dialed` names the attempt counted, so a repeated note counts nothing; not conditional on the
        # attempt being open: its outcome may have been reported already (a fast provider)
        return self.table.update(ticket_id, [TicketItem.dials.add(1), TicketItem.dialed.set(dial_id)],
                                 TicketItem.pk.exists() & (TicketItem.dialed.does_not_exist() | (TicketItem.dialed != dial_id)))

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.agent_id.remove()], TicketItem.agent_id == agent_id)

    def cancel_callback(self, ticket_id: str, now: datetime, by_caller: bool = False, slot: str | None = None) -> bool:
        queue_id, _ = split_ticket_id(ticket_id)
        cancel = [TicketItem.status.set(TicketStatus.CANCELLED.value), TicketItem.ended_at.set(now),
                  *leave_line(), TicketItem.task_token.remove()]
        if by_caller:  # their own choice, counted apart (reports: cancelled by caller)
            cancel.append(TicketItem.cancelled_by.set("caller"))
        pending = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.status.is_in(*PENDING)
        pending &= TicketItem.slot.does_not_exist() if slot is None else TicketItem.slot == slot
        freed = None if slot is None else (lambda tx: free_slot(tx, queue_id, slot))

        def plan(found: Ticket | None) -> Move | None:
            if found is None:  # likely: scheduled for later, out of the line
                return Move(cancel, pending & out_of_line(0), also=freed)
            if found.kind is not TicketKind.CALLBACK or found.status not in (TicketStatus.SCHEDULED,
                                                                              TicketStatus.WAITING) or found.slot != slot:
                return None
            where, line, p = _where(found)
            return Move(cancel, pending & where, line, p, also=freed)

        return self.table.move(ticket_id, plan) is None

    def move_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime,
                      slot_from: str | None, slot_to: SlotClaim | None,
                      told: tuple[float, float] | None = None) -> int | str | None:
        queue_id, _ = split_ticket_id(ticket_id)
        try:
            read = self.table.get(ticket_id)
        except TicketNotFoundError:
            return None
        bookings = read.bookings
        same_run = (TicketItem.execution_id == execution_id) if execution_id else TicketItem.execution_id.does_not_exist()
        condition = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.status.is_in(*PENDING) & same_run
        condition &= TicketItem.slot.does_not_exist() if slot_from is None else TicketItem.slot == slot_from
        condition &= TicketItem.bookings == bookings
        actions = [TicketItem.status.set(TicketStatus.SCHEDULED.value), TicketItem.not_before.set(not_before),
                   *leave_line(), TicketItem.task_token.remove(), TicketItem.next_attempt_at.remove(),
                   TicketItem.execution_id.remove(), TicketItem.bookings.set(bookings + 1),
                   TicketItem.slot.set(slot_to.key) if slot_to else TicketItem.slot.remove()]
        if told is not None:
            actions += [TicketItem.told_shape.set(round(told[0], 6)), TicketItem.told_scale.set(round(told[1], 6))]

        def slots(tx: TransactWrite) -> None:
            if slot_to is not None:
                take_slot(tx, queue_id, slot_to)
            if slot_from is not None:
                free_slot(tx, queue_id, slot_from)

        def plan(found: Ticket | None) -> Move | None:
            ticket = read if found is None else found  # first from the state just read
            if (ticket.kind is not TicketKind.CALLBACK or ticket.status.value not in PENDING
                    or (ticket.execution_id or None) != (execution_id or None)
                    or ticket.slot != slot_from or ticket.bookings != bookings):
                return None
            where, line, p = _where(ticket)  # a callback standing in the line leaves it for its new time
            return Move(actions, condition & where, line, p, also=slots)

        codes = self.table.move(ticket_id, plan)
        if codes is None:
            return bookings + 1
        return SLOT_FULL if codes[0] != CONDITION_FAILED and slot_to is not None else None

    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        same_run = (TicketItem.execution_id == execution_id) if execution_id else TicketItem.execution_id.does_not_exist()
        try:
            item.update(actions=[TicketItem.not_before.set(not_before), TicketItem.next_attempt_at.remove(),
                                 TicketItem.execution_id.remove(), TicketItem.bookings.add(1)],
                        condition=(TicketItem.kind == TicketKind.CALLBACK.value)
                        & (TicketItem.status == TicketStatus.SCHEDULED.value) & same_run)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return int(item.bookings)
