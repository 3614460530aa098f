"""The meter bills as DynamoDB does: known answers from AWS's own documents, first as the rules alone,
then through the hook on moto (the sizes of the items built to the byte).

Sources (the examples quoted below are theirs):
- R/W: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
- sizes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- GSI: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html (throughput considerations)
- pricing: https://aws.amazon.com/dynamodb/pricing/provisioned/ (WCU examples: 1 KB, 3 KB, 3 KB transactional)"""
from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.dynamo_meter import Index, Schema, attribute_size, item_size, item_write_units, metered, read_units, \
    write_units

KB = 1024


# --- the rules alone ------------------------------------------------------------------------------

def test_sizes_follow_dynamodbs_rules() -> None:
    assert attribute_size({"S": "héllo"}) == 6          # UTF-8 bytes
    assert attribute_size({"N": "12345"}) == 4          # 5 significant digits: 3 bytes + 1
    assert attribute_size({"N": "-0.0100"}) == 2        # leading and trailing zeros trimmed
    assert attribute_size({"BOOL": True}) == 1 and attribute_size({"NULL": True}) == 1
    assert attribute_size({"L": []}) == 3                # an empty list or map: 3 bytes of overhead
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)  # 1 byte per element
    assert attribute_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2
    assert item_size({"pk": {"S": "Q#1"}, "n": {"N": "7"}}) == (2 + 3) + (1 + 2)


def test_reads_known_answers() -> None:
    assert read_units(3_500, True) == 1.0                 # "reading a 3,500-byte item ... same as a 4 KB item"
    # "an 8 KB item: 2 read units strongly consistent, 1 eventually consistent, 4 transactional"
    assert (read_units(8 * KB, True), read_units(8 * KB, False), read_units(8 * KB, True, True)) == (2.0, 1.0, 4.0)
    assert read_units(10 * KB, True) == 3.0               # "a 10 KB item ... rounds up to 12 KB"
    assert read_units(0, True) == 1.0 and read_units(0, False) == 0.5  # a key that is not there


def test_writes_known_answers() -> None:
    assert (write_units(1 * KB), write_units(3 * KB)) == (1, 3)      # pricing page: 1 KB -> 1, 3 KB -> 3
    assert 2 * write_units(3 * KB) == 6                              # transactional 3 KB -> 6
    assert write_units(500) + write_units(3_584) == 5                # BatchWriteItem: 500 B and 3.5 KB -> 1 + 4
    plain = Schema("pk", "sk")
    small, large = _sized(500), _sized(1_536)
    assert item_write_units(plain, small, large) == (2, {})          # UpdateItem: the larger image
    assert item_write_units(plain, _sized(2_560), None) == (3, {})   # DeleteItem: the deleted item


def test_index_writes_known_answers() -> None:
    line = Index("line", "line_pk", "line_sk")
    schema = Schema("pk", "sk", (line,))
    out = _sized(300)
    into = {**out, "line_pk": {"S": "L"}, "line_sk": {"S": "1"}}
    moved = {**into, "line_sk": {"S": "2"}}
    touched = {**into, "note": {"S": "x"}}
    assert item_write_units(schema, None, into)[1] == {"line": 1}    # a new item with the index keys: one put
    assert item_write_units(schema, out, into)[1] == {"line": 1}     # an attribute defined: one put
    assert item_write_units(schema, into, moved)[1] == {"line": 2}   # an index key changed: delete and put
    assert item_write_units(schema, into, out)[1] == {"line": 1}     # an index key removed: one delete
    assert item_write_units(schema, into, touched)[1] == {"line": 1}  # a projected attribute changed: one
    assert item_write_units(schema, out, {**out, "note": {"S": "x"}})[1] == {}  # in the index neither time
    keys_only = Schema("pk", "sk", (Index("line", "line_pk", "line_sk", "KEYS_ONLY"),))
    assert item_write_units(keys_only, into, touched)[1] == {}       # nothing it projects changed
    assert item_write_units(schema, None, into, transactional=True) == (2, {"line": 1})  # index: standard rate


