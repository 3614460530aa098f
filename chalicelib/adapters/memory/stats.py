"""The QueueStats role in memory."""
from __future__ import annotations

from typing import Any, Callable

from ...ports import QueueStats
from .table import OnTable


class MemoryQueueStats(OnTable, QueueStats):
    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        self.table.change(ticket_id, lambda t: True, told_shape=shape, told_scale=scale, told_ahead=ahead)

    def queue_stats(self, queue_id: str) -> dict[str, Any] | None:
        return self.table.stats.get(queue_id)

    def update_queue_stats(self, queue_id: str, apply: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
        with self.table.lock:
            self.table.stats[queue_id] = apply(self.table.stats.get(queue_id))
