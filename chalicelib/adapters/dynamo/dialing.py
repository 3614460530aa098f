"""The Dialing role on DynamoDB: dial attempts, bridge legs, an admin's changes to a callback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.errors import TicketNotFoundError
from ...domain.model import TicketKind, TicketStatus, split_ticket_id
from ...ports import SLOT_FULL, Dialing, SlotClaim
from .items import free_slot, leave_line, take_slot
from .schema import MarkerItem, TicketItem, queue_pk, ticket_sk
from .table import CONDITION_FAILED, OnTable

PENDING = (TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value)


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
                    attempts: int, outcome: str, next_attempt_at: datetime | None) -> str | None:
        item = self.table.get_item(ticket_id)
        if item.dial_id != dial_id or not item.dial_token:
            return None
        actions = [TicketItem.status.set(status.value), TicketItem.dial_id.remove(), TicketItem.dial_token.remove(),
                   TicketItem.attempts.set(attempts), TicketItem.last_outcome.set(outcome)]
        actions.append(TicketItem.next_attempt_at.set(next_attempt_at) if next_attempt_at
                       else TicketItem.next_attempt_at.remove())
        if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED):
            actions.append(TicketItem.ended_at.set(now))
        if not self.table.update(ticket_id, actions, TicketItem.dial_id == dial_id):
            return None
        return item.dial_token

    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime) -> bool:
        condition = (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
        condition &= TicketItem.leg.does_not_exist() | ((TicketItem.leg != leg) & (TicketItem.leg != "talking"))
        return self.table.update(ticket_id, [TicketItem.leg.set(leg), TicketItem.leg_at.set(at)], condition)

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.agent_id.remove()], TicketItem.agent_id == agent_id)

    def cancel_callback(self, ticket_id: str, now: datetime, by_caller: bool = False, slot: str | None = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        actions = [TicketItem.status.set(TicketStatus.CANCELLED.value), TicketItem.ended_at.set(now),
                   *leave_line(), TicketItem.task_token.remove()]
        if by_caller:  # their own choice, counted apart (reports: cancelled by caller)
            actions.append(TicketItem.cancelled_by.set("caller"))
        condition = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.status.is_in(*PENDING)
        condition &= TicketItem.slot.does_not_exist() if slot is None else TicketItem.slot == slot

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=actions, condition=condition)
            if slot is not None:
                free_slot(tx, queue_id, slot)

        return self.table.transact(write) is None

    def move_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime,
                      slot_from: str | None, slot_to: SlotClaim | None,
                      told: tuple[float, float] | None = None) -> int | str | None:
        queue_id, number = split_ticket_id(ticket_id)
        try:
            bookings = int(self.table.get_item(ticket_id).bookings or 0)
        except TicketNotFoundError:
            return None
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

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=actions, condition=condition)
            if slot_to is not None:
                take_slot(tx, queue_id, slot_to)
            if slot_from is not None:
                free_slot(tx, queue_id, slot_from)

        codes = self.table.transact(write)
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
