"""Texts to callers (issue 27), in the memory world: after a callback its caller asked for is booked,
one text with the time, the place, the number the call comes from and a signed link; the link's page
shows the callback and cancels it (no lost call, counted as cancelled by the caller); an altered or
expired link reveals nothing; STOP opts the number out and no text follows; numbers are never logged."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import FakeDialer, FakeMessenger
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.domain.booking import CALLBACK_BOOKED
from chalicelib.domain.links import LinkError, sign, verify
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.domain.texts import CallbackTexts
from chalicelib.ports import InboundText
from tests.helpers import choose_first_slot, record_changes, report_totals

WEEKDAYS = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
QUEUE = {"id": "sched", "name": "Acme", "numbers": ["+18005550100"], "caller_id": "+18005550199",
         "offer_callback_after_seconds": 0, "average_handle_seconds": 300, "average_patience_seconds": 7200,
         "hours": {"timezone": "America/New_York", **WEEKDAYS}, "sms_countries": ["US"],
         "scheduled_callbacks": {"slot_minutes": 30}}
MONDAY_1PM_NY = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
NY = "+12125550123"


class World:
    def __init__(self, **queue: object) -> None:
        self.w: MemoryWorld = build_memory(QueueDirectory([parse_queue({**QUEUE, **queue})]), MONDAY_1PM_NY,
                                           dialer=FakeDialer())
        self.history: list[tuple[Ticket | None, Ticket]] = record_changes(self.w)
        self.w.dispatcher.agent_event("alice", AgentStatus.BUSY, contact="client:alice", queues=("sched",))

    @property
    def texts(self) -> CallbackTexts:
        assert self.w.texts is not None
        return self.w.texts

    @property
    def sent(self) -> list[dict[str, str]]:
        messenger = self.texts.messenger
        assert isinstance(messenger, FakeMessenger)
        return messenger.sent

    def choose_first_slot(self, sid: str = "CA1", caller: str = NY) -> str:
        return choose_first_slot(self.w, sid, caller)

    def deliver(self) -> None:
        """The notify worker: each booked callback's confirmation."""
        for event in self.w.bus.events:
            if event.get("event") == CALLBACK_BOOKED:
                self.texts.confirm(str(event["ticket_id"]))


def token_of(body: str) -> str:
    return body.split("/c/", 1)[1].split()[0]


def test_a_booked_chosen_time_is_texted_with_time_sender_and_link(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    caplog.set_level(logging.DEBUG)
    tid = world.choose_first_slot()
    assert world.w.bus.events.count({"event": CALLBACK_BOOKED, "ticket_id": tid}) == 1  # the id only
    world.deliver()
    (text,) = world.sent
    assert (text["to"], text["from"]) == (NY, "+18005550199")  # the queue's caller ID
    assert "Acme" in text["body"] and "Mon 23 Nov 13:30 EST" in text["body"]  # the slot, in the queue's time
    assert "+18005550199" in text["body"] and "STOP" in text["body"]
    assert verify(token_of(text["body"]), "memory-world-caller-links-key", MONDAY_1PM_NY) == tid
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert NY not in logged and "2125550123" not in logged and token_of(text["body"]) not in logged


def test_a_caller_who_moves_their_chosen_time_is_texted_the_new_time_once() -> None:
    from chalicelib.domain.script import Gather

    world = World()
    tid = world.choose_first_slot()  # 13:30 New York
    world.deliver()
    flow, again = world.w.flow, CallEvent("CA2", CallStatus.RINGING, NY, "+18005550100")
    flow.incoming(again)
    menu = flow.pending_choice(tid, CallEvent("CA2", CallStatus.IN_PROGRESS, NY, digits="4")).verbs[0]
    assert isinstance(menu, Gather)
    offered = dict(menu.action.params)["o"]
    assert offered.split(".")[0] == "202611231830"  # the times offered: their own 13:30 first, then 14:00
    flow.slot(tid, CallEvent("CA2", CallStatus.IN_PROGRESS, NY, digits="2"), offered, moving=True)
    flow.slot(tid, CallEvent("CA2", CallStatus.IN_PROGRESS, NY, digits="2"), offered, moving=True)  # a repeat
    booked = [e for e in world.w.bus.events if e.get("event") == CALLBACK_BOOKED]
    assert booked == [{"event": CALLBACK_BOOKED, "ticket_id": tid}] * 2  # booked, then moved once
    world.texts.confirm(tid)  # the notify worker, for the move
    first, moved = world.sent
    assert "Mon 23 Nov 13:30 EST" in first["body"] and "Mon 23 Nov 14:00 EST" in moved["body"]
    assert moved["to"] == NY


def test_the_page_shows_the_callback_and_cancels_it_once() -> None:
    world = World()
    tid = world.choose_first_slot()
    world.deliver()
    token = token_of(world.sent[0]["body"])
    view = world.texts.page(token)
    assert view.pending and view.at == datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc)
    assert view.calling_from == "+18005550199" and view.place == 1
    assert world.texts.cancel(token) is True
    assert world.texts.cancel(token) is False  # once
    ticket = world.w.stores.tickets.get(tid)
    assert (ticket.status, ticket.cancelled_by, ticket.lost_cause) == (TicketStatus.CANCELLED, "caller", None)
    assert world.texts.page(token).pending is False
    counts = report_totals(world.history)
    assert counts["cancelled_by_caller"] == 1 and counts["scheduled_cancelled"] == 1 and counts.get("lost", 0) == 0
    world.w.clock.advance(3600)
    assert world.w.stores.tickets.get(tid).status is TicketStatus.CANCELLED  # its workflow dialed nothing
    assert world.w.dialer.calls == []


