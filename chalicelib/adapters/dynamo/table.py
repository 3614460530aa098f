"""The one table every role adapter shares: one client, transactions retried on conflicts and
throttling, batched reads, conditional ticket updates."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, TicketNotFoundError
from ...domain.model import Ticket, split_ticket_id
from .items import call_done, count_line
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


MOVE_TRIES = 4  # a ticket that keeps changing state under a move (each try follows the state it found)


def cancellation_codes(exc: TransactWriteError) -> list[str]:
    """The per-item codes of a cancelled transaction ('None' for items that were not the reason)."""
    return [reason.code if reason is not None else "None" for reason in exc.cancellation_reasons]


@dataclass(frozen=True)
class Move:
    """One way a ticket change goes from one state it may be in: the update, the condition that it is in
    that state, and what it does to the line (items.LEFT, items.CAME_BACK, or 0), in the ticket's class.
    `also` adds the change's other items to its transaction (their conditions must hold too)."""

    actions: list[Any]
    condition: Any
    line: int = 0
    priority: int = 0
    also: Callable[[TransactWrite], None] | None = field(default=None, compare=False)


# A move for the state a ticket was found in (None: not knowing, the likely one), or None: not allowed.
Plan = Callable[[Ticket | None], Move | None]


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
        reasons = self.transact_reasons(build)
        return None if reasons is None else [r.code if r is not None else "None" for r in reasons]

    def transact_reasons(self, build: Callable[[TransactWrite], None]) -> list[CancellationReason | None] | None:
        """transact, answering the cancellation reasons themselves (with the item as it was, for an
        update asked to return it on a failed condition)."""
        for attempt in range(TX_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    build(tx)
                return None
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if CONDITION_FAILED in codes:
                    return list(exc.cancellation_reasons)
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

    def let_go(self, ticket_id: str, plan: Plan | Move, call_id: str | None) -> bool:
        """A ticket move after which the ticket no longer holds its call: with `call_id`, the call's item
        says so in the same transaction (a status callback arriving before the stream does reads one item).
        A Move rather than a plan: from that one state only (nothing to follow when it is not)."""
        follow = not isinstance(plan, Move)
        chosen: Plan = plan if not isinstance(plan, Move) else (lambda found, m=plan: m if found is None else None)
        if call_id:
            def with_call(found: Ticket | None) -> Move | None:
                move = chosen(found)
                return None if move is None else replace(move, also=lambda tx: call_done(tx, call_id))

            codes = self.move(ticket_id, with_call, follow)
            if codes is None or codes[0] == CONDITION_FAILED:
                return codes is None
            # no such call item: the change alone
        return self.move(ticket_id, chosen, follow) is None

    def move(self, ticket_id: str, plan: Plan, follow: bool = True) -> list[str] | None:
        """Change a ticket the way `plan` says for the state it is in, moving the queue's line counts in
        the same transaction when the ticket enters or leaves the line. The first try assumes the likely
        state (plan(None)); a failed condition brings the item back as it was, and the next try follows
        it (`follow`: a plain update that failed reads the ticket for that; without, it is refused). None
        when written; else the per-item codes that refused it, the ticket's first ([CONDITION_FAILED]
        when the plan allows no change from the state found: a race lost, a duplicate)."""
        queue_id, number = split_ticket_id(ticket_id)
        refused = [CONDITION_FAILED]
        found: Ticket | None = None
        for _ in range(MOVE_TRIES):
            move = plan(found)
            if move is None:
                return refused
            if not move.line and move.also is None:  # no other item: one conditional update
                if self.update(ticket_id, move.actions, move.condition):
                    return None
                if not follow:
                    return refused
                try:
                    again = self.get(ticket_id)
                except TicketNotFoundError:
                    return refused
                if again == found:
                    return refused
                found = again
                continue

            own_at = [0]

            def write(tx: TransactWrite, move: Move = move) -> None:
                tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=move.actions,
                          condition=move.condition, return_values="ALL_OLD")
                if move.line:
                    count_line(tx, queue_id, move.priority, move.line)
                if move.also is not None:
                    move.also(tx)
                # PynamoDB sends condition checks, deletes and puts before updates (whatever order they
                # were added in): the ticket's reason is that of the first update
                own_at[0] = len(tx._condition_check_items) + len(tx._delete_items) + len(tx._put_items)

            reasons = self.transact_reasons(write)
            if reasons is None:
                return None
            reasons = [reasons[own_at[0]], *reasons[:own_at[0]], *reasons[own_at[0] + 1:]]  # the ticket's first
            own = reasons[0]
            codes = [r.code if r is not None else "None" for r in reasons]
            if own is None or own.code != CONDITION_FAILED or not own.raw_item:
                return codes  # another item refused it, or there is no such ticket
            again = TicketItem.from_raw_data(own.raw_item).to_ticket()
            if again == found:
                return codes  # the state the move was for: something else in it refused the change
            found = again
        raise StoreUnavailableError(f"ticket {ticket_id} kept changing")

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
