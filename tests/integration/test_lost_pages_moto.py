"""The lost-call list in pages, on moto and in memory: the same contract (oldest first, `limit` at a
time, a cursor that survives items leaving the list, the last page without `next`), and on DynamoDB a
page reads the page (one item more), never the whole list."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from chalicelib.adapters.dynamo import dynamo_stores
from chalicelib.adapters.memory import memory_stores
from chalicelib.domain.errors import BadPageError
from chalicelib.domain.pages import encode_cursor
from chalicelib.ports import Stores
from devstack.dynamo_meter import metered
from tests.helpers import lose_calls

T = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["dynamo", "memory"])
def stores(request) -> Iterator[Stores]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        yield memory_stores()
    else:
        aws = request.getfixturevalue("aws")
        yield dynamo_stores(aws.table_name, "us-east-1")


def every_page(stores: Stores, queue: str, limit: int) -> list[list[str]]:
    out, cursor = [], None
    while True:
        page = stores.lost.lost_calls(queue, limit=limit, cursor=cursor)
        out.append([t.id for t in page.items])
        if page.next is None:
            return out
        cursor = page.next


def test_pages_cover_the_list_once_oldest_first(stores: Stores) -> None:
    ids = lose_calls(stores, "support", 7, T)
    lose_calls(stores, "sales", 2, T)
    assert every_page(stores, "support", 3) == [ids[:3], ids[3:6], ids[6:]]
    assert every_page(stores, "support", 7) == [ids]  # exactly full: no empty page after it
    assert every_page(stores, "support", 100) == [ids]
    assert every_page(stores, "nobody", 10) == [[]]


def test_a_cursor_survives_the_items_before_and_at_it_leaving(stores: Stores) -> None:
    ids = lose_calls(stores, "support", 5, T)
    first = stores.lost.lost_calls("support", limit=2)
    for i in (0, 1, 2):  # the page's own items, and the one after it, are recovered meanwhile
        stores.lost.clear_lost("support", f"+1415555{i:04d}", T + timedelta(minutes=5))
    assert [t.id for t in stores.lost.lost_calls("support", limit=2, cursor=first.next).items] == ids[3:]


def test_a_cursor_of_another_queue_or_made_up_is_refused(stores: Stores) -> None:
    lose_calls(stores, "support", 3, T)
    lose_calls(stores, "sales", 3, T)
    cursor = stores.lost.lost_calls("sales", limit=1).next
    for bad in (cursor, "!!!", encode_cursor({"pk": 1}), encode_cursor(["x", 1]), encode_cursor(None) + "x"):
        with pytest.raises(BadPageError):
            stores.lost.lost_calls("support", limit=1, cursor=bad)


def test_a_page_on_dynamodb_reads_the_page_not_the_list(aws) -> None:  # type: ignore[no-untyped-def]
    stores = dynamo_stores(aws.table_name, "us-east-1")
    lose_calls(stores, "support", 60, T)
    with metered() as meter:
        page = stores.lost.lost_calls("support", limit=10)
        stores.lost.lost_calls("support", limit=10, cursor=page.next)
    assert meter.by_operation() == {"Query": 2} and meter.items_read == 2 * 11


def test_the_by_number_markers_expire_with_their_ticket(aws) -> None:  # type: ignore[no-untyped-def]
    """Not a year after the wall clock: the list's markers and the ticket they point to go together,
    whether mark_lost or the stream (the workflow's give-up) put them."""
    import boto3

    from chalicelib.adapters.dynamo import TICKET_TTL, queue_pk, ticket_sk

    stores = dynamo_stores(aws.table_name, "us-east-1")
    lose_calls(stores, "support", 1, T)
    table = boto3.client("dynamodb", region_name="us-east-1")
    by_number = {"TableName": aws.table_name, "KeyConditionExpression": "pk = :pk",
                 "ExpressionAttributeValues": {":pk": {"S": "LOSTBY#support#+14155550000"}}}
    expected = [int((T + TICKET_TTL).timestamp())]
    markers = table.query(**by_number)["Items"]
    assert [int(m["expires_at"]["N"]) for m in markers] == expected
    new = table.get_item(TableName=aws.table_name, Key={"pk": {"S": queue_pk("support")},
                                                        "sk": {"S": ticket_sk(1)}})["Item"]
    table.delete_item(TableName=aws.table_name, Key={k: markers[0][k] for k in ("pk", "sk")})
    stores.stream.apply_change(new, {k: v for k, v in new.items() if k not in ("lost_pk", "lost_sk")})  # the stream's path
    assert [int(m["expires_at"]["N"]) for m in table.query(**by_number)["Items"]] == expected
