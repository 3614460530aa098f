"""`make run`'s demo, end to end over HTTP: the simulated phone network calls Holdfast like Twilio,
Holdfast calls back through the twilio library's REST shape, and a callback is recovered."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests

from tests.e2e.devstack_process import devstack
from tests.e2e.test_local_stack import CALLER, CLOCKS, free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Demo:
    def __init__(self, port: int, moto_port: int, network_port: int, provider: str = "twilio") -> None:
        self.provider = provider
        self.base = f"http://127.0.0.1:{port}"
        self.moto = f"http://127.0.0.1:{moto_port}"
        self.net = f"http://127.0.0.1:{network_port}"

    def sim(self, path: str, body: dict | None = None) -> dict:
        return requests.post(self.net + path, json=body or {}, timeout=15).json()

    def state(self) -> dict:
        return requests.get(self.net + "/sim/state", timeout=15).json()

    def item(self, number: int) -> dict:
        ddb = boto3.client("dynamodb", endpoint_url=self.moto, region_name="us-east-1")
        item = ddb.get_item(TableName="holdfast", ConsistentRead=True,
                            Key={"pk": {"S": "QUEUE#support"}, "sk": {"S": f"TICKET#{number:012d}"}})
        return {k: list(v.values())[0] for k, v in item.get("Item", {}).items()}


def until(check, timeout: float = 40.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module", params=["in order", "chaos", "telnyx", "vonage"])
def demo(request: pytest.FixtureRequest) -> Iterator[Demo]:
    """Four times: a well-behaved network, one that duplicates status callbacks and sends them early,
    and ones that speak Telnyx TeXML and Vonage NCCO (their signatures, REST shapes and sip: agents)."""
    port, moto_port, network_port = free_port(), free_port(), free_port()
    chaos = {"chaos": ["--chaos"], "telnyx": ["--provider", "telnyx"],
             "vonage": ["--provider", "vonage"]}.get(request.param, [])
    with devstack(port, moto_port, "--network-port", str(network_port), "--pace", "0.05",
                  "--clock", CLOCKS["caller's day"], *chaos):
        d = Demo(port, moto_port, network_port, request.param if request.param in ("telnyx", "vonage") else "twilio")
        until(lambda: _up(d), timeout=60)
        yield d


def _up(d: Demo) -> bool:
    try:
        return requests.get(d.base + "/health", timeout=10).ok and requests.get(d.net + "/", timeout=10).ok
    except (requests.ConnectionError, requests.Timeout):
        return False


def test_the_demo_page_is_served(demo: Demo) -> None:
    page = requests.get(demo.net + "/", timeout=5).text
    assert "Holdfast on a simulated phone network" in page and "/sim/state" in page


def test_the_demo_page_names_the_provider_the_network_behaves_like(demo: Demo) -> None:
    """In Chromium: the page says which provider's calls it makes (never Twilio's TwiML on Telnyx or Vonage)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS

    expected = {"twilio": ("a Twilio", "TwiML"), "telnyx": ("a Telnyx", "TeXML"), "vonage": ("a Vonage", "NCCO")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(demo.net + "/")
            who, markup = expected[demo.provider]
            page.wait_for_function("document.getElementById('provider').textContent.startsWith('a ')"
                                   " && document.getElementById('now').textContent !== ''")
            intro = page.locator("p.meta").first.inner_text()
            assert f"exactly as {who} call would" in intro and markup in intro, intro
            if demo.provider != "twilio":
                assert "Twilio" not in intro and "TwiML" not in intro, intro
        finally:
            browser.close()


def everyone_offline(demo: Demo) -> None:
    for agent in demo.state()["agents"]:
        demo.sim(f"/sim/agents/{agent['name']}", {"status": "offline"})


def test_press_1_then_an_agent_comes_on_and_the_callback_connects(demo: Demo) -> None:
    everyone_offline(demo)  # nobody free: the caller is offered a callback, and alice takes it
    caller = CALLER
    sid = demo.sim("/sim/call", {"from": caller})["sid"]
    demo.sim(f"/sim/calls/{sid}/press", {"digits": "11"})  # press 1 at the offer, 1 to confirm the number

    def booked() -> dict | None:
        call = next(c for c in demo.state()["calls"] if c["sid"] == sid)
        return call if call["ended"] else None

    call = until(booked)
    said = " ".join(call["transcript"])
    assert "press 1" in said and "We will call you back at" in said and "You keep your place" in said
    # the page lists it as a pending callback (no test order assumed: found by its number)
    [pending] = until(lambda: [c for c in demo.state()["callbacks"] if c["callback_number"] == caller])
    number = int(pending["ticket"].rsplit("-", 1)[1])
    item = until(lambda: (i := demo.item(number)).get("task_token") and i)
    assert (item["kind"], item["status"]) == ("CALLBACK", "WAITING")

    reply = demo.sim("/sim/agents/alice", {"status": "available", "handle_seconds": 40})
    assert reply["dispatched"] == f"support-{number}"
    until(lambda: demo.item(number).get("status") == "SERVED")
    calls = demo.state()["calls"]
    assert len([c for c in calls if c["direction"] == "outbound-api"]) == 1  # dialed once, whatever the order
    agent_leg = next(c for c in calls if c["direction"] == "outbound-api"
                     and c["to"] in ("client:alice", "sip:alice@agents.sim"))  # Twilio / Telnyx
    assert any("Callback for Holdfast support, ticket 1" in t for t in agent_leg["transcript"])
    assert any(f"(connected to {caller})" in t for t in agent_leg["transcript"])
    sfn = boto3.client("stepfunctions", endpoint_url=demo.moto, region_name="us-east-1")
    [machine] = sfn.list_state_machines()["stateMachines"]
    until(lambda: sfn.describe_execution(executionArn=machine["stateMachineArn"].replace(
        ":stateMachine:", ":execution:") + f":support-{number}-1")["status"] == "SUCCEEDED")
    # the agent is free again once the call is over
    until(lambda: boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1").get_item(
        TableName="holdfast", Key={"pk": {"S": "AGENT#alice"}, "sk": {"S": "AGENT"}})["Item"]["status"]["S"]
        == "available")


