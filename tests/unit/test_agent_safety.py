"""Agents' contacts are dialed only if the number policy allows them; reservations survive races and
faults (a second 'available', status before the Dial action, a failed SendTaskSuccess). Against fakes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.callbacks import Callbacks, DialRequest, dial_id
from chalicelib.domain.dispatch import RESUME_GRACE, Dispatcher
from chalicelib.domain.errors import NumberNotAllowedError
from chalicelib.domain.model import AgentStatus, AnsweredBy, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.phone import NumberPolicy
from chalicelib.domain.queues import QueueDirectory
from chalicelib.adapters.memory import memory_stores, FakeDialer, MemoryStores, FixedClock
from tests.fakes import FakeOrchestrator

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # 10:00 in San Francisco
CUSTOMER = "+14155550100"
AV = AgentStatus.AVAILABLE
POLICY = NumberPolicy(("US", "CA"), "US")


def directory(mode: str, countries: tuple[str, ...]) -> QueueDirectory:
    return QueueDirectory.from_config({"queues": [
        {"id": "support", "numbers": ["+18005550100"], "dial_mode": mode, "retry_delays_seconds": [0, 300, 600],
         "allowed_countries": list(countries)}]})


def world(mode: str = "agent_first", countries: tuple[str, ...] = ("US", "CA")):  # type: ignore[no-untyped-def]
    queues = directory(mode, countries)
    stores, orch, dialer, clock = memory_stores(), FakeOrchestrator(), FakeDialer(), FixedClock(NOW)
    dispatcher = Dispatcher(stores, orch, dialer, clock, queues)
    return stores, orch, dialer, clock, Callbacks(stores, orch, dialer, clock, queues, dispatcher), dispatcher


def redeployed(stores: MemoryStores, orch: FakeOrchestrator, dialer: FakeDialer, clock: FixedClock,
               mode: str = "agent_first") -> Callbacks:
    """The dial worker after an admin took GB off the queue's countries (a new configuration deployed
    between the reservation and the dial): UK_AGENT's number, allowed when reserved, is refused now."""
    queues = directory(mode, ("US", "CA"))
    return Callbacks(stores, orch, dialer, clock, queues, Dispatcher(stores, orch, dialer, clock, queues))


UK_AGENT = "+442071838750"  # a London number: allowed only while the queue's countries include GB


def live(stores: MemoryStores, call: str) -> Ticket:
    return stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=call))


def parked(stores: MemoryStores, call: str = "CA1") -> Ticket:
    t = live(stores, call)
    stores.tickets.convert_to_callback(t.id, CUSTOMER, NOW, NOW)
    stores.table.park(t.id, f"park-{t.id}")
    return stores.tickets.get(t.id)


# --- 3: contacts pass the number policy -------------------------------------------------------------

@pytest.mark.parametrize("contact", [
    "+19005551234",  # US premium rate
    "+18765551234",  # Jamaica: a +1 number billed internationally
    "+881612345678",  # satellite
    "+447700900123",  # a country the queue does not call
    "900", "anything at all", "tel:+14155550100", "sip:+19005551234@trunk.example.com", "sip:@host",
    "client:has space", "client:" + "a" * 65, "sip:alice@" + "h" * 300,
])
def test_a_contact_the_policy_refuses_is_never_stored(contact: str) -> None:
    stores, orch, dialer, clock, cb, d = world()
    with pytest.raises(NumberNotAllowedError):
        d.agent_event("alice", AV, contact=contact, queues=("support",))
    assert "alice" not in stores.table.agents


@pytest.mark.parametrize("contact, stored", [
    ("+14155550111", "+14155550111"), ("(415) 555-0111", "+14155550111"), ("client:alice", "client:alice"),
    ("sip:alice@pbx.example.com", "sip:alice@pbx.example.com"),
    ("sip:+14155550111@trunk.example.com;transport=tls", "sip:+14155550111@trunk.example.com;transport=tls"),
])
def test_good_contacts_are_kept_in_canonical_form(contact: str, stored: str) -> None:
    stores, orch, dialer, clock, cb, d = world()
    d.agent_event("alice", AV, contact=contact, queues=("support",))
    assert stores.agents.get_agent("alice").contact == stored


def test_a_contact_already_stored_that_the_policy_refuses_is_never_claimed_or_dialed() -> None:
    stores, orch, dialer, clock, cb, d = world()
    caller = live(stores, "CA1")
    stores.agents.record_agent_status("mallory", AV, NOW, "+19005551234", ("support",), None)  # from before the policy
    assert d.offer_work("mallory") is None
    assert d.sweep() == 0
    assert dialer.redirects == [] and orch.completed == []
    assert stores.tickets.get(caller.id).status is TicketStatus.WAITING  # still in line, at its place
    assert stores.agents.get_agent("mallory").ticket_id is None  # not reserved


def test_the_dial_worker_looks_the_contact_up_and_refuses_a_bad_one() -> None:
    stores, orch, dialer, clock, cb, d = world(countries=("US", "CA", "GB"))
    ticket = parked(stores)
    d.agent_event("alice", AV, contact=UK_AGENT, queues=("support",))
    assert orch.completed == [(f"park-{ticket.id}", {"agent_id": "alice"})]  # the id, never the contact
    cb = redeployed(stores, orch, dialer, clock)  # the policy changed under us
    assert cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token")) is None
    assert dialer.calls == []
    assert orch.completed[-1] == ("dial-token", {"result": "agent-missed",
                                                 "next": {"not_before": "2026-11-23T18:00:00Z", "attempt": 1}})
    assert stores.tickets.get(ticket.id).status is TicketStatus.SCHEDULED  # parks again; no attempt spent
    agent = stores.agents.get_agent("alice")
    assert (agent.status, agent.ticket_id) == (AgentStatus.OFFLINE, None)


