"""devstack/moto_sfn.py: a StopExecution right after StartExecution stops the execution, as in AWS. moto
begins each execution on a thread and builds its environment there; a stop that came first failed
inside moto ('NoneType' object has no attribute 'set_stop': a caller's cancel through the link right
after booking failed so, 2 runs in 6 under load). Here the thread is held back a moment on purpose,
so that the stop always comes first."""
from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

WAITING = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every execution's thread waits until `begun` is set, or 1 s."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    begun = threading.Event()
    logic = ExecutionWorker._execution_logic

    def held(self: ExecutionWorker) -> None:
        begun.wait(1.0)
        logic(self)

    monkeypatch.setattr(ExecutionWorker, "_execution_logic", held)
    return begun


def test_an_execution_stopped_before_its_thread_began_is_aborted(aws, slow_start) -> None:  # type: ignore[no-untyped-def]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(name="waits", definition=json.dumps(WAITING),
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    sfn.stop_execution(executionArn=arn)  # its thread has not begun: held by slow_start
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
