"""The same cases against every TicketStore: the in-memory fake and DynamoDB (moto)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import TicketNotFoundError
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.ports import TicketStore
from chalicelib.adapters.memory import FakeStore

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["fake", "dynamo"])
def store(request: pytest.FixtureRequest) -> TicketStore:
    if request.param == "fake":
        return FakeStore()
    from chalicelib.adapters.dynamo import DynamoTicketStore

    resources = request.getfixturevalue("aws")
    return DynamoTicketStore(resources.table_name, "us-east-1")


def live(call_id: str | None, queue: str = "support", priority: int = 0,
         status: TicketStatus = TicketStatus.WAITING) -> Ticket:
    return Ticket(queue, 0, TicketKind.LIVE, status, NOW, call_id=call_id, caller="+14158675309",
                  priority=priority)


def test_numbers_come_from_a_per_queue_counter_and_are_never_reused(store: TicketStore) -> None:
    a = store.open_ticket(live("CA1"))
    b = store.open_ticket(live("CA2"))
    other = store.open_ticket(live("CA3", queue="sales"))
    assert (a.number, b.number, other.number) == (1, 2, 1)
    store.abandon(a.id, NOW, 1.0)
    assert store.open_ticket(live("CA4")).number == 3


def test_one_ticket_per_call(store: TicketStore) -> None:
    first = store.open_ticket(live("CA1"))
    again = store.open_ticket(live("CA1"))
    assert again.id == first.id
    assert store.find_by_call("CA1").id == first.id
    assert store.find_by_call("CA-none") is None


def test_get_round_trips_and_missing_is_an_error(store: TicketStore) -> None:
    ticket = store.open_ticket(live("CA1"))
    loaded = store.get(ticket.id)
    assert loaded == ticket
    with pytest.raises(TicketNotFoundError):
        store.get("support-999")
    with pytest.raises(TicketNotFoundError):
        store.get("../etc")


def test_line_order_is_priority_then_number(store: TicketStore) -> None:
    t1 = store.open_ticket(live("CA1"))
    t2 = store.open_ticket(live("CA2"))
    vip = store.open_ticket(live("CA3", priority=1))
    t4 = store.open_ticket(live("CA4"))
    assert [store.ahead_of(t) for t in (vip, t1, t2, t4)] == [0, 1, 2, 3]
    store.abandon(t2.id, NOW, 5.0)
    assert store.ahead_of(t4) == 2
    assert store.waiting_count("support") == 3


def test_after_hours_tickets_are_not_in_line(store: TicketStore) -> None:
    store.open_ticket(live("CA1", status=TicketStatus.AFTER_HOURS))
    t2 = store.open_ticket(live("CA2"))
    assert store.ahead_of(t2) == 0


def test_convert_to_callback_happens_once_and_leaves_the_line(store: TicketStore) -> None:
    t1 = store.open_ticket(live("CA1"))
    t2 = store.open_ticket(live("CA2"))
    later = NOW + timedelta(minutes=5)
    assert store.convert_to_callback(t1.id, "+14155550123", later, NOW)
    assert not store.convert_to_callback(t1.id, "+14155550123", later, NOW)
    got = store.get(t1.id)
    assert (got.kind, got.status, got.number, got.callback_number, got.not_before) == (
        TicketKind.CALLBACK, TicketStatus.SCHEDULED, 1, "+14155550123", later)
    assert store.ahead_of(t2) == 0  # out of line until the workflow parks it


def test_revert_only_before_the_workflow_started(store: TicketStore) -> None:
    t1 = store.open_ticket(live("CA1"))
    store.convert_to_callback(t1.id, "+14155550123", NOW, NOW)
    store.revert_to_live(t1.id)
    assert store.get(t1.id).kind is TicketKind.LIVE
    store.convert_to_callback(t1.id, "+14155550123", NOW, NOW)
    store.set_execution(t1.id, "arn:exec")
    store.revert_to_live(t1.id)
    assert store.get(t1.id).kind is TicketKind.CALLBACK


def test_abandon_once_and_only_live_holding_tickets(store: TicketStore) -> None:
    t1 = store.open_ticket(live("CA1"))
    assert store.abandon(t1.id, NOW, 12.5)
    assert not store.abandon(t1.id, NOW, 99.0)
    assert store.get(t1.id).wait_seconds == 12.5
    t2 = store.open_ticket(live("CA2"))
    store.convert_to_callback(t2.id, "+14155550123", NOW, NOW)
    assert not store.abandon(t2.id, NOW, 1.0)


def test_letting_the_call_go_marks_it_done_at_once_and_never_fails_on_a_missing_call(store: TicketStore) -> None:
    """With the call's id the change marks the call done (no stream needed before its status callback
    reads one item); a call id with nothing under it changes the ticket all the same."""
    t1 = store.open_ticket(live("CA1"))
    assert store.abandon(t1.id, NOW, 3.0, "CA1")
    assert store.find_by_call("CA1", open_only=True) is None and store.find_by_call("CA1").id == t1.id
    assert not store.abandon(t1.id, NOW, 4.0, "CA1")  # once
    t2 = store.open_ticket(live("CA2"))
    assert store.abandon(t2.id, NOW, 5.0, "CA-never-seen")
    assert store.get(t2.id).status is TicketStatus.ABANDONED and store.get(t2.id).wait_seconds == 5.0


def test_pending_number_and_wish(store: TicketStore) -> None:
    t1 = store.open_ticket(live("CA1"))
    store.set_pending_number(t1.id, "+14155550123")
    store.mark_wants_callback(t1.id)
    got = store.get(t1.id)
    assert (got.pending_number, got.wants_callback) == ("+14155550123", True)
    store.set_pending_number(t1.id, None)
    assert store.get(t1.id).pending_number is None


def test_staffing_defaults_to_nobody(store: TicketStore) -> None:
    assert store.staffing("support").staffed == 0


def test_dynamodb_tickets_and_markers_carry_a_ttl(aws) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.adapters.dynamo import DynamoTicketStore, TicketItem

    store = DynamoTicketStore(aws.table_name, "us-east-1")
    ticket = store.open_ticket(live("CA1"))
    item = TicketItem.get("QUEUE#support", "TICKET#000000000001")
    assert item.expires_at is not None and item.expires_at > NOW + timedelta(days=365)
    import boto3
    ttl = boto3.client("dynamodb", region_name="us-east-1").describe_time_to_live(TableName=aws.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ticket.id == "support-1"


def test_agents_present_as_idle_or_busy(store: TicketStore) -> None:
    store.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    store.record_agent_status("bob", AgentStatus.BUSY, NOW, "client:bob", ("support",), None)
    store.record_agent_status("carol", AgentStatus.OFFLINE, NOW, "client:carol", ("support",), None)
    assert [a.id for a in store.idle_agents("support")] == ["alice"]
    assert [a.id for a in store.busy_agents("support")] == ["bob"]
    assert store.staffing("support").staffed == 2


def test_the_bridges_leg_is_noted_only_while_connecting_to_that_agent_and_never_backwards(
        store: TicketStore) -> None:
    ticket = store.open_ticket(live("CA-leg"))
    assert not store.note_leg(ticket.id, "alice", "ringing", NOW)  # not being bridged yet
    store.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    assert store.claim(ticket.id, "alice", NOW)
    assert not store.note_leg(ticket.id, "bob", "ringing", NOW)  # another agent's leg
    assert store.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=1))
    assert not store.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=2))  # repeated
    assert store.note_leg(ticket.id, "alice", "talking", NOW + timedelta(seconds=4))
    assert not store.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=5))  # late
    got = store.get(ticket.id)
    assert (got.leg, got.leg_at) == ("talking", NOW + timedelta(seconds=4))
    assert store.mark_served(ticket.id, NOW + timedelta(seconds=60))
    assert not store.note_leg(ticket.id, "alice", "talking", NOW + timedelta(seconds=61))  # the bridge ended
    assert store.get(ticket.id).leg_at == NOW + timedelta(seconds=4)


def test_a_new_bridge_starts_with_no_leg(store: TicketStore) -> None:
    ticket = store.open_ticket(live("CA-again"))
    store.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    assert store.claim(ticket.id, "alice", NOW)
    assert store.note_leg(ticket.id, "alice", "talking", NOW)
    assert store.requeue(ticket.id, "alice")  # e.g. the bridge failed: back in line
    assert store.release_agent("alice", ticket.id, AgentStatus.AVAILABLE, NOW)
    assert store.claim(ticket.id, "alice", NOW + timedelta(seconds=30))
    assert (store.get(ticket.id).leg, store.get(ticket.id).leg_at) == (None, None)
    assert store.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=31))


# --- issue 11: lost calls by number and a page at a time, the first live caller, booking at once -------

def lost(store: TicketStore, call_id: str, caller: str, at: datetime) -> Ticket:
    ticket = store.open_ticket(live(call_id).evolve(caller=caller))
    store.abandon(ticket.id, at, 5.0)
    store.mark_lost(ticket.id, "abandoned", at)
    return ticket


def test_lost_calls_come_a_page_at_a_time_oldest_first(store: TicketStore) -> None:
    from chalicelib.domain.errors import BadPageError

    made = [lost(store, f"CA{i}", f"+1415555{i:04d}", NOW + timedelta(minutes=i)).id for i in range(7)]
    pages, cursor = [], None
    while True:
        page = store.lost_calls("support", limit=3, cursor=cursor)
        pages.append([t.id for t in page.items])
        if page.next is None:
            break
        cursor = page.next
    assert [tid for p in pages for tid in p] == made and [len(p) for p in pages][:2] == [3, 3]
    assert store.lost_calls("support").items == [store.get(t) for t in made]  # default: one page of 100
    with pytest.raises(BadPageError):
        store.lost_calls("support", cursor="not-a-cursor!")


def test_clear_lost_finds_the_numbers_lost_calls_only(store: TicketStore) -> None:
    mine = [lost(store, f"CA{i}", "+14158675309", NOW + timedelta(minutes=i)).id for i in range(2)]
    others = [lost(store, f"CB{i}", f"+1415555{i:04d}", NOW).id for i in range(5)]
    assert store.clear_lost("support", "+14158675309", NOW) == 2
    assert [t.id for t in store.lost_calls("support")] == others
    assert all(store.get(t).recovered_at == NOW for t in mine)
    assert store.clear_lost("support", "+14158675309", NOW) == 0


def test_first_live_skips_callbacks_at_the_head(store: TicketStore) -> None:
    callback = store.open_ticket(Ticket("support", 0, TicketKind.CALLBACK, TicketStatus.WAITING, NOW,
                                        caller="+14158675309", callback_number="+14158675309"))
    caller = store.open_ticket(live("CA1"))
    assert store.head("support").id == callback.id and store.first_live("support").id == caller.id
    store.abandon(caller.id, NOW, 1.0)
    assert store.first_live("support") is None


def test_a_booking_is_all_or_nothing(store: TicketStore) -> None:
    from chalicelib.ports import BOOKING_MOVED, BOOKING_TAKEN

    day = NOW.strftime("%Y-%m-%d")
    a, b = store.open_ticket(live("CA1")), store.open_ticket(live("CA2"))
    number = "+14158675309"
    assert store.book_callback(a, number, NOW, NOW, False, None, day, 1, 10) == 1
    assert store.get(a.id).kind is TicketKind.CALLBACK and store.callback_guard("support", number).holder == a.id
    assert store.book_callback(a, number, NOW, NOW, False, a.id, day, 1, 10) == BOOKING_MOVED  # a duplicate
    assert store.book_callback(b, number, NOW, NOW, False, None, day, 1, 10) == BOOKING_TAKEN  # pointer moved
    # the number's allowance is spent: nothing changes, not even the pointer
    assert store.book_callback(b, number, NOW, NOW, False, a.id, day, 1, 10) == "rate_limited"
    assert store.get(b.id).kind is TicketKind.LIVE and store.callback_guard("support", number).holder == a.id
    assert store.take_allowance("+14155550000", day, 1, 10) is None  # the refusal counted nothing
