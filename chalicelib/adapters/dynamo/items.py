"""Update actions and writes on the table's items that several roles share (each role uses these,
never another role's adapter)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.expressions.operand import Path
from pynamodb.transactions import TransactWrite

from ...domain.model import HOLDING, Ticket, TicketKind, TicketStatus
from ...ports import SlotClaim
from .schema import CallItem, CounterItem, MarkerItem, TicketItem, line_keys, live_keys, queue_pk, slot_pk

SLOT_TTL = timedelta(days=2)  # a slot's count outlives the slot by this much
LEFT, CAME_BACK = -1, 1  # what a move does to the line: a ticket left it, or came back at its own place


def enter_line(queue_id: str, number: int, live: bool, priority: int = 0) -> list[Any]:
    """Update actions that put a ticket into the line (and, a live caller, into the `live` index)."""
    line_pk, line_sk = line_keys(queue_id, number, priority)
    actions = [TicketItem.line_pk.set(line_pk), TicketItem.line_sk.set(line_sk)]
    if live:
        live_pk, live_sk = live_keys(queue_id, number, priority)
        actions += [TicketItem.live_pk.set(live_pk), TicketItem.live_sk.set(live_sk)]
    return actions


def leave_line() -> list[Any]:
    return [TicketItem.line_pk.remove(), TicketItem.line_sk.remove(), TicketItem.live_pk.remove(),
            TicketItem.live_sk.remove()]


def in_line(priority: int) -> Any:
    """The ticket stands in the line, in this class (its line sort key starts with the class)."""
    return TicketItem.line_pk.exists() & TicketItem.line_sk.startswith(f"{9 - priority}#")


def out_of_line(priority: int) -> Any:
    """The ticket is out of the line, and of this class (the class it comes back into)."""
    of_class = TicketItem.priority == priority
    if not priority:
        of_class |= TicketItem.priority.does_not_exist()
    return TicketItem.line_pk.does_not_exist() & of_class


def count_line(tx: TransactWrite, queue_id: str, priority: int, change: int) -> None:
    """The queue's line counts follow a ticket that left the line (LEFT) or came back into it at its own
    place (CAME_BACK), in the transaction that moves it (the counter item: n{class}, d{class}, r{class})."""
    moved = [Path(f"n{priority}").add(change), Path(f"{'d' if change == LEFT else 'r'}{priority}").add(1)]
    tx.update(CounterItem(queue_pk(queue_id), "COUNTER"), actions=moved)


def to_callback(number: str, not_before: datetime, held: bool = False) -> list[Any]:
    """A live ticket becomes a SCHEDULED callback: out of the line until its workflow parks it (with
    its task token) at the same place; `held`, it keeps standing in the line meanwhile (out of the
    `live` index only)."""
    out = [TicketItem.live_pk.remove(), TicketItem.live_sk.remove()] if held else leave_line()
    return [TicketItem.kind.set(TicketKind.CALLBACK.value), TicketItem.status.set(TicketStatus.SCHEDULED.value),
            TicketItem.callback_number.set(number), TicketItem.not_before.set(not_before),
            TicketItem.pending_number.remove(), *out, TicketItem.execution_id.remove()]


def may_convert(recovering: bool) -> Any:
    allowed = (TicketItem.status == TicketStatus.ABANDONED.value) if recovering else holding()
    return (TicketItem.kind == TicketKind.LIVE.value) & allowed


def count_allowance(tx: TransactWrite, number: str, day: str, per_number: int, daily_budget: int) -> None:
    """Count one callback against the number's day and the day's budget (in the caller's transaction)."""
    expires = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=2)
    tx.update(MarkerItem(f"RATE#{number}#{day}", "RATE"),
              actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
              condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < per_number))
    tx.update(MarkerItem(f"BUDGET#{day}", "BUDGET"),
              actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
              condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < daily_budget))


def take_slot(tx: TransactWrite, queue_id: str, slot: SlotClaim) -> None:
    """One more callback in the slot, only while it holds fewer than its capacity (in the booking's transaction)."""
    start = datetime.strptime(slot.key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)
    tx.update(MarkerItem(slot_pk(queue_id, slot.key), "SLOT"),
              actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(start + SLOT_TTL)],
              condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < slot.capacity))


def free_slot(tx: TransactWrite, queue_id: str, key: str) -> None:
    """One callback fewer in the slot (it was counted in the transaction that booked it)."""
    tx.update(MarkerItem(slot_pk(queue_id, key), "SLOT"), actions=[MarkerItem.count.add(-1)])


def holding() -> Any:
    return TicketItem.status.is_in(*(s.value for s in HOLDING))


def call_done(tx: TransactWrite, call_id: str) -> None:
    """The call's item says its ticket let it go (in the change's transaction: a status callback arriving
    before the stream does reads one item); a call with no item fails only this condition."""
    tx.update(CallItem(f"CALL#{call_id}", "CALL"), actions=[CallItem.done.set(True)], condition=CallItem.pk.exists())


HEAD_PAGE = 2  # items the head query reads per page: one held at the head costs no second call


def line_head(queue_id: str) -> Ticket | None:
    """The first WAITING ticket in dispatch order (the first item of the `line` index, past a callback
    holding its place while its workflow parks it: a moment, and rarely at the head)."""
    for item in TicketItem.line.query(line_keys(queue_id, 0)[0], limit=1, page_size=HEAD_PAGE,
                                      filter_condition=TicketItem.status == TicketStatus.WAITING.value):
        return item.to_ticket()
    return None



def put_lost_markers(queue_id: str, sk: str, numbers: set[str | None], expires: datetime) -> None:
    """The markers that find a lost call by number; they expire with their ticket."""
    with MarkerItem.batch_write() as batch:
        for number in numbers - {None}:
            batch.save(MarkerItem(f"LOSTBY#{queue_id}#{number}", sk, expires_at=expires))
