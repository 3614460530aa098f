"""Faults injected into the services the workflow's own Tasks call, while moto runs the real ASL.

moto's interpreter calls DynamoDB and SQS in-process, so a fault is injected by making the moto backend
refuse one request of one Task (told apart by what it writes) once; Step Functions names the error the
way AWS does (`DynamoDb.ProvisionedThroughputExceededException`, `SQS.SdkClientException`) and the
state's Retry must carry the execution through. Every case checks that the fault really happened."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend

from chalicelib.domain.model import TicketStatus
from tests.helpers import workflow_notices
from tests.integration.test_workflow_moto import World, world  # noqa: F401 - the shared fixture

PARK = "task_token = :token"  # only the Park state writes this
GIVE_UP = "lost_cause = if_not_exists"  # only the GiveUp state writes this


class Faults:
    """Refuse the first `times` matching requests; count them."""

    def __init__(self) -> None:
        self.injected: dict[str, int] = {}

    def dynamodb(self, monkeypatch: pytest.MonkeyPatch, marker: str, times: int = 1,
                 error: str = "ProvisionedThroughputExceededException") -> None:
        original = DynamoDBBackend.update_item

        def update_item(backend: Any, table_name: str, key: Any, update_expression: str, *a: Any, **kw: Any) -> Any:
            if marker in (update_expression or "") and self.injected.get(marker, 0) < times:
                self.injected[marker] = self.injected.get(marker, 0) + 1
                raise JsonRESTError(f"com.amazonaws.dynamodb.v20120810#{error}", "injected")
            return original(backend, table_name, key, update_expression, *a, **kw)

        monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)

    def sqs(self, monkeypatch: pytest.MonkeyPatch, wanted: Callable[[str], bool], name: str, times: int = 1) -> None:
        original = SQSBackend.send_message

        def send_message(backend: Any, queue_name: str, message_body: str, *a: Any, **kw: Any) -> Any:
            if wanted(message_body) and self.injected.get(name, 0) < times:
                self.injected[name] = self.injected.get(name, 0) + 1
                raise SQSException("RequestThrottled", "Request is throttled.")
            return original(backend, queue_name, message_body, *a, **kw)

        monkeypatch.setattr(SQSBackend, "send_message", send_message)


@pytest.fixture
def faults() -> Iterator[Faults]:
    yield Faults()


def failed_task_errors(world: World, ticket_id: str) -> list[str]:
    arn = world.ticket(ticket_id).execution_id
    events = world.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def serve(world: World, ticket_id: str) -> None:
    world.pump_until(lambda: world.parked(ticket_id))
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    world.answer(ticket_id, "completed")
    world.pump_until(lambda: world.finished(ticket_id))


def test_a_throttled_park_is_retried_and_the_callback_is_served(world: World, faults: Faults,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    faults.dynamodb(monkeypatch, PARK)
    ticket_id = world.book("CA1")
    serve(world, ticket_id)
    assert faults.injected[PARK] == 1
    assert "DynamoDb.ProvisionedThroughputExceededException" in failed_task_errors(world, ticket_id)
    assert world.execution(ticket_id)["status"] == "SUCCEEDED"
    assert world.ticket(ticket_id).status is TicketStatus.SERVED and len(world.dialer.calls) == 1


def test_a_refused_dial_message_is_retried_and_dialed_once(world: World, faults: Faults,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    faults.sqs(monkeypatch, lambda body: '"token"' in body, "dial")
    ticket_id = world.book("CA1")
    serve(world, ticket_id)
    assert faults.injected["dial"] == 1
    assert "SQS.SdkClientException" in failed_task_errors(world, ticket_id)
    assert world.execution(ticket_id)["status"] == "SUCCEEDED" and len(world.dialer.calls) == 1


def test_park_and_give_up_each_throttled_once_still_end_lost_and_told(world: World, faults: Faults,  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    faults.dynamodb(monkeypatch, PARK)
    faults.dynamodb(monkeypatch, GIVE_UP)
    ticket_id = world.book("CA1", called="+18005550101")  # 'brief': parks for 2 s, then gives up
    world.pump_until(lambda: world.finished(ticket_id), timeout=30)
    assert faults.injected == {PARK: 1, GIVE_UP: 1}
    execution = world.execution(ticket_id)
    assert execution["status"] == "FAILED" and execution["error"] == "Holdfast.CallbackLost"
    ticket = world.ticket(ticket_id)
    assert ticket.status is TicketStatus.LOST and ticket.lost_cause == "callback_failed"
    assert not ticket.task_token
    assert [t.id for t in world.c.stores.lost.lost_calls("brief").items] == [ticket_id]
    assert world.c.stores.line.head("brief") is None  # out of line, not stranded in it


def test_a_give_up_the_store_keeps_refusing_still_tells_a_person(world: World, faults: Faults,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure Retry does not cover (here one that is not retried at all; a throttle that outlasts about
    half an hour of retries takes the same Catch): the ticket cannot be closed, but someone is told."""
    faults.dynamodb(monkeypatch, GIVE_UP, times=100, error="ResourceNotFoundException")
    ticket_id = world.book("CA1", called="+18005550101")
    world.pump_until(lambda: world.finished(ticket_id), timeout=30)
    assert faults.injected[GIVE_UP] == 1  # not retried: not a throttling or service error
    execution = world.execution(ticket_id)
    assert execution["status"] == "FAILED" and execution["error"] == "Holdfast.CallbackLost"
    assert workflow_notices(world.resources.notify_queue_url) == [{"event": "callback_lost", "ticket_id": ticket_id}]


def test_a_refused_notification_is_retried(world: World, faults: Faults,  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    faults.sqs(monkeypatch, lambda body: "callback_lost" in body, "notify")
    ticket_id = world.book("CA1", called="+18005550101")
    world.pump_until(lambda: world.finished(ticket_id), timeout=30)
    assert faults.injected["notify"] == 1
    assert world.ticket(ticket_id).status is TicketStatus.LOST
    assert workflow_notices(world.resources.notify_queue_url) == [{"event": "callback_lost", "ticket_id": ticket_id}]


def test_every_task_retries_service_errors_with_backoff_and_jitter() -> None:
    from devstack.resources import INFRA

    states = json.loads((INFRA / "callback.asl.json").read_text())["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert set(tasks) == {"ParkInPlace", "ParkBack", "Dial", "GiveUp", "GiveUpInLine", "Notify"}
    for name, state in tasks.items():
        [retrier] = state["Retry"]
        assert retrier["MaxAttempts"] >= 3 and retrier["BackoffRate"] > 1, name
        assert retrier["JitterStrategy"] == "FULL", name
        assert "States.Timeout" not in retrier["ErrorEquals"] and "States.ALL" not in retrier["ErrorEquals"], name
        assert not any("ConditionalCheckFailed" in e for e in retrier["ErrorEquals"]), name
