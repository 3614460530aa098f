"""The meter the per-step call counts and bench/webhooks.py rely on: counts, items read, units."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from devstack.dynamo_meter import attribute_size, item_size, metered


def test_sizes_follow_dynamodbs_rules() -> None:
    assert attribute_size({"S": "héllo"}) == 6          # UTF-8 bytes
    assert attribute_size({"N": "12345"}) == 4          # 5 significant digits: 3 bytes + 1
    assert attribute_size({"N": "-0.0100"}) == 2        # leading and trailing zeros trimmed
    assert attribute_size({"BOOL": True}) == 1
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert item_size({"pk": {"S": "Q#1"}, "n": {"N": "7"}}) == (2 + 3) + (1 + 2)


@pytest.fixture
def table():  # type: ignore[no-untyped-def]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"},
                                  {"AttributeName": "line", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "line", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "line", "KeyType": "HASH"}]}])
        yield client


def test_counts_items_and_units(table) -> None:  # type: ignore[no-untyped-def]
    big = "x" * 5000  # two 4 KB read units, five 1 KB write units
    for i in range(3):
        table.put_item(TableName="t", Item={"pk": {"S": "Q"}, "sk": {"S": f"{i}"}, "line": {"S": "L"},
                                             "blob": {"S": big}})
    with metered() as meter:
        table.get_item(TableName="t", Key={"pk": {"S": "Q"}, "sk": {"S": "0"}})
        table.query(TableName="t", IndexName="line", KeyConditionExpression="line = :l",
                    ExpressionAttributeValues={":l": {"S": "L"}}, Select="COUNT")
        table.update_item(TableName="t", Key={"pk": {"S": "Q"}, "sk": {"S": "9"}},
                          UpdateExpression="SET n = :one", ExpressionAttributeValues={":one": {"N": "1"}})
    assert meter.by_operation() == {"GetItem": 1, "Query": 1, "UpdateItem": 1}  # its own reads not counted
    get, query, update = meter.dynamodb()
    assert (get.items_read, get.read_units) == (1, 1.0)          # 5 KB, eventually consistent: 2 x 0.5
    assert query.items_read == 3 and query.read_units == 2.0      # 15 KB over 4 KB = 4 units, halved
    assert query.partitions == {("t/line", "L"): 2.0}
    assert update.write_units == 1.0                              # a small new item, in no index
    assert meter.read_units == 3.0 and meter.items_read == 4


def test_a_transaction_costs_double(table) -> None:  # type: ignore[no-untyped-def]
    with metered() as meter:
        table.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "A"}, "sk": {"S": "1"}, "line": {"S": "L"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}}}}])
    (tx,) = meter.dynamodb()
    assert tx.write_units == 2 * (1 + 1) + 2 * 1  # the first item is in the index too


def test_only_the_metering_threads_calls_count_unless_asked(table) -> None:  # type: ignore[no-untyped-def]
    import threading

    def elsewhere() -> None:  # a workflow moto runs in its own thread, say
        table.get_item(TableName="t", Key={"pk": {"S": "Q"}, "sk": {"S": "0"}})

    for all_threads, counted in ((False, 1), (True, 2)):
        with metered(all_threads=all_threads) as meter:
            table.get_item(TableName="t", Key={"pk": {"S": "Q"}, "sk": {"S": "0"}})
            worker = threading.Thread(target=elsewhere)
            worker.start()
            worker.join()
        assert meter.count == counted
