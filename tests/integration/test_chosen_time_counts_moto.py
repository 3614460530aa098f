"""A callback's chosen time (issue 27) against the line's counts (issue 20), on DynamoDB (moto) and in
memory alike: booking into a slot, a caller's cancel or move, holding on the line now and a booking
given back each take or free the SLOT# item in the same write that moves the ticket, and the counts
follow the ticket into and out of the line exactly (a callback standing in the line included)."""
from __future__ import annotations

import json

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.bootstrap import build_memory
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.ports import SLOT_FULL, LineCounts, SlotClaim

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 10:00 in San Francisco: open
LATER = NOW + timedelta(days=1)
K1, K2 = "2026-11-24T18:00Z", "2026-11-24T18:30Z"


@pytest.fixture(params=["memory", "moto"])
def stores(request) -> Any:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        queues = QueueDirectory.from_config(json.loads(Path(QUEUES).read_text()))
        return build_memory(queues, NOW, dialer=FakeDialer(), sweep_seconds=0).stores
    settings, serve = request.getfixturevalue("settings"), request.getfixturevalue("serve")
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=FixedClock(NOW), dialer=FakeDialer())
    serve(container)
    return container.stores


def ring(stores: Any, n: int) -> str:
    """A caller joins the line (their number and place taken in one write)."""
    return stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW,
                                             call_id=f"CA{n:05d}", caller=f"+1415555{n:04d}")).id


def line(stores: Any) -> LineCounts:
    counts = stores.line.snapshot("support").line
    assert counts.total == stores.line.waiting_count("support")  # the counts are the line itself
    return counts


def slots(stores: Any) -> dict[str, int]:
    return {k: v for k, v in stores.bookings.slot_counts("support", [K1, K2]).items() if v}


def book(stores: Any, ticket_id: str, n: int, slot: SlotClaim) -> int | str:
    ticket = stores.tickets.get(ticket_id)
    return stores.bookings.book_callback(ticket, f"+1415555{n:04d}", slot_start(slot), NOW, False, None,
                                         "2026-11-23", 3, 100, None, slot)


def slot_start(slot: SlotClaim) -> datetime:
    return datetime.strptime(slot.key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)


def test_chosen_times_move_the_line_counts_in_the_same_write(stores: Any) -> None:
    one, two, three, four = (ring(stores, n) for n in range(1, 5))
    assert line(stores) == LineCounts({0: 4}, {}, {})

    # 1: a callback due at once keeps standing in the line; the caller cancels it: it leaves
    assert stores.tickets.convert_to_callback(one, "+14155550001", NOW, NOW) == 1
    assert stores.tickets.get(one).in_line and line(stores) == LineCounts({0: 4}, {}, {})
    assert stores.dialing.cancel_callback(one, NOW, by_caller=True)
    assert stores.tickets.get(one).status is TicketStatus.CANCELLED
    assert line(stores) == LineCounts({0: 3}, {0: 1}, {})

    # 2: booked into K1 (out of the line), moved to K2 (no line change), then holds on the line now
    assert book(stores, two, 2, SlotClaim(K1, 2)) == 1
    assert line(stores) == LineCounts({0: 2}, {0: 2}, {}) and slots(stores) == {K1: 1}
    assert stores.dialing.move_callback(two, None, LATER, K1, SlotClaim(K2, 1)) == 2
    assert line(stores) == LineCounts({0: 2}, {0: 2}, {}) and slots(stores) == {K2: 1}
    assert stores.tickets.rejoin(two, "CA09002", NOW, slot=K2)
    assert line(stores) == LineCounts({0: 3}, {0: 2}, {0: 1}) and slots(stores) == {}

    # 3: standing in the line (due at once), moved to a chosen time: it leaves; then cancelled from there
    assert stores.tickets.convert_to_callback(three, "+14155550003", NOW, NOW) == 1
    assert stores.dialing.move_callback(three, None, slot_start(SlotClaim(K1, 2)), None, SlotClaim(K1, 2)) == 2
    assert not stores.tickets.get(three).in_line
    assert line(stores) == LineCounts({0: 2}, {0: 3}, {0: 1}) and slots(stores) == {K1: 1}
    assert stores.dialing.move_callback(three, None, LATER, K1, SlotClaim(K2, 0)) == SLOT_FULL  # refused
    assert line(stores) == LineCounts({0: 2}, {0: 3}, {0: 1}) and slots(stores) == {K1: 1}
    assert stores.dialing.cancel_callback(three, NOW, by_caller=True, slot=K1)
    assert line(stores) == LineCounts({0: 2}, {0: 3}, {0: 1}) and slots(stores) == {}

    # 4: booked into K2, then the booking given back (its workflow could not start): back at its place
    assert book(stores, four, 4, SlotClaim(K2, 1)) == 1
    assert line(stores) == LineCounts({0: 1}, {0: 4}, {0: 1}) and slots(stores) == {K2: 1}
    stores.tickets.revert_to_live(four, waiting=True, slot=K2)
    assert stores.tickets.get(four).status is TicketStatus.WAITING
    assert line(stores) == LineCounts({0: 2}, {0: 4}, {0: 2}) and slots(stores) == {}
