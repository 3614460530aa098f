"""Starts the local stack (`python -m devstack`, what `make run` runs) and drives it over HTTP like Twilio."""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests

from devstack.stack import LOCAL_AUTH_TOKEN
from tests.e2e.devstack_process import devstack
from tests.helpers import event, signed

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, port: int, moto_port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.moto = f"http://127.0.0.1:{moto_port}"

    def post(self, step: str, params: dict[str, str], query: str = "") -> requests.Response:
        url = f"{self.base}/voice/twilio/{step}{query}"
        body, headers = signed(LOCAL_AUTH_TOKEN, url, params)
        return requests.post(url, data=body, headers=headers, timeout=10)

    def client(self, service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, endpoint_url=self.moto, region_name="us-east-1")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    port, moto_port = free_port(), free_port()
    with devstack(port, moto_port, "--network-port", str(free_port())):
        yield Stack(port, moto_port)


def callable_now() -> str:
    """A caller the dial worker may call right now (08:00-21:00 their time): the tests run on the real
    clock, and one of these four time zones is always inside its window."""
    from datetime import datetime, timezone

    from chalicelib.domain.phone import in_calling_window

    now = datetime.now(timezone.utc)
    return next(n for n in ("+14158675309", "+442079460000", "+380441234567", "+81312345678")
                if in_calling_window(n, now, "UTC"))


def ticket(stack: Stack, number: int) -> dict:
    item = stack.client("dynamodb").get_item(
        TableName="holdfast", Key={"pk": {"S": "QUEUE#support"}, "sk": {"S": f"TICKET#{number:012d}"}},
        ConsistentRead=True)
    return {k: list(v.values())[0] for k, v in item.get("Item", {}).items()}


def test_a_caller_books_a_callback_and_keeps_their_place(stack: Stack) -> None:
    from chalicelib.domain.phone import national_format
    from chalicelib.domain.prompts import spoken_digits

    sid, caller = "CA" + "e2e1".rjust(32, "0"), callable_now()
    reply = stack.post("incoming", event("incoming", CallSid=sid, From=caller))
    assert reply.status_code == 200 and "<Gather" in reply.text and "press 1" in reply.text
    number = int(reply.text.split("offer?t=support-")[1].split('"')[0])

    reply = stack.post("offer", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    assert spoken_digits(national_format(caller)) in reply.text
    reply = stack.post("confirm", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    assert reply.status_code == 200 and "<Hangup" in reply.text and "keep your place" in reply.text

    # durable before the caller heard it, and the real workflow parked it in moto's Step Functions
    deadline = time.monotonic() + 15
    while not ticket(stack, number).get("task_token") and time.monotonic() < deadline:
        time.sleep(0.2)
    item = ticket(stack, number)
    assert (item["kind"], item["status"], item["callback_number"]) == ("CALLBACK", "WAITING", caller)
    assert item["task_token"]
    sfn = stack.client("stepfunctions")
    [machine] = sfn.list_state_machines()["stateMachines"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]]
    assert f"support-{number}-1" in names

    # a later caller counts the parked callback ahead of them
    later = event("incoming", CallSid="CA" + "e2e2".rjust(32, "0"), From="+14155550199")
    reply = stack.post("incoming", later)
    assert "You are number 2 in line" in reply.text
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
    """The local stack runs the SQS dial worker and the stream consumer. The worker checks the callee's
    calling window against the real clock: outside it, nothing is dialed ('not-now', agent free again);
    inside it, with no provider account the dial cannot be placed ('agent-missed': not the caller's
    attempt, the agent is taken offline). Either way the callback keeps its ticket number."""
    from datetime import datetime, timezone

    from chalicelib.domain.phone import in_calling_window
    from devstack.stack import LOCAL_AGENT_TOKEN

    caller = "+14155550142"
    sid = "CA" + "e2e4".rjust(32, "0")
    reply = stack.post("incoming", event("incoming", CallSid=sid, From=caller))
    number = int(reply.text.split("offer?t=support-")[1].split('"')[0])
    stack.post("offer", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    stack.post("confirm", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    deadline = time.monotonic() + 15
    while not ticket(stack, number).get("task_token") and time.monotonic() < deadline:
        time.sleep(0.2)

    def status(token: str) -> requests.Response:
        return requests.post(f"{stack.base}/agents/alice/status", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"status": "available", "contact": "client:alice", "queues": ["support"]})

    assert status("wrong").status_code == 401
    reply = status(LOCAL_AGENT_TOKEN)
    assert reply.status_code == 200, reply.text
    # the head of the line: an earlier test's callback, if one is still parked ahead of this one
    assert reply.json()["dispatched"], reply.text
    number = int(reply.json()["dispatched"].rsplit("-", 1)[1])
    # the window of the number being called (an earlier test's callback may be the head, another number)
    dialing_allowed = in_calling_window(ticket(stack, number)["callback_number"], datetime.now(timezone.utc), "UTC")
    expected, agent_after = ("agent-missed", "offline") if dialing_allowed else ("not-now", "available")
    deadline = time.monotonic() + 20
    while ticket(stack, number).get("last_outcome") != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    item = ticket(stack, number)
    assert item["last_outcome"] == expected and int(item["number"]) == number
    agent = stack.client("dynamodb").get_item(TableName="holdfast",
                                              Key={"pk": {"S": "AGENT#alice"}, "sk": {"S": "AGENT"}})["Item"]
    assert agent["status"]["S"] in (agent_after, "busy")  # 'busy' if it already took the re-parked ticket
