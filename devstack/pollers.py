"""What AWS's event source mappings do for the Lambda functions, done locally by polling:
the dial queue feeds `workers.on_dial_message`, the table's stream feeds `workers.on_table_change`,
through the same event filter the stack declares for that mapping (infra/app.yaml: `deployed_filters`),
with the same bounded retries and dead-letter destination (`deployed_retries`)."""
from __future__ import annotations

import json
import logging
import random
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import boto3
import yaml
from botocore.config import Config

log = logging.getLogger(__name__)
APP_TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "app.yaml"


@lru_cache(maxsize=1)
def _stream_mapping() -> Mapping[str, Any]:
    """The table stream mapping's properties, as infra/app.yaml declares them for AWS."""
    template = yaml.safe_load(APP_TEMPLATE.read_text(encoding="utf-8"))
    source = template["Resources"]["TableStream"]["Properties"]["Events"]["TableStreamDynamodbEventSource"]
    return source["Properties"]


def deployed_filters() -> tuple[Mapping[str, Any], ...]:
    """The table stream mapping's filter patterns."""
    return tuple(json.loads(f["Pattern"]) for f in _stream_mapping()["FilterCriteria"]["Filters"])


def deployed_retries() -> int:
    """How many times the mapping retries a failing record before sending it to its on-failure
    destination (MaximumRetryAttempts: the first try is not a retry)."""
    return int(_stream_mapping()["MaximumRetryAttempts"])


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda's event filtering for one pattern: every field it names matches (objects field by field,
    lists as any of their values or operators). The operators Holdfast uses, and a few more; any other
    is refused rather than guessed (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html)."""
    for name, wanted in pattern.items():
        present = isinstance(record, Mapping) and name in record
        value = record.get(name) if present else None
        if isinstance(wanted, Mapping):
            if not present or not matches(wanted, value):
                return False
        elif not any(_matches_one(rule, present, value) for rule in wanted):
            return False
    return True


def _matches_one(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, Mapping) and "exists" in rule:
        return present is bool(rule["exists"])
    if not present:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_scalar(rule, v) for v in values)


def _scalar(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return rule == value
    (op, arg), = rule.items()
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "anything-but":
        if isinstance(arg, Mapping):
            return not _scalar(arg, value)
        return value not in (arg if isinstance(arg, list) else [arg])
    raise ValueError(f"filter operator {op!r} is not emulated")


def passes(filters: Sequence[Mapping[str, Any]] | None, record: Mapping[str, Any]) -> bool:
    """Whether a mapping with these filters (any one of them; None: no filter) hands the record on."""
    return filters is None or any(matches(f, record) for f in filters)


class SqsPoller:
    def __init__(self, queue_url: str, handler: Callable[[str], None], endpoint_url: str | None = None,
                 region: str = "us-east-1") -> None:
        self.queue_url = queue_url
        self.handler = handler
        self.sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Handle what is there now; a message whose handler raises is left for redelivery, as in AWS."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=wait_seconds).get("Messages", [])
        for message in messages:
            try:
                self.handler(message["Body"])
            except Exception:  # noqa: BLE001 - the worker's failure is SQS's to retry
                log.exception("dial worker failed; message will be redelivered")
                continue
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)


class StreamPoller:
    MAX_ATTEMPTS = 1 + deployed_retries()  # the first try and the mapping's retries

    def __init__(self, table_name: str, handler: Callable[..., None], endpoint_url: str | None = None,
                 region: str = "us-east-1", with_event_id: bool = False,
                 filters: Sequence[Mapping[str, Any]] | None = None) -> None:
        """`with_event_id`: the handler takes each record's event id too (as the Lambda's does).
        `filters`: the mapping's event filter (`deployed_filters()` for the table's consumer); records
        it drops are counted in `filtered`, never handed on."""
        self.handler = handler
        self.with_event_id = with_event_id
        self.filters = filters
        self.filtered = 0  # records the filter dropped
        self.unchanged = 0  # records of writes that changed nothing (DynamoDB writes none; moto does)
        # Records given up on after MAX_ATTEMPTS: the mapping's on-failure destination (an SQS queue in
        # AWS), here a list the stack's state and the tests read. What they described, the minute sweep
        # recounts (workers.reconcile).
        self.dead_letters: list[dict[str, Any]] = []
        ddb = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
        # botocore sends stream calls to an account-id host ({account}.streams-ddb...), which
        # in-process moto does not route; the regional endpoint serves the same API.
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint_url, region_name=region,
                                    config=Config(account_id_endpoint_mode="disabled"))
        arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterators = [self.streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"],
                                                          ShardIteratorType="LATEST")["ShardIterator"]
                          for s in shards]
        self.pending: list[list[dict[str, Any]]] = [[] for _ in self.iterators]  # fetched, not yet done
        self.fetched = [1 for _ in self.iterators]  # records for the consumer the shard's last read brought
        self.failures: dict[str, int] = {}  # event id -> failed attempts

    def poll_once(self) -> int:
        """Hand each new record to the handler in order. A record whose handler raises is handed again
        on the next poll, and the shard waits behind it (as a Lambda's stream mapping retries its batch);
        after MAX_ATTEMPTS it is logged and skipped, as a mapping with a retry limit would."""
        handled = 0
        for index, iterator in enumerate(self.iterators):
            if not self.pending[index]:
                response = self.streams.get_records(ShardIterator=iterator, Limit=100)
                self.iterators[index] = response["NextShardIterator"]
                self.pending[index] = list(response["Records"])
                self.fetched[index] = sum(1 for r in self.pending[index] if self._consumed(r))
            records = self.pending[index]
            while records:
                if not self._handle(records[0]):
                    break
                records.pop(0)
                handled += 1
        return handled

    def report(self) -> dict[str, Any]:
        """Whether the consumer has caught up with the table (nothing pending, the last read of every
        shard brought nothing it would hand on), and the records it gave up on."""
        return {"caught_up": not any(self.pending) and not any(self.fetched), "dead_letters": len(self.dead_letters)}

    def _consumed(self, record: dict[str, Any]) -> bool:
        """Whether the record reaches the consumer: it changed something and the filter passes it."""
        change = record["dynamodb"]
        unchanged = record.get("eventName") == "MODIFY" and change.get("NewImage") == change.get("OldImage")
        return not unchanged and passes(self.filters, record)

    def _handle(self, record: dict[str, Any]) -> bool:
        """Whether the record is done with (handled, filtered out, or given up on)."""
        change, event_id = record["dynamodb"], record["eventID"]
        images = (change.get("NewImage"), change.get("OldImage"))
        if record.get("eventName") == "MODIFY" and images[0] == images[1]:
            self.unchanged += 1  # "no stream record" for a write that changes nothing, in DynamoDB
            return True
        if not passes(self.filters, record):
            self.filtered += 1
            return True
        try:
            self.handler(*images, event_id) if self.with_event_id else self.handler(*images)
        except Exception:  # noqa: BLE001 - one bad record must not stop the stream for good
            self.failures[event_id] = self.failures.get(event_id, 0) + 1
            if self.failures[event_id] < self.MAX_ATTEMPTS:
                log.warning("stream handler failed on %s (attempt %d); it will be handed again",
                            event_id, self.failures[event_id], exc_info=True)
                return False
            log.exception("stream handler failed on %s %d times; sent to the dead letters", event_id,
                          self.MAX_ATTEMPTS)
            self.dead_letters.append({"eventID": event_id, "eventName": record.get("eventName"),
                                      "keys": change.get("Keys"), "attempts": self.MAX_ATTEMPTS})
        self.failures.pop(event_id, None)
        return True


class InjectedFault(RuntimeError):
    """A failure `Faulty` made up (the local stack's --stream-faults)."""


class Faulty:
    """A stream consumer that fails on a share of its deliveries before doing anything, as a consumer
    whose dependency times out would; each delivery draws from a generator seeded by the seed, the
    record's id and the attempt."""

    def __init__(self, handler: Callable[..., None], rate: float, seed: int) -> None:
        self.handler, self.rate, self.seed = handler, rate, seed
        self.tries: dict[str, int] = {}
        self.injected = 0  # deliveries failed on purpose

    def __call__(self, new: Any, old: Any, event_id: str) -> None:
        self.tries[event_id] = attempt = self.tries.get(event_id, 0) + 1
        if random.Random(f"{self.seed}/{event_id}/{attempt}").random() < self.rate:
            self.injected += 1
            raise InjectedFault(f"injected stream fault on {event_id} (attempt {attempt})")
        self.handler(new, old, event_id)


class Pump(threading.Thread):
    """Runs pollers until stopped."""

    def __init__(self, pollers: list[Any], interval: float = 0.2, name: str = "holdfast-pump") -> None:
        super().__init__(name=name, daemon=True)
        self.pollers = pollers
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            busy = 0
            for poller in self.pollers:
                try:
                    busy += poller.poll_once()
                except Exception:  # noqa: BLE001 - keep pumping; AWS retries event sources too
                    log.exception("poller failed")
            if not busy:
                self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


class Every:
    """Calls a function every `seconds` (what a schedule does in AWS, more often)."""

    def __init__(self, seconds: float, fn: Callable[[], Any]) -> None:
        self.seconds = seconds
        self.fn = fn
        self.next_at = 0.0

    def poll_once(self) -> int:
        import time

        now = time.monotonic()
        if now < self.next_at:
            return 0
        self.next_at = now + self.seconds
        return int(self.fn() or 0)
