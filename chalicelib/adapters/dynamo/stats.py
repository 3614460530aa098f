"""The QueueStats role on DynamoDB: the estimator state (QUEUE#/STATS) and the told estimate."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from pynamodb.exceptions import DoesNotExist, PutError

from ...ports import QueueStats
from .schema import StatsItem, TicketItem, queue_pk
from .table import OnTable, PREFETCH_SECONDS


class DynamoQueueStats(OnTable, QueueStats):
    """Each queue's estimator state (QUEUE#/STATS), and the estimate each caller was told."""

    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        self.table.update(ticket_id, [TicketItem.told_shape.set(round(shape, 6)), TicketItem.told_scale.set(round(scale, 6)),
                                      TicketItem.told_ahead.set(ahead) if ahead is not None
                                      else TicketItem.told_ahead.remove()])

    def queue_stats(self, queue_id: str) -> dict[str, Any] | None:
        read = self.table.prefetched.pop(queue_id, None)
        if read is not None and time.monotonic() - read[0] <= PREFETCH_SECONDS:
            return read[1]
        try:
            return json.loads(StatsItem.get(queue_pk(queue_id), "STATS", consistent_read=True).state)
        except DoesNotExist:
            return None

    def update_queue_stats(self, queue_id: str, apply: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
        for _ in range(5):  # optimistic: on a concurrent update, read again and re-apply
            try:
                item = StatsItem.get(queue_pk(queue_id), "STATS", consistent_read=True)
                state, version = json.loads(item.state), int(item.version)
            except DoesNotExist:
                state, version = None, 0
            condition = StatsItem.pk.does_not_exist() if version == 0 else StatsItem.version == version
            try:
                StatsItem(queue_pk(queue_id), "STATS", state=json.dumps(apply(state)), version=version + 1).save(
                    condition=condition)
                return
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError("queue statistics kept changing")
