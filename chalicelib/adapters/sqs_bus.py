"""The EventBus on SQS (the notify queue the workflow's Notify step also writes to), and the pace's
alarm (a delayed message on the dial queue, which the dial worker answers by draining the backlog)."""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ..ports import Alarm, EventBus

log = logging.getLogger(__name__)


class SqsEventBus(EventBus):
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def publish(self, event: Mapping[str, Any]) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(dict(event)))
        except (BotoCoreError, ClientError):
            # A notification must never cost a caller their call: log it and carry on.
            log.exception("could not queue event", extra={"event": event.get("event")})


MAX_DELAY_SECONDS = 900  # SQS's longest delay; a later slot is reached by the next alarm or the sweep


class SqsAlarm(Alarm):
    """`{"pace": account}` on the dial queue, delayed until the account's next slot."""

    def __init__(self, client: Any, queue_url: str, now: Callable[[], datetime]) -> None:
        self._client = client
        self._queue_url = queue_url
        self._now = now

    def wake(self, account: str, at: datetime) -> None:
        delay = min(MAX_DELAY_SECONDS, max(0, math.ceil((at - self._now()).total_seconds())))
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"pace": account}),
                                      DelaySeconds=delay)
        except (BotoCoreError, ClientError):
            # the minute sweep drains the backlog too: a lost alarm delays dials by a minute at most
            log.exception("could not set the pace's alarm", extra={"account": account})
