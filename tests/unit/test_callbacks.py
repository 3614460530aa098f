"""Dialing callback attempts and learning their outcomes, against fakes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.callbacks import Callbacks, DialRequest, dial_id
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.errors import BadRequestError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.adapters.twilio_provider import TwilioTelephony
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Dial, Hangup
from chalicelib.adapters.memory import memory_stores, FakeDialer, MemoryStores, FixedClock
from tests.fakes import FakeOrchestrator

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # 10:00 in San Francisco
CUSTOMER = "+14155550100"


def world(mode: str = "agent_first"):  # type: ignore[no-untyped-def]
    queues = QueueDirectory.from_config({"queues": [
        {"id": "support", "numbers": ["+18005550100"], "dial_mode": mode,
         "retry_delays_seconds": [0, 300, 600]}]})
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    dispatcher = Dispatcher(stores, orch, dialer, clock, queues)
    return stores, orch, dialer, clock, Callbacks(stores, orch, dialer, clock, queues, dispatcher), dispatcher


def reserved(stores: MemoryStores, dispatcher: Dispatcher, attempt: int = 1) -> tuple[Ticket, DialRequest]:
    """A parked callback that agent alice has just been given: what the Dial step sends."""
    t = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
    stores.tickets.convert_to_callback(t.id, CUSTOMER, NOW, NOW)
    stores.table.park(t.id, "park-token", attempt)
    dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=("support",))
    return stores.tickets.get(t.id), DialRequest(t.id, attempt, "alice", f"dial-token-{attempt}")


def ev(status: CallStatus = CallStatus.IN_PROGRESS, AnsweredBy: str = "",  # noqa: N803 - the wire names
       DialCallStatus: str = "") -> CallEvent:
    """An event as the Twilio adapter parses one carrying these fields."""
    return TwilioTelephony("t").parse({"CallSid": "CAout1", "CallStatus": status.value, "AnsweredBy": AnsweredBy,
                                       "DialCallStatus": DialCallStatus}, {})


def test_agent_first_dials_the_agent_who_hears_the_customer_then_is_bridged() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    assert cb.dial(req) == "CAout1"
    [call] = dialer.calls
    assert call["to"] == "client:alice" and call["from"] == "+18005550100" and not call["amd"]
    did = dial_id(req.token)
    assert call["answer"].params == (("d", did), ("t", ticket.id))
    script = cb.answered(ticket.id, did, ev())
    assert "4 1 5, 5 5 5, 0 1 0 0" in script.verbs[0].text
    assert isinstance(script.verbs[1], Dial) and script.verbs[1].target == CUSTOMER
    script = cb.dialed(ticket.id, did, ev(CallStatus.COMPLETED, DialCallStatus="completed"))
    assert isinstance(script.verbs[-1], Hangup)
    assert stores.tickets.get(ticket.id).status is TicketStatus.SERVED
    assert orch.completed[-1] == ("dial-token-1", {"result": "connected"})
    assert stores.agents.get_agent("alice").status is AgentStatus.BUSY  # still talking
    cb.call_status(ticket.id, did, ev(CallStatus.COMPLETED))
    assert stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE  # call over


def test_a_redelivered_dial_request_never_dials_twice() -> None:
    stores, orch, dialer, clock, cb, d = world()
    _, req = reserved(stores, d)
    cb.dial(req)
    assert cb.dial(req) is None
    assert len(dialer.calls) == 1


def test_busy_customer_is_retried_at_the_next_slot_and_the_agent_freed() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    cb.dial(req)
    did = dial_id(req.token)
    cb.dialed(ticket.id, did, ev(DialCallStatus="busy"))
    cb.dialed(ticket.id, did, ev(DialCallStatus="busy"))  # repeated webhook
    cb.call_status(ticket.id, did, ev(CallStatus.COMPLETED))  # and the late status callback
    assert orch.completed[-1] == ("dial-token-1", {"result": "busy", "next": {
        "not_before": "2026-11-23T18:05:00Z", "attempt": 2}})
    assert len([c for c in orch.completed if c[0] == "dial-token-1"]) == 1
    got = stores.tickets.get(ticket.id)
    assert (got.status, got.last_outcome, got.next_attempt_at) == (
        TicketStatus.SCHEDULED, "busy", NOW + timedelta(minutes=5))
    assert stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE


def test_last_attempt_gives_up() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d, attempt=3)
    cb.dial(req)
    cb.dialed(ticket.id, dial_id(req.token), ev(DialCallStatus="no-answer"))
    assert orch.completed[-1] == ("dial-token-3", {"result": "no-answer"})
    assert stores.tickets.get(ticket.id).status is TicketStatus.LOST


def test_outside_the_callees_window_nothing_is_dialed_and_it_waits_for_eight() -> None:
    stores, orch, dialer, clock, cb, d = world()
    clock.current = datetime(2026, 11, 24, 5, 30, tzinfo=timezone.utc)  # 21:30 in San Francisco
    _, req = reserved(stores, d, attempt=2)
    assert cb.dial(req) is None and dialer.calls == []
    assert orch.completed[-1] == ("dial-token-2", {"result": "not-now", "next": {
        "not_before": "2026-11-24T16:00:00Z", "attempt": 2}})


def test_agent_who_does_not_answer_is_taken_offline_and_the_attempt_does_not_count() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d, attempt=3)
    cb.dial(req)
    cb.call_status(ticket.id, dial_id(req.token), ev(CallStatus.NO_ANSWER))
    assert orch.completed[-1][1] == {"result": "agent-missed", "next": {"not_before": "2026-11-23T18:00:00Z",
                                                                       "attempt": 3}}
    assert stores.agents.get_agent("alice").status is AgentStatus.OFFLINE


def test_customer_first_detects_machines() -> None:
    stores, orch, dialer, clock, cb, d = world("customer_first")
    ticket, req = reserved(stores, d)
    cb.dial(req)
    assert dialer.calls[0]["to"] == CUSTOMER and dialer.calls[0]["amd"]
    script = cb.answered(ticket.id, dial_id(req.token), ev(AnsweredBy="machine_start"))
    assert script.verbs == (Hangup(),)
    assert orch.completed[-1][1]["result"] == "machine"


def test_customer_first_human_is_greeted_and_bridged_to_the_agent() -> None:
    stores, orch, dialer, clock, cb, d = world("customer_first")
    ticket, req = reserved(stores, d)
    cb.dial(req)
    script = cb.answered(ticket.id, dial_id(req.token), ev(AnsweredBy="human"))
    assert "calling you back" in script.verbs[0].text and script.verbs[1].target == "client:alice"
    script = cb.dialed(ticket.id, dial_id(req.token), ev(DialCallStatus="no-answer"))
    assert "call you again shortly" in script.verbs[0].text
    assert orch.completed[-1][1]["result"] == "agent-missed"


def test_stale_webhooks_of_an_old_attempt_change_nothing() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    cb.dial(req)
    cb.dialed(ticket.id, "not-this-attempt", ev(DialCallStatus="busy"))
    assert orch.completed == [("park-token", {"agent_id": "alice"})]
    assert cb.answered(ticket.id, "not-this-attempt", ev()).verbs == (Hangup(),)


def test_provider_refusing_the_call_is_an_outcome_not_a_crash() -> None:
    stores, orch, dialer, clock, cb, d = world("customer_first")
    _, req = reserved(stores, d)
    dialer.fail_calls = True
    assert cb.dial(req) is None
    assert orch.completed[-1][1]["result"] == "failed"


def test_dial_for_a_ticket_no_longer_reserved_is_cancelled() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    stores.table.tickets[ticket.id] = stores.tickets.get(ticket.id).evolve(status=TicketStatus.SERVED)
    assert cb.dial(req) is None
    assert orch.completed[-1] == ("dial-token-1", {"result": "cancelled"})


def test_malformed_dial_message() -> None:
    with pytest.raises(BadRequestError):
        DialRequest.from_message({"ticket_id": "support-1"})


def test_a_status_callback_that_overtakes_the_dial_action_does_not_decide_the_outcome() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    cb.dial(req)
    did = dial_id(req.token)
    cb.call_status(ticket.id, did, ev(CallStatus.COMPLETED))  # early
    assert stores.tickets.get(ticket.id).dial_id == did  # still open
    cb.dialed(ticket.id, did, ev(CallStatus.COMPLETED, DialCallStatus="completed"))
    assert orch.completed[-1] == ("dial-token-1", {"result": "connected"})
    assert stores.tickets.get(ticket.id).status is TicketStatus.SERVED


def test_callback_prompts_honour_the_queues_overrides() -> None:
    from chalicelib.domain.script import Play

    queues = QueueDirectory.from_config({"queues": [{"id": "support", "numbers": ["+18005550100"],
                                                     "prompts": {"agent_whisper": {"en": {"audio": "https://x/w.mp3"}}}}]})
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    d = Dispatcher(stores, orch, dialer, clock, queues)
    cb = Callbacks(stores, orch, dialer, clock, queues, d)
    ticket, req = reserved(stores, d)
    cb.dial(req)
    assert cb.answered(ticket.id, dial_id(req.token), ev()).verbs[0] == Play("https://x/w.mp3")


def test_a_callbacks_agent_shows_talking_from_its_answer_or_ringing_then_talking_by_its_leg() -> None:
    """The monitor's leg: agent first, the agent answered the callback's own call (cb-answer);
    customer first, the agent's Dial reports its leg to the same bridge-leg step as a live bridge."""
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    cb.dial(req)
    assert stores.tickets.get(ticket.id).leg is None  # the agent's phone is being dialed
    clock.advance(7)
    cb.answered(ticket.id, dial_id(req.token), ev())
    assert (stores.tickets.get(ticket.id).leg, stores.tickets.get(ticket.id).leg_at) == ("talking", NOW + timedelta(seconds=7))

    stores, orch, dialer, clock, cb, d = world("customer_first")
    ticket, req = reserved(stores, d)
    cb.dial(req)
    dial = cb.answered(ticket.id, dial_id(req.token), ev(AnsweredBy="human")).verbs[1]
    assert isinstance(dial, Dial) and dial.status is not None
    assert dial.status.name == "bridge-leg" and dict(dial.status.params) == {"t": ticket.id, "agent": "alice"}
    assert stores.tickets.get(ticket.id).leg is None
    clock.advance(3)
    assert d.bridge_leg(ticket.id, "alice", CallStatus.RINGING)
    assert not d.bridge_leg(ticket.id, "alice", CallStatus.QUEUED)  # nothing the monitor shows
    clock.advance(5)
    assert d.bridge_leg(ticket.id, "alice", CallStatus.IN_PROGRESS)
    assert (stores.tickets.get(ticket.id).leg, stores.tickets.get(ticket.id).leg_at) == ("talking", NOW + timedelta(seconds=8))


