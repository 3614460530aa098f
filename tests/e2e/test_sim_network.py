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
    def __init__(self, port: int, moto_port: int, network_port: int) -> None:
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


@pytest.fixture(scope="module", params=["in order", "chaos"])
def demo(request: pytest.FixtureRequest) -> Iterator[Demo]:
    """Twice: a well-behaved network, and one that duplicates status callbacks and sends them early."""
    port, moto_port, network_port = free_port(), free_port(), free_port()
    chaos = ["--chaos"] if request.param == "chaos" else []
    with devstack(port, moto_port, "--network-port", str(network_port), "--pace", "0.05",
                  "--clock", CLOCKS["caller's day"], *chaos):
        d = Demo(port, moto_port, network_port)
        until(lambda: _up(d), timeout=60)
        yield d


def _up(d: Demo) -> bool:
    try:
        return requests.get(d.base + "/health", timeout=1).ok and requests.get(d.net + "/", timeout=1).ok
    except requests.ConnectionError:
        return False


def test_the_demo_page_is_served(demo: Demo) -> None:
    page = requests.get(demo.net + "/", timeout=5).text
    assert "Holdfast on a simulated phone network" in page and "/sim/state" in page


def test_press_1_then_an_agent_comes_on_and_the_callback_connects(demo: Demo) -> None:
    caller = CALLER
    sid = demo.sim("/sim/call", {"from": caller})["sid"]
    demo.sim(f"/sim/calls/{sid}/press", {"digits": "11"})  # press 1 at the offer, 1 to confirm the number

    def booked() -> dict | None:
        call = next(c for c in demo.state()["calls"] if c["sid"] == sid)
        return call if call["ended"] else None

    call = until(booked)
    said = " ".join(call["transcript"])
    assert "press 1" in said and "We will call you back at" in said and "You keep your place" in said
    item = until(lambda: (i := demo.item(1)).get("task_token") and i)
    assert (item["kind"], item["status"]) == ("CALLBACK", "WAITING")

    reply = demo.sim("/sim/agents/alice", {"status": "available", "handle_seconds": 40})
    assert reply["dispatched"] == "support-1"
    until(lambda: demo.item(1).get("status") == "SERVED")
    calls = demo.state()["calls"]
    assert len([c for c in calls if c["direction"] == "outbound-api"]) == 1  # dialed once, whatever the order
    agent_leg = next(c for c in calls if c["direction"] == "outbound-api" and c["to"] == "client:alice")
    assert any("Callback for Holdfast support, ticket 1" in t for t in agent_leg["transcript"])
    assert any(f"(connected to {caller})" in t for t in agent_leg["transcript"])
    sfn = boto3.client("stepfunctions", endpoint_url=demo.moto, region_name="us-east-1")
    [machine] = sfn.list_state_machines()["stateMachines"]
    until(lambda: sfn.describe_execution(executionArn=machine["stateMachineArn"].replace(
        ":stateMachine:", ":execution:") + ":support-1-1")["status"] == "SUCCEEDED")
    # the agent is free again once the call is over
    until(lambda: boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1").get_item(
        TableName="holdfast", Key={"pk": {"S": "AGENT#alice"}, "sk": {"S": "AGENT"}})["Item"]["status"]["S"]
        == "available")


def test_a_holding_caller_is_bridged_to_a_free_agent(demo: Demo) -> None:
    sid = demo.sim("/sim/call", {"from": "+14155550123"})["sid"]
    until(lambda: next(c for c in demo.state()["calls"] if c["sid"] == sid)["queue"] == "support" or
          next(c for c in demo.state()["calls"] if c["sid"] == sid)["ended"])
    call = until(lambda: (c := next(c for c in demo.state()["calls"] if c["sid"] == sid))["ended"] and c)
    assert "Connecting you to an agent now." in call["transcript"]
    assert "(connected to alice)" in call["transcript"], call["transcript"]
