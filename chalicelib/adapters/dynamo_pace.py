"""The outbound pace on DynamoDB (the same single table), every change conditional.

Keys:
  PACE#{account} / BUCKET                       the token bucket: tokens, at (when they were counted),
                                                v (its version), waiting (the backlog's size, moved with it)
  PACE#{account} / WAIT#{order}#{ticket}#{ref}  a dial waiting its turn (sort key: the order it is owed)
  PACED#{account}#{ticket}#{ref} / PACED        the dial waited once (a later wait is refused; TTL)
A token is taken by a read and a write conditional on the bucket's version being the one read
(optimistic; counted again when another worker got there between); a dial leaves the backlog by a delete conditional on its being
there, in the transaction that counts it out."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ..domain.errors import StoreUnavailableError
from ..domain.pacing import next_token, refill
from ..ports import Grant, OutboundPace, PendingDial

TAKE_TRIES = 8
MARKER_TTL = timedelta(days=7)  # longer than a dial waits (the workflow's dial timeout is hours)


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

    def take(self, account: str, rate: float, burst: float, now: datetime) -> Grant:
        for _ in range(TAKE_TRIES):
            item = self.ddb.get_item(TableName=self.table, Key=self._bucket(account), ConsistentRead=True).get("Item")
            at = item.get("at", {}).get("S") if item else None
            since = datetime.fromisoformat(at) if at else None
            tokens = refill(float(item["tokens"]["N"]) if item and "tokens" in item else burst, since, rate, burst, now)
            if tokens < 1.0:
                return Grant(False, next_token(tokens, now, rate))
            version = int(item["v"]["N"]) if item and "v" in item else 0
            condition = "attribute_not_exists(v)" if version == 0 else "v = :seen"
            values = {":tokens": {"N": repr(tokens - 1.0)}, ":now": {"S": now.isoformat()}, ":one": {"N": "1"}}
            if version:
                values[":seen"] = {"N": str(version)}
            try:
                self.ddb.update_item(TableName=self.table, Key=self._bucket(account),
                                     UpdateExpression="SET tokens = :tokens, #at = :now ADD v :one",
                                     ConditionExpression=condition,
                                     ExpressionAttributeNames={"#at": "at"}, ExpressionAttributeValues=values)
                return Grant(True, now)
            except self.ddb.exceptions.ConditionalCheckFailedException:
                continue  # another worker took a token between: count again
        return Grant(False, now + timedelta(seconds=1 / rate))  # contended: try again at the next token

    def wait(self, account: str, dial: PendingDial) -> bool:
        expires = {"N": str(int((datetime.now(timezone.utc) + MARKER_TTL).timestamp()))}
        for attempt in range(TAKE_TRIES):
            try:
                return self._wait(account, dial, expires)
            except self.ddb.exceptions.TransactionCanceledException as exc:
                if self._condition_failed(exc):
                    return False
                if attempt + 1 == TAKE_TRIES or not self._conflict(exc):
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