def test_customer_first_never_bridges_to_a_refused_contact() -> None:
    stores, orch, dialer, clock, cb, d = world("customer_first", countries=("US", "CA", "GB"))
    ticket = parked(stores)
    d.agent_event("alice", AV, contact=UK_AGENT, queues=("support",))
    cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token"))
    assert dialer.calls[0]["to"] == CUSTOMER
    cb = redeployed(stores, orch, dialer, clock, "customer_first")  # the answer reaches a worker with GB taken off
    script = cb.answered(ticket.id, dial_id("dial-token"), CallEvent("CAout1", CallStatus.IN_PROGRESS,
                                                                      answered_by=AnsweredBy.HUMAN))
    assert not any(getattr(v, "target", None) for v in script.verbs)
    assert orch.completed[-1][1]["result"] == "agent-missed"


# --- 6: a second 'available' while reserved ------------------------------------------------------

def test_a_second_available_while_reserved_gives_no_second_ticket() -> None:
    stores, orch, dialer, clock, cb, d = world()
    first, second = live(stores, "CA1"), live(stores, "CA2")
    _, got = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert got.id == first.id
    clock.advance(5)
    agent, again = d.agent_event("alice", AV, event_id="second-available")
    assert again is None and agent.status is AgentStatus.BUSY and agent.ticket_id == first.id
    assert [call for call, _ in dialer.redirects] == ["CA1"]  # the agent's phone rang once
    assert stores.tickets.get(second.id).status is TicketStatus.WAITING


# --- 7: the status callback before the Dial action -------------------------------------------------

@pytest.mark.parametrize("status_first", [True, False])
def test_the_agent_is_freed_whatever_order_status_and_dial_action_come_in(status_first: bool) -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket = parked(stores)
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token"))
    did = dial_id("dial-token")
    cb.answered(ticket.id, did, CallEvent("CAout1", CallStatus.IN_PROGRESS))
    status = lambda: cb.call_status(ticket.id, did, CallEvent("CAout1", CallStatus.COMPLETED))  # noqa: E731
    dialed = lambda: cb.dialed(ticket.id, did, CallEvent("CAout1", CallStatus.IN_PROGRESS,  # noqa: E731
                                                          dial_status=CallStatus("completed")))
    for step in ((status, dialed) if status_first else (dialed, status)):
        step()
    assert stores.tickets.get(ticket.id).status is TicketStatus.SERVED
    agent = stores.agents.get_agent("alice")
    assert (agent.status, agent.ticket_id) == (AV, None)
    assert orch.completed[-1] == ("dial-token", {"result": "connected"})


def test_while_the_conversation_lasts_the_agent_stays_busy() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket = parked(stores)
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token"))
    cb.dialed(ticket.id, dial_id("dial-token"), CallEvent("CAout1", CallStatus.IN_PROGRESS,
                                                          dial_status=CallStatus("completed")))
    assert stores.agents.get_agent("alice").status is AgentStatus.BUSY  # no status callback yet


# --- 8: SendTaskSuccess fails after the claim ---------------------------------------------------------

def test_a_transient_resume_failure_is_retried_at_once() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket = parked(stores)
    orch.fail_completes = 1
    _, got = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert got.id == ticket.id and orch.completed == [(f"park-{ticket.id}", {"agent_id": "alice"})]


def test_a_resume_that_keeps_failing_is_sent_again_by_the_sweep() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket = parked(stores)
    orch.fail_completes = 5
    _, got = d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    assert got is None and orch.completed == []
    assert stores.tickets.get(ticket.id).status is TicketStatus.CONNECTING  # the claim stands, the token is kept
    orch.fail_completes = 0
    clock.advance(RESUME_GRACE.total_seconds() - 1)
    d.sweep()
    assert orch.completed == []  # too soon: the workflow may simply not have dialed yet
    clock.advance(1)
    d.sweep()
    assert orch.completed == [(f"park-{ticket.id}", {"agent_id": "alice"})]
    d.sweep()  # again: the token answers once; harmless
    assert len(orch.completed) == 1
    cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token"))
    assert dialer.calls[0]["to"] == "client:alice"


def test_the_sweep_leaves_a_claim_whose_dial_has_begun() -> None:
    stores, orch, dialer, clock, cb, d = world()
    ticket = parked(stores)
    d.agent_event("alice", AV, contact="client:alice", queues=("support",))
    cb.dial(DialRequest(ticket.id, 1, "alice", "dial-token"))
    clock.advance(timedelta(minutes=5).total_seconds())
    d.sweep()
    assert len(orch.completed) == 1 and stores.agents.get_agent("alice").ticket_id == ticket.id


def test_an_agent_who_cannot_be_dialed_does_not_keep_the_sweep_from_the_others() -> None:
    stores, orch, dialer, clock, cb, d = world()
    caller = live(stores, "CA1")
    stores.agents.record_agent_status("mallory", AV, NOW, "+19005551234", ("support",), None)  # first in the index
    stores.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    assert d.sweep() == 1
    assert stores.tickets.get(caller.id).agent_id == "alice" and stores.agents.get_agent("mallory").ticket_id is None
