"""The inputs issue 21 (item 5) found answered 500, or acted on: each is now a clear 400 or 403 and
writes nothing (tests/property/test_edges.py feeds every route arbitrary input; these are the named
cases, with what the sender is told)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.dynamo import AgentItem
from chalicelib.adapters.memory import FakeDialer, FixedClock
from tests.conftest import ADMIN_TOKEN, AUTH_TOKEN, PUBLIC_URL
from tests.contract.providers import TELNYX_PUBLIC_KEY, WIRES
from tests.helpers import Effects, event, signed

QUEUES = str(Path(__file__).with_name("queues.json"))
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)
AGENT_EVENTS = "/providers/twilio/agent-events"


@pytest.fixture
def client(settings, serve):  # type: ignore[no-untyped-def]
    serve(bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=("twilio", "telnyx"),
                                      telnyx_public_key=TELNYX_PUBLIC_KEY, admin_token=ADMIN_TOKEN,
                                      agent_sip_domains=("pbx.example.com",), metrics_enabled=False),
                              clock=FixedClock(NOW), dialer=FakeDialer()))
    with Client(app, stage_name="local") as http:
        yield http


def posted(client: Client, path: str, body: bytes, headers: dict[str, str]) -> tuple[Any, list[str]]:
    with Effects().watching() as effects:
        reply = client.http.post(path, headers=headers, body=body)
    return reply, effects.changes()


def worker(client: Client, **changes: str) -> tuple[Any, list[str]]:
    body, headers = signed(AUTH_TOKEN, PUBLIC_URL + AGENT_EVENTS, event("taskrouter_worker_available", **changes))
    return posted(client, AGENT_EVENTS, body, headers)


def test_a_telnyx_timestamp_of_400_digits_is_403(client: Client) -> None:
    wire = WIRES["telnyx"]
    body, headers = wire.request(PUBLIC_URL + "/voice/telnyx/incoming", wire.event("incoming"), NOW)
    for stamp in ("9" * 400, "²" * 10, "-1"):
        reply, changes = posted(client, "/voice/telnyx/incoming", body, dict(headers, **{"telnyx-timestamp": stamp}))
        assert (reply.status_code, changes) == (403, [])


@pytest.mark.parametrize("changes, error", [
    ({"WorkerAttributes": '{"a":' * 5000 + "1" + "}" * 5000}, "WorkerAttributes or Timestamp malformed"),
    ({"WorkerAttributes": '{"contact_uri": 14155550100}'}, "WorkerAttributes.contact_uri is not text"),
    ({"WorkerAttributes": '{"holdfast_queues": "support"}'}, "WorkerAttributes.holdfast_queues is not a list"),
    ({"Timestamp": "9" * 30}, "WorkerAttributes or Timestamp malformed"),
    ({"WorkerActivityName": "Gardening"}, "unknown TaskRouter activity 'gardening'"),
    ({"WorkerAttributes": '{"contact_uri": "sip:alice@any-domain.example"}'}, "contact refused: SIP domain not allowed"),
])
def test_a_taskrouter_event_it_cannot_take_is_400_and_writes_nothing(client: Client, changes: dict[str, str],
                                                                   error: str) -> None:
    reply, written = worker(client, **changes)
    assert reply.status_code == 400 and error in json.loads(reply.body)["error"], reply.body
    assert written == [] and list(AgentItem.scan()) == []


def test_an_agent_on_an_allowed_sip_domain_is_taken(client: Client) -> None:
    """HOLDFAST_AGENT_SIP_DOMAINS names the deployment's PBX: its subdomains are its too."""
    reply, _ = worker(client, WorkerAttributes='{"contact_uri": "sip:alice@eu.pbx.example.com"}')
    assert reply.status_code == 200 and json.loads(reply.body)["agent"]["contact"] == "sip:alice@eu.pbx.example.com"


def test_a_page_size_in_superscript_is_400(client: Client) -> None:
    reply = client.http.get("/admin/lost-calls?limit=%C2%B2", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert reply.status_code == 400 and json.loads(reply.body)["error"] == "limit must be a whole number from 1 to 500"


@pytest.mark.parametrize("name", ["report", "report.csv"])  # staffing takes no days (issue 28)
def test_a_report_day_past_what_reports_hold_is_400(client: Client, name: str) -> None:
    signed_in = client.http.post("/console/api/session", headers={"Content-Type": "application/json"},
                                 body=json.dumps({"token": ADMIN_TOKEN}))
    cookie = signed_in.headers["Set-Cookie"].split(";")[0]
    reply = client.http.get(f"/console/api/{name}?from=9999-12-31", headers={"Cookie": cookie})
    assert reply.status_code == 400
    assert json.loads(reply.body)["error"] == "bad request: days are 2000-01-01..2099-12-31"
