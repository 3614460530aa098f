"""What a caller is told about time (issue 23, items 12-14): in whose time a moment is said, why a
callback comes later, and when a rung-out caller will be called back. Against the in-memory fakes,
on each side of the calling window."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.adapters.memory import FakeBus, FixedClock, memory_stores
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Gather, Leave, Say, Script
from tests.fakes import FakeOrchestrator

SF, NYC, LONDON, ST_JOHNS = "+14158675309", "+12125551234", "+447911123456", "+17095550142"
SUPPORT = "+18005550100"
WINDOW = "not earlier: we call a number only between 8 AM and 9 PM its local time"
CHICAGO = {"timezone": "America/Chicago", **{day: ["00:00-00:00"] for day in ("mon", "tue", "wed", "thu", "fri",
                                                                          "sat", "sun")}}  # always open


class World:
    def __init__(self, at: datetime, **queue: object) -> None:
        config = {"id": "support", "name": "Acme", "numbers": [SUPPORT], "assumed_agents": 1,
                  "allowed_countries": ["US", "CA", "GB"], **queue}
        self.stores, self.clock = memory_stores(), FixedClock(at)
        self.stores.agents.record_agent_status("alice", AgentStatus.BUSY, at, "client:alice", ("support",), None)
        self.flow = CallFlow(self.stores, FakeOrchestrator(), self.clock, QueueDirectory.from_config(
            {"queues": [config]}), FakeBus())

    def booked(self, caller: str, typed: str | None = None) -> str:
        """A caller presses 1, then confirms their own number (or types another and confirms it)."""
        event = CallEvent("CA1", CallStatus.IN_PROGRESS, caller, SUPPORT)
        ticket = self.ticket(caller)
        self.flow.offer(ticket.id, CallEvent("CA1", CallStatus.IN_PROGRESS, caller, SUPPORT, digits="1"))
        if typed is not None:
            self.flow.confirm(ticket.id, CallEvent("CA1", CallStatus.IN_PROGRESS, caller, SUPPORT, digits="2"))
            self.flow.number(ticket.id, CallEvent("CA1", CallStatus.IN_PROGRESS, caller, SUPPORT,
                                                  digits=typed.removeprefix("+1")), tries=0)
        return said(self.flow.confirm(ticket.id, CallEvent(event.call_id, event.status, caller, SUPPORT, digits="1")))

    def ticket(self, caller: str) -> Ticket:
        self.flow.incoming(CallEvent("CA1", CallStatus.RINGING, caller, SUPPORT))
        return self.stores.tickets.find_by_call("CA1")


def said(script: Script) -> str:
    out = []
    for verb in script.verbs:
        prompts = verb.prompts if isinstance(verb, Gather) else (verb,)
        out += [p.text for p in prompts if isinstance(p, Say)]
    return " ".join(out)


# --- item 13: "your time" and "where you are" are the caller's own ---------------------------------

def test_a_typed_number_s_window_is_said_in_the_caller_s_own_time_without_where_you_are() -> None:
    """Noon in London (07:00 in New York): a London caller who typed a New York number is not told '8 AM
    your time' nor 'as it is early where you are' (it is noon where they are)."""
    w = World(datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc), hours=CHICAGO)
    text = w.booked(LONDON, typed=NYC)
    assert f"We will call you back at 2 1 2, 5 5 5, 1 2 3 4 today at 1 PM your time, {WINDOW}." in text, text
    assert "where you are" not in text and "at 8 AM" not in text


def test_the_caller_s_own_number_is_said_in_their_time_with_why(  # the other side: their own number
) -> None:
    w = World(datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc), hours=CHICAGO)
    text = w.booked(NYC)
    assert "today at 8 AM your time, not earlier, as it is early where you are." in text, text


@pytest.mark.parametrize("utc, local, reason", [
    (datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc), "04:00", "as it is early where you are"),
    (datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc), "07:30", "as it is early where you are"),
    (datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc), "22:00", "as it is late where you are")])
def test_before_the_window_opens_it_is_early_after_it_closes_late(utc: datetime, local: str, reason: str) -> None:
    text = World(utc).booked(SF)  # San Francisco: 04:00 is early, never late
    assert reason in text, (local, text)


# --- item 12: a number spanning zones ------------------------------------------------------------------

def test_a_caller_whose_number_spans_zones_is_called_when_all_are_awake_and_told_so_plainly() -> None:
    """+1 709 rings in St. John's or Labrador, half an hour apart: at 09:00 UTC it is 05:00/05:30 there.
    The callback waits for 08:00 in both (12:00 UTC), said in the queue's time, never as 'your time'."""
    w = World(datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))
    text = w.booked(ST_JOHNS)
    assert w.stores.tickets.get("support-1").not_before == datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    assert f"today at 12 PM, {WINDOW}." in text, text
    assert "your time" not in text and "where you are" not in text


# --- item 14: rung out --------------------------------------------------------------------------------

def rang_out(w: World, caller: str) -> str:
    ticket = w.ticket(caller)
    w.clock.advance(301)
    script = w.flow.wait(ticket.id, CallEvent("CA1", CallStatus.IN_PROGRESS, caller, SUPPORT))
    assert isinstance(script.verbs[-1], Leave)
    return said(script)


def test_rung_out_at_night_where_the_caller_is_is_told_when_the_callback_comes() -> None:
    w = World(datetime(2026, 11, 24, 11, 55, tzinfo=timezone.utc), max_hold_seconds=300)  # 03:55 in San Francisco
    text = rang_out(w, SF)
    assert "We will call you back today at 8 AM your time, not earlier, and you keep your place." in text, text
    assert "as soon as" not in text


def test_rung_out_inside_the_window_is_called_back_as_soon_as_an_agent_is_free() -> None:
    w = World(datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc), max_hold_seconds=300)  # 10:00 in San Francisco
    assert "We will call you back as soon as one is, and you keep your place." in rang_out(w, SF)


@pytest.mark.parametrize("queue, caller", [({"recover_lost_calls": False}, SF), ({}, "anonymous")])
def test_rung_out_with_no_callback_to_come_is_promised_none(queue: dict[str, object], caller: str) -> None:
    w = World(datetime(2026, 11, 24, 18, 0, tzinfo=timezone.utc), max_hold_seconds=300, **queue)
    text = rang_out(w, caller)
    assert "Please call us again later." in text and "call you back" not in text, text
