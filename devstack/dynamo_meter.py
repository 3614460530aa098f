"""A meter for DynamoDB work: every call any botocore client makes (PynamoDB's and boto3's alike),
with the items it read and the capacity units DynamoDB would charge for it.

Used by the per-step call-count tests and by `bench/webhooks.py`. It wraps
`botocore.client.BaseClient._make_api_call`, so it sees every client, whichever session made it.

Capacity is estimated by DynamoDB's published rules, from the items themselves:
- item size: attribute names plus values (strings and binaries by length, numbers about one byte per
  two significant digits plus one, lists and maps 3 bytes plus their elements);
- reads: GetItem ceil(size / 4 KB), Query ceil(sum of the sizes it evaluated / 4 KB), halved when
  eventually consistent; BatchGetItem per item; Select=COUNT is charged like the read it performs;
- writes: ceil(size / 1 KB) of the larger of the item before and after, per table and per index the
  item is in (before or after), doubled inside a transaction; a transaction's ConditionCheck is
  charged as a transactional write of the item it reads.
To know the sizes of items a call did not return, the meter reads them itself afterwards, on the same
client, outside the count and outside the timing.
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from botocore.client import BaseClient

READ_UNIT = 4096
WRITE_UNIT = 1024


def attribute_size(value: Mapping[str, Any]) -> int:
    """Size of one attribute value in DynamoDB's wire format ({'S': ...}, {'N': ...}, ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        digits = str(Decimal(inner).normalize()).lstrip("-").replace(".", "").lstrip("0")
        digits = digits.split("E")[0]
        return max(1, math.ceil(len(digits) / 2)) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


@dataclass
class Call:
    """One metered call."""
    service: str
    operation: str
    seconds: float
    items_read: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    # (table or table/index, partition key value) -> read units spent there
    partitions: dict[tuple[str, str], float] = field(default_factory=dict)
    table: str = ""

    @property
    def label(self) -> str:
        return self.operation


@dataclass
class _Schema:
    hash_key: str
    range_key: str | None
    indexes: dict[str, tuple[str, str | None]]  # index -> (hash, range)


