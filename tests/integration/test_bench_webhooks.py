"""bench/webhooks.py cannot rot: its measuring function drives every step through the app on moto at
two depths past the short line (where the place is counted exactly), and each step's DynamoDB calls come
out the same at both; its seeding leaves the table as the real stream consumer would have.
No timing is asserted: the figures themselves are the bench's to print."""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench.webhooks import CALL_TARGETS, QUEUE, STEPS, measure, report, seeded_world
from chalicelib.domain.model import JoinedLine
from chalicelib.ports import LineCounts
from devstack.atomic import lean_transactions
from chalicelib.domain.line import SHORT_LINE


def test_every_step_is_measured_and_its_calls_are_the_same_past_the_short_line() -> None:
    small, deeper = measure(SHORT_LINE + 10, lost=30, reps=1), measure(2 * SHORT_LINE + 10, lost=30, reps=1)
    for name in STEPS:
        assert small.steps[name].count > 0, name
        assert small.steps[name].calls == deeper.steps[name].calls, name
        assert small.steps[name].items_read == deeper.steps[name].items_read, name  # flat: no COUNT of the line
    assert small.steps["confirm press-1 (book)"].other == {"StartExecution": 1}  # the callback's workflow
    assert deeper.hottest_rcu_per_second > 0 and deeper.hottest_key
    printed: list[str] = []
    report([small, deeper], out=printed.append)
    # a verdict each: flatness per step, calls per step, and the hot key at 100,000 (from the deeper poll)
    assert sum(1 for line in printed if line.endswith("MET")) == len(STEPS) + len(CALL_TARGETS) + 1


# Not the store's: the stream consumer's own bookkeeping and the operations feed (the console's board and
# the reports' facts and minute rows, the thresholds crossed), which no webhook reads and the bench does not seed.
NOT_THE_STORE = ("SEEN#", "BOARD#", "FACT#", "REPORT#", "RECENT#", "ALERT#")


def _table(w: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the store in the bench's table, but the lost-call markers' wall-clock expiry."""
    from chalicelib.adapters.dynamo import TicketItem

    items = {}
    for page in boto3.client("dynamodb", region_name="us-east-1").get_paginator("scan").paginate(
            TableName=TicketItem.Meta.table_name):
        for raw in page["Items"]:
            if not raw["pk"]["S"].startswith(NOT_THE_STORE):
                if raw["pk"]["S"].startswith("LOSTBY#"):
                    raw.pop("expires_at", None)
                items[(raw["pk"]["S"], raw["sk"]["S"])] = raw
    return items


def _normalised(items: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """The two seedings draw different call ids (uuid4): compare them by ticket, not by id."""
    out = {}
    for key, raw in items.items():
        raw = {k: v for k, v in raw.items() if k != "call_id"}
        if key[0].startswith("CALL#"):
            key, raw = ("CALL#", raw["ticket_id"]["S"]), {k: v for k, v in raw.items() if k != "pk"}
        out[key] = raw
    return out


def test_the_seeded_table_is_what_the_store_and_the_stream_consumer_leave() -> None:
    """seed_line / seed_lost write the tickets, the line's indexes and counts, the snapshot's head, the
    lost-call markers and the call pointers by hand; the same callers joining (and hanging up) through
    the store's own writes and the stream's real consumer (`workers.on_table_change`) leave the same table."""
    tables = []
    for by_app in (False, True):
        with ExitStack() as stack:
            w, line = seeded_world(stack, 7, 4, by_app=by_app)
            assert len(line) == 7
            assert w.stores.line.snapshot(QUEUE).line == LineCounts({0: 7}, {0: 4}, {})
            assert w.stores.tickets.get(line[-1]).joined == JoinedLine(6, 4, 0)
            tables.append(_normalised(_table(w)))
    hand, consumer = tables
    assert sorted(hand) == sorted(consumer)
    for key in hand:
        assert hand[key] == consumer[key], key


def test_the_bench_s_lean_transactions_still_cancel_as_a_whole() -> None:
    """The bench spares moto its whole-table copy per transaction; a cancelled one still writes nothing."""
    with mock_aws(), lean_transactions():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        ddb.put_item(TableName="t", Item={"pk": {"S": "A"}, "sk": {"S": "1"}, "v": {"S": "before"}})

        def put(pk: str, value: str) -> dict:  # type: ignore[type-arg]
            return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}, "sk": {"S": "1"}, "v": {"S": value}}}}

        refused = {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "C"}, "sk": {"S": "1"}},
                                      "ConditionExpression": "attribute_exists(pk)"}}
        with pytest.raises(ClientError):
            ddb.transact_write_items(TransactItems=[put("A", "after"), put("B", "new"), refused])
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "A"}, "sk": {"S": "1"}})["Item"]["v"]["S"] == "before"
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "B"}, "sk": {"S": "1"}})
        ddb.transact_write_items(TransactItems=[put("A", "after"), put("B", "new")])
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "B"}, "sk": {"S": "1"}})["Item"]["v"]["S"] == "new"
