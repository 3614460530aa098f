"""Starts the local stack (`python -m devstack`, what `make run` runs) and drives it over HTTP like Twilio."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests

from devstack.stack import LOCAL_AUTH_TOKEN
from tests.e2e.devstack_process import devstack, stack_output
from tests.helpers import event, signed

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, port: int, moto_port: int, day: bool, proc: subprocess.Popen | None = None) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"
        self.moto = f"http://127.0.0.1:{moto_port}"
        self.day = day  # the stack's clock is inside CALLER's calling window

    def post(self, step: str, params: dict[str, str], query: str = "") -> requests.Response:
        url = f"{self.base}/voice/twilio/{step}{query}"
        body, headers = signed(LOCAL_AUTH_TOKEN, url, params)
        return requests.post(url, data=body, headers=headers, timeout=10)

    def output(self) -> str:
        """The tail of what the stack printed, to explain a failure."""
        return stack_output(self.proc) if self.proc is not None else ""

    def client(self, service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, endpoint_url=self.moto, region_name="us-east-1")


# The stack's own clock, at two times of day for a San Francisco caller (calling window 08:00-21:00):
# every time-dependent branch runs on every run, whatever the hour the tests start.
CLOCKS = {"caller's day": "2026-11-24T18:00:00Z",    # 10:00 in San Francisco
          "caller's night": "2026-11-24T10:00:00Z"}  # 02:00 in San Francisco
CALLER = "+14158675309"


@pytest.fixture(scope="module", params=sorted(CLOCKS))
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    port, moto_port = free_port(), free_port()
    with devstack(port, moto_port, "--network-port", str(free_port()), "--clock", CLOCKS[request.param]) as proc:
        yield Stack(port, moto_port, request.param == "caller's day", proc)


def ticket(stack: Stack, number: int, queue: str = "support") -> dict:
    item = stack.client("dynamodb").get_item(
        TableName="holdfast", Key={"pk": {"S": f"QUEUE#{queue}"}, "sk": {"S": f"TICKET#{number:012d}"}},
        ConsistentRead=True)
    return {k: list(v.values())[0] for k, v in item.get("Item", {}).items()}


def test_a_caller_books_a_callback_and_keeps_their_place(stack: Stack) -> None:
    from chalicelib.domain.phone import national_format
    from chalicelib.domain.prompts import spoken_digits

    sid, caller = "CA" + "e2e1".rjust(32, "0"), CALLER
    reply = stack.post("incoming", event("incoming", CallSid=sid, From=caller))
    assert reply.status_code == 200 and "<Gather" in reply.text and "press 1" in reply.text
    number = int(reply.text.split("offer?t=support-")[1].split('"')[0])

    reply = stack.post("offer", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    assert spoken_digits(national_format(caller)) in reply.text
    reply = stack.post("confirm", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    assert reply.status_code == 200 and "<Hangup" in reply.text and "keep your place" in reply.text

    if stack.day:  # durable before the caller heard it, and the real workflow parked it at once
        deadline = time.monotonic() + 15
        while not ticket(stack, number).get("task_token") and time.monotonic() < deadline:
            time.sleep(0.2)
        item = ticket(stack, number)
        assert (item["kind"], item["status"], item["callback_number"]) == ("CALLBACK", "WAITING", caller)
        assert item["task_token"]
    else:  # 02:00 where they are: booked for their calling window, and told when
        item = ticket(stack, number)
        assert (item["kind"], item["status"], item["callback_number"]) == ("CALLBACK", "SCHEDULED", caller)
        assert item["not_before"].startswith("2026-11-24T16:00:00")  # 08:00 in San Francisco
        assert "8 AM" in reply.text  # the caller's time, as English speaks it
    sfn = stack.client("stepfunctions")
    [machine] = sfn.list_state_machines()["stateMachines"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]]
    assert f"support-{number}-1" in names

    # a later caller counts the parked callback ahead of them at once: the line's counts move with the
    # line (issue 20), whatever the table's stream has caught up with
    later = event("incoming", CallSid="CA" + "e2e2".rjust(32, "0"), From="+14155550199")
    reply = stack.post("incoming", later)
    # by day the parked callback stands ahead of them; by night it is scheduled for the caller's
    # morning and stands in no line yet, so the later caller is first
    place = 2 if stack.day else 1
    assert f"You are number {place} in line" in reply.text, reply.text
    stack.post("incoming", {**later, "CallStatus": "completed"})  # and hangs up at once (a short abandon)


def test_a_caller_who_hangs_up_is_abandoned(stack: Stack) -> None:
    sid = "CA" + "e2e3".rjust(32, "0")
    reply = stack.post("incoming", event("incoming", CallSid=sid, From="+14155550188"))
    number = int(reply.text.split("t=support-")[1].split('"')[0])
    assert stack.post("incoming", event("status_completed", CallSid=sid, From="+14155550188")).status_code == 200
    assert ticket(stack, number)["lost_cause"] == "abandoned"

    from devstack.stack import LOCAL_ADMIN_TOKEN
    listed = requests.get(f"{stack.base}/admin/lost-calls?queue=support", timeout=10,
                          headers={"Authorization": f"Bearer {LOCAL_ADMIN_TOKEN}"}).json()
    assert f"support-{number}" in [c["ticket"] for c in listed["lost_calls"]]


def test_forged_requests_are_refused_over_http(stack: Stack) -> None:
    url = f"{stack.base}/voice/twilio/incoming"
    reply = requests.post(url, data=event("incoming"), headers={"X-Twilio-Signature": "nope"}, timeout=10)
    assert reply.status_code == 403


def test_agent_api_over_http_resumes_the_parked_callback_and_the_local_worker_dials(stack: Stack) -> None:
    """In its own queue (no other test's callback ahead of it). The local stack runs the SQS dial worker
    and the stream consumer. By day the callback is parked and the agent comes on: the worker dials the
    agent first, who is not on the simulated network ('agent-missed': not the caller's attempt, the agent
    is taken offline), and the callback keeps its ticket number. By night (02:00 for the caller) the
    callback waits for 08:00 their time and the agent is not given it."""
    from devstack.stack import LOCAL_AGENT_TOKEN

    caller, sid, queue = "+14155550142", "CA" + "e2e4".rjust(32, "0"), "?queue=sales"
    reply = stack.post("incoming", event("incoming", CallSid=sid, From=caller, To="+18005550101"), queue)
    number = int(reply.text.split("offer?t=sales-")[1].split('"')[0])
    stack.post("offer", event("gather_digits_1", CallSid=sid, From=caller), f"?t=sales-{number}")
    stack.post("confirm", event("gather_digits_1", CallSid=sid, From=caller), f"?t=sales-{number}")
    deadline = time.monotonic() + 15
    while stack.day and not ticket(stack, number, "sales").get("task_token") and time.monotonic() < deadline:
        time.sleep(0.2)

    def status(token: str) -> requests.Response:
        return requests.post(f"{stack.base}/agents/alice/status", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"status": "available", "contact": "client:alice", "queues": ["sales"]})

    assert status("wrong").status_code == 401
    reply = status(LOCAL_AGENT_TOKEN)
    assert reply.status_code == 200, reply.text
    if not stack.day:
        assert reply.json()["dispatched"] is None, reply.text
        item = ticket(stack, number, "sales")
        assert item["status"] == "SCHEDULED" and item["not_before"].startswith("2026-11-24T16:00:00")
        return
    assert reply.json()["dispatched"] == f"sales-{number}", reply.text
    deadline = time.monotonic() + 20
    while ticket(stack, number, "sales").get("last_outcome") != "agent-missed" and time.monotonic() < deadline:
        time.sleep(0.2)
    item = ticket(stack, number, "sales")
    assert item["last_outcome"] == "agent-missed" and int(item["number"]) == number
    agent = stack.client("dynamodb").get_item(TableName="holdfast",
                                              Key={"pk": {"S": "AGENT#alice"}, "sk": {"S": "AGENT"}})["Item"]
    assert agent["status"]["S"] == "offline"