def test_a_holding_caller_is_bridged_to_a_free_agent(demo: Demo) -> None:
    everyone_offline(demo)  # its own agent, whatever other tests left signed in
    demo.sim("/sim/agents/dave", {"status": "available", "handle_seconds": 20})
    sid = demo.sim("/sim/call", {"from": "+14155550123"})["sid"]
    until(lambda: next(c for c in demo.state()["calls"] if c["sid"] == sid)["queue"] == "support" or
          next(c for c in demo.state()["calls"] if c["sid"] == sid)["ended"])
    call = until(lambda: (c := next(c for c in demo.state()["calls"] if c["sid"] == sid))["ended"] and c)
    assert "Connecting you to an agent now." in call["transcript"]
    assert "(connected to dave)" in call["transcript"], call["transcript"]
    if demo.provider != "vonage":  # the agent's leg reported ringing, then answered (TwiML status callbacks)
        ddb = boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1")
        [ticket] = [i for i in ddb.scan(TableName="holdfast")["Items"] if i.get("call_id", {}).get("S") == sid]
        assert ticket["leg"]["S"] == "talking" and ticket["leg_at"]["S"].startswith("2026-"), ticket


def test_the_page_shows_agents_pending_callbacks_and_calls_in_order(demo: Demo) -> None:
    """Agents with status and since when ('offline' too); a callback promised for later with when and
    why; the customer's phone ringing on a callback; calls in the order they began; a caller offered
    who can be called back now."""
    state = demo.state()
    assert state["now"].startswith("2026-11-24T18:0")  # the stack's clock (it runs on from 18:00)
    assert state["callers"][0]["callback_now"]

    demo.sim("/sim/agents/carol", {"status": "available"})
    demo.sim("/sim/agents/carol", {"status": "offline"})
    carol = next(a for a in demo.state()["agents"] if a["name"] == "carol")
    assert carol["status"] == "offline" and carol["since"].startswith("2026-11-24T18:")

    everyone_offline(demo)  # nobody free: the caller is offered a callback
    tokyo = "+81312345679"  # 03:00 in Tokyo on the stack's clock
    sid = demo.sim("/sim/call", {"from": tokyo})["sid"]
    demo.sim(f"/sim/calls/{sid}/press", {"digits": "11"})
    until(lambda: next(c for c in demo.state()["calls"] if c["sid"] == sid)["ended"])
    transcript = next(c for c in demo.state()["calls"] if c["sid"] == sid)["transcript"]
    found = [c for c in demo.state()["callbacks"] if c["callback_number"] == tokyo]
    assert len(found) == 1, transcript
    [pending] = found
    assert pending["status"] == "SCHEDULED" and pending["at"] == "2026-11-24T23:00:00Z"  # 08:00 in Tokyo
    assert "08:00 their time" in pending["when"] and "we call between 08:00 and 21:00" in pending["when"]

    calls = demo.state()["calls"]
    sids = [c["sid"] for c in calls]
    # calls in the order they began: only callbacks the workflow placed since can follow the Tokyo call
    assert not [c for c in calls[sids.index(sid) + 1:] if not c["callback"]]
    callbacks = [c for c in calls if c["callback"]]
    assert all("(ringing: Holdfast is calling you back)" in c["transcript"] for c in callbacks)


def test_a_voicemail_answering_a_customer_first_callback_is_hung_up_never_put_through(demo: Demo) -> None:
    """Each provider's answering-machine detection as it delivers the verdict: Twilio's on the answer fetch,
    Telnyx's on the status callback of the answered event (which the call must ask for), Vonage's as an
    event while the answer's NCCO (greeting, then the agent) already runs. Whichever: the attempt is a
    machine, to be retried, the call is ended at once, and the agent is never put through to it."""
    everyone_offline(demo)  # nobody free: the caller is offered a callback
    caller = "+14155550177"
    sid = demo.sim("/sim/call", {"from": caller, "to": "+18005550102", "voicemail": True})["sid"]
    demo.sim(f"/sim/calls/{sid}/press", {"digits": "11"})  # press 1 at the offer, 1 to confirm the number
    until(lambda: next(c for c in demo.state()["calls"] if c["sid"] == sid)["ended"])
    ddb = boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1")

    def ticket() -> dict:
        items = ddb.scan(TableName="holdfast")["Items"]
        [item] = [i for i in items if i.get("callback_number", {}).get("S") == caller]
        return {k: list(v.values())[0] for k, v in item.items()}

    until(lambda: ticket().get("task_token"))  # parked, waiting for an agent
    demo.sim("/sim/agents/vera", {"status": "available"})
    until(lambda: ticket().get("last_outcome") == "machine", timeout=60)
    calls = demo.state()["calls"]
    [callback] = [c for c in calls if c["direction"] == "outbound-api" and c["to"] == caller]
    until(lambda: next(c for c in demo.state()["calls"] if c["sid"] == callback["sid"])["ended"])
    vera = "client:vera" if demo.provider == "twilio" else "sip:vera@agents.sim"  # the network's agent contact
    assert not [c for c in demo.state()["calls"] if c["to"] == vera]
    # to be retried: the second attempt waits 300 s of the stack's clock (the queue's retry delays)
    assert (int(ticket()["attempts"]), ticket()["status"]) == (1, "SCHEDULED")
