"""The outbound pace on DynamoDB (the same single table), every change conditional.

Keys:
  PACE#{account} / BUCKET                       next_at (the account's next slot, epoch seconds),
                                                waiting (the backlog's size, moved with it)
  PACE#{account} / WAIT#{order}#{ticket}#{ref}  a dial waiting its turn (sort key: the order it is owed)
  PACED#{account}#{ticket}#{ref} / PACED        the dial waited once (a later wait is refused; TTL)
A slot is taken by one write conditional on its having come (and, for a dial that would go at once, on
nothing waiting); a refusal returns the slot it found. A dial leaves the backlog by a delete conditional
on its being there, in the transaction that counts it out."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ...domain.errors import StoreUnavailableError
from ...ports import Grant, OutboundPace, PendingDial

WAIT_TRIES = 8
MARKER_TTL = timedelta(days=7)  # longer than a dial waits (the workflow's dial timeout is hours)


def _seconds(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


def _moment(seconds: str) -> datetime:
    return datetime.fromtimestamp(float(seconds), timezone.utc)


class DynamoPace(OutboundPace):
    def __init__(self, table_name: str, client: Any, pause: Callable[[float], None] = time.sleep) -> None:
        self.table = table_name
        self.ddb = client
        self.pause = pause

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _bucket(self, account: str) -> dict[str, dict[str, str]]:
        return self._key(f"PACE#{account}", "BUCKET")

    def take(self, account: str, interval: float, now: datetime, when_idle: bool = False) -> Grant:
        condition = "(attribute_not_exists(next_at) OR next_at <= :now)"
        values = {":now": {"N": _seconds(now)}, ":next": {"N": _seconds(now + timedelta(seconds=interval))}}
        if when_idle:
            condition += " AND (attribute_not_exists(waiting) OR waiting <= :none)"
            values[":none"] = {"N": "0"}
        try:
            self.ddb.update_item(TableName=self.table, Key=self._bucket(account), UpdateExpression="SET next_at = :next",
                                 ConditionExpression=condition, ExpressionAttributeValues=values,
                                 ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            seen = exc.response.get("Item", {}).get("next_at", {}).get("N")
            return Grant(False, max(now, _moment(seen)) if seen else now)
        return Grant(True, now)

    def wait(self, account: str, dial: PendingDial) -> bool:
        expires = {"N": str(int((datetime.now(timezone.utc) + MARKER_TTL).timestamp()))}
        for attempt in range(WAIT_TRIES):
            try:
                return self._wait(account, dial, expires)
            except self.ddb.exceptions.TransactionCanceledException as exc:
                if self._condition_failed(exc):
                    return False
                if attempt + 1 == WAIT_TRIES or not self._conflict(exc):
                    raise StoreUnavailableError(f"pace backlog: {exc}") from exc
                self.pause(0.01 * 2 ** attempt)  # a token taken on the bucket meanwhile
        return False  # pragma: no cover

    def _wait(self, account: str, dial: PendingDial, expires: dict[str, str]) -> bool:
        self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {**self._key(f"PACE#{account}", self._sk(dial)), "order": {"S": dial.order},
                                  "kind": {"S": dial.kind}, "ticket_id": {"S": dial.ticket_id},
                                  "ref": {"S": dial.ref}}}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {**self._key(f"PACED#{account}#{dial.ticket_id}#{dial.ref}", "PACED"),
                                  "expires_at": expires}}},
                {"Update": {"TableName": self.table, "Key": self._bucket(account),
                            "UpdateExpression": "ADD waiting :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])
        return True

    def first(self, account: str, limit: int) -> list[PendingDial]:
        items = self.ddb.query(TableName=self.table, ConsistentRead=True, Limit=limit,
                               KeyConditionExpression="pk = :pk AND begins_with(sk, :wait)",
                               ExpressionAttributeValues={":pk": {"S": f"PACE#{account}"},
                                                          ":wait": {"S": "WAIT#"}}).get("Items", [])
        return [PendingDial(i["order"]["S"], i["kind"]["S"], i["ticket_id"]["S"], i["ref"]["S"]) for i in items]

    def claim(self, account: str, dial: PendingDial) -> bool:
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self.table, "Key": self._key(f"PACE#{account}", self._sk(dial)),
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Update": {"TableName": self.table, "Key": self._bucket(account),
                            "UpdateExpression": "ADD waiting :less", "ExpressionAttributeValues": {":less": {"N": "-1"}}}},
            ])
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if self._condition_failed(exc) or self._conflict(exc):
                return False  # claimed by another worker (or in their hands right now: first() again says)
            raise StoreUnavailableError(f"pace claim: {exc}") from exc
        return True

    def backlog(self, account: str) -> int:
        item = self.ddb.get_item(TableName=self.table, Key=self._bucket(account), ConsistentRead=True).get("Item")
        return max(0, int(item["waiting"]["N"])) if item and "waiting" in item else 0

    @staticmethod
    def _sk(dial: PendingDial) -> str:
        return f"WAIT#{dial.order}#{dial.ticket_id}#{dial.ref}"

    @staticmethod
    def _conflict(exc: Any) -> bool:
        return any(r.get("Code") == "TransactionConflict" for r in exc.response.get("CancellationReasons", []))

    @staticmethod
    def _condition_failed(exc: Any) -> bool:
        reasons = exc.response.get("CancellationReasons", [])
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
