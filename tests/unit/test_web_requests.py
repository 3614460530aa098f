"""Callbacks asked for from the web, in the memory world: the wait shown first (the place a request
would take and its estimate), then a request lands in the same line and workflow as a phone callback,
under the same number policy, opt-outs, one-callback-per-number and allowances, and a per-address quota."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import FakeDialer
from chalicelib.bootstrap import MemoryWorld, build_memory
from chalicelib.domain.errors import ConfigError, NumberNotAllowedError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.domain.webrequest import (CallbackRefusedError, CodeNotSentError, CodeRequiredError, SlotTakenError,
                                          TooManyRequestsError, WebNotOfferedError,
                                          WebRequestError, WebRequests)
from tests.helpers import record_changes, report_totals

WEEKDAYS = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
QUEUE = {"id": "web", "numbers": ["+18005550100"], "offer_callback_after_seconds": 0, "average_handle_seconds": 300,
         "average_patience_seconds": 7200, "hours": {"timezone": "America/New_York", **WEEKDAYS},
         "max_callbacks_per_number_per_day": 2,
         "web_callbacks": {"allowed_origins": ["https://shop.example.com"], "per_client_per_hour": 3}}
PHONE_ONLY = {"id": "phone", "numbers": ["+18005550101"]}
MONDAY_1PM_NY = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
ANN, BEN = "+14155550101", "+14155550102"


class World:
    def __init__(self) -> None:
        self.w: MemoryWorld = build_memory(QueueDirectory([parse_queue(QUEUE), parse_queue(PHONE_ONLY)]),
                                           MONDAY_1PM_NY, dialer=FakeDialer())
        self.history: list[tuple[Ticket | None, Ticket]] = record_changes(self.w)
        self.w.dispatcher.agent_event("alice", AgentStatus.BUSY, contact="client:alice", queues=("web",))

    @property
    def web(self) -> WebRequests:
        assert self.w.web is not None
        return self.w.web

    def live(self, sid: str, caller: str) -> str:
        self.w.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
        return self.w.stores.tickets.find_by_call(sid).id  # type: ignore[union-attr]


@pytest.fixture
def world() -> World:
    return World()


def test_the_wait_is_shown_before_asking_and_counts_the_line(world: World) -> None:
    empty = world.web.wait("web")
    assert (empty.queue, empty.is_open, empty.place) == ("web", True, 1)
    assert empty.wait_minutes is not None and empty.wait_minutes > 0  # alice is on a call: a wait to expect
    world.live("CA1", "+12125550001")
    world.live("CA2", "+12125550002")
    world.w.clock.advance(1)  # the stream has caught up
    two_ahead = world.web.wait("web")
    assert two_ahead.place == 3
    assert two_ahead.wait_minutes is not None and two_ahead.wait_minutes > empty.wait_minutes
    low, high = two_ahead.wait_range_minutes or (0, 0)
    assert low <= two_ahead.wait_minutes <= high


def test_a_request_lands_in_the_same_line_and_workflow_and_is_dialed(world: World) -> None:
    w = world.w
    ahead = world.live("CA1", "+12125550001")
    booked = world.web.request("web", "(415) 555-0101", "198.51.100.7")
    assert (booked.queue, booked.place, booked.already_booked) == ("web", 2, False)
    assert booked.callback_at is not None and booked.callback_at > MONDAY_1PM_NY
    ticket = w.stores.bookings.open_callback_for("web", ANN)
    assert ticket is not None
    assert (ticket.kind, ticket.callback_number, ticket.origin, ticket.number) == (TicketKind.CALLBACK, ANN, "web", 2)
    assert ticket.call_id is None  # no live ticket was opened: the dispatcher never sees a caller not on a phone
    w.clock.advance(1)
    assert w.stores.tickets.get(ticket.id).status is TicketStatus.WAITING  # parked behind the caller ahead
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE)
    w.clock.advance(1)
    assert w.stores.tickets.get(ahead).status is TicketStatus.CONNECTING  # order is the ticket number
    w.dispatcher.agent_event("bob", AgentStatus.AVAILABLE, contact="client:bob", queues=("web",))
    # the promise the page showed is kept like a caller's: bob is held for live callers until it falls due
    w.clock.run_until(booked.callback_at)
    dialed = w.stores.tickets.get(ticket.id)
    assert dialed.status is TicketStatus.CONNECTING and dialed.first_dial_at is not None
    assert dialed.first_dial_at <= booked.callback_at
    assert w.dialer.calls[-1]["to"] == "client:bob"  # agent first, like any callback

    counts = report_totals(world.history)
    assert counts["web_requests"] == 1 and counts["callbacks"] == 2 - 1  # the web one; the caller holds
    assert counts["offered"] == 1  # a web request is not an offered call


def test_the_same_number_again_gets_the_callback_that_stands(world: World) -> None:
    first = world.web.request("web", ANN, "198.51.100.7")
    again = world.web.request("web", "+1 415 555 0101", "198.51.100.8")
    assert (again.already_booked, again.place) == (True, first.place)
    assert len([t for t in world.w.stores.table.tickets.values() if t.kind is TicketKind.CALLBACK]) == 1


def test_numbers_the_policy_refuses_are_refused_and_nothing_is_booked(world: World) -> None:
    for bad in ("anonymous", "+19005550100", "12"):
        with pytest.raises(NumberNotAllowedError):
            world.web.request("web", bad, f"203.0.113.{len(bad)}")
    for unbounded in ("", "1" * 40, None, 4155550101):
        with pytest.raises(WebRequestError):
            world.web.request("web", unbounded, "203.0.113.50")
    assert not [t for t in world.w.stores.table.tickets.values() if t.kind is TicketKind.CALLBACK]


def test_one_address_is_held_to_its_quota_an_hour(world: World) -> None:
    for n in range(3):
        world.web.request("web", f"+1415555{n:04d}", "198.51.100.7")
    with pytest.raises(TooManyRequestsError):
        world.web.request("web", "+14155550999", "198.51.100.7")
    world.web.request("web", "+14155550999", "198.51.100.9")  # another address is not held to it
    world.w.clock.advance(3600)
    world.web.request("web", "+14155550998", "198.51.100.7")  # the next hour


def test_the_numbers_daily_allowance_holds_for_web_requests(world: World) -> None:
    w = world.w
    for n in range(2):
        booked = world.web.request("web", BEN, f"198.51.100.{n}")
        ticket = w.stores.bookings.open_callback_for("web", BEN)
        assert ticket is not None and not booked.already_booked
        w.stores.dialing.cancel_callback(ticket.id, w.clock.now(), by_caller=True)  # cancelled from their page
    with pytest.raises(CallbackRefusedError) as refused:
        world.web.request("web", BEN, "198.51.100.3")
    assert refused.value.reason.value == "rate_limited"


def test_an_opted_out_number_asking_is_consent_again(world: World) -> None:
    world.w.stores.bookings.set_opt_out(ANN, True, MONDAY_1PM_NY)
    assert not world.web.request("web", ANN, "198.51.100.7").already_booked
    assert not world.w.stores.bookings.is_opted_out(ANN)


def test_a_queue_without_web_callbacks_refuses_and_bad_settings_are_named() -> None:
    world = World()
    with pytest.raises(WebNotOfferedError):
        world.web.wait("phone")
    with pytest.raises(WebNotOfferedError):
        world.web.request("phone", ANN, "198.51.100.7")
    for raw, field in (({"allowed_origins": ["https://a.example.com/path"]}, "allowed_origins"),
                       ({"per_client_per_hour": 0}, "per_client_per_hour"), ({"origins": []}, "origins")):
        with pytest.raises(ConfigError, match=field):
            parse_queue({**PHONE_ONLY, "web_callbacks": raw})


def test_after_hours_the_request_is_promised_at_the_opening() -> None:
    world = World()
    world.w.clock.advance(6 * 3600)  # 19:00 in New York: closed
    view = world.web.wait("web")
    assert view.is_open is False
    booked = world.web.request("web", "+12125550101", "198.51.100.7")  # a New York number: no window of its own
    opening = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # Tuesday 09:00 in New York
    assert booked.callback_at is not None and opening <= booked.callback_at < opening + timedelta(hours=1)
    # a San Francisco number is promised inside its own calling window: 08:00 there, 11:00 in New York
    west = world.web.request("web", ANN, "198.51.100.8")
    assert west.callback_at == datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)


CODED = {**QUEUE, "id": "coded", "name": "Acme", "caller_id": "+18005550199", "sms_countries": ["US"],
         "web_callbacks": {"allowed_origins": [], "per_client_per_hour": 50, "sms_code": True},
         "scheduled_callbacks": {"slot_minutes": 30}}


def coded_world() -> World:
    world = World.__new__(World)
    world.w = build_memory(QueueDirectory([parse_queue(CODED)]), MONDAY_1PM_NY, dialer=FakeDialer())
    world.history = record_changes(world.w)
    return world


def texted(world: World) -> list[dict[str, str]]:
    assert world.w.texts is not None
    return world.w.texts.messenger.sent  # type: ignore[union-attr]


def code_in(text: dict[str, str]) -> str:
    return text["body"].split("code is ", 1)[1][:6]


def test_a_code_texted_to_the_number_comes_before_the_booking_and_expires() -> None:
    world = coded_world()
    assert world.web.wait("coded").code_required is True
    with pytest.raises(CodeRequiredError):
        world.web.request("coded", ANN, "198.51.100.7")  # no code: nothing booked
    world.web.request_code("coded", ANN, "198.51.100.7")
    (text,) = texted(world)
    assert (text["to"], text["from"]) == (ANN, "+18005550199")
    code = code_in(text)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(CodeRequiredError):
        world.web.request("coded", ANN, "198.51.100.7", wrong)
    with pytest.raises(CodeRequiredError):  # the code is the number's own
        world.web.request("coded", BEN, "198.51.100.7", code)
    assert [t for t in world.history if t[1].kind is TicketKind.CALLBACK] == []
    world.w.clock.advance(9 * 60)
    booked = world.web.request("coded", ANN, "198.51.100.7", code)
    assert booked.place == 1 and not booked.already_booked
    world.web.request_code("coded", BEN, "198.51.100.8")
    late = code_in(texted(world)[-1])
    world.w.clock.advance(21 * 60)  # past its window and the next
    with pytest.raises(CodeRequiredError):
        world.web.request("coded", BEN, "198.51.100.8", late)


def test_codes_sent_and_tried_are_bounded_per_number() -> None:
    world = coded_world()
    for n in range(3):
        world.web.request_code("coded", ANN, f"198.51.100.{n}")
    with pytest.raises(TooManyRequestsError):
        world.web.request_code("coded", ANN, "198.51.100.9")  # a fourth text to one number in an hour
    code = code_in(texted(world)[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(5):
        with pytest.raises(CodeRequiredError):
            world.web.request("coded", ANN, f"198.51.100.{n}", wrong)
    with pytest.raises(TooManyRequestsError):  # the sixth try, even the right code, waits for the next hour
        world.web.request("coded", ANN, "198.51.100.9", code)
    assert len(texted(world)) == 3


def test_no_code_is_sent_where_the_queue_does_not_text_and_none_is_asked_where_it_needs_none(world: World) -> None:
    with pytest.raises(WebRequestError):
        world.web.request_code("web", ANN, "198.51.100.7")  # this queue books without a code
    coded = coded_world()
    with pytest.raises(CodeNotSentError):
        coded.web.request_code("coded", "+16135550123", "198.51.100.7")  # a Canadian number: texts to the US only
    assert texted(coded) == []


def test_a_request_may_choose_one_of_the_times_the_wait_offers() -> None:
    world = coded_world()
    view = world.web.wait("coded")
    assert [s.start for s in view.slots][:2] == [datetime(2026, 11, 23, 18, 30, tzinfo=timezone.utc),
                                                 datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc)]
    world.web.request_code("coded", ANN, "198.51.100.7")
    booked = world.web.request("coded", ANN, "198.51.100.7", code_in(texted(world)[0]), view.slots[1].key)
    assert booked.callback_at == datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc)
    ticket = world.w.stores.bookings.open_callback_for("coded", ANN)
    assert ticket is not None and ticket.slot == view.slots[1].key and ticket.origin == "web"
    assert world.w.stores.bookings.slot_counts("coded", [view.slots[1].key]) == {view.slots[1].key: 1}
    world.web.request_code("coded", BEN, "198.51.100.8")
    for bad in ("2026-11-23T17:00Z", "tomorrow", "2026-11-23T18:45Z"):  # past, not a key, not aligned
        with pytest.raises(SlotTakenError):
            world.web.request("coded", BEN, "198.51.100.8", code_in(texted(world)[-1]), bad)