def _sized(size: int, pk: str = "A", sk: str = "1", **more: Any) -> dict[str, Any]:
    """An item of exactly `size` bytes: its keys, `more`, and a string `v` making up the rest."""
    item = {"pk": {"S": pk}, "sk": {"S": sk}, **more}
    item["v"] = {"S": "x" * (size - item_size(item) - 1)}
    assert item_size(item) == size
    return item


# --- through the hook, on moto --------------------------------------------------------------------

@pytest.fixture
def table():  # type: ignore[no-untyped-def]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "line_pk", "line_sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "line", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "line_pk", "KeyType": "HASH"},
                                                   {"AttributeName": "line_sk", "KeyType": "RANGE"}]}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        yield client


def key(pk: str, sk: str = "1") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_get_item_by_consistency_missing_keys_and_projections(table) -> None:  # type: ignore[no-untyped-def]
    table.put_item(TableName="t", Item=_sized(8 * KB))
    with metered() as meter:
        table.get_item(TableName="t", Key=key("A"), ConsistentRead=True)
        table.get_item(TableName="t", Key=key("A"))
        table.get_item(TableName="t", Key=key("A"), ConsistentRead=True, ProjectionExpression="pk")
        table.get_item(TableName="t", Key=key("nobody"), ConsistentRead=True)
        table.get_item(TableName="t", Key=key("nobody"))
    assert [c.read_units for c in meter.dynamodb()] == [2.0, 1.0, 2.0, 1.0, 0.5]
    assert [c.items_read for c in meter.dynamodb()] == [1, 1, 1, 0, 0]
    assert meter.partition_read_units() == {("t", "A"): 5.0, ("t", "nobody"): 1.5}


def test_batch_get_bills_each_key_rounded_up_found_or_not(table) -> None:  # type: ignore[no-untyped-def]
    table.put_item(TableName="t", Item=_sized(1_536, "A"))   # 1.5 KB
    table.put_item(TableName="t", Item=_sized(6_656, "B"))   # 6.5 KB
    with metered() as meter:
        for consistent in (True, False):
            table.batch_get_item(RequestItems={"t": {"Keys": [key("A"), key("B"), key("C")],
                                                      "ConsistentRead": consistent}})
    strong, eventual = meter.dynamodb()
    assert strong.read_units == 3.0 + 1.0       # "4 KB + 8 KB = 12 KB, not 8 KB", and the missing key
    assert eventual.read_units == 2.0 and strong.items_read == 2


def test_query_bills_the_sum_of_what_it_evaluated(table) -> None:  # type: ignore[no-untyped-def]
    for i in range(10):                          # "10 items whose combined size is 40.8 KB ... 44 KB"
        table.put_item(TableName="t", Item=_sized(4_178, "Q", f"{i}", line_pk={"S": "L"}, line_sk={"S": f"{i}"}))
    condition = {"KeyConditionExpression": "pk = :q", "ExpressionAttributeValues": {":q": {"S": "Q"}}}
    with metered() as meter:
        table.query(TableName="t", ConsistentRead=True, **condition)
        table.query(TableName="t", ConsistentRead=True, Select="COUNT", **condition)
        table.query(TableName="t", ConsistentRead=True, FilterExpression="v = :none",
                    KeyConditionExpression="pk = :q", ExpressionAttributeValues={":q": {"S": "Q"}, ":none": {"S": "-"}})
        table.query(TableName="t", IndexName="line", KeyConditionExpression="line_pk = :l",
                    ExpressionAttributeValues={":l": {"S": "L"}}, Limit=1)
        table.query(TableName="t", ConsistentRead=True, KeyConditionExpression="pk = :q",
                    ExpressionAttributeValues={":q": {"S": "nobody"}})
    full, count, filtered, index_page, empty = meter.dynamodb()
    assert full.read_units == count.read_units == filtered.read_units == 11.0
    assert filtered.items_read == 10
    assert index_page.read_units == 2 * 0.5      # one 4,178-byte item (8 KB), on an index: eventually consistent
    assert index_page.partitions == {("t/line", "L"): 1.0}
    assert empty.read_units == 1.0               # at least one unit


