"""`make run` keeps its state across restarts (issue 10): callbacks promised for later, parked
callbacks, opt-outs and agents survive a stop and start; open callbacks get their workflow again;
`--fresh` starts empty."""
from __future__ import annotations

import stat
import time
from pathlib import Path

import requests

from devstack.stack import LOCAL_ADMIN_TOKEN
from tests.e2e.devstack_process import devstack
from tests.e2e.test_local_stack import CLOCKS, Stack, free_port, ticket
from tests.helpers import event

SF, TOKYO = "+14158675309", "+81312345678"  # 10:00 and 03:00 on the stack's clock


def book(stack: Stack, caller: str, sid: str) -> int:
    reply = stack.post("incoming", event("incoming", CallSid=sid, From=caller))
    number = int(reply.text.split("offer?t=support-")[1].split('"')[0])
    stack.post("offer", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    stack.post("confirm", event("gather_digits_1", CallSid=sid, From=caller), f"?t=support-{number}")
    return number


def executions(stack: Stack) -> dict[str, str]:
    sfn = stack.client("stepfunctions")
    [machine] = sfn.list_state_machines()["stateMachines"]
    return {e["name"]: e["status"] for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]}


def until(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value


def start(state: Path, *extra: str):  # type: ignore[no-untyped-def]
    port, moto_port = free_port(), free_port()
    args = ("--network-port", str(free_port()), "--clock", CLOCKS["caller's day"], "--state-dir", str(state), *extra)
    return devstack(port, moto_port, *args), Stack(port, moto_port, day=True)


def test_state_survives_a_restart_and_open_callbacks_get_their_workflow_again(tmp_path: Path) -> None:
    state = tmp_path / ".holdfast"
    running, stack = start(state)
    with running:
        parked = book(stack, SF, "CA" + "5f1".rjust(32, "0"))
        later = book(stack, TOKYO, "CA" + "5f2".rjust(32, "0"))
        first_token = until(lambda: ticket(stack, parked).get("task_token"))
        assert ticket(stack, later)["status"] == "SCHEDULED"
        reply = requests.post(f"{stack.base}/admin/opt-outs", json={"number": "+14155550177"}, timeout=10,
                              headers={"Authorization": f"Bearer {LOCAL_ADMIN_TOKEN}"})
        assert reply.status_code == 200
    saved = state / "state.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    running, stack = start(state)
    with running:
        assert ticket(stack, later)["status"] == "SCHEDULED" and ticket(stack, later)["callback_number"] == TOKYO
        # the parked callback parks again at its own place, under its old execution name
        until(lambda: ticket(stack, parked).get("task_token") not in (None, first_token))
        names = executions(stack)
        assert names.get(f"support-{parked}-1") == "RUNNING" and names.get(f"support-{later}-1") == "RUNNING"
        item = stack.client("dynamodb").get_item(TableName="holdfast",
                                                 Key={"pk": {"S": "OPTOUT#+14155550177"}, "sk": {"S": "OPTOUT"}})
        assert "Item" in item
        # and a new caller still counts the restored callback ahead of them
        reply = stack.post("incoming", event("incoming", CallSid="CA" + "5f3".rjust(32, "0"), From="+14155550166"))
        assert f"support-{later + 1}" in reply.text

    running, stack = start(state, "--fresh")
    with running:
        assert ticket(stack, parked) == {} and executions(stack) == {}
