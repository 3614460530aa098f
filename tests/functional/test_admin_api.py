"""The admin API through the Chalice test client: the lost-call list and opt-outs."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus
from chalicelib.adapters.memory import FakeDialer, FixedClock
from tests.helpers import lose_calls

ADMIN = "admin-secret"
QUEUES = str(Path(__file__).with_name("queues.json"))
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def c(settings, serve):  # type: ignore[no-untyped-def]
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, admin_token=ADMIN), clock=FixedClock(NOW),
                            dialer=FakeDialer())
    serve(built)
    return built


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
    while not c.stores.tickets.get("support-1").task_token and time.monotonic() < deadline:
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


# --- pages (issue 11) -----------------------------------------------------------------------------------

def pages(client: Client, query: str) -> list[dict]:  # type: ignore[type-arg]
    """Every page of the list, following `next` (each page's body)."""
    out = [json.loads(get_lost(client, "?" + query).body)]
    while out[-1]["next"]:
        out.append(json.loads(get_lost(client, f"?{query}&next={out[-1]['next']}").body))
    return out


def test_lost_calls_come_in_pages_of_100_and_the_last_has_no_next(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    ids = lose_calls(c.stores, "support", 130, NOW)
    first, last = pages(client, "queue=support")
    assert (first["count"], last["count"]) == (100, 30) and last["next"] is None
    assert [x["ticket"] for x in first["lost_calls"] + last["lost_calls"]] == ids  # oldest first, each once
    small = pages(client, "queue=support&limit=50")
    assert [p["count"] for p in small] == [50, 50, 30]
    assert json.loads(get_lost(client, "?queue=support&limit=500").body)["count"] == 130


def test_pages_run_across_queues_when_none_is_named(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    support, moscow = lose_calls(c.stores, "support", 3, NOW), lose_calls(c.stores, "moscow", 2, NOW)  # kyiv, between them, has none
    for limit, counts in ((2, [2, 2, 1]), (3, [3, 2]), (5, [5]), (100, [5])):
        got = pages(client, f"limit={limit}")
        assert [p["count"] for p in got] == counts
        assert [x["ticket"] for p in got for x in p["lost_calls"]] == support + moscow
    # a queue's cursor does not fit another queue's list
    cursor = json.loads(get_lost(client, "?queue=support&limit=1").body)["next"]
    assert get_lost(client, f"?queue=moscow&next={cursor}").status_code == 400


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "limit=-1", "limit=1.5",
                                   "next=!!!", "next=bm90IGpzb24", "next=eyJsaXN0IjoibmFyZG9yIn0",
                                   "queue=support&next=eyJsaXN0Ijoic3VwcG9ydCIsImFmdGVyIjoiZTMwIn0"])
def test_a_bad_limit_or_cursor_is_a_clear_400(client: Client, c, query: str) -> None:  # type: ignore[no-untyped-def]
    lose_calls(c.stores, "support", 2, NOW)
    reply = get_lost(client, "?" + query)
    assert reply.status_code == 400
    assert ("limit" if query.startswith("limit") else "cursor") in json.loads(reply.body)["error"]


def test_the_pages_empty_as_callers_are_served(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    ids = lose_calls(c.stores, "support", 3, NOW)
    first = json.loads(get_lost(client, "?queue=support&limit=2").body)
    assert [x["ticket"] for x in first["lost_calls"]] == ids[:2] and first["next"]
    # the first lost caller calls again and talks to an agent: recovered, off the list
    caller = first["lost_calls"][0]["number"]
    c.flow.incoming(CallEvent("CA-again", CallStatus.RINGING, caller, "+18005550100"))
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    served = c.stores.tickets.find_by_call("CA-again")
    c.dispatcher.bridge_result(served.id, "ann", answered=True)
    rest = json.loads(get_lost(client, f"?queue=support&limit=2&next={first['next']}").body)
    assert [x["ticket"] for x in rest["lost_calls"]] == ids[2:] and rest["next"] is None
    assert [x["ticket"] for p in pages(client, "queue=support&limit=2") for x in p["lost_calls"]] == ids[1:]


def test_opt_out_api(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    reply = client.http.post("/admin/opt-outs", headers=headers, body=json.dumps({"number": "(415) 555-0100"}))
    assert reply.status_code == 200 and json.loads(reply.body) == {"number": "+14155550100", "opted_out": True}
    hang_up(c, "CA1", "+14155550100", after=60)
    assert c.stores.tickets.get("support-1").kind.value == "LIVE"  # no automatic callback
    reply = client.http.post("/admin/opt-outs/delete", headers=headers, body=json.dumps({"number": "+14155550100"}))
    assert json.loads(reply.body)["opted_out"] is False and not c.stores.bookings.is_opted_out("+14155550100")
    assert client.http.post("/admin/opt-outs", headers=headers, body=b'{"number": "call me"}').status_code == 400
    assert client.http.post("/admin/opt-outs", headers=headers, body=b"[]").status_code == 400
    headers["Authorization"] = "Bearer nope"
    assert client.http.post("/admin/opt-outs", headers=headers, body=b'{"number": "+14155550100"}').status_code == 401
