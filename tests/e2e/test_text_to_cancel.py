"""The whole path of a chosen-time callback on the local stack, over HTTP: a caller presses 2, confirms
their number and takes the first time offered; the confirmation text reaches their phone on the
simulated network; its link opens their page on the stack and cancels. The ticket ends CANCELLED and
its slot is free again (the slot's count back to zero)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.e2e.devstack_process import devstack
from tests.e2e.test_local_stack import free_port
from tests.e2e.test_sim_network import Demo, until

pytestmark = pytest.mark.e2e
QUEUES = Path(__file__).resolve().parent / "texts_queues.json"
TUESDAY_1PM_NY = "2026-11-24T18:00:00Z"  # 10:00 for a caller in San Francisco: inside their calling window
CALLER = "+14158675309"


@pytest.fixture(scope="module", params=["twilio", "telnyx", "vonage"])
def demo(request: pytest.FixtureRequest) -> Iterator[Demo]:
    """Once per messaging API the network speaks (make run --provider ...)."""
    port, moto_port, network_port = free_port(), free_port(), free_port()
    with devstack(port, moto_port, "--network-port", str(network_port), "--pace", "0.05",
                  "--clock", TUESDAY_1PM_NY, "--provider", request.param, queues=QUEUES):
        yield Demo(port, moto_port, network_port, request.param)


def slot_count(demo: Demo, slot: str) -> int:
    import boto3

    item = boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1").get_item(
        TableName="holdfast", ConsistentRead=True, Key={"pk": {"S": f"SLOT#support#{slot}"}, "sk": {"S": "SLOT"}})
    return int(item.get("Item", {}).get("count", {}).get("N", 0))


def report_row(demo: Demo, half_hour: str) -> dict[str, int]:
    """The SMS counts of the queue's report row for the half hour the call came in."""
    import boto3

    item = boto3.client("dynamodb", endpoint_url=demo.moto, region_name="us-east-1").get_item(
        TableName="holdfast", ConsistentRead=True,
        Key={"pk": {"S": f"REPORT#support#{half_hour[:10]}"}, "sk": {"S": half_hour}}).get("Item", {})
    return {k: int(v["N"]) for k, v in item.items() if k.startswith("sms_")}


def test_press_2_choose_a_time_get_the_text_and_cancel_from_its_link(demo: Demo) -> None:
    sid = demo.sim("/sim/call", {"from": CALLER})["sid"]
    demo.sim(f"/sim/calls/{sid}/press", {"digits": "211"})  # 2: a time; 1: this number; 1: the first time
    call = until(lambda: next((c for c in demo.state()["calls"] if c["sid"] == sid and c["ended"]), None))
    said = " ".join(call["transcript"])
    assert "press 2" in said, said

    [pending] = until(lambda: [c for c in demo.state()["callbacks"] if c["callback_number"] == CALLER])
    assert pending["status"] == "SCHEDULED"
    number = int(pending["ticket"].rsplit("-", 1)[1])
    booked = until(lambda: (i := demo.item(number)).get("slot") and i)
    assert slot_count(demo, booked["slot"]) == 1

    [text] = until(lambda: [m for m in demo.state()["messages"] if m["to"] == CALLER])  # no reminders here
    assert "we will call you back by" in text["body"]
    assert text["provider"] == demo.provider and text["from"] == "+18005550199"
    assert "Holdfast support" in text["body"] and "STOP" in text["body"]
    assert text["link"].startswith(demo.base + "/c/")

    # the network's delivery reports (sent, then delivered) reach the stack, signed, and count once each
    until(lambda: report_row(demo, "2026-11-24T18:00") == {"sms_sent": 1, "sms_delivered": 1})

    page = requests.get(text["link"], timeout=15)
    assert page.status_code == 200 and "Cancel my callback" in page.text
    cancelled = requests.post(text["link"] + "/cancel", data="", timeout=15,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert cancelled.status_code == 200 and "Your callback is cancelled." in cancelled.text

    until(lambda: demo.item(number).get("status") == "CANCELLED")
    assert slot_count(demo, booked["slot"]) == 0  # free for the next caller
    until(lambda: not [c for c in demo.state()["callbacks"] if c["callback_number"] == CALLER])
