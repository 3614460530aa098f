"""Answered means bridged (issue 20): a caller's wait ends when they are connected to an agent (the bridge's
agent leg answers), never when the call does. A known timeline, on each provider's signed webhooks
through the app on moto: the call comes in at 10:00:00, an agent is put through at 10:00:05, the agent's
leg answers at 10:00:07, they talk 110 s and the bridge ends at 10:01:57. So the caller waited 7 s:
ASA 7 s and service level 100% (7 s is inside the 20 s target) in the report, its CSV, the live monitor
(the caller, put through at 10:00:05, is talking from 10:00:07 and their wait stops there) and the metrics."""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain.model import AgentStatus, TicketStatus
from chalicelib.edges import metrics
from tests.conftest import PUBLIC_URL
from tests.contract.providers import TELNYX_PUBLIC_KEY, VONAGE_SECRET, WIRES, path_of
from tests.functional.test_console import ADMIN, Stream, get, sign_in

QUEUES = str(Path(__file__).with_name("queues.json"))
T0 = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)  # Monday 10:00 in San Francisco
CALLER, SUPPORT = "+14158675309", "+18005550100"
WAITED, TALKED = 7, 110


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def c(settings, clock: FixedClock, serve):  # type: ignore[no-untyped-def]
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, admin_token=ADMIN,
                                        providers=("twilio", "telnyx", "vonage"), telnyx_public_key=TELNYX_PUBLIC_KEY,
                                        vonage_signature_secret=VONAGE_SECRET, metrics_enabled=True),
                                clock=clock, dialer=FakeDialer())
    serve(built)
    yield built
    metrics.configure(False)


class Leg:
    """What the provider posts about the bridge to the agent: the agent's leg events and the Dial's end."""

    def __init__(self, provider: str, markup: str) -> None:
        self.provider, self.wire = provider, WIRES[provider]
        self.result = next(u for kind, u in self.wire.next_urls(markup) if kind == "dial")
        if provider == "vonage":  # one eventUrl: the leg's events and the connect's end
            self.leg = self.result
        else:  # TwiML's noun asks for its leg's events (statusCallback)
            dial = next(el for el in ET.fromstring(markup).iter() if el.tag == "Dial")
            self.leg = dial[0].get("statusCallback") or ""

    def answered(self) -> tuple[str, dict[str, Any]]:
        if self.provider == "vonage":
            return self.result, {"uuid": "leg-ann", "status": "answered", "direction": "outbound"}
        return self.leg, {**self.wire.recorded("incoming"), "CallSid": "leg-ann", "CallStatus": "in-progress",
                          "CallbackSource": "call-progress-events", "To": "client:ann"}

    def ended(self, call: str, talked: int) -> tuple[str, dict[str, Any]]:
        if self.provider == "vonage":
            return self.result, {"uuid": "leg-ann", "status": "completed", "duration": str(talked)}
        return self.result, {**self.wire.event("incoming", call=call, caller=CALLER, called=SUPPORT),
                             "CallStatus": "in-progress", "DialCallStatus": "completed",
                             "DialCallDuration": str(talked), "DialCallSid": "leg-ann"}


def post(client: Client, provider: str, url: str, fields: dict[str, Any], clock: FixedClock) -> str:
    parts = urlsplit(url)
    full = PUBLIC_URL + path_of(url) if not url.startswith(PUBLIC_URL) else url
    body, headers = WIRES[provider].request(full, fields, clock.now())
    reply = client.http.post(path_of(url) if parts.scheme else url, headers=headers, body=body)
    assert reply.status_code == 200, reply.body
    return reply.body.decode()


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_the_wait_ends_when_the_agent_answers(c, clock: FixedClock, settings, provider: str,  # type: ignore[no-untyped-def]
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stream = Stream(settings.table_name)
    wire = WIRES[provider]
    c.dispatcher.agent_event("zed", AgentStatus.BUSY, contact="client:zed", queues=("support",))  # an estimate
    with Client(app, stage_name="local") as client:
        _, headers = sign_in(client)
        call = f"{provider}-call-1"
        post(client, provider, f"/voice/{provider}/incoming", wire.event("incoming", call=call, caller=CALLER,
                                                                        called=SUPPORT), clock)
        clock.advance(5)  # 10:00:05 an agent is free: the caller is put through (the agent's phone rings)
        c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
        [(redirected, script)] = c.dispatcher.dialer.redirects
        leg = Leg(provider, c.webhooks.providers[provider].render(script, PUBLIC_URL))
        stream.drain()
        monitor = get(client, "monitor", headers, "?queue=support")
        # out of the line, being put through: still waiting for someone to talk to (the wait counts on)
        assert monitor["waiting"] == []
        assert [(o["ticket"], o["state"], o["waited_seconds"], o["talked_seconds"]) for o in monitor["on_calls"]] == [
            ("support-1", "connecting", 5, None)]

        clock.advance(WAITED - 5)  # 10:00:07 the agent answers: connected
        post(client, provider, *leg.answered(), clock)
        stream.drain()
        clock.advance(60)  # 10:01:07, mid-conversation: talking, no longer waiting, the wait stopped at 7 s
        monitor = get(client, "monitor", headers, "?queue=support")
        assert monitor["waiting"] == []
        assert [(o["ticket"], o["state"], o["waited_seconds"], o["talked_seconds"], o["agent"])
                for o in monitor["on_calls"]] == [("support-1", "talking", WAITED, 60, "ann")]
        assert [(a["id"], a["state"], a["seconds_in_state"]) for a in monitor["agents"] if a["id"] == "ann"] == [
            ("ann", "talking", 60)]
        assert monitor["today"]["answered_live"] == 1 and monitor["today"]["asa_seconds"] == WAITED

        clock.advance(TALKED - 60)  # 10:01:57 the bridge ends after 110 s of talk
        post(client, provider, *leg.ended(call, TALKED), clock)
        stream.drain()
        ticket = c.stores.tickets.get("support-1")
        assert ticket.status is TicketStatus.SERVED and ticket.answered_at == T0.replace(second=WAITED)

        monitor = get(client, "monitor", headers, "?queue=support")
        assert monitor["on_calls"] == [] and monitor["today"]["service_level"] == 1.0
        report = get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")["total"]
        assert (report["answered_live"], report["asa_seconds"], report["service_level"]) == (1, WAITED, 1.0)
        rows = list(csv.DictReader(io.StringIO(get(client, "report.csv", headers,
                                                    "?queue=support&from=2025-11-17&to=2025-11-17"))))
        assert (rows[-1]["period"], rows[-1]["asa_seconds"], rows[-1]["service_level"]) == ("total", "7.0", "1.0")

    emitted: dict[str, list[float]] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"') and json.loads(line).get("Queue") == "support":
            blob = json.loads(line)
            for d in blob["_aws"]["CloudWatchMetrics"]:
                for m in d["Metrics"]:  # one value, or a list of them, per metric in a blob
                    value = blob[m["Name"]]
                    emitted.setdefault(m["Name"], []).extend(value if isinstance(value, list) else [value])
    assert emitted["AnsweredLive"] == [1] and emitted["AnswerWaitSeconds"] == [WAITED]
    assert emitted["AnsweredWithinTarget"] == [1]
