"""OperationsLog on DynamoDB (the same single table), and stream images decoded into tickets.

Keys:
  REPORT#{queue}#{utc day} / {half hour}   counters of that half hour (numbers, ADDed)
  FACT#{fact id} / FACT                     a fact recorded (written in the same transaction; TTL)
  BOARD#{queue} / {ticket id}               an open ticket as the live monitor shows it (no number)
A report reads one partition per day in its range; the monitor reads one partition: no scans."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Mapping

import boto3
from botocore.exceptions import ClientError

from ...domain.model import Ticket
from ...domain.reports import bucket_of, bucket_start
from ...ports import BoardEntry, OperationsLog
from .schema import TicketItem

FACT_TTL = timedelta(days=40)  # a stream record is retried for at most a day; markers outlive that


def ticket_from_image(image: Mapping[str, Any] | None) -> Ticket | None:
    """A stream image (DynamoDB JSON) as a Ticket, or None if it is not a ticket item."""
    if not image or not image.get("sk", {}).get("S", "").startswith("TICKET#"):
        return None
    return TicketItem.from_raw_data(dict(image)).to_ticket()


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class DynamoOperationsLog(OperationsLog):
    def __init__(self, table_name: str, region: str, endpoint_url: str | None = None, client: Any = None) -> None:
        self.table = table_name
        self.ddb = client or boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)

    def record(self, fact_id: str, queue_id: str, bucket: str, counts: Mapping[str, float]) -> bool:
        names = {f"#a{i}": key for i, key in enumerate(counts)}
        values = {f":v{i}": {"N": repr(float(v)) if isinstance(v, float) else str(v)}
                  for i, v in enumerate(counts.values())}
        expires = int((datetime.fromisoformat(bucket + ":00+00:00") + FACT_TTL).timestamp())
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {"pk": {"S": f"FACT#{fact_id}"}, "sk": {"S": "FACT"},
                                  "expires_at": {"N": str(expires)}}}},
                {"Update": {"TableName": self.table,
                            "Key": {"pk": {"S": f"REPORT#{queue_id}#{bucket[:10]}"}, "sk": {"S": bucket}},
                            "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values)),
                            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}},
            ])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and reasons and \
                    reasons[0].get("Code") == "ConditionalCheckFailed":
                return False  # recorded before: a redelivered stream record
            raise
        return True

    def rows(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        day = start.date()
        while day <= end.date():
            pages = self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={":pk": {"S": f"REPORT#{queue_id}#{day.isoformat()}"},
                                           ":a": {"S": bucket_of(start)}, ":b": {"S": bucket_of(end)}})
            for page in pages:
                for item in page["Items"]:
                    bucket = item["sk"]["S"]
                    if start <= bucket_start(bucket) < end:
                        out[bucket] = {k: float(v["N"]) for k, v in item.items() if "N" in v}
            day += timedelta(days=1)
        return out

    def board_put(self, entry: BoardEntry) -> None:
        self.ddb.put_item(TableName=self.table, Item={
            "pk": {"S": f"BOARD#{entry.queue_id}"}, "sk": {"S": entry.ticket_id},
            "entry": {"S": json.dumps(asdict(entry), default=lambda d: d.isoformat())}})

    def board_remove(self, queue_id: str, ticket_id: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": f"BOARD#{queue_id}"}, "sk": {"S": ticket_id}})

    def board(self, queue_id: str) -> list[BoardEntry]:
        entries = []
        for page in self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"BOARD#{queue_id}"}}):
            for item in page["Items"]:
                raw = json.loads(item["entry"]["S"])
                for key in ("created_at", "not_before", "next_attempt_at", "leg_at"):
                    raw[key] = _when(raw.get(key))
                entries.append(BoardEntry(**raw))
        return sorted(entries, key=lambda e: e.number)
