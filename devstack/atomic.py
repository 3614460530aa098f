"""DynamoDB applies each conditional write and each transaction atomically; moto does not lock, so
two threads can both pass a condition, and concurrent writes to one item can even crash it
("dictionary changed size during iteration"). Serialising moto's DynamoDB writes restores the
service's guarantee, for the local stack and for the tests alike."""
from __future__ import annotations

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


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    originals = {name: getattr(DynamoDBBackend, name) for name in OPERATIONS}
    for name, fn in originals.items():
        setattr(DynamoDBBackend, name, _locked(_keeping_streams(fn) if name == "transact_write_items" else fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(DynamoDBBackend, name, fn)
