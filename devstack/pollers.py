"""What AWS's event source mappings do for the Lambda functions, done locally by polling:
the dial queue feeds `workers.on_dial_message`, the table's stream feeds `workers.on_table_change`."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import boto3
from botocore.config import Config

log = logging.getLogger(__name__)


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
    MAX_ATTEMPTS = 10

    def __init__(self, table_name: str, handler: Callable[..., None], endpoint_url: str | None = None,
                 region: str = "us-east-1", with_event_id: bool = False) -> None:
        """`with_event_id`: the handler takes each record's event id too (as the Lambda's does)."""
        self.handler = handler
        self.with_event_id = with_event_id
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
            records = self.pending[index]
            while records:
                if not self._handle(records[0]):
                    break
                records.pop(0)
                handled += 1
        return handled

    def _handle(self, record: dict[str, Any]) -> bool:
        """Whether the record is done with (handled, or given up on)."""
        change, event_id = record["dynamodb"], record["eventID"]
        images = (change.get("NewImage"), change.get("OldImage"))
        try:
            self.handler(*images, event_id) if self.with_event_id else self.handler(*images)
        except Exception:  # noqa: BLE001 - one bad record must not stop the stream for good
            self.failures[event_id] = self.failures.get(event_id, 0) + 1
            if self.failures[event_id] < self.MAX_ATTEMPTS:
                log.warning("stream handler failed on %s (attempt %d); it will be handed again",
                            event_id, self.failures[event_id], exc_info=True)
                return False
            log.exception("stream handler failed on %s %d times; skipped", event_id, self.MAX_ATTEMPTS)
        self.failures.pop(event_id, None)
        return True


class Pump(threading.Thread):
    """Runs pollers until stopped."""

    def __init__(self, pollers: list[Any], interval: float = 0.2) -> None:
        super().__init__(name="holdfast-pump", daemon=True)
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
