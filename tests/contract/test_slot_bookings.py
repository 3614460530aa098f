"""Chosen-time slots in the store, the in-memory adapter and DynamoDB (moto) alike: a booking takes its
slot in the same write as the booking, never past the slot's capacity whatever the concurrency, and
every way a booking ends before its time (the caller cancels, moves, rejoins the line, or the workflow
could not start) gives its place back in the same write."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from chalicelib.adapters.memory import memory_stores
from chalicelib.domain.errors import TicketNotFoundError
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.ports import SLOT_FULL, SlotClaim, Stores

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
SLOT = "2026-11-23T18:00Z"
LATER = "2026-11-23T18:30Z"
DAY = "2026-11-23"


@pytest.fixture(params=["memory", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        return memory_stores()
    from chalicelib.adapters.dynamo import dynamo_stores

    resources = request.getfixturevalue("aws")
    return dynamo_stores(resources.table_name, "us-east-1", pause=lambda seconds: None)


def caller(stores: Stores, n: int) -> Ticket:
    """A caller holding in line (their own number, their own call)."""
    return stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW,
                                             call_id=f"CA{n}", caller=f"+1415555{n:04d}"))


def book(stores: Stores, ticket: Ticket, slot: SlotClaim | None) -> int | str:
    return stores.bookings.book_callback(ticket, ticket.caller or "", datetime(2026, 11, 23, 18, tzinfo=timezone.utc),
                                         NOW, False, None, DAY, 3, 1000, (1.0, 10800.0), slot)


def test_fifty_concurrent_bookings_fill_a_slot_of_ten_exactly(stores: Stores) -> None:
    tickets = [caller(stores, n) for n in range(50)]
    results: list[int | str] = []
    lock = threading.Lock()
    go = threading.Barrier(50)

    def booking(ticket: Ticket) -> None:
        go.wait()
        answer = book(stores, ticket, SlotClaim(SLOT, 10))
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=booking, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 50
    assert sum(isinstance(r, int) for r in results) == 10
    assert results.count(SLOT_FULL) == 40
    assert stores.bookings.slot_counts("support", [SLOT, LATER]) == {SLOT: 10}
    booked = [stores.tickets.get(t.id) for t in tickets]
    assert sum(t.slot == SLOT and t.kind is TicketKind.CALLBACK for t in booked) == 10
    # the refused ones changed nothing: still live callers in line, no allowance spent for them
    assert sum(t.kind is TicketKind.LIVE and t.status is TicketStatus.WAITING for t in booked) == 40


def test_a_full_slot_refuses_and_counts_nothing_else(stores: Stores) -> None:
    first, second = caller(stores, 1), caller(stores, 2)
    assert book(stores, first, SlotClaim(SLOT, 1)) == 1
    assert book(stores, second, SlotClaim(SLOT, 1)) == SLOT_FULL
    assert stores.tickets.get(second.id).kind is TicketKind.LIVE
    assert stores.bookings.open_callback_for("support", second.caller or "") is None
    # the refused caller's allowance was not spent: with a place free they book at once
    assert book(stores, second, SlotClaim(LATER, 1)) == 1


def test_cancelling_gives_the_place_back_once(stores: Stores) -> None:
    ticket = caller(stores, 1)
    book(stores, ticket, SlotClaim(SLOT, 1))
    assert not stores.dialing.cancel_callback(ticket.id, NOW, by_caller=True, slot=None)  # not its slot: nothing
    assert stores.dialing.cancel_callback(ticket.id, NOW, by_caller=True, slot=SLOT)
    assert not stores.dialing.cancel_callback(ticket.id, NOW, by_caller=True, slot=SLOT)  # once
    cancelled = stores.tickets.get(ticket.id)
    assert (cancelled.status, cancelled.cancelled_by) == (TicketStatus.CANCELLED, "caller")
    assert stores.bookings.slot_counts("support", [SLOT]) == {SLOT: 0}
    assert book(stores, caller(stores, 2), SlotClaim(SLOT, 1)) == 1  # the place is free again


def test_moving_takes_the_new_place_and_frees_the_old_in_one_write(stores: Stores) -> None:
    ticket = caller(stores, 1)
    book(stores, ticket, SlotClaim(SLOT, 1))
    stores.tickets.set_execution(ticket.id, "exec-1")
    later = datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc)
    assert stores.dialing.move_callback(ticket.id, "exec-0", later, SLOT, SlotClaim(LATER, 1)) is None  # other run
    blocker = caller(stores, 2)
    book(stores, blocker, SlotClaim(LATER, 1))
    assert stores.dialing.move_callback(ticket.id, "exec-1", later, SLOT, SlotClaim(LATER, 1)) == SLOT_FULL
    assert stores.bookings.slot_counts("support", [SLOT, LATER]) == {SLOT: 1, LATER: 1}  # nothing moved
    stores.dialing.cancel_callback(blocker.id, NOW, by_caller=True, slot=LATER)
    assert stores.dialing.move_callback(ticket.id, "exec-1", later, SLOT, SlotClaim(LATER, 1), (1.0, 12600.0)) == 2
    moved = stores.tickets.get(ticket.id)
    assert (moved.slot, moved.not_before, moved.status, moved.execution_id) == (LATER, later, TicketStatus.SCHEDULED,
                                                                               None)
    assert moved.told_scale == 12600.0
    assert stores.bookings.slot_counts("support", [SLOT, LATER]) == {SLOT: 0, LATER: 1}


def test_a_parked_callback_moved_leaves_the_line(stores: Stores) -> None:
    ticket = caller(stores, 1)
    book(stores, ticket, SlotClaim(SLOT, 2))
    stores.tickets.set_execution(ticket.id, "exec-1")
    park(stores, ticket.id)
    assert stores.line.waiting_count("support") == 1
    later = datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc)
    assert stores.dialing.move_callback(ticket.id, "exec-1", later, SLOT, SlotClaim(LATER, 2)) == 2
    assert stores.line.waiting_count("support") == 0
    assert stores.tickets.get(ticket.id).task_token is None


def test_rejoining_the_line_and_a_failed_start_give_the_place_back(stores: Stores) -> None:
    rejoins, reverts = caller(stores, 1), caller(stores, 2)
    book(stores, rejoins, SlotClaim(SLOT, 2))
    book(stores, reverts, SlotClaim(SLOT, 2))
    assert stores.tickets.rejoin(rejoins.id, "CA-again", NOW, slot=SLOT)
    assert stores.tickets.get(rejoins.id).slot is None
    stores.tickets.revert_to_live(reverts.id, waiting=True, slot=SLOT)  # its workflow never started
    assert stores.tickets.get(reverts.id).kind is TicketKind.LIVE
    assert stores.bookings.slot_counts("support", [SLOT]) == {SLOT: 0}


def park(stores: Stores, ticket_id: str) -> None:
    """What the workflow's Park step does (the ASL's own updateItem, or its in-memory twin)."""
    table = getattr(stores, "table")
    if hasattr(table, "park"):
        table.park(ticket_id, "token-1")
        return
    from chalicelib.adapters.dynamo.schema import TicketItem, line_keys, queue_pk, ticket_sk
    from chalicelib.domain.model import split_ticket_id

    queue_id, number = split_ticket_id(ticket_id)
    line_pk, line_sk = line_keys(queue_id, number)
    TicketItem(queue_pk(queue_id), ticket_sk(number)).update(actions=[
        TicketItem.status.set("WAITING"), TicketItem.task_token.set("token-1"), TicketItem.line_pk.set(line_pk),
        TicketItem.line_sk.set(line_sk), TicketItem.attempts.set(1)])


def test_slot_counts_read_many_slots_at_once(stores: Stores) -> None:
    for n, key in enumerate([SLOT, SLOT, LATER]):
        book(stores, caller(stores, n), SlotClaim(key, 5))
    keys = [SLOT, LATER, (datetime(2026, 11, 23, 19, tzinfo=timezone.utc)).strftime("%Y-%m-%dT%H:%MZ")]
    assert stores.bookings.slot_counts("support", keys) == {SLOT: 2, LATER: 1}
    assert stores.bookings.slot_counts("other", keys) == {}


def test_a_web_requests_new_callback_takes_its_slot_in_the_same_write(stores: Stores) -> None:
    """A web request opens no live ticket: its callback is created with its place in the slot, or not at all."""
    at = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    ids = [f"support-{stores.tickets.next_number('support')}" for _ in range(2)]
    first = stores.tickets.create_callback(ids[0], "+14155550001", at, NOW, "en-US", "web", (1.0, 10800.0),
                                           SlotClaim(SLOT, 1))
    assert first is not None and stores.tickets.get(ids[0]).slot == SLOT
    assert stores.tickets.create_callback(ids[1], "+14155550002", at, NOW, "en-US", "web", (1.0, 10800.0),
                                          SlotClaim(SLOT, 1)) is None
    with pytest.raises(TicketNotFoundError):
        stores.tickets.get(ids[1])  # nothing written
    assert stores.bookings.slot_counts("support", [SLOT]) == {SLOT: 1}
