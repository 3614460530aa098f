"""Agents' presence through the Chalice test client: our JSON API and Twilio TaskRouter events."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketStatus
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from chalicelib.adapters.memory import FakeDialer, FixedClock
from tests.helpers import event, signed

ADMIN = "admin-secret"
QUEUES = str(Path(__file__).with_name("queues.json"))


@pytest.fixture
def built(settings, serve):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    dialer = FakeDialer()
    c = bootstrap.build_aws(replace(settings, queues_file=QUEUES, agent_token=ADMIN),
                        clock=FixedClock(datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)), dialer=dialer)
    serve(c)
    return c, dialer


@pytest.fixture
def client(built):  # type: ignore[no-untyped-def]
    with Client(app, stage_name="local") as c:
        yield c


def put_status(client: Client, agent: str, body: object, token: str | None = ADMIN):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post(f"/agents/{agent}/status", headers=headers, body=raw)


def test_available_agent_is_bridged_to_the_holding_caller(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, dialer = built
    c.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550100", "+18005550100"))
    reply = put_status(client, "alice", {"status": "available", "contact": "client:alice", "queues": ["support"]})
    assert reply.status_code == 200
    body = json.loads(reply.body)
    assert body["dispatched"] == "support-1" and body["agent"]["status"] == "busy"
    [(call_id, _)] = dialer.redirects
    assert call_id == "CA1"
    assert c.stores.tickets.get("support-1").status is TicketStatus.CONNECTING


def test_duplicate_event_id_is_ignored(client: Client) -> None:
    body = {"status": "available", "contact": "client:alice", "queues": ["support"], "event_id": "e1"}
    assert put_status(client, "alice", body).status_code == 200
    reply = put_status(client, "alice", body)
    assert json.loads(reply.body) == {"ignored": "duplicate or stale event"}


@pytest.mark.parametrize("token", [None, "wrong"])
def test_without_the_bearer_token_nothing_changes(client: Client, built, token) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    reply = put_status(client, "alice", {"status": "available", "queues": ["support"]}, token=token)
    assert reply.status_code == 401
    assert c.stores.agents.staffing("support").staffed == 0


@pytest.mark.parametrize("body, message", [
    (b"{not json", "JSON"),
    ([1, 2], "object"),
    ({"status": "sleeping"}, "status"),
    ({"status": "available", "contact": "555-1234"}, "contact"),
    ({"status": "available", "queues": "support"}, "queues"),
    ({"status": "available", "queues": ["nope"]}, "nope"),
    ({"status": "available", "at": "yesterday"}, "ISO"),
    ({"status": "available", "at": "2026-11-23T10:00:00"}, "time zone"),
])
def test_bad_bodies_are_400_with_a_reason(client: Client, built, body, message) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    reply = put_status(client, "alice", body)
    assert reply.status_code == 400 and message in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 0


def test_bad_agent_id_is_400(client: Client) -> None:
    assert put_status(client, "a%20b", {"status": "available"}).status_code == 400


def taskrouter(client: Client, name: str, **overrides: str):  # type: ignore[no-untyped-def]
    path = "/providers/twilio/agent-events"
    body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, event(name, **overrides))
    return client.http.post(path, headers=headers, body=body)


def test_taskrouter_worker_available_resumes_a_parked_callback(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, dialer = built
    c.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550100", "+18005550100"))
    c.stores.tickets.convert_to_callback("support-1", "+14155550100", c.flow.clock.now(), c.flow.clock.now())
    reply = taskrouter(client, "taskrouter_worker_available")
    assert reply.status_code == 200
    # not parked yet (no task token): nothing to resume, alice simply waits available
    assert json.loads(reply.body)["dispatched"] is None
    assert c.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE
    assert c.stores.agents.get_agent("alice").contact == "client:alice"
    assert json.loads(taskrouter(client, "taskrouter_worker_available").body)["ignored"]  # same EventSid
    assert json.loads(taskrouter(client, "taskrouter_reservation_created").body)["ignored"]
    assert taskrouter(client, "taskrouter_worker_offline").status_code == 200
    assert c.stores.agents.get_agent("alice").status is AgentStatus.OFFLINE


def test_agent_states_with_reasons_and_a_clear_400_for_the_unknown(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    """Away (with a reason) and wrap-up are signed in but take no call and do not count as serving;
    an unknown status or reason, or a reason without away, is a 400 that writes nothing."""
    c, _ = built
    assert put_status(client, "ann", {"status": "available", "contact": "client:ann", "queues": ["support"]}).status_code == 200
    reply = put_status(client, "ann", {"status": "away", "reason": "lunch"})
    assert reply.status_code == 200 and json.loads(reply.body)["agent"]["reason"] == "lunch"
    assert c.stores.agents.get_agent("ann").status is AgentStatus.AWAY
    assert c.stores.agents.staffing("support").staffed == 0  # away serves nobody
    c.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550100", "+18005550100"))
    assert c.stores.tickets.get("support-1").status is TicketStatus.WAITING  # not offered to an away agent
    for body, says in (({"status": "sleeping"}, "status must be one of available, busy, wrap_up, away, offline"),
                       ({"status": "away"}, "away needs a reason"),
                       ({"status": "away", "reason": "nap"}, "reason must be one of break, lunch"),
                       ({"status": "available", "reason": "lunch"}, "reason goes with status away only")):
        refused = put_status(client, "ann", body)
        assert refused.status_code == 400 and says in json.loads(refused.body)["error"], refused.body
    assert (c.stores.agents.get_agent("ann").status, c.stores.agents.get_agent("ann").reason) == (AgentStatus.AWAY, "lunch")
    assert put_status(client, "ann", {"status": "wrap_up"}).status_code == 200
    assert c.stores.agents.get_agent("ann").reason is None and c.stores.agents.staffing("support").staffed == 0
    assert c.stores.tickets.get("support-1").status is TicketStatus.WAITING
    assert json.loads(put_status(client, "ann", {"status": "available"}).body)["dispatched"] == "support-1"


def test_an_unknown_taskrouter_activity_is_400_and_writes_nothing(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    assert taskrouter(client, "taskrouter_worker_available").status_code == 200
    reply = taskrouter(client, "taskrouter_worker_available", WorkerActivityName="Gardening", Sid="EV2")
    assert reply.status_code == 400 and "unknown TaskRouter activity" in json.loads(reply.body)["error"]
    assert c.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE
    reply = taskrouter(client, "taskrouter_worker_available", WorkerActivityName="Break", Sid="EV3",
                       Timestamp="1763402460")
    assert reply.status_code == 200
    assert (c.stores.agents.get_agent("alice").status, c.stores.agents.get_agent("alice").reason) == (AgentStatus.AWAY, "break")


def test_taskrouter_forged_is_403(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    path = "/providers/twilio/agent-events"
    body, headers = signed("not-the-token", PUBLIC_URL + path, event("taskrouter_worker_available"))
    assert client.http.post(path, headers=headers, body=body).status_code == 403
    assert c.stores.agents.staffing("support").staffed == 0


def test_outbound_leg_webhooks_through_http(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    """A callback attempt's webhooks, posted as Twilio would, close the attempt once."""
    from chalicelib.domain.callbacks import DialRequest, dial_id
    from chalicelib.domain.model import TicketKind
    from urllib.parse import urlencode

    c, dialer = built
    c.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550100", "+18005550100"))
    c.stores.tickets.convert_to_callback("support-1", "+14155550100", c.flow.clock.now(), c.flow.clock.now())
    from chalicelib.adapters.dynamo import TicketItem
    TicketItem("QUEUE#support", "TICKET#000000000001").update(actions=[
        TicketItem.status.set("WAITING"), TicketItem.task_token.set("park"), TicketItem.attempts.set(1),
        TicketItem.line_pk.set("LINE#support"), TicketItem.line_sk.set("9#000000000001")])
    c.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=("support",))
    assert c.stores.tickets.get("support-1").kind is TicketKind.CALLBACK
    c.callbacks.dial(DialRequest("support-1", 1, "alice", "dial-token"))
    did = dial_id("dial-token")
    query = urlencode({"d": did, "t": "support-1"})
    for step, name in (("cb-answer", "outbound_answered_human"), ("cb-dialed", "outbound_dial_busy")):
        path = f"/voice/twilio/{step}?{query}"
        body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, event(name))
        reply = client.http.post(path, headers=headers, body=body)
        assert reply.status_code == 200, reply.body
    ticket = c.stores.tickets.get("support-1")
    assert (ticket.status, ticket.last_outcome, ticket.attempts) == (TicketStatus.SCHEDULED, "busy", 1)


