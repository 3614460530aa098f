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


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    originals = {name: getattr(DynamoDBBackend, name) for name in OPERATIONS}
    for name, fn in originals.items():
        setattr(DynamoDBBackend, name, _locked(fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(DynamoDBBackend, name, fn)