def ended_after(seconds: int) -> CallEvent:
    """The agent-first leg's inner <Dial> ended after a conversation of `seconds` (the customer answered)."""
    return TwilioTelephony("t").parse({"CallSid": "CAout1", "CallStatus": "in-progress",
                                       "DialCallStatus": "completed", "DialCallDuration": str(seconds)}, {})


@pytest.mark.parametrize("seconds, served", [(15, False), (19, False), (20, True), (0, True)])
def test_an_agent_first_callback_too_short_to_be_a_conversation_is_retried_not_served(seconds: int,
                                                                                        served: bool) -> None:
    # agent-first has no machine detection: the agent who hears voicemail hangs up on it, and a call that
    # short (callback_min_talk_seconds, 20) is a machine's, retried; 0 is a provider that gave no length
    stores, orch, dialer, clock, cb, d = world()
    ticket, req = reserved(stores, d)
    cb.dial(req)
    did = dial_id(req.token)
    cb.answered(ticket.id, did, ev())
    assert isinstance(cb.dialed(ticket.id, did, ended_after(seconds)).verbs[-1], Hangup)
    got = stores.tickets.get(ticket.id)
    if served:
        assert got.status is TicketStatus.SERVED and orch.completed[-1] == ("dial-token-1", {"result": "connected"})
        return
    assert (got.status, got.last_outcome) == (TicketStatus.SCHEDULED, "machine")
    assert orch.completed[-1] == ("dial-token-1", {"result": "machine", "next": {
        "not_before": "2026-11-23T18:05:00Z", "attempt": 2}})
    assert stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE  # free for the next one at once
    cb.call_status(ticket.id, did, ev(CallStatus.COMPLETED))  # the agent's leg ends: nothing more happens
    assert stores.tickets.get(ticket.id).status is TicketStatus.SCHEDULED
    assert [c for c in orch.completed if c[0] == "dial-token-1"] == [orch.completed[-1]]