# --- issue 9: toll fraud through agents' contacts, bounded input, failed writes -------------------------

@pytest.mark.parametrize("contact, reason", [
    ("+19005551234", "premium"), ("+18765551234", "country"), ("+881612345678", "country"),
    ("900", "too short"), ("anything at all", "unparseable"), ("sip:+19005551234@trunk.example.com", "premium"),
    ("client:not ok", "client"), ("x" * 450_000, "bytes"),
])
def test_an_agent_contact_the_number_policy_refuses_is_400(client: Client, built, contact: str,  # type: ignore[no-untyped-def]
                                                            reason: str) -> None:
    c, _ = built
    reply = put_status(client, "alice", {"status": "available", "contact": contact, "queues": ["support"],
                                         "event_id": "e1"})
    assert reply.status_code == 400 and reason in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 0
    good = {"status": "available", "contact": "client:alice", "queues": ["support"], "event_id": "e1"}
    assert "agent" in json.loads(put_status(client, "alice", good).body)  # the event id was not spent


def test_taskrouter_contact_uri_passes_the_policy_too(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    for contact in ("900", "anything at all", "+19005551234"):
        attributes = json.dumps({"contact_uri": contact, "holdfast_queues": ["support"]})
        reply = taskrouter(client, "taskrouter_worker_available", WorkerAttributes=attributes)
        assert reply.status_code == 400 and "contact refused" in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 0


@pytest.mark.parametrize("body, message", [
    ({"status": "available", "event_id": "e" * 3000}, "event_id"),
    (b'{"status": "available", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}", "bytes"),
    (b'{"status": "available", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}", "JSON"),
    ({"status": "available", "nested": {"a": {"b": {}}}}, "unknown field"),
    ({"status": "available", "at": "2100-01-01T00:00:00Z"}, "future"),
    ({"status": "available", "at": 1763416800}, "ISO"),  # a number, not a time (was a 500)
    ({"status": "available", "queues": ["support"] * 40}, "queues"),
])
def test_unbounded_input_is_a_clear_400_not_a_500(client: Client, built, body, message) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    reply = put_status(client, "alice", body)
    assert reply.status_code == 400 and message in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 0


@pytest.mark.parametrize("agent_id", [".", "..", ".hidden"])
def test_dot_agent_ids_are_400(client: Client, agent_id: str) -> None:
    assert put_status(client, agent_id, {"status": "available"}).status_code == 400


def test_a_future_at_does_not_make_later_events_stale(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    put_status(client, "alice", {"status": "available", "queues": ["support"], "at": "2100-01-01T00:00:00Z"})
    reply = put_status(client, "alice", {"status": "offline", "queues": ["support"]})
    assert json.loads(reply.body)["agent"]["status"] == "offline"


def test_a_failed_write_is_503_and_does_not_spend_the_event_id(client: Client, built, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.contract.test_store_races import TransactFaults

    c, _ = built
    faults = TransactFaults(monkeypatch)
    faults.pending = ["ValidationException"]
    body = {"status": "available", "contact": "client:alice", "queues": ["support"], "event_id": "e1"}
    reply = put_status(client, "alice", body)
    assert reply.status_code == 503 and faults.seen == 1
    reply = put_status(client, "alice", body)  # the sender's retry, same event id
    assert reply.status_code == 200 and json.loads(reply.body)["agent"]["status"] == "available"


@pytest.mark.parametrize("name, status", [(".", 400), ("..", 400), ("a/b", 400), ("Alice Smith", 200)])
def test_taskrouter_worker_names_are_checked_too(client: Client, name: str, status: int) -> None:
    attributes = json.dumps({"contact_uri": "client:alice", "holdfast_queues": ["support"]})
    reply = taskrouter(client, "taskrouter_worker_available", WorkerName=name, WorkerAttributes=attributes)
    assert reply.status_code == status


def test_an_agent_id_that_is_a_phone_number_is_400(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    for agent_id in ("+14155550100", "4155550100", "+1-415-555-0100"):
        reply = put_status(client, agent_id, {"status": "available", "contact": "client:x", "queues": ["support"]})
        assert reply.status_code == 400 and "phone number" in json.loads(reply.body)["error"]
    attributes = json.dumps({"contact_uri": "client:alice", "holdfast_queues": ["support"]})
    assert taskrouter(client, "taskrouter_worker_available", WorkerName="+1 415 555 0100",
                      WorkerAttributes=attributes).status_code == 400
    assert c.stores.agents.staffing("support").staffed == 0
    assert put_status(client, "agent-007", {"status": "available", "queues": ["support"]}).status_code == 200


def test_an_announced_sign_off_is_kept_and_shown(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built  # the clock reads 2025-11-17 18:00 UTC
    reply = put_status(client, "alice", {"status": "available", "contact": "client:alice", "queues": ["support"],
                                         "until": "2025-11-17T22:30:00Z"})
    assert reply.status_code == 200
    assert json.loads(reply.body)["agent"]["until"] == "2025-11-17T22:30:00+00:00"
    # a later event that announces nothing keeps it
    reply = put_status(client, "alice", {"status": "busy"})
    assert json.loads(reply.body)["agent"]["until"] == "2025-11-17T22:30:00+00:00"
    assert c.stores.agents.get_agent("alice").until.isoformat() == "2025-11-17T22:30:00+00:00"


@pytest.mark.parametrize("until, message", [
    ("2025-11-17T17:59:00Z", "future"),  # already past
    ("2025-11-18T18:00:01Z", "24 h"),
    ("2025-11-17T22:30:00", "time zone"),
    ("tonight", "ISO"),
    (1763416800, "ISO"),
    ("2025-11-17T22:30:00Z" + " " * 40, "ISO"),
])
def test_a_bad_sign_off_is_400_and_changes_nothing(client: Client, built, until, message) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    reply = put_status(client, "alice", {"status": "available", "queues": ["support"], "until": until})
    assert reply.status_code == 400 and message in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 0


def test_a_sign_off_with_status_offline_is_400(client: Client, built) -> None:  # type: ignore[no-untyped-def]
    c, _ = built
    put_status(client, "alice", {"status": "available", "queues": ["support"]})
    reply = put_status(client, "alice", {"status": "offline", "until": "2025-11-17T22:30:00Z"})
    assert reply.status_code == 400 and "offline" in json.loads(reply.body)["error"]
    assert c.stores.agents.staffing("support").staffed == 1