def test_altered_expired_and_foreign_links_reveal_nothing() -> None:
    world = World()
    tid = world.choose_first_slot()
    world.deliver()
    token = token_of(world.sent[0]["body"])
    body, mac = token.split(".")
    for bad in (f"{body}.{mac[:-2]}AA", f"{sign('sched-2', MONDAY_1PM_NY + timedelta(days=9), 'another-key-entirely')}",
                "nonsense", "", "a.b.c"):
        with pytest.raises(LinkError):
            world.texts.page(bad)
    world.w.clock.advance(3 * 86400)  # past the slot and the link's two days after it
    with pytest.raises(LinkError):
        world.texts.page(token)
    with pytest.raises(LinkError):
        sign(tid, MONDAY_1PM_NY, "short")  # never signed with a weak key


def test_stop_opts_out_and_no_text_follows() -> None:
    world = World()
    assert world.texts.inbound(InboundText(NY, "hello")) is False
    assert world.texts.inbound(InboundText(NY, " stop ")) is True
    assert world.w.stores.bookings.is_opted_out(NY)
    world.w.stores.bookings.set_opt_out(NY, False, MONDAY_1PM_NY)
    assert world.texts.inbound(InboundText(NY, "anything", opt_out=True)) is True  # the provider's own opt-out
    tid = world.choose_first_slot()  # pressing for a callback is consent to the call again...
    world.w.stores.bookings.set_opt_out(NY, True, MONDAY_1PM_NY)  # ...and a STOP after it holds for texts
    assert world.texts.confirm(tid) is False and world.sent == []


def test_no_text_where_the_queue_does_not_text_that_country() -> None:
    world = World(sms_countries=["CA"])
    world.choose_first_slot()
    world.deliver()
    assert world.sent == []


REMINDED_10 = {"slot_minutes": 30, "reminder_minutes": 10}


def test_a_reminder_comes_once_before_the_chosen_time_and_not_for_a_cancelled_one() -> None:
    world = World(scheduled_callbacks=REMINDED_10)
    tid = world.choose_first_slot()  # 13:30 EST, booked at 13:00
    gone = world.choose_first_slot(sid="CA2", caller="+12125550124")
    assert world.texts.cancel(token_of(world.texts.link(world.w.stores.tickets.get(gone)))) is True
    world.w.clock.run_until(datetime(2026, 11, 23, 18, 19, 30, tzinfo=timezone.utc))  # 13:19:30: not yet
    assert world.sent == []
    world.w.clock.run_until(datetime(2026, 11, 23, 18, 21, tzinfo=timezone.utc))  # the sweep after 13:20
    (text,) = world.sent
    assert (text["to"], text["from"]) == (NY, "+18005550199")
    assert "reminder" in text["body"] and "13:30 EST" in text["body"] and "STOP" in text["body"]
    assert verify(token_of(text["body"]), "memory-world-caller-links-key", world.w.clock.now()) == tid
    world.w.clock.run_until(datetime(2026, 11, 23, 18, 28, tzinfo=timezone.utc))  # more sweeps: no second one
    assert len(world.sent) == 1


def test_no_reminder_without_a_chosen_time_or_when_the_queue_sets_none() -> None:
    asap = World(scheduled_callbacks=REMINDED_10)
    asap.w.flow.incoming(CallEvent("CA1", CallStatus.RINGING, NY, "+18005550100"))
    tid = asap.w.stores.tickets.find_by_call("CA1").id
    asap.w.flow.offer(tid, CallEvent("CA1", CallStatus.IN_PROGRESS, NY, digits="1"))
    asap.w.flow.confirm(tid, CallEvent("CA1", CallStatus.IN_PROGRESS, NY, digits="1"))
    assert asap.w.stores.tickets.get(tid).callback_number == NY  # booked as soon as an agent is free
    asap.w.clock.run_until(datetime(2026, 11, 23, 18, 28, tzinfo=timezone.utc))
    none = World(scheduled_callbacks={"slot_minutes": 30, "reminder_minutes": 0})
    none.choose_first_slot()
    none.w.clock.run_until(datetime(2026, 11, 23, 18, 28, tzinfo=timezone.utc))
    assert (asap.sent, none.sent) == ([], [])
