"""bench/webhooks.py cannot rot: its measuring function drives every step through the app on moto at
two depths, and each step's DynamoDB calls come out the same at both (the lines fit one page either way).
No timing is asserted: the figures themselves are the bench's to print."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench.webhooks import STEPS, lean_transactions, measure, report


def test_every_step_is_measured_and_its_calls_are_the_same_at_10_and_200_waiting() -> None:
    small, deeper = measure(10, lost=30, reps=1), measure(200, lost=30, reps=1)
    for name in STEPS:
        assert small.steps[name].count > 0, name
        assert small.steps[name].calls == deeper.steps[name].calls, name
    assert small.steps["confirm press-1 (book)"].other == {"StartExecution": 1}  # the callback's workflow
    assert deeper.steps["wait poll"].items_read >= small.steps["wait poll"].items_read > 0
    assert deeper.hottest_rcu_per_second > 0 and deeper.hottest_key
    printed: list[str] = []
    report([small, deeper], out=printed.append)
    assert sum(1 for line in printed if line.endswith("MET")) == len(STEPS)  # a verdict per step


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