class DynamoMeter:
    """Collects `Call`s while `metering()` is active. Thread safe."""

    def __init__(self, sizing: bool = True, all_threads: bool = False) -> None:
        self.sizing = sizing  # False: count and time calls only (no reads of its own while a step is timed)
        # Only the thread that meters (the webhook's): a workflow moto runs in a thread of its own, or
        # any other background work, is not the step's cost. True: every thread's calls.
        self.all_threads = all_threads
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._schemas: dict[str, _Schema] = {}

    # --- summaries ------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.calls = []

    def dynamodb(self) -> list[Call]:
        return [c for c in self.calls if c.service == "dynamodb"]

    @property
    def count(self) -> int:
        return len(self.dynamodb())

    def by_operation(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.dynamodb():
            out[c.operation] = out.get(c.operation, 0) + 1
        return out

    @property
    def items_read(self) -> int:
        return sum(c.items_read for c in self.dynamodb())

    @property
    def read_units(self) -> float:
        return sum(c.read_units for c in self.dynamodb())

    @property
    def write_units(self) -> float:
        return sum(c.write_units for c in self.dynamodb())

    @property
    def seconds_in_calls(self) -> float:
        return sum(c.seconds for c in self.calls)

    def partition_read_units(self) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for c in self.dynamodb():
            for key, units in c.partitions.items():
                out[key] = out.get(key, 0.0) + units
        return out

    # --- the hook -------------------------------------------------------------------------

    @contextmanager
    def metering(self) -> Iterator["DynamoMeter"]:
        original = BaseClient._make_api_call
        meter = self
        local = threading.local()
        owner = threading.get_ident()

        def metered(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if getattr(local, "inside", False):  # the meter's own reads, or a nested call
                return original(client, operation, params)
            if not meter.all_threads and threading.get_ident() != owner:
                return original(client, operation, params)
            local.inside = True
            try:
                service = client.meta.service_model.service_name
                sized = service == "dynamodb" and meter.sizing
                before = meter._before(client, operation, params) if sized else None
                started = time.perf_counter()
                try:
                    response = original(client, operation, params)
                finally:
                    seconds = time.perf_counter() - started
                call = Call(service=service, operation=operation, seconds=seconds)
                if sized:
                    try:
                        meter._charge(client, call, operation, params, response, before)
                    except Exception:  # noqa: BLE001 - sizing is best effort; the count stays exact
                        pass
                with meter._lock:
                    meter.calls.append(call)
                return response
            finally:
                local.inside = False

        BaseClient._make_api_call = metered  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    # --- sizing ---------------------------------------------------------------------------

    def _schema(self, client: BaseClient, table: str) -> _Schema:
        if table not in self._schemas:
            desc = client.describe_table(TableName=table)["Table"]

            def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
                h = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
                r = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
                return h, r

            h, r = keys(desc["KeySchema"])
            indexes = {i["IndexName"]: keys(i["KeySchema"])
                       for i in desc.get("GlobalSecondaryIndexes", []) + desc.get("LocalSecondaryIndexes", [])}
            self._schemas[table] = _Schema(h, r, indexes)
        return self._schemas[table]

    def _get(self, client: BaseClient, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return client.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")

    def _write_targets(self, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, table, key) of every item a write call touches."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params.get("Key") or {}
            return [(operation, params["TableName"], dict(key) if key else {})]
        if operation == "TransactWriteItems":
            out = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                out.append((kind, body["TableName"], dict(body.get("Key") or {})))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "DeleteRequest" in request:
                        out.append(("Delete", table, dict(request["DeleteRequest"]["Key"])))
                    else:
                        out.append(("Put", table, {}))
            return out
        return []

    def _item_key(self, client: BaseClient, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        schema = self._schema(client, table)
        key = {schema.hash_key: item[schema.hash_key]}
        if schema.range_key:
            key[schema.range_key] = item[schema.range_key]
        return key

    def _before(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        befores: list[dict[str, Any] | None] = []
        items = self._put_items(operation, params)
        for i, (kind, table, key) in enumerate(self._write_targets(operation, params)):
            if not key and items[i] is not None:
                key = self._item_key(client, table, items[i])  # type: ignore[arg-type]
            befores.append(self._get(client, table, key) if key else None)
        return befores

    def _put_items(self, operation: str, params: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        if operation == "PutItem":
            return [params["Item"]]
        if operation == "TransactWriteItems":
            return [entry.get("Put", {}).get("Item") for entry in params["TransactItems"]]
        if operation == "BatchWriteItem":
            return [r.get("PutRequest", {}).get("Item") for reqs in params["RequestItems"].values() for r in reqs]
        return [None for _ in self._write_targets(operation, params)]

    def _charge(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                response: Mapping[str, Any], before: list[dict[str, Any] | None] | None) -> None:
        if operation == "GetItem":
            item = response.get("Item")
            call.table = params["TableName"]
            call.items_read = 1 if item else 0
            units = max(1, math.ceil(item_size(item) / READ_UNIT)) * (1.0 if params.get("ConsistentRead") else 0.5)
            call.read_units = units
            schema = self._schema(client, params["TableName"])
            self._partition(call, params["TableName"], params["Key"][schema.hash_key], units)
        elif operation == "BatchGetItem":
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    call.items_read += 1
                    units = max(1, math.ceil(item_size(item) / READ_UNIT)) * 0.5
                    call.read_units += units
                    schema = self._schema(client, table)
                    self._partition(call, table, item[schema.hash_key], units)
        elif operation in ("Query", "Scan"):
            self._charge_query(client, call, operation, params, response)
        elif operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            self._charge_writes(client, call, operation, params, before or [])
        elif operation == "TransactGetItems":
            for entry in response.get("Responses", []):
                item = entry.get("Item")
                call.items_read += 1 if item else 0
                call.read_units += 2 * max(1, math.ceil(item_size(item) / READ_UNIT))

    def _charge_query(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                      response: Mapping[str, Any]) -> None:
        table = params["TableName"]
        index = params.get("IndexName")
        call.table = f"{table}/{index}" if index else table
        call.items_read = int(response.get("ScannedCount", response.get("Count", 0)))
        items = response.get("Items")
        if params.get("Select") == "COUNT" or items is None:
            again = {k: v for k, v in params.items() if k not in ("Select", "ProjectionExpression")}
            again["Select"] = "ALL_PROJECTED_ATTRIBUTES" if index else "ALL_ATTRIBUTES"
            fn = client.query if operation == "Query" else client.scan
            items = fn(**again).get("Items", [])
        size = sum(item_size(i) for i in items)
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        call.read_units = max(1, math.ceil(size / READ_UNIT)) * factor
        if operation == "Query":
            values = params.get("ExpressionAttributeValues", {})
            # the partition: the value compared with '=' on the hash key (the first placeholder used with '=')
            condition = params.get("KeyConditionExpression", "")
            first = condition.split("AND")[0]
            placeholder = next((tok for tok in first.replace("=", " ").split() if tok.startswith(":")), None)
            if placeholder and placeholder in values:
                self._partition(call, call.table, values[placeholder], call.read_units)

    def _charge_writes(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                       before: list[dict[str, Any] | None]) -> None:
        transactional = operation == "TransactWriteItems"
        puts = self._put_items(operation, params)
        for i, (kind, table, key) in enumerate(self._write_targets(operation, params)):
            call.table = table
            old = before[i] if i < len(before) else None
            if not key and puts[i] is not None:
                key = self._item_key(client, table, puts[i])  # type: ignore[arg-type]
            new = self._get(client, table, key) if key else None
            if kind == "ConditionCheck":
                call.write_units += 2 * max(1, math.ceil(item_size(old) / WRITE_UNIT))
                continue
            units = max(1, math.ceil(max(item_size(old), item_size(new)) / WRITE_UNIT))
            schema = self._schema(client, table)
            for h, _r in schema.indexes.values():
                if (old and h in old) or (new and h in new):
                    units += max(1, math.ceil(max(item_size(old), item_size(new)) / WRITE_UNIT))
            call.write_units += units * (2 if transactional else 1)

    @staticmethod
    def _partition(call: Call, where: str, value: Mapping[str, Any], units: float) -> None:
        (_, inner), = value.items()
        key = (where, str(inner))
        call.partitions[key] = call.partitions.get(key, 0.0) + units


@contextmanager
def metered(sizing: bool = True, all_threads: bool = False) -> Iterator[DynamoMeter]:
    """`with metered() as meter:` ... `meter.count`, `meter.by_operation()`. Without sizing: counts and
    time in calls only (the meter's own reads would otherwise fall inside a timed step)."""
    meter = DynamoMeter(sizing, all_threads)
    with meter.metering():
        yield meter
