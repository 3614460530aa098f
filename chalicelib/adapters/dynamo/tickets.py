"""The Tickets role on DynamoDB."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, TicketNotFoundError
from ...domain.model import Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import Tickets
from .items import enter_line, free_slot, holding, leave_line, may_convert, to_callback
from .schema import CallItem, CounterItem, TICKET_TTL, TicketItem, queue_pk, ticket_item, ticket_sk
from .table import OnTable


class DynamoTickets(OnTable, Tickets):
    """Tickets: numbered from the queue's counter, indexed by call, moved by conditional writes."""

    def next_number(self, queue_id: str) -> int:
        counter = CounterItem(queue_pk(queue_id), "COUNTER")
        counter.update(actions=[CounterItem.next_number.add(1)])
        return int(counter.next_number)

    def open_ticket(self, ticket: Ticket) -> Ticket:
        if not ticket.number:  # else the caller took the number (after it looked the call up itself)
            existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if existing is not None:
                return existing
            ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        item = ticket_item(ticket)

        def write(tx: TransactWrite) -> None:
            if ticket.call_id:
                tx.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id,
                                 expires_at=ticket.created_at + TICKET_TTL),
                        condition=CallItem.pk.does_not_exist())
            tx.save(item, condition=TicketItem.pk.does_not_exist())

        if self.table.transact(write) is not None:
            # A concurrent retry of the same webhook won the call index: use its ticket.
            winner = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if winner is None:
                raise StoreUnavailableError(f"ticket {ticket.id} could not be opened")
            return winner
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        return self.table.get(ticket_id)

    def find_by_call(self, call_id: str, open_only: bool = False) -> Ticket | None:
        try:
            ref = CallItem.get(f"CALL#{call_id}", "CALL", consistent_read=True)
        except DoesNotExist:
            return None
        if open_only and ref.done:
            return None  # the stream saw its ticket stop holding this call: nothing left to read
        return self.table.get(ref.ticket_id)

    def set_pending_number(self, ticket_id: str, number: str | None) -> None:
        action = TicketItem.pending_number.set(number) if number else TicketItem.pending_number.remove()
        if not self.table.update(ticket_id, [action], TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def mark_wants_callback(self, ticket_id: str, choose: bool = False) -> None:
        if not self.table.update(ticket_id, [TicketItem.wants_callback.set(True), TicketItem.wants_time.set(choose)],
                                 TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        # Out of the line until the workflow parks it (with its task token) at the same place.
        queue_id, num = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(num))
        try:
            item.update(actions=[*to_callback(number, not_before), TicketItem.bookings.add(1)],
                        condition=may_convert(recovering))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return int(item.bookings)

    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str, origin: str | None = None, told: tuple[float, float] | None = None) -> Ticket:
        queue_id, num = split_ticket_id(ticket_id)
        ticket = Ticket(queue_id=queue_id, number=num, kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED,
                        created_at=now, caller=number, language=language, callback_number=number,
                        not_before=not_before, origin=origin)
        if told is not None:
            ticket = ticket.evolve(told_shape=told[0], told_scale=told[1])
        item = ticket_item(ticket)
        item.callback_number, item.not_before, item.bookings = number, not_before, 1
        item.save(condition=TicketItem.pk.does_not_exist())
        return ticket

    def revert_to_live(self, ticket_id: str, waiting: bool = True, slot: str | None = None) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        back = ([TicketItem.status.set(TicketStatus.WAITING.value), *enter_line(queue_id, number, live=True)]
                if waiting
                else [TicketItem.status.set(TicketStatus.ABANDONED.value)])
        actions = [TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.callback_number.remove(),
                   TicketItem.not_before.remove(), TicketItem.slot.remove(), *back]
        condition = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.execution_id.does_not_exist()
        if slot is None:
            self.table.update(ticket_id, actions, condition)
            return

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=actions,
                      condition=condition & (TicketItem.slot == slot))
            free_slot(tx, queue_id, slot)

        self.table.transact(write)

    def rejoin(self, ticket_id: str, call_id: str, now: datetime, slot: str | None = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        same_slot = TicketItem.slot.does_not_exist() if slot is None else TicketItem.slot == slot

        def write(tx: TransactWrite) -> None:
            tx.save(CallItem(f"CALL#{call_id}", "CALL", ticket_id=ticket_id, expires_at=now + TICKET_TTL),
                    condition=CallItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.status.set(TicketStatus.WAITING.value),
                TicketItem.call_id.set(call_id), *enter_line(queue_id, number, live=True),
                TicketItem.task_token.remove(), TicketItem.slot.remove(),
                TicketItem.wants_callback.set(False), TicketItem.execution_id.remove(),
            ], condition=(TicketItem.kind == TicketKind.CALLBACK.value) & same_slot
                & TicketItem.status.is_in(TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value))
            if slot is not None:  # back on the line now: the chosen time is given up
                free_slot(tx, queue_id, slot)

        return self.table.transact(write) is None

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.execution_id.set(execution_id)])

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        return self.table.let_go(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
            *leave_line(),
        ], (TicketItem.kind == TicketKind.LIVE.value) & holding(), call_id)
