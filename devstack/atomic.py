"""DynamoDB applies each conditional write and each transaction atomically; moto does not lock, so
two threads can both pass a condition, and concurrent writes to one item can even crash it
("dictionary changed size during iteration"). Serialising moto's DynamoDB writes restores the
service's guarantee, for the local stack and for the tests alike.

And moto makes every transaction deep-copy each table it names (items and stream records: all of
them, ever), to roll back if one condition fails: the cost of a transaction grows with everything the
table has seen. Here the conditions are checked first (a refused transaction changes nothing, as in
DynamoDB) and only the items a transaction names are backed up (`lean_transactions`, which the
webhook bench uses on its own too)."""
from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan")
_lock = threading.RLock()


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _keeping_streams(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A failed transaction makes moto put back a deep copy of each table, stream shard included:
    readers holding an iterator on the old shard then never see another record (a dead stream).
    Keep the shard object and give it the restored records, as DynamoDB's stream simply goes on."""
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        shards = {name: table.stream_shard for name, table in self.tables.items()}
        try:
            return fn(self, *args, **kwargs)
        finally:
            for name, shard in shards.items():
                table = self.tables.get(name)
                if shard is not None and table is not None and table.stream_shard is not shard:
                    shard.items, shard.table = table.stream_shard.items, table
                    table.stream_shard = shard

    return wrapper


def _lean(fn: Callable[..., Any]) -> Callable[..., Any]:
    """moto's transact_write_items without its whole-table copies: every item's condition is checked
    before anything is written (refused: TransactionCanceledException with the reasons moto gives, the
    items asked for included), then moto writes with only the items the transaction names backed up,
    put back if any other failure cancels it: the same outcome, at a cost that does not grow with the
    table (or with the stream records it keeps)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class NoTableCopy:  # what moto's module calls `copy` while a transaction runs
        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        checked, backups = [], []
        for entry in transact_items[:100]:  # more: moto refuses the transaction before writing
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            h, r = DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
            current = table.items.get(h, {}).get(r)
            backups.append((table, h, r, copy.deepcopy(current)))
            expression = op.get("ConditionExpression")
            if expression and not get_filter_expression(expression, op.get("ExpressionAttributeNames"),
                                                        op.get("ExpressionAttributeValues")).expr(current):
                old = current.to_json()["Attributes"] if current is not None and op.get(
                    "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                checked.append(("ConditionalCheckFailed", "The conditional request failed", old))
            else:
                checked.append((None, None, None))
        if any(code for code, _, _ in checked):
            raise TransactionCanceledException(checked)
        models.copy = NoTableCopy()  # type: ignore[assignment]
        try:
            return fn(self, transact_items, *args, **kwargs)
        except Exception:
            for table, h, r, before in reversed(backups):
                if before is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = before
            raise
        finally:
            models.copy = copy  # type: ignore[assignment]

    transact.__wrapped__ = fn  # type: ignore[attr-defined]
    return transact


@contextmanager
def lean_transactions() -> Iterator[None]:
    """moto's transactions without their whole-table copies (`_lean`), while inside."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = _lean(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    originals = {name: getattr(DynamoDBBackend, name) for name in OPERATIONS}
    for name, fn in originals.items():
        setattr(DynamoDBBackend, name, _locked(_keeping_streams(_lean(fn)) if name == "transact_write_items" else fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(DynamoDBBackend, name, fn)
