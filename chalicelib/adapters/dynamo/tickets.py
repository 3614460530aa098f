"""The Tickets role on DynamoDB."""
from __future__ import annotations

import random
from datetime import datetime

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, TicketNotFoundError
from ...domain.model import Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import LineCounts, SlotClaim, Tickets
from .items import (CAME_BACK, LEFT, count_line, enter_line, free_slot, in_line, leave_line, out_of_line, take_slot,
                    to_callback)
from .schema import CallItem, CounterItem, TICKET_TTL, TicketItem, line_counts, queue_pk, ticket_item
from .table import TX_ATTEMPTS, TX_BACKOFF_SECONDS, Move, OnTable


def _likely(found: Ticket | None, status: TicketStatus, in_the_line: bool) -> tuple[TicketStatus, bool, int]:
    """The state a move starts from: the one found, else the likely one (class 0)."""
    if found is None:
        return status, in_the_line, 0
    return found.status, found.in_line, found.priority


def convert_move(found: Ticket | None, number: str, not_before: datetime, now: datetime, recovering: bool,
                 extra: list | None = None, condition: object = None) -> Move | None:
    """A live caller becomes a callback (`to_callback`), from the state it was found in: holding in line
    (it leaves the line, or, due at once, keeps standing in it: `held`), after hours, or, recovering,
    abandoned. `extra`, `condition`: more of the same update (the booking's)."""
    status, standing, p = _likely(found, TicketStatus.ABANDONED if recovering else TicketStatus.WAITING,
                                  not recovering)
    if found is not None and found.kind is not TicketKind.LIVE:
        return None
    live = TicketItem.kind == TicketKind.LIVE.value
    more = [] if condition is None else [condition]
    if recovering:
        if status is not TicketStatus.ABANDONED:
            return None
        return Move([*to_callback(number, not_before), *(extra or [])],
                    _all(live, TicketItem.status == status.value, out_of_line(p), *more))
    if status is TicketStatus.WAITING and standing:
        held = not_before <= now
        return Move([*to_callback(number, not_before, held=held), *(extra or [])],
                    _all(live, TicketItem.status == status.value, in_line(p), *more), 0 if held else LEFT, p)
    if status is TicketStatus.AFTER_HOURS:
        return Move([*to_callback(number, not_before), *(extra or [])],
                    _all(live, TicketItem.status == status.value, *more))
    return None


def _all(*conditions: object) -> object:
    joined = conditions[0]
    for condition in conditions[1:]:
        joined = joined & condition  # type: ignore[operator]
    return joined


def _in_slot(slot: str | None) -> object:
    """The ticket holds this chosen-time slot (None: none)."""
    return TicketItem.slot.does_not_exist() if slot is None else TicketItem.slot == slot


