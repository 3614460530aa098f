"""The console's DynamoDB adapter on moto, and the local stream staying alive through failed
transactions (a duplicate fact is one: its marker's condition fails)."""
from __future__ import annotations

from datetime import datetime, timezone

import boto3

from chalicelib.adapters.dynamo.operations import DynamoOperationsLog
from devstack.pollers import StreamPoller

T = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


def test_facts_are_recorded_once_and_rows_are_read_by_day(aws) -> None:  # type: ignore[no-untyped-def]
    log = DynamoOperationsLog(aws.table_name, "us-east-1")
    assert log.record("support-1#offered", "support", "2025-11-17T18:00", {"offered": 1, "answered_wait": 12.5})
    assert not log.record("support-1#offered", "support", "2025-11-17T18:00", {"offered": 1, "answered_wait": 12.5})
    assert log.record("support-2#offered", "support", "2025-11-17T23:30", {"offered": 1})
    assert log.record("support-3#offered", "support", "2025-11-18T00:00", {"offered": 1})
    rows = log.rows("support", T, datetime(2025, 11, 18, 0, 0, tzinfo=timezone.utc))
    assert rows == {"2025-11-17T18:00": {"offered": 1.0, "answered_wait": 12.5}, "2025-11-17T23:30": {"offered": 1.0}}
    assert list(log.rows("support", T, datetime(2025, 11, 19, tzinfo=timezone.utc))) == [
        "2025-11-17T18:00", "2025-11-17T23:30", "2025-11-18T00:00"]


def test_the_local_stream_outlives_a_failed_transaction(aws) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    poller = StreamPoller(aws.table_name, lambda new, old: seen.append((new or old)["pk"]["S"]))
    log = DynamoOperationsLog(aws.table_name, "us-east-1")
    log.record("support-1#offered", "support", "2025-11-17T18:00", {"offered": 1})
    poller.poll_once()
    assert not log.record("support-1#offered", "support", "2025-11-17T18:00", {"offered": 1})  # cancelled
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=aws.table_name, Item={"pk": {"S": "AFTER"}, "sk": {"S": "X"}})
    poller.poll_once()
    assert seen[-1] == "AFTER"


def test_a_record_whose_handler_fails_is_handed_again_in_order_then_skipped(aws) -> None:  # type: ignore[no-untyped-def]
    """As a Lambda's stream mapping: the shard waits behind a failing record (its batch is retried), so
    nothing is lost to a passing failure and nothing overtakes it; a record that always fails is skipped
    after MAX_ATTEMPTS."""
    seen: list[str] = []
    failing = {"FLAKY": 2, "POISON": 10 ** 6}  # failures each key has left

    def handle(new, old) -> None:  # type: ignore[no-untyped-def]
        key = (new or old)["pk"]["S"]
        if failing.get(key, 0) > 0:
            failing[key] -= 1
            raise RuntimeError(f"{key} failed")
        seen.append(key)

    poller = StreamPoller(aws.table_name, handle)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for key in ("FLAKY", "NEXT"):
        ddb.put_item(TableName=aws.table_name, Item={"pk": {"S": key}, "sk": {"S": "X"}})
    assert poller.poll_once() == 0 and seen == []  # FLAKY failed: NEXT waits behind it
    assert poller.poll_once() == 0 and seen == []
    assert poller.poll_once() == 2 and seen == ["FLAKY", "NEXT"]

    for key in ("POISON", "AFTER"):
        ddb.put_item(TableName=aws.table_name, Item={"pk": {"S": key}, "sk": {"S": "X"}})
    handed = [poller.poll_once() for _ in range(StreamPoller.MAX_ATTEMPTS)]
    assert handed == [0] * (StreamPoller.MAX_ATTEMPTS - 1) + [2]  # the last attempt gives up on it
    assert seen == ["FLAKY", "NEXT", "AFTER"] and failing["POISON"] == 10 ** 6 - StreamPoller.MAX_ATTEMPTS


def test_minute_rows_ride_along_and_alerts_are_noted_and_notified_once(aws) -> None:  # type: ignore[no-untyped-def]
    log = DynamoOperationsLog(aws.table_name, "us-east-1")
    assert log.record("support-1#offered", "support", "2025-11-17T18:00", {"offered": 1}, "2025-11-17T18:07")
    assert log.record("support-2#offered", "support", "2025-11-17T18:00", {"offered": 1}, "2025-11-17T18:07")
    assert not log.record("support-2#offered", "support", "2025-11-17T18:00", {"offered": 1}, "2025-11-17T18:07")
    assert log.record("support-3#offered", "support", "2025-11-17T23:30", {"offered": 1}, "2025-11-17T23:59")
    assert log.recent("support", T, datetime(2025, 11, 18, tzinfo=timezone.utc)) == {
        "2025-11-17T18:07": {"offered": 2.0}, "2025-11-17T23:59": {"offered": 1.0}}  # TTL attribute not a counter
    assert log.recent("support", datetime(2025, 11, 17, 18, 8, tzinfo=timezone.utc), T.replace(hour=23)) == {}
    assert log.rows("support", T, T.replace(hour=19)) == {"2025-11-17T18:00": {"offered": 2.0}}

    since = T.replace(minute=1)
    assert log.alert_begin("support", "waiting", since) and not log.alert_begin("support", "waiting", T)
    assert log.alerts("support")["waiting"].since == since
    later = T.replace(minute=3)
    assert log.alert_notified("support", "waiting", since, later)
    assert not log.alert_notified("support", "waiting", since, later)  # once per crossing
    assert log.alerts("support")["waiting"].notified_at == later
    log.alert_end("support", "waiting")
    assert log.alerts("support") == {} and not log.alert_notified("support", "waiting", since, later)
