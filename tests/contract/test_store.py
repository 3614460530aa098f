"""The same cases against both store bundles (every role port): in memory and on DynamoDB (moto)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import TicketNotFoundError
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.ports import Agents, Bookings, Dialing, Line, LostCalls, QueueStats, Stores, Tickets
from chalicelib.adapters.memory import memory_stores

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return memory_stores()
    from chalicelib.adapters.dynamo import dynamo_stores

    resources = request.getfixturevalue("aws")
    return dynamo_stores(resources.table_name, "us-east-1")


def live(call_id: str | None, queue: str = "support", priority: int = 0,
         status: TicketStatus = TicketStatus.WAITING) -> Ticket:
    return Ticket(queue, 0, TicketKind.LIVE, status, NOW, call_id=call_id, caller="+14158675309",
                  priority=priority)


def test_numbers_come_from_a_per_queue_counter_and_are_never_reused(stores: Stores) -> None:
    a = stores.tickets.open_ticket(live("CA1"))
    b = stores.tickets.open_ticket(live("CA2"))
    other = stores.tickets.open_ticket(live("CA3", queue="sales"))
    assert (a.number, b.number, other.number) == (1, 2, 1)
    stores.tickets.abandon(a.id, NOW, 1.0)
    assert stores.tickets.open_ticket(live("CA4")).number == 3


def test_one_ticket_per_call(stores: Stores) -> None:
    first = stores.tickets.open_ticket(live("CA1"))
    again = stores.tickets.open_ticket(live("CA1"))
    assert again.id == first.id
    assert stores.tickets.find_by_call("CA1").id == first.id
    assert stores.tickets.find_by_call("CA-none") is None


def test_get_round_trips_and_missing_is_an_error(stores: Stores) -> None:
    ticket = stores.tickets.open_ticket(live("CA1"))
    loaded = stores.tickets.get(ticket.id)
    assert loaded == ticket
    with pytest.raises(TicketNotFoundError):
        stores.tickets.get("support-999")
    with pytest.raises(TicketNotFoundError):
        stores.tickets.get("../etc")


def test_line_order_is_priority_then_number(stores: Stores) -> None:
    t1 = stores.tickets.open_ticket(live("CA1"))
    t2 = stores.tickets.open_ticket(live("CA2"))
    vip = stores.tickets.open_ticket(live("CA3", priority=1))
    t4 = stores.tickets.open_ticket(live("CA4"))
    assert [stores.line.ahead_of(t) for t in (vip, t1, t2, t4)] == [0, 1, 2, 3]
    stores.tickets.abandon(t2.id, NOW, 5.0)
    assert stores.line.ahead_of(t4) == 2
    assert stores.line.waiting_count("support") == 3


def test_after_hours_tickets_are_not_in_line(stores: Stores) -> None:
    stores.tickets.open_ticket(live("CA1", status=TicketStatus.AFTER_HOURS))
    t2 = stores.tickets.open_ticket(live("CA2"))
    assert stores.line.ahead_of(t2) == 0


def test_convert_to_callback_happens_once_and_leaves_the_line(stores: Stores) -> None:
    t1 = stores.tickets.open_ticket(live("CA1"))
    t2 = stores.tickets.open_ticket(live("CA2"))
    later = NOW + timedelta(minutes=5)
    assert stores.tickets.convert_to_callback(t1.id, "+14155550123", later, NOW)
    assert not stores.tickets.convert_to_callback(t1.id, "+14155550123", later, NOW)
    got = stores.tickets.get(t1.id)
    assert (got.kind, got.status, got.number, got.callback_number, got.not_before) == (
        TicketKind.CALLBACK, TicketStatus.SCHEDULED, 1, "+14155550123", later)
    assert stores.line.ahead_of(t2) == 0  # out of line until the workflow parks it


def test_a_caller_with_a_callback_scheduled_for_later_who_calls_again_rejoins_at_their_place(stores: Stores) -> None:
    # the rejoin writes the call's pointer in the same transaction: the ticket's own refusal must still be
    # read as the ticket's (PynamoDB sends puts before updates)
    t1 = stores.tickets.open_ticket(live("CA1"))
    t2 = stores.tickets.open_ticket(live("CA2"))
    assert stores.tickets.convert_to_callback(t1.id, "+14155550123", NOW + timedelta(hours=12), NOW)
    assert stores.line.snapshot("support").line.total == 1  # scheduled for later: out of the line
    assert stores.tickets.rejoin(t1.id, "CA9", NOW + timedelta(minutes=1))
    got = stores.tickets.get(t1.id)
    assert (got.kind, got.status, got.number) == (TicketKind.LIVE, TicketStatus.WAITING, 1)
    assert stores.tickets.find_by_call("CA9").id == t1.id
    assert stores.line.snapshot("support").line.total == 2 and stores.line.ahead_of(t2) == 1  # back at its place
    assert not stores.tickets.rejoin(t1.id, "CA10", NOW + timedelta(minutes=2))  # live now: nothing to rejoin


def test_revert_only_before_the_workflow_started(stores: Stores) -> None:
    t1 = stores.tickets.open_ticket(live("CA1"))
    stores.tickets.convert_to_callback(t1.id, "+14155550123", NOW, NOW)
    stores.tickets.revert_to_live(t1.id)
    assert stores.tickets.get(t1.id).kind is TicketKind.LIVE
    stores.tickets.convert_to_callback(t1.id, "+14155550123", NOW, NOW)
    stores.tickets.set_execution(t1.id, "arn:exec")
    stores.tickets.revert_to_live(t1.id)
    assert stores.tickets.get(t1.id).kind is TicketKind.CALLBACK


def test_abandon_once_and_only_live_holding_tickets(stores: Stores) -> None:
    t1 = stores.tickets.open_ticket(live("CA1"))
    assert stores.tickets.abandon(t1.id, NOW, 12.5)
    assert not stores.tickets.abandon(t1.id, NOW, 99.0)
    assert stores.tickets.get(t1.id).wait_seconds == 12.5
    t2 = stores.tickets.open_ticket(live("CA2"))
    stores.tickets.convert_to_callback(t2.id, "+14155550123", NOW, NOW)
    assert not stores.tickets.abandon(t2.id, NOW, 1.0)


def test_letting_the_call_go_marks_it_done_at_once_and_never_fails_on_a_missing_call(stores: Stores) -> None:
    """With the call's id the change marks the call done (no stream needed before its status callback
    reads one item); a call id with nothing under it changes the ticket all the same."""
    t1 = stores.tickets.open_ticket(live("CA1"))
    assert stores.tickets.abandon(t1.id, NOW, 3.0, "CA1")
    assert stores.tickets.find_by_call("CA1", open_only=True) is None and stores.tickets.find_by_call("CA1").id == t1.id
    assert not stores.tickets.abandon(t1.id, NOW, 4.0, "CA1")  # once
    t2 = stores.tickets.open_ticket(live("CA2"))
    assert stores.tickets.abandon(t2.id, NOW, 5.0, "CA-never-seen")
    assert stores.tickets.get(t2.id).status is TicketStatus.ABANDONED and stores.tickets.get(t2.id).wait_seconds == 5.0


def test_pending_number_and_wish(stores: Stores) -> None:
    t1 = stores.tickets.open_ticket(live("CA1"))
    stores.tickets.set_pending_number(t1.id, "+14155550123")
    stores.tickets.mark_wants_callback(t1.id)
    got = stores.tickets.get(t1.id)
    assert (got.pending_number, got.wants_callback) == ("+14155550123", True)
    stores.tickets.set_pending_number(t1.id, None)
    assert stores.tickets.get(t1.id).pending_number is None


def test_staffing_defaults_to_nobody(stores: Stores) -> None:
    assert stores.agents.staffing("support").staffed == 0


def test_dynamodb_tickets_and_markers_carry_a_ttl(aws) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.adapters.dynamo import dynamo_stores, TicketItem

    stores = dynamo_stores(aws.table_name, "us-east-1")
    ticket = stores.tickets.open_ticket(live("CA1"))
    item = TicketItem.get("QUEUE#support", "TICKET#000000000001")
    assert item.expires_at is not None and item.expires_at > NOW + timedelta(days=365)
    import boto3
    ttl = boto3.client("dynamodb", region_name="us-east-1").describe_time_to_live(TableName=aws.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ticket.id == "support-1"


def test_agents_present_as_idle_or_busy(stores: Stores) -> None:
    stores.agents.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, NOW, "client:bob", ("support",), None)
    stores.agents.record_agent_status("carol", AgentStatus.OFFLINE, NOW, "client:carol", ("support",), None)
    assert [a.id for a in stores.agents.idle_agents("support")] == ["alice"]
    assert [a.id for a in stores.agents.busy_agents("support")] == ["bob"]
    assert stores.agents.staffing("support").staffed == 2


def test_the_bridges_leg_is_noted_only_while_connecting_to_that_agent_and_never_backwards(
        stores: Stores) -> None:
    ticket = stores.tickets.open_ticket(live("CA-leg"))
    assert not stores.dialing.note_leg(ticket.id, "alice", "ringing", NOW)  # not being bridged yet
    stores.agents.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    assert stores.agents.claim(ticket.id, "alice", NOW)
    assert not stores.dialing.note_leg(ticket.id, "bob", "ringing", NOW)  # another agent's leg
    assert stores.dialing.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=1))
    assert not stores.dialing.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=2))  # repeated
    assert stores.dialing.note_leg(ticket.id, "alice", "talking", NOW + timedelta(seconds=4))
    assert not stores.dialing.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=5))  # late
    got = stores.tickets.get(ticket.id)
    assert (got.leg, got.leg_at) == ("talking", NOW + timedelta(seconds=4))
    assert stores.agents.mark_served(ticket.id, NOW + timedelta(seconds=60))
    assert not stores.dialing.note_leg(ticket.id, "alice", "talking", NOW + timedelta(seconds=61))  # the bridge ended
    assert stores.tickets.get(ticket.id).leg_at == NOW + timedelta(seconds=4)


def test_a_new_bridge_starts_with_no_leg(stores: Stores) -> None:
    ticket = stores.tickets.open_ticket(live("CA-again"))
    stores.agents.record_agent_status("alice", AgentStatus.AVAILABLE, NOW, "client:alice", ("support",), None)
    assert stores.agents.claim(ticket.id, "alice", NOW)
    assert stores.dialing.note_leg(ticket.id, "alice", "talking", NOW)
    assert stores.agents.requeue(ticket.id, "alice")  # e.g. the bridge failed: back in line
    assert stores.agents.release_agent("alice", ticket.id, AgentStatus.AVAILABLE, NOW)
    assert stores.agents.claim(ticket.id, "alice", NOW + timedelta(seconds=30))
    assert (stores.tickets.get(ticket.id).leg, stores.tickets.get(ticket.id).leg_at) == (None, None)
    assert stores.dialing.note_leg(ticket.id, "alice", "ringing", NOW + timedelta(seconds=31))


# --- issue 11: lost calls by number and a page at a time, the first live caller, booking at once -------

def lost(stores: Stores, call_id: str, caller: str, at: datetime) -> Ticket:
    ticket = stores.tickets.open_ticket(live(call_id).evolve(caller=caller))
    stores.tickets.abandon(ticket.id, at, 5.0)
    stores.lost.mark_lost(ticket.id, "abandoned", at)
    return ticket


def test_lost_calls_come_a_page_at_a_time_oldest_first(stores: Stores) -> None:
    from chalicelib.domain.errors import BadPageError

    made = [lost(stores, f"CA{i}", f"+1415555{i:04d}", NOW + timedelta(minutes=i)).id for i in range(7)]
    pages, cursor = [], None
    while True:
        page = stores.lost.lost_calls("support", limit=3, cursor=cursor)
        pages.append([t.id for t in page.items])
        if page.next is None:
            break
        cursor = page.next
    assert [tid for p in pages for tid in p] == made and [len(p) for p in pages][:2] == [3, 3]
    assert stores.lost.lost_calls("support").items == [stores.tickets.get(t) for t in made]  # default: one page of 100
    with pytest.raises(BadPageError):
        stores.lost.lost_calls("support", cursor="not-a-cursor!")


def test_clear_lost_finds_the_numbers_lost_calls_only(stores: Stores) -> None:
    mine = [lost(stores, f"CA{i}", "+14158675309", NOW + timedelta(minutes=i)).id for i in range(2)]
    others = [lost(stores, f"CB{i}", f"+1415555{i:04d}", NOW).id for i in range(5)]
    assert stores.lost.clear_lost("support", "+14158675309", NOW) == 2
    assert [t.id for t in stores.lost.lost_calls("support")] == others
    assert all(stores.tickets.get(t).recovered_at == NOW for t in mine)
    assert stores.lost.clear_lost("support", "+14158675309", NOW) == 0


def test_first_live_skips_callbacks_at_the_head(stores: Stores) -> None:
    callback = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.CALLBACK, TicketStatus.WAITING, NOW,
                                                 caller="+14158675309", callback_number="+14158675309"))
    caller = stores.tickets.open_ticket(live("CA1"))
    assert stores.line.head("support").id == callback.id and stores.line.first_live("support").id == caller.id
    stores.tickets.abandon(caller.id, NOW, 1.0)
    assert stores.line.first_live("support") is None


def test_a_booking_is_all_or_nothing(stores: Stores) -> None:
    from chalicelib.ports import BOOKING_MOVED, BOOKING_TAKEN

    day = NOW.strftime("%Y-%m-%d")
    a, b = stores.tickets.open_ticket(live("CA1")), stores.tickets.open_ticket(live("CA2"))
    number = "+14158675309"
    assert stores.bookings.book_callback(a, number, NOW, NOW, False, None, day, 1, 10) == 1
    assert stores.tickets.get(a.id).kind is TicketKind.CALLBACK and stores.bookings.callback_guard("support", number).holder == a.id
    assert stores.bookings.book_callback(a, number, NOW, NOW, False, a.id, day, 1, 10) == BOOKING_MOVED  # a duplicate
    assert stores.bookings.book_callback(b, number, NOW, NOW, False, None, day, 1, 10) == BOOKING_TAKEN  # pointer moved
    # the number's allowance is spent: nothing changes, not even the pointer
    assert stores.bookings.book_callback(b, number, NOW, NOW, False, a.id, day, 1, 10) == "rate_limited"
    assert stores.tickets.get(b.id).kind is TicketKind.LIVE and stores.bookings.callback_guard("support", number).holder == a.id
    assert stores.bookings.take_allowance("+14155550000", day, 1, 10) is None  # the refusal counted nothing


def test_each_role_of_the_bundle_is_its_own_adapter_over_the_one_table(stores: Stores) -> None:
    """Both worlds build the same bundle: one adapter per role port (implementing that port alone), all
    sharing one table, so a write through one role is read through another."""
    from chalicelib.ports import ROLES

    fields = {"tickets": Tickets, "line": Line, "lost": LostCalls, "stats": QueueStats, "bookings": Bookings,
              "agents": Agents, "dialing": Dialing}
    for name, role in fields.items():
        adapter = getattr(stores, name)
        assert [r for r in ROLES if isinstance(adapter, r)] == [role], (name, type(adapter))
        assert adapter.table is stores.table  # type: ignore[attr-defined]
    ticket = stores.tickets.open_ticket(live("CA1"))
    assert stores.line.head("support") == ticket
    stores.bookings.set_opt_out("+14158675309", True, NOW)
    assert stores.bookings.callback_guard("support", "+14158675309").opted_out