class DynamoTickets(OnTable, Tickets):
    """Tickets: numbered from the queue's counter, indexed by call, moved by conditional writes."""

    def next_number(self, queue_id: str) -> int:
        counter = CounterItem(queue_pk(queue_id), "COUNTER")
        counter.update(actions=[CounterItem.next_number.add(1)])
        return int(counter.next_number)

    def take_place(self, queue_id: str, priority: int = 0) -> tuple[int, LineCounts]:
        # One UpdateItem: the number and the ticket's place (its class's count), answering the counts as
        # they stand after it. A transaction in flight on the counter item refuses it for a moment.
        for attempt in range(TX_ATTEMPTS):
            try:
                raw = self.table.client.update_item(
                    TableName=TicketItem.Meta.table_name, Key={"pk": {"S": queue_pk(queue_id)}, "sk": {"S": "COUNTER"}},
                    UpdateExpression="ADD next_number :one, #n :one", ExpressionAttributeNames={"#n": f"n{priority}"},
                    ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")["Attributes"]
                return int(raw["next_number"]["N"]), line_counts(raw)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionConflictException":
                    raise
                self.table.pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError(f"the counter of {queue_id} kept conflicting")

    def _give_back(self, ticket: Ticket) -> None:
        """A place taken for a ticket that was never written leaves the line (a departure, as a caller
        who hung up at once), so the counts stay those of the table."""
        self.table.transact(lambda tx: count_line(tx, ticket.queue_id, ticket.priority, LEFT))

    def open_ticket(self, ticket: Ticket) -> Ticket:
        if not ticket.number:  # else the caller took the number (after it looked the call up itself)
            existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if existing is not None:
                return existing
            if ticket.status is TicketStatus.WAITING:
                number, line = self.take_place(ticket.queue_id, ticket.priority)
                ticket = ticket.evolve(number=number, joined=line.joined(ticket.priority))
            else:
                ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        placed = ticket.status is TicketStatus.WAITING  # its place was taken with its number
        item = ticket_item(ticket)

        def write(tx: TransactWrite) -> None:
            if ticket.call_id:
                tx.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id,
                                 expires_at=ticket.created_at + TICKET_TTL),
                        condition=CallItem.pk.does_not_exist())
            tx.save(item, condition=TicketItem.pk.does_not_exist())

        try:
            written = self.table.transact(write) is None
        except StoreUnavailableError:
            if placed:
                self._give_back(ticket)
            raise
        if not written:
            if placed:
                self._give_back(ticket)
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
        # Out of the line until the workflow parks it (with its task token) at the same place; due at
        # once, it keeps standing in the line meanwhile.
        if self.table.move(ticket_id, lambda found: convert_move(
                found, number, not_before, now, recovering, [TicketItem.bookings.add(1)])) is not None:
            return None
        return self.table.get(ticket_id).bookings

    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str, origin: str | None = None, told: tuple[float, float] | None = None,
                        slot: SlotClaim | None = None) -> Ticket | None:
        queue_id, num = split_ticket_id(ticket_id)
        ticket = Ticket(queue_id=queue_id, number=num, kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED,
                        created_at=now, caller=number, language=language, callback_number=number,
                        not_before=not_before, origin=origin, slot=slot.key if slot is not None else None)
        if told is not None:
            ticket = ticket.evolve(told_shape=told[0], told_scale=told[1])
        item = ticket_item(ticket)
        item.callback_number, item.not_before, item.bookings = number, not_before, 1
        if slot is None:
            item.save(condition=TicketItem.pk.does_not_exist())
            return ticket

        def write(tx: TransactWrite) -> None:  # the ticket and its place in the slot, all or nothing
            tx.save(item, condition=TicketItem.pk.does_not_exist())
            take_slot(tx, queue_id, slot)

        return ticket if self.table.transact(write) is None else None

    def revert_to_live(self, ticket_id: str, waiting: bool = True, slot: str | None = None) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        undo = [TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.callback_number.remove(),
                TicketItem.not_before.remove(), TicketItem.slot.remove()]
        unstarted = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.execution_id.does_not_exist()
        if slot is not None:
            unstarted &= TicketItem.slot == slot
        freed = None if slot is None else (lambda tx: free_slot(tx, queue_id, slot))

        def plan(found: Ticket | None) -> Move | None:
            if found is not None and (found.kind is not TicketKind.CALLBACK or found.execution_id
                                      or (slot is not None and found.slot != slot)):
                return None
            standing, p = (waiting, 0) if found is None else (found.in_line, found.priority)
            where = in_line(p) if standing else out_of_line(p)
            if waiting:  # back in line: it never left (held), or it comes back at its own place
                back = [TicketItem.status.set(TicketStatus.WAITING.value), *enter_line(queue_id, number, True, p)]
                return Move([*undo, *back], unstarted & where, 0 if standing else CAME_BACK, p, also=freed)
            gone = [TicketItem.status.set(TicketStatus.ABANDONED.value), *(leave_line() if standing else [])]
            return Move([*undo, *gone], unstarted & where, LEFT if standing else 0, p, also=freed)

        self.table.move(ticket_id, plan)

    def rejoin(self, ticket_id: str, call_id: str, now: datetime, slot: str | None = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        pointer = CallItem(f"CALL#{call_id}", "CALL", ticket_id=ticket_id, expires_at=now + TICKET_TTL)

        def also(tx: TransactWrite) -> None:
            tx.save(pointer, condition=CallItem.pk.does_not_exist())
            if slot is not None:  # back on the line now: the chosen time is given up
                free_slot(tx, queue_id, slot)

        def plan(found: Ticket | None) -> Move | None:
            if found is not None and (found.kind is not TicketKind.CALLBACK or found.status not in (
                    TicketStatus.SCHEDULED, TicketStatus.WAITING) or found.slot != slot):
                return None
            status, standing, p = _likely(found, TicketStatus.WAITING, True)
            where = in_line(p) if standing else out_of_line(p)
            return Move([TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.status.set(TicketStatus.WAITING.value),
                         TicketItem.call_id.set(call_id), *enter_line(queue_id, number, True, p),
                         TicketItem.task_token.remove(), TicketItem.slot.remove(), TicketItem.wants_callback.set(False),
                         TicketItem.execution_id.remove()],
                        (TicketItem.kind == TicketKind.CALLBACK.value) & (TicketItem.status == status.value) & where
                        & _in_slot(slot),
                        0 if standing else CAME_BACK, p, also=also)

        return self.table.move(ticket_id, plan) is None

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.execution_id.set(execution_id)])

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        ended = [TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
                 TicketItem.wait_seconds.set(round(wait_seconds, 3))]
        live = TicketItem.kind == TicketKind.LIVE.value

        def plan(found: Ticket | None) -> Move | None:
            if found is not None and found.kind is not TicketKind.LIVE:
                return None
            status, standing, p = _likely(found, TicketStatus.WAITING, True)
            if status is TicketStatus.WAITING and standing:
                return Move([*ended, *leave_line()], live & (TicketItem.status == status.value) & in_line(p), LEFT, p)
            if status is TicketStatus.AFTER_HOURS:
                return Move(ended, live & (TicketItem.status == status.value))
            return None

        return self.table.let_go(ticket_id, plan, call_id)
