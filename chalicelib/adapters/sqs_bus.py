"""The EventBus on SQS (the notify queue the workflow's Notify step also writes to)."""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ..ports import EventBus

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
