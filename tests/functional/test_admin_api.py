"""The admin API through the Chalice test client: the lost-call list and opt-outs."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus
from chalicelib.adapters.memory import FakeDialer, FixedClock

ADMIN = "admin-secret"
QUEUES = str(Path(__file__).with_name("queues.json"))
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def c(settings, monkeypatch):  # type: ignore[no-untyped-def]
    built = bootstrap.build(replace(settings, queues_file=QUEUES, admin_token=ADMIN), clock=FixedClock(NOW),
                            dialer=FakeDialer())
    monkeypatch.setattr(bootstrap, "container", lambda: built)
    return built


@pytest.fixture
def client(c):  # type: ignore[no-untyped-def]
    with Client(app, stage_name="local") as http:
        yield http


def get_lost(client: Client, query: str = "", token: str = ADMIN):  # type: ignore[no-untyped-def]
    return client.http.get(f"/admin/lost-calls{query}", headers={"Authorization": f"Bearer {token}"})


def hang_up(c, sid: str, caller: str, after: float) -> None:  # type: ignore[no-untyped-def]
    c.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
    c.flow.clock.advance(after)
    c.flow.incoming(CallEvent(sid, CallStatus.COMPLETED, caller, "+18005550100"))


def test_lost_calls_are_listed_with_cause_and_plan_and_empty_as_recovered(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    hang_up(c, "CA1", "+14155550100", after=60)
    hang_up(c, "CA2", "anonymous", after=60)
    # Let her callback's workflow park first (its state is what the list shows, and moto cannot stop an
    # execution in the instant it starts): the listing then does not depend on how fast moto runs.
    import time
    deadline = time.monotonic() + 60
    while not c.store.get("support-1").task_token and time.monotonic() < deadline:
        time.sleep(0.05)
    reply = get_lost(client, "?queue=support")
    assert reply.status_code == 200
    body = json.loads(reply.body)
    assert body["count"] == 2
    first, second = body["lost_calls"]
    assert (first["ticket"], first["cause"], first["callback"], first["number"]) == (
        "support-1", "abandoned", "waiting for an agent", "+14155550100")
    assert first["next_attempt_at"] is None  # parked: due whenever an agent is free
    assert (second["callback"], second["number"]) == ("no callback", "anonymous")
    # Alice calls again and talks to an agent: her lost call leaves the list.
    c.flow.incoming(CallEvent("CA3", CallStatus.RINGING, "+14155550100", "+18005550100"))
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    c.dispatcher.bridge_result("support-1", "ann", answered=True)
    assert [x["ticket"] for x in json.loads(get_lost(client).body)["lost_calls"]] == ["support-2"]


def test_lost_calls_need_the_token_and_a_real_queue(client: Client) -> None:
    assert get_lost(client, token="nope").status_code == 401
    assert get_lost(client, "?queue=nope").status_code == 400


def test_opt_out_api(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    reply = client.http.post("/admin/opt-outs", headers=headers, body=json.dumps({"number": "(415) 555-0100"}))
    assert reply.status_code == 200 and json.loads(reply.body) == {"number": "+14155550100", "opted_out": True}
    hang_up(c, "CA1", "+14155550100", after=60)
    assert c.store.get("support-1").kind.value == "LIVE"  # no automatic callback
    reply = client.http.post("/admin/opt-outs/delete", headers=headers, body=json.dumps({"number": "+14155550100"}))
    assert json.loads(reply.body)["opted_out"] is False and not c.store.is_opted_out("+14155550100")
    assert client.http.post("/admin/opt-outs", headers=headers, body=b'{"number": "call me"}').status_code == 400
    assert client.http.post("/admin/opt-outs", headers=headers, body=b"[]").status_code == 400
    headers["Authorization"] = "Bearer nope"
    assert client.http.post("/admin/opt-outs", headers=headers, body=b'{"number": "+14155550100"}').status_code == 401
