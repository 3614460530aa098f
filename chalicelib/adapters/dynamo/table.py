"""The one table every role adapter shares: one client, transactions retried on conflicts and
throttling, batched reads, conditional ticket updates."""
from __future__ import annotations

import random
import time
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, TicketNotFoundError
from ...domain.model import Ticket, split_ticket_id
from .items import call_done
from .schema import MODELS, TicketItem, bind, queue_pk, ticket_sk


PREFETCH_SECONDS = 2.0  # how long statistics read with an agent's item stand in for a fresh read
PREFETCH_QUEUES = 20  # a BatchGetItem takes 100 keys; an agent in more queues reads the rest when needed
CONDITION_FAILED = "ConditionalCheckFailed"
# Cancellation reasons (and error codes) that say "try again", not "someone else got there first".
TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                       "RequestLimitExceeded", "InternalServerError", "TransactionInProgressException",
                       "TransactionConflictException", "ThrottlingException",
                       "ProvisionedThroughputExceededException", "InternalServerErrorException"})
TX_ATTEMPTS = 5
TX_BACKOFF_SECONDS = 0.05


def cancellation_codes(exc: TransactWriteError) -> list[str]:
    """The per-item codes of a cancelled transaction ('None' for items that were not the reason)."""
    return [reason.code if reason is not None else "None" for reason in exc.cancellation_reasons]


class DynamoTable:
    """The one table every role adapter shares: its models bound, one client, transactions (retried on
    conflicts and throttling), batched reads and conditional ticket updates."""

    def __init__(self, table_name: str, region: str, host: str | None = None, client: Any = None,
                 pause: Callable[[float], None] = time.sleep) -> None:
        """`client`: a botocore DynamoDB client (the composition root's one session) that every model
        and transaction uses; without it PynamoDB opens a botocore session per model (~0.1 s each)."""
        bind(table_name, region, host)
        self._connection = Connection(region=region, host=host)
        if client is not None:
            for model in MODELS:
                model._get_connection().connection._client = client  # type: ignore[attr-defined]
            self._connection._client = client  # type: ignore[attr-defined]
        self.pause = pause  # between retries of a transaction that conflicted or was throttled
        # Queue statistics read along with an agent's item (one BatchGetItem): the next queue_stats read
        # of that queue within PREFETCH_SECONDS takes them instead of reading again (once).
        self.prefetched: dict[str, tuple[float, dict[str, Any] | None]] = {}

    @property
    def client(self) -> Any:
        return self._connection.client

    def transact(self, build: Callable[[TransactWrite], None]) -> list[str] | None:
        """Run one transaction. None when it was written; the per-item cancellation codes when a
        condition failed (a race lost, a duplicate). Conflicts and throttling are retried with backoff
        and full jitter; any other failure, or one that outlasts the retries, is StoreUnavailableError."""
        for attempt in range(TX_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    build(tx)
                return None
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if CONDITION_FAILED in codes:
                    return codes
                transient = exc.cause_response_code in TRANSIENT or (
                    any(c in TRANSIENT for c in codes) and all(c in TRANSIENT or c == "None" for c in codes))
                if not transient:
                    raise StoreUnavailableError(f"transaction failed: {exc.cause_response_code} {codes}") from exc
                if attempt + 1 < TX_ATTEMPTS:
                    self.pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError("transaction kept conflicting or being throttled")

    def batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), in one BatchGetItem (again only for keys DynamoDB left unprocessed)."""
        table = TicketItem.Meta.table_name
        request: dict[str, Any] = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                                           "ConsistentRead": True}}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for attempt in range(TX_ATTEMPTS):
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            self.pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError("batch read kept being throttled")

    def update(self, ticket_id: str, actions: list[Any], condition: Any = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def let_go(self, ticket_id: str, actions: list[Any], condition: Any, call_id: str | None) -> bool:
        """A ticket change after which the ticket no longer holds its call: with `call_id`, the call's item
        says so in the same transaction (a status callback arriving before the stream does reads one item)."""
        if not call_id:
            return self.update(ticket_id, actions, condition)
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=actions, condition=condition)
            call_done(tx, call_id)

        codes = self.transact(write)
        if codes is not None and codes[0] != CONDITION_FAILED:  # no such call item: the change alone
            return self.update(ticket_id, actions, condition)
        return codes is None

    def get_item(self, ticket_id: str) -> TicketItem:
        queue_id, number = split_ticket_id(ticket_id)
        try:
            return TicketItem.get(queue_pk(queue_id), ticket_sk(number), consistent_read=True)
        except DoesNotExist:
            raise TicketNotFoundError(ticket_id) from None

    def get(self, ticket_id: str) -> Ticket:
        return self.get_item(ticket_id).to_ticket()


class OnTable:
    """A role over the shared table."""

    def __init__(self, table: DynamoTable) -> None:
        self.table = table