def test_the_short_call_rule_is_the_queues_and_only_agent_first() -> None:
    for mode, config, served in (("agent_first", {"callback_min_talk_seconds": 0}, True),
                                 ("customer_first", {}, True)):
        queues = QueueDirectory.from_config({"queues": [{"id": "support", "numbers": ["+18005550100"],
                                                         "dial_mode": mode, **config}]})
        q = queues.get("support")
        assert Callbacks._too_short(q, 10) is not served


def test_a_recovery_that_reaches_an_agent_past_its_horizon_is_given_up_not_dialed() -> None:
    # always open; a 1-hour horizon; lost at NOW: dialed at NOW + 59 min, given up at NOW + 61 min
    for minutes, dials in ((59, True), (61, False)):
        queues = QueueDirectory.from_config({"queues": [{"id": "support", "numbers": ["+18005550100"],
                                                         "recovery_horizon_seconds": 3600}]})
        stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
        d = Dispatcher(stores, orch, dialer, clock, queues)
        cb = Callbacks(stores, orch, dialer, clock, queues, d)
        t = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
        stores.tickets.abandon(t.id, NOW, 30)
        stores.lost.mark_lost(t.id, "abandoned", NOW)
        stores.tickets.convert_to_callback(t.id, CUSTOMER, NOW, NOW, recovering=True)
        stores.table.park(t.id, "park-token", 1)
        clock.current = NOW + timedelta(minutes=minutes)
        d.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=("support",))
        assert (cb.dial(DialRequest(t.id, 1, "alice", "dial-token-1")) is not None) is dials
        if not dials:
            assert stores.tickets.get(t.id).status is TicketStatus.LOST and dialer.calls == []
            assert orch.completed[-1] == ("dial-token-1", {"result": "not-now"})
            assert stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE
