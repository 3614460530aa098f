"""A meter for AWS work: every call any botocore client makes (PynamoDB's and boto3's alike), and for
DynamoDB the capacity units it would be billed, the partition keys they land on and the stream records
its writes make.

Used by the per-step call-count tests and by `bench/webhooks.py`. It wraps
`botocore.client.BaseClient._make_api_call`, so it sees every client, whichever session made it. A call
that fails (a condition not met, a cancelled transaction) is counted too: DynamoDB bills it.

Capacity follows DynamoDB's documented rules (checked by tests/integration/test_dynamo_meter.py with the
documents' own examples):
- item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
  attribute names plus values; strings and binaries by length, numbers 1 byte per two significant digits
  plus 1, null and booleans 1, lists and maps 3 bytes plus 1 per element plus the elements.
- reads (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
  an item rounded up to 4 KB is one unit strongly consistent, half a unit eventually consistent, two
  units transactional. GetItem of a key that is not there costs the same as a small item. BatchGetItem
  bills every key it processed as its own GetItem (each rounded up, missing ones included). Query and
  Scan bill the sum of the sizes of the items they evaluated (before any filter; `Select=COUNT` too),
  rounded up to 4 KB once, at least one unit; a global secondary index is eventually consistent only.
  A projection does not make a read cheaper: the whole item is billed.
- writes (same page): the larger of the item before and after, rounded up to 1 KB, at least one unit;
  a delete, the item deleted; a condition that fails, the item as it stands (at least one unit);
  transactional writes two units per KB
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
- global secondary indexes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html,
  "Provisioned throughput considerations for global secondary indexes"): an item entering an index is
  one write of its index entry, leaving it one write, an index key changing two (delete and put), a
  projected attribute changing one; an item in neither image costs the index nothing. Index entries
  are written asynchronously, outside a transaction: at the standard rate.
- streams: every item a write changes is one stream record; reading the stream is free to a Lambda
  trigger (https://aws.amazon.com/dynamodb/pricing/on-demand/, "DynamoDB Streams"): the meter
  counts those calls (service `dynamodbstreams`) and charges nothing for them.
Not documented, the meter's own reading: a ConditionCheck inside a transaction is billed as a
transactional write of the item it checks, and a cancelled transaction as a failed conditional write of
each item it names, doubled.

To know the sizes of items a call did not return in full, the meter reads them itself (before and after
the call, on the same client), outside the count and outside the timing."""
from __future__ import annotations

import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterator, Mapping

from botocore.client import BaseClient
from botocore.exceptions import ClientError

READ_UNIT = 4096
WRITE_UNIT = 1024
Item = Mapping[str, Mapping[str, Any]]


# --- the documented rules, as plain functions ---------------------------------------------------

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


def item_size(item: Item | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """One read of an item of `size` bytes (0: a key that is not there, billed as a small item)."""
    units = max(1, math.ceil(size / READ_UNIT))
    return float(units * 2) if transactional else float(units) if consistent else units / 2


def write_units(size: int) -> int:
    """One standard write of an item of `size` bytes (a transaction doubles it)."""
    return max(1, math.ceil(size / WRITE_UNIT))


@dataclass(frozen=True)
class Index:
    """A global secondary index: its keys and what it projects."""

    name: str
    hash_key: str
    range_key: str | None = None
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item's entry in this index (None: not in it; a sparse index holds items with its keys)."""
        if not item or self.hash_key not in item or (self.range_key and self.range_key not in item):
            return None
        if self.projection == "ALL":
            return dict(item)
        keep = {*table_keys, self.hash_key, *([self.range_key] if self.range_key else [])}
        if self.projection == "INCLUDE":
            keep |= set(self.included)
        return {k: v for k, v in item.items() if k in keep}

    def writes(self, old: Item | None, new: Item | None, table_keys: tuple[str, ...]) -> list[tuple[Any, int]]:
        """The index writes that turn `old` into `new`: (the index partition key's value, units) each."""
        before, after = self.entry(old, table_keys), self.entry(new, table_keys)
        if before is None and after is None:
            return []
        if before is None:
            return [(after[self.hash_key], write_units(item_size(after)))]  # type: ignore[index]
        if after is None:
            return [(before[self.hash_key], write_units(item_size(before)))]
        keys = (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)
        if any(before.get(k) != after.get(k) for k in keys):  # delete the old entry, put the new one
            return [(before[self.hash_key], write_units(item_size(before))),
                    (after[self.hash_key], write_units(item_size(after)))]
        if before == after:
            return []
        return [(after[self.hash_key], write_units(max(item_size(before), item_size(after))))]

    def write_units(self, old: Item | None, new: Item | None, table_keys: tuple[str, ...]) -> int:
        return sum(units for _, units in self.writes(old, new, table_keys))


@dataclass(frozen=True)
class Schema:
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    streamed: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)

    def key_of(self, item: Item) -> dict[str, Any]:
        return {k: item[k] for k in self.keys}


