"""The table stream's event filter (infra/app.yaml, applied by Lambda in AWS and by the local poller):
the consumer's own writes never invoke it again, and nothing it would have acted on is filtered out.

The filter's matching follows Lambda's rules
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html); the stack's patterns are
read from the template, so what runs locally is what is deployed."""
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
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain.model import AgentStatus
from chalicelib.edges import workers
from devstack.dynamo_meter import metered
from devstack.pollers import StreamPoller, deployed_filters, matches, passes
from tests.conftest import AGENT_TOKEN, AUTH_TOKEN, PUBLIC_URL
from tests.helpers import event, signed

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
MONDAY_10_PST = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


def record(pk: str, sk: str, name: str = "MODIFY") -> dict[str, Any]:
    return {"eventName": name, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def test_matching_follows_lambdas_rules() -> None:
    rec = {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "QUEUE#a"}}, "NewImage": {"n": {"N": "1"}}}}
    assert matches({"eventName": ["INSERT", "MODIFY"]}, rec)                       # any of the values
    assert not matches({"eventName": ["REMOVE"]}, rec)
    assert matches({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "QUEUE#"}]}}}}, rec)
    assert not matches({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "QUEUE#"}]}}}}, rec)  # absent: no match
    assert matches({"dynamodb": {"OldImage": [{"exists": False}]}}, rec)
    assert matches({"eventName": [{"anything-but": ["REMOVE"]}]}, rec)
    assert matches({"eventName": [{"anything-but": {"prefix": "MOD"}}]}, rec)
    assert passes(None, rec) and not passes([], rec)                               # no filter: everything
    with pytest.raises(ValueError):
        matches({"eventName": [{"numeric": [">", 0]}]}, rec)                        # not emulated: refused


def test_the_deployed_filter_takes_tickets_and_presence_and_drops_the_consumers_own_items() -> None:
    filters = deployed_filters()
    assert passes(filters, record("QUEUE#support", "TICKET#000000000007"))
    assert passes(filters, record("AGENTS#support", "AGENT#alice"))
    assert passes(filters, record("AGENT#alice", "AGENT"))  # agents' time (console: AHT, occupancy)
    for pk, sk in [("QUEUE#support", "SNAPSHOT"), ("QUEUE#support", "STATS"), ("QUEUE#support", "COUNTER"),
                   ("SEEN#abc", "SEEN"), ("CALL#CA1", "CALL"), ("LOSTBY#support#+14155550100", "LOSTCALL#1"),
                   ("FACT#x", "FACT"), ("REPORT#support#2025-11-17", "2025-11-17T18:00"),
                   ("BOARD#support", "support-7"), ("AGENT#alice", "OTHER"), ("EVENT#e1", "EVENT"),
                   ("DIAL#d1", "DIAL"), ("OPEN#support#+1415", "OPEN")]:
        assert not passes(filters, record(pk, sk)), (pk, sk)


@pytest.fixture
def built(settings):  # type: ignore[no-untyped-def]
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES, agent_token=AGENT_TOKEN),
                                    clock=FixedClock(MONDAY_10_PST), dialer=FakeDialer())
    with bootstrap.serving(container):
        yield container


def test_every_record_the_filter_drops_is_one_the_consumer_does_nothing_with(built, settings) -> None:  # type: ignore[no-untyped-def]
    """A call's life (callers join, one books a callback, an agent signs in and takes the head, one hangs
    up) with every record delivered, unfiltered, to the real consumer; then every record the deployed
    filter would drop, delivered again on its own: the consumer makes no AWS call for any of them."""
    kept: list[tuple[Any, Any, str, dict[str, Any]]] = []

    class Recording(StreamPoller):
        def _handle(self, rec: dict[str, Any]) -> bool:  # type: ignore[override]
            change = rec["dynamodb"]
            kept.append((change.get("NewImage"), change.get("OldImage"), rec["eventID"], rec))
            return super()._handle(rec)

    stream = Recording(settings.table_name, workers.on_table_change, with_event_id=True)

    def drain() -> None:
        while stream.poll_once():
            pass

    with Client(app, stage_name="local") as client:
        def post(step: str, params: dict[str, str], query: str = "") -> None:
            path = f"/voice/twilio/{step}" + query
            body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, params)
            assert client.http.post(path, headers=headers, body=body).status_code == 200

        for n in (1, 2, 3):
            post("incoming", event("incoming", CallSid=f"CA{n}", From=f"+1415555000{n}"))
        drain()
        post("offer", event("gather_digits_1", CallSid="CA2"), "?t=support-2")
        post("confirm", event("gather_digits_1", CallSid="CA2"), "?t=support-2")
        post("queue-exit", event("enqueue_action_hangup", CallSid="CA3"), "?t=support-3")
        drain()
        reply = client.http.post("/agents/alice/status", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {AGENT_TOKEN}"},
            body=json.dumps({"status": "available", "contact": "client:alice", "queues": ["support"]}))
        assert reply.status_code == 200
        drain()
    built.dispatcher.agent_event("alice", AgentStatus.OFFLINE)
    drain()
    dropped = [k for k in kept if not passes(deployed_filters(), k[3])]
    assert len(dropped) > 5 and len(dropped) < len(kept)  # the scenario made both kinds
    for new, old, event_id, rec in dropped:
        with metered(all_threads=False) as meter:
            workers.on_table_change(new, old, event_id + "-again")
        assert meter.calls == [], (rec["dynamodb"]["Keys"], meter.by_service())