def test_writes_the_larger_image_transactions_twice_the_index_once(table) -> None:  # type: ignore[no-untyped-def]
    with metered() as meter:
        table.put_item(TableName="t", Item=_sized(3 * KB, "P"))                                  # 3
        table.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": _sized(3 * KB, "T")}}])  # 6
        table.put_item(TableName="t", Item=_sized(500, "U"))                                     # 1
        table.update_item(TableName="t", Key=key("U"), UpdateExpression="SET w = :w",            # 500 B -> 1.5 KB: 2
                          ExpressionAttributeValues={":w": {"S": "y" * 1_036}})
        table.delete_item(TableName="t", Key=key("P"))                                           # 3
        table.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": _sized(500, "B1")}},
                                                   {"PutRequest": {"Item": _sized(3_584, "B2")}}]})  # 1 + 4
        table.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": _sized(
            300, "I", line_pk={"S": "L"}, line_sk={"S": "1"})}}])                               # 2 + index 1
        table.update_item(TableName="t", Key=key("I"), UpdateExpression="SET line_sk = :s",      # 1 + index 2
                          ExpressionAttributeValues={":s": {"S": "2"}})
    assert [c.write_units for c in meter.dynamodb()] == [3, 6, 1, 2, 3, 5, 3, 3]
    assert meter.partition_write_units()[("t/line", "L")] == 3
    # every write changed one item (two for the batch): one stream record each
    assert [c.stream_records for c in meter.dynamodb()] == [1, 1, 1, 1, 1, 2, 1, 1]


def test_failed_conditions_are_counted_and_billed(table) -> None:  # type: ignore[no-untyped-def]
    table.put_item(TableName="t", Item=_sized(2_560, "A"))
    with metered() as meter:
        with pytest.raises(ClientError):
            table.put_item(TableName="t", Item=_sized(100, "A"), ConditionExpression="attribute_not_exists(pk)")
        with pytest.raises(ClientError):
            table.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": _sized(100, "B")}},
                {"ConditionCheck": {"TableName": "t", "Key": key("A"), "ConditionExpression": "attribute_not_exists(pk)"}}])
        table.update_item(TableName="t", Key=key("A"), UpdateExpression="SET v = v")  # changes nothing
    put, tx, same = meter.dynamodb()
    assert put.error == "ConditionalCheckFailedException" and put.write_units == 3   # the item as it stands
    assert tx.error == "TransactionCanceledException" and tx.write_units == 2 * 1 + 2 * 3
    assert (put.stream_records, tx.stream_records, same.stream_records) == (0, 0, 0)
    assert meter.count == 3


def test_other_services_are_counted_and_stream_reads_cost_nothing(table) -> None:  # type: ignore[no-untyped-def]
    from devstack.pollers import StreamPoller

    seen: list[Any] = []
    poller = StreamPoller("t", lambda new, old: seen.append(new))
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    with metered() as meter:
        table.put_item(TableName="t", Item=_sized(100))
        poller.poll_once()
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "{}"}, {"Id": "2", "MessageBody": "{}"}])
    assert len(seen) == 1 and meter.of("dynamodbstreams") and meter.messages == 3
    assert meter.read_units == 0 and meter.write_units == 1 and meter.count == 1


def test_only_the_metering_threads_calls_count_unless_asked(table) -> None:  # type: ignore[no-untyped-def]
    def elsewhere() -> None:  # a workflow moto runs in its own thread, say
        table.get_item(TableName="t", Key=key("Q", "0"))

    for all_threads, counted in ((False, 1), (True, 2)):
        with metered(all_threads=all_threads) as meter:
            table.get_item(TableName="t", Key=key("Q", "0"))
            worker = threading.Thread(target=elsewhere)
            worker.start()
            worker.join()
        assert meter.count == counted