def item_write_units(schema: Schema, old: Item | None, new: Item | None,
                     transactional: bool = False) -> tuple[int, dict[str, int]]:
    """A write that turned `old` into `new` (None: no item): the table's units (the larger image,
    doubled in a transaction) and each index's (standard rate)."""
    table = write_units(max(item_size(old), item_size(new))) * (2 if transactional else 1)
    return table, {i.name: units for i in schema.indexes if (units := i.write_units(old, new, schema.keys))}


# --- what was metered ---------------------------------------------------------------------------

@dataclass
class Call:
    """One metered call."""
    service: str
    operation: str
    seconds: float
    items_read: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    # (table or table/index, partition key value) -> units spent there
    partitions: dict[tuple[str, str], float] = field(default_factory=dict)
    write_partitions: dict[tuple[str, str], float] = field(default_factory=dict)
    stream_records: int = 0  # items this call changed (one record each on a streamed table)
    changed: list[tuple[str, ...]] = field(default_factory=list)  # the key values of the items it changed
    error: str | None = None  # the error code it failed with
    table: str = ""
    messages: int = 0  # SQS messages sent (a batch counts each)
    tag: str = ""  # the meter's tag when the metering thread made it; OTHER_THREAD otherwise
    cpu: float = 0.0  # CPU seconds of the calling thread inside the call (in-process moto's work)

    @property
    def label(self) -> str:
        return self.operation


OTHER_THREAD = "other thread"


class Calls:
    """Totals over a set of metered calls (`all_calls()`): a meter's, or a bench step's."""

    def all_calls(self) -> list[Call]:
        raise NotImplementedError

    def of(self, service: str) -> list[Call]:
        return [c for c in self.all_calls() if c.service == service]

    def dynamodb(self) -> list[Call]:
        return self.of("dynamodb")

    @property
    def count(self) -> int:
        return len(self.dynamodb())

    def by_operation(self, service: str = "dynamodb") -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.of(service):
            out[c.operation] = out.get(c.operation, 0) + 1
        return out

    def by_service(self) -> dict[str, dict[str, int]]:
        return {service: self.by_operation(service) for service in sorted({c.service for c in self.all_calls()})}

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
    def stream_records(self) -> int:
        return sum(c.stream_records for c in self.dynamodb())

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.of("sqs"))

    @property
    def seconds_in_calls(self) -> float:
        return sum(c.seconds for c in self.all_calls())

    def partition_read_units(self) -> dict[tuple[str, str], float]:
        return self._by_partition("partitions")

    def partition_write_units(self) -> dict[tuple[str, str], float]:
        return self._by_partition("write_partitions")

    def _by_partition(self, name: str) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for c in self.dynamodb():
            for key, units in getattr(c, name).items():
                out[key] = out.get(key, 0.0) + units
        return out


