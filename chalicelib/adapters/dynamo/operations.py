"""OperationsLog on DynamoDB (the same single table), and stream images decoded into tickets.

Keys:
  REPORT#{queue}#{utc day} / {half hour}   counters of that half hour (numbers, ADDed)
  RECENT#{queue}#{utc day} / {minute}      the same counters per arrival minute (TTL: two days)
  FACT#{fact id} / FACT                     a fact recorded (written in the same transaction; TTL)
  BOARD#{queue} / {ticket id}               an open ticket as the live monitor shows it (no number)
  ALERT#{queue} / {measure}                 a threshold crossed: since, notified_at
A report reads one partition per day in its range; the monitor reads one partition: no scans."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import boto3
from botocore.exceptions import ClientError

from ...domain.model import Agent, Ticket
from ...domain.reports import bucket_start, minute_of
from ...ports import AlertState, BoardEntry, OperationsLog
from .schema import AgentItem, TicketItem

FACT_TTL = timedelta(days=40)  # a stream record is retried for at most a day; markers outlive that
RECENT_TTL = timedelta(days=2)  # minute rows serve rolling windows of an hour or so


def ticket_from_image(image: Mapping[str, Any] | None) -> Ticket | None:
    """A stream image (DynamoDB JSON) as a Ticket, or None if it is not a ticket item."""
    if not image or not image.get("sk", {}).get("S", "").startswith("TICKET#"):
        return None
    return TicketItem.from_raw_data(dict(image)).to_ticket()


def agent_from_image(image: Mapping[str, Any] | None) -> Agent | None:
    """A stream image (DynamoDB JSON) as an Agent, or None if it is not an agent's item."""
    if not image or not image.get("pk", {}).get("S", "").startswith("AGENT#") or image.get("sk", {}).get("S") != "AGENT":
        return None
    return AgentItem.from_raw_data(dict(image)).to_agent()


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class DynamoOperationsLog(OperationsLog):
    def __init__(self, table_name: str, region: str, endpoint_url: str | None = None, client: Any = None) -> None:
        self.table = table_name
        self.ddb = client or boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)

    def record(self, fact_id: str, queue_id: str, bucket: str, counts: Mapping[str, float],
               minute: str = "") -> bool:
        names = {f"#a{i}": key for i, key in enumerate(counts)}
        values = {f":v{i}": {"N": repr(float(v)) if isinstance(v, float) else str(v)}
                  for i, v in enumerate(counts.values())}
        expires = int((datetime.fromisoformat(bucket + ":00+00:00") + FACT_TTL).timestamp())
        add = "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values))
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": {"pk": {"S": f"FACT#{fact_id}"}, "sk": {"S": "FACT"},
                              "expires_at": {"N": str(expires)}}}},
            {"Update": {"TableName": self.table,
                        "Key": {"pk": {"S": f"REPORT#{queue_id}#{bucket[:10]}"}, "sk": {"S": bucket}},
                        "UpdateExpression": add, "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values}}]
        if minute:
            gone = int((datetime.fromisoformat(minute + ":00+00:00") + RECENT_TTL).timestamp())
            items.append({"Update": {
                "TableName": self.table, "Key": {"pk": {"S": f"RECENT#{queue_id}#{minute[:10]}"}, "sk": {"S": minute}},
                "UpdateExpression": add + " SET expires_at = :gone", "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":gone": {"N": str(gone)}}}})
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if exc.response["Error"]["Code"] == "TransactionCanceledException" and reasons and \
                    reasons[0].get("Code") == "ConditionalCheckFailed":
                return False  # recorded before: a redelivered stream record
            raise
        return True

    def rows(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        return self._by_day("REPORT", queue_id, start, end)

    def recent(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        return self._by_day("RECENT", queue_id, start, end)

    def _by_day(self, kind: str, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        """Rows of one kind in [start, end): one Query per UTC day partition."""
        out: dict[str, dict[str, float]] = {}
        start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
        day = start.date()
        while day <= end.date():
            pages = self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={":pk": {"S": f"{kind}#{queue_id}#{day.isoformat()}"},
                                           ":a": {"S": minute_of(start)}, ":b": {"S": minute_of(end)}})
            for page in pages:
                for item in page["Items"]:
                    bucket = item["sk"]["S"]
                    if start <= bucket_start(bucket) < end:
                        out[bucket] = {k: float(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"}
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
                for key in ("created_at", "not_before", "next_attempt_at", "leg_at", "answered_at"):
                    raw[key] = _when(raw.get(key))
                entries.append(BoardEntry(**raw))
        return sorted(entries, key=lambda e: e.number)

    # --- thresholds crossed (one item per queue and measure) -------------------------------------

    def _alert_key(self, queue_id: str, measure: str) -> dict[str, Any]:
        return {"pk": {"S": f"ALERT#{queue_id}"}, "sk": {"S": measure}}

    def alerts(self, queue_id: str) -> dict[str, AlertState]:
        out = {}
        for page in self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"ALERT#{queue_id}"}}):
            for item in page["Items"]:
                measure = item["sk"]["S"]
                out[measure] = AlertState(measure, datetime.fromisoformat(item["since"]["S"]),
                                          _when(item.get("notified_at", {}).get("S")))
        return out

    def _conditional(self, **request: Any) -> bool:
        try:
            self.ddb.update_item(TableName=self.table, **request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def alert_begin(self, queue_id: str, measure: str, since: datetime) -> bool:
        return self._conditional(Key=self._alert_key(queue_id, measure), UpdateExpression="SET since = :s",
                                 ConditionExpression="attribute_not_exists(pk)",
                                 ExpressionAttributeValues={":s": {"S": since.isoformat()}})

    def alert_notified(self, queue_id: str, measure: str, since: datetime, at: datetime) -> bool:
        return self._conditional(Key=self._alert_key(queue_id, measure), UpdateExpression="SET notified_at = :n",
                                 ConditionExpression="since = :s AND attribute_not_exists(notified_at)",
                                 ExpressionAttributeValues={":s": {"S": since.isoformat()},
                                                            ":n": {"S": at.isoformat()}})

    def alert_end(self, queue_id: str, measure: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=self._alert_key(queue_id, measure))
