"""The Bookings role on DynamoDB: opt-outs, open-callback pointers, the allowance, the booking transaction."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, TicketNotFoundError
from ...domain.model import Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import BOOKING_MOVED, BOOKING_TAKEN, SLOT_FULL, Bookings, CallbackGuard, SlotClaim
from .items import call_done, count_allowance, count_line, take_slot
from .schema import MarkerItem, TicketItem, open_pk, queue_pk, slot_pk, ticket_sk
from .table import CONDITION_FAILED, OnTable
from .tickets import convert_move


class DynamoBookings(OnTable, Bookings):
    """Opt-outs, the open-callback pointer per number and queue, the allowance; the booking transaction."""

    def _is_open_callback(self, ticket_id: str | None) -> Ticket | None:
        if not ticket_id:
            return None
        try:
            ticket = self.table.get(ticket_id)
        except TicketNotFoundError:
            return None
        open_statuses = (TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING)
        return ticket if ticket.kind is TicketKind.CALLBACK and ticket.status in open_statuses else None

    def reserve_open_callback(self, queue_id: str, number: str, ticket_id: str) -> str:
        key = open_pk(queue_id, number)
        for _ in range(5):
            try:
                current = MarkerItem.get(key, "OPEN", consistent_read=True)
            except DoesNotExist:
                current = None
            if current is not None and current.ticket_id == ticket_id:
                return ticket_id
            if current is not None and self._is_open_callback(current.ticket_id):
                return str(current.ticket_id)
            condition = (MarkerItem.pk.does_not_exist() if current is None
                         else MarkerItem.ticket_id == current.ticket_id)
            try:
                MarkerItem(key, "OPEN", ticket_id=ticket_id).save(condition=condition)
                return ticket_id
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError("open-callback pointer kept changing")  # pragma: no cover

    def open_callback_for(self, queue_id: str, number: str) -> Ticket | None:
        try:
            marker = MarkerItem.get(open_pk(queue_id, number), "OPEN", consistent_read=True)
        except DoesNotExist:
            return None
        return self._is_open_callback(marker.ticket_id)

    def set_opt_out(self, number: str, opted_out: bool, at: datetime) -> None:
        marker = MarkerItem(f"OPTOUT#{number}", "OPTOUT")
        if opted_out:
            marker.save()
        else:
            marker.delete()

    def is_opted_out(self, number: str) -> bool:
        try:
            MarkerItem.get(f"OPTOUT#{number}", "OPTOUT", consistent_read=True)
            return True
        except DoesNotExist:
            return False

    def take_allowance(self, number: str, day: str, per_number: int, daily_budget: int) -> str | None:
        codes = self.table.transact(lambda tx: count_allowance(tx, number, day, per_number, daily_budget))
        if codes is None:
            return None
        return "rate_limited" if codes[0] == CONDITION_FAILED else "budget_spent"

    def take_quota(self, key: str, window: str, limit: int, expires: datetime) -> bool:
        return self.table.transact(lambda tx: tx.update(
            MarkerItem(f"QUOTA#{key}#{window}", "QUOTA"),
            actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
            condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < limit))) is None

    def callback_guard(self, queue_id: str, number: str) -> CallbackGuard:
        opt_out, pointer_key = (f"OPTOUT#{number}", "OPTOUT"), (open_pk(queue_id, number), "OPEN")
        found = self.table.batch_get([opt_out, pointer_key])
        pointer = found.get(pointer_key)
        return CallbackGuard(opt_out in found, pointer["ticket_id"]["S"] if pointer and "ticket_id" in pointer else None)

    def book_callback(self, ticket: Ticket, number: str, not_before: datetime, now: datetime, recovering: bool,
                      holder: str | None, day: str, per_number: int, daily_budget: int,
                      told: tuple[float, float] | None = None, slot: SlotClaim | None = None) -> int | str:
        queue_id, num = split_ticket_id(ticket.id)
        promise = [] if told is None else [TicketItem.told_shape.set(round(told[0], 6)),
                                           TicketItem.told_scale.set(round(told[1], 6))]
        if slot is not None:
            promise.append(TicketItem.slot.set(slot.key))
        booking = ticket.bookings + 1
        same_booking = TicketItem.bookings == ticket.bookings
        if not ticket.bookings:
            same_booking |= TicketItem.bookings.does_not_exist()
        # The conversion from the state the ticket was read in (it leaves the line, or holds its place).
        move = convert_move(ticket, number, not_before, now, recovering, [TicketItem.bookings.set(booking), *promise],
                            same_booking)
        if move is None:
            return BOOKING_MOVED

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(open_pk(queue_id, number), "OPEN", ticket_id=ticket.id),
                    condition=MarkerItem.pk.does_not_exist() if holder is None else MarkerItem.ticket_id == holder)
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(num)), actions=move.actions, condition=move.condition)
            count_allowance(tx, number, day, per_number, daily_budget)
            if slot is not None:
                take_slot(tx, queue_id, slot)
            if holds:  # the caller's call ends with the booking (its status callback reads one item)
                call_done(tx, str(ticket.call_id))
            if move.line:  # last: the codes above keep their places
                count_line(tx, queue_id, move.priority, move.line)

        holds = not recovering and bool(ticket.call_id)
        call_item = 5 if slot is not None else 4  # the call's item follows the slot's in the transaction
        codes = self.table.transact(write)
        if codes is not None and holds and codes[call_item] == CONDITION_FAILED and codes.count(CONDITION_FAILED) == 1:
            holds = False  # no call item to mark: the booking alone
            codes = self.table.transact(write)
        if codes is None:
            return booking
        answers = (BOOKING_TAKEN, BOOKING_MOVED, "rate_limited", "budget_spent") + ((SLOT_FULL,) if slot else ())
        for code, answer in zip(codes, answers):
            if code == CONDITION_FAILED:
                return answer
        raise StoreUnavailableError(f"booking {ticket.id} failed: {codes}")  # pragma: no cover

    def slot_counts(self, queue_id: str, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        found = self.table.batch_get([(slot_pk(queue_id, key), "SLOT") for key in keys])
        prefix = len(slot_pk(queue_id, ""))
        return {pk[prefix:]: int(raw.get("count", {}).get("N", 0)) for (pk, _), raw in found.items()}