class DynamoMeter(Calls):
    """Collects `Call`s while `metering()` is active. Thread safe. `tag`, set by whoever meters, labels
    the metering thread's calls from then on (what part of the work made them)."""

    def __init__(self, sizing: bool = True, all_threads: bool = False) -> None:
        self.sizing = sizing  # False: count and time calls only (no reads of its own while a step is timed)
        # Only the thread that meters (the webhook's): a workflow moto runs in a thread of its own, or
        # any other background work, is not the step's cost. True: every thread's calls.
        self.all_threads = all_threads
        self.calls: list[Call] = []
        self.tag = ""
        self._lock = threading.Lock()
        self._schemas: dict[str, Schema] = {}

    def all_calls(self) -> list[Call]:
        return self.calls

    def reset(self) -> None:
        with self._lock:
            self.calls = []

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
                call = Call(service=service, operation=operation, seconds=0.0,
                            tag=meter.tag if threading.get_ident() == owner else OTHER_THREAD)
                response: Any = None
                cpu = time.thread_time()
                started = time.perf_counter()
                try:
                    response = original(client, operation, params)
                    return response
                except ClientError as exc:
                    call.error = exc.response.get("Error", {}).get("Code", "error")
                    response = exc.response
                    raise
                finally:
                    call.seconds = time.perf_counter() - started
                    call.cpu = time.thread_time() - cpu
                    if service == "sqs" and call.error is None:  # a refused send sent nothing (e.g. a
                        # workflow left running by an earlier world sending to its queue, since deleted)
                        call.messages = len(params.get("Entries", ())) if operation == "SendMessageBatch" else \
                            int(operation == "SendMessage")
                    if sized:
                        try:
                            meter._charge(client, call, operation, params, response or {}, before or [])
                        except Exception:  # noqa: BLE001 - sizing is best effort; the count stays exact
                            pass
                    with meter._lock:
                        meter.calls.append(call)
            finally:
                local.inside = False

        BaseClient._make_api_call = metered  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    # --- sizing ---------------------------------------------------------------------------

    def _schema(self, client: BaseClient, table: str) -> Schema:
        if table not in self._schemas:
            desc = client.describe_table(TableName=table)["Table"]

            def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
                h = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
                r = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
                return h, r

            h, r = keys(desc["KeySchema"])
            indexes = tuple(Index(i["IndexName"], *keys(i["KeySchema"]),
                                  projection=i.get("Projection", {}).get("ProjectionType", "ALL"),
                                  included=tuple(i.get("Projection", {}).get("NonKeyAttributes", ())))
                            for i in desc.get("GlobalSecondaryIndexes", []))
            streamed = bool(desc.get("StreamSpecification", {}).get("StreamEnabled"))
            self._schemas[table] = Schema(h, r, indexes, streamed)
        return self._schemas[table]

    @staticmethod
    def _get(client: BaseClient, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return client.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")

    @staticmethod
    def _write_targets(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(kind, table, key or the item put) of every item a write call touches."""
        if operation == "PutItem":
            return [("Put", params["TableName"], None)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(operation[:-4], params["TableName"], dict(params["Key"]))]
        if operation == "TransactWriteItems":
            out: list[tuple[str, str, dict[str, Any] | None]] = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                out.append((kind, body["TableName"], dict(body["Key"]) if "Key" in body else None))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "DeleteRequest" in request:
                        out.append(("Delete", table, dict(request["DeleteRequest"]["Key"])))
                    else:
                        out.append(("Put", table, None))
            return out
        return []

    @staticmethod
    def _put_items(operation: str, params: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        if operation == "PutItem":
            return [params["Item"]]
        if operation == "TransactWriteItems":
            return [entry.get("Put", {}).get("Item") for entry in params["TransactItems"]]
        if operation == "BatchWriteItem":
            return [r.get("PutRequest", {}).get("Item") for reqs in params["RequestItems"].values() for r in reqs]
        return [None for _ in DynamoMeter._write_targets(operation, params)]

    def _keys(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        puts = self._put_items(operation, params)
        out = []
        for (kind, table, key), put in zip(self._write_targets(operation, params), puts):
            out.append((kind, table, key if key is not None else self._schema(client, table).key_of(put or {})))
        return out

    def _before(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        return [self._get(client, table, key) for _, table, key in self._keys(client, operation, params)]

    def _charge(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                response: Mapping[str, Any], before: list[dict[str, Any] | None]) -> None:
        if operation == "GetItem":
            table = params["TableName"]
            call.table = table
            item = response.get("Item")
            if item is not None and "ProjectionExpression" in params:
                item = self._get(client, table, params["Key"])
            call.items_read = int(item is not None)
            self._read(client, call, table, params["Key"],
                       read_units(item_size(item), bool(params.get("ConsistentRead"))))
        elif operation == "BatchGetItem":
            self._charge_batch_get(client, call, params, response)
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                body = entry["Get"]
                item = self._get(client, body["TableName"], body["Key"])
                call.items_read += int(item is not None)
                self._read(client, call, body["TableName"], body["Key"], read_units(item_size(item), True, True))
        elif operation in ("Query", "Scan"):
            self._charge_query(client, call, operation, params, response)
        elif operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            self._charge_writes(client, call, operation, params, before)

    def _read(self, client: BaseClient, call: Call, table: str, key: Mapping[str, Any], units: float) -> None:
        call.read_units += units
        self._partition(call.partitions, table, key[self._schema(client, table).hash_key], units)

    def _charge_batch_get(self, client: BaseClient, call: Call, params: Mapping[str, Any],
                          response: Mapping[str, Any]) -> None:
        unprocessed = response.get("UnprocessedKeys") or {}
        for table, request in params["RequestItems"].items():
            call.table = table
            schema = self._schema(client, table)
            found = {tuple(str(item[k]) for k in schema.keys): item
                     for item in response.get("Responses", {}).get(table, [])}
            left = [tuple(str(key[k]) for k in schema.keys) for key in unprocessed.get(table, {}).get("Keys", [])]
            for key in request["Keys"]:
                ident = tuple(str(key[k]) for k in schema.keys)
                if ident in left:
                    continue  # not processed, not billed (asked again later, billed then)
                item = found.get(ident)
                if item is not None and "ProjectionExpression" in request:
                    item = self._get(client, table, key)
                call.items_read += int(item is not None)
                self._read(client, call, table, key, read_units(item_size(item), bool(request.get("ConsistentRead"))))

    def _charge_query(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                      response: Mapping[str, Any]) -> None:
        table = params["TableName"]
        index = params.get("IndexName")
        call.table = f"{table}/{index}" if index else table
        call.items_read = int(response.get("ScannedCount", response.get("Count", 0)))
        # What it evaluated: the same page without its filter, projection or COUNT.
        again = {k: v for k, v in params.items()
                 if k not in ("Select", "ProjectionExpression", "FilterExpression", "ReturnConsumedCapacity")}
        if "FilterExpression" in params:  # the names and values only the filter used must go with it
            used = set(re.findall(r"[:#][A-Za-z0-9_]+", str(params.get("KeyConditionExpression", ""))))
            for name in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
                kept = {k: v for k, v in again.pop(name, {}).items() if k in used}
                if kept:
                    again[name] = kept
        again["Select"] = "ALL_PROJECTED_ATTRIBUTES" if index else "ALL_ATTRIBUTES"
        items = (client.query if operation == "Query" else client.scan)(**again).get("Items", [])
        consistent = bool(params.get("ConsistentRead")) and not self._is_global(client, table, index)
        call.read_units = float(max(1, math.ceil(sum(item_size(i) for i in items) / READ_UNIT)))
        call.read_units *= 1.0 if consistent else 0.5
        if operation == "Query":
            values = params.get("ExpressionAttributeValues", {})
            # the partition: the value compared with '=' on the hash key (the first placeholder used with '=')
            first = params.get("KeyConditionExpression", "").split("AND")[0]
            placeholder = next((tok for tok in first.replace("=", " ").split() if tok.startswith(":")), None)
            if placeholder and placeholder in values:
                self._partition(call.partitions, call.table, values[placeholder], call.read_units)

    def _is_global(self, client: BaseClient, table: str, index: str | None) -> bool:
        return bool(index) and any(i.name == index for i in self._schema(client, table).indexes)

    def _charge_writes(self, client: BaseClient, call: Call, operation: str, params: Mapping[str, Any],
                       before: list[dict[str, Any] | None]) -> None:
        transactional = operation == "TransactWriteItems"
        for i, (kind, table, key) in enumerate(self._keys(client, operation, params)):
            call.table = table
            schema = self._schema(client, table)
            old = before[i] if i < len(before) else None
            if call.error is not None:  # nothing written: the condition (or another item's) failed
                if call.error in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                    units = write_units(item_size(old)) * (2 if transactional else 1)
                    call.write_units += units
                    self._partition(call.write_partitions, table, key[schema.hash_key], units)
                continue
            if kind == "ConditionCheck":
                units = write_units(item_size(old)) * 2
                call.write_units += units
                self._partition(call.write_partitions, table, key[schema.hash_key], units)
                continue
            new = self._get(client, table, key)
            table_units, index_units = item_write_units(schema, old, new, transactional)
            call.write_units += table_units + sum(index_units.values())
            self._partition(call.write_partitions, table, key[schema.hash_key], table_units)
            for index in schema.indexes:
                for value, units in index.writes(old, new, schema.keys):
                    self._partition(call.write_partitions, f"{table}/{index.name}", value, units)
            if old != new:
                call.changed.append(tuple(str(next(iter(key[k].values()))) for k in schema.keys))
                call.stream_records += int(schema.streamed)

    @staticmethod
    def _partition(partitions: dict[tuple[str, str], float], where: str, value: Mapping[str, Any],
                   units: float) -> None:
        (_, inner), = value.items()
        key = (where, str(inner))
        partitions[key] = partitions.get(key, 0.0) + units


@contextmanager
def metered(sizing: bool = True, all_threads: bool = False) -> Iterator[DynamoMeter]:
    """`with metered() as meter:` ... `meter.count`, `meter.by_operation()`. Without sizing: counts and
    time in calls only (the meter's own reads would otherwise fall inside a timed step)."""
    meter = DynamoMeter(sizing, all_threads)
    with meter.metering():
        yield meter
