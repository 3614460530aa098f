"""devstack/atomic.py under concurrent writes to one item: moto's update_item deep-copies the item it is
about to change outside its backend, so a write on another thread meanwhile crashed it ("dictionary
changed size during iteration": tests/functional/test_console.py's race of six expedites failed so).
Each request is now handled whole under the lock: many threads adding attributes to one item all
succeed, and every attribute is there."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3


def test_concurrent_updates_of_one_item_all_land(aws) -> None:  # type: ignore[no-untyped-def]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="atomic", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb.put_item(TableName="atomic", Item={"pk": {"S": "one"}})

    def add(thread: int) -> None:
        for n in range(60):  # each write adds an attribute: the item's dict grows while others copy it
            ddb.update_item(TableName="atomic", Key={"pk": {"S": "one"}}, UpdateExpression="SET #a = :v",
                            ExpressionAttributeNames={"#a": f"a{thread}_{n}"}, ExpressionAttributeValues={":v": {"N": "1"}})

    with ThreadPoolExecutor(8) as pool:
        for job in [pool.submit(add, t) for t in range(8)]:
            job.result()
    item = ddb.get_item(TableName="atomic", Key={"pk": {"S": "one"}}, ConsistentRead=True)["Item"]
    assert len(item) == 1 + 8 * 60
