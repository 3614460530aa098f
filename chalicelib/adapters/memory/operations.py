"""OperationsLog in memory (tests, simulations): the same contract as the DynamoDB adapter."""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Mapping

from ...domain.reports import add_counts, bucket_start
from ...ports import BoardEntry, OperationsLog


class MemoryOperationsLog(OperationsLog):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._rows: dict[tuple[str, str], dict[str, float]] = {}
        self._board: dict[str, dict[str, BoardEntry]] = {}

    def record(self, fact_id: str, queue_id: str, bucket: str, counts: Mapping[str, float]) -> bool:
        with self._lock:
            if fact_id in self._seen:
                return False
            self._seen.add(fact_id)
            add_counts(self._rows.setdefault((queue_id, bucket), {}), counts)
            return True

    def rows(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        with self._lock:
            return {b: dict(r) for (q, b), r in self._rows.items()
                    if q == queue_id and start <= bucket_start(b) < end}

    def board_put(self, entry: BoardEntry) -> None:
        with self._lock:
            self._board.setdefault(entry.queue_id, {})[entry.ticket_id] = entry

    def board_remove(self, queue_id: str, ticket_id: str) -> None:
        with self._lock:
            self._board.get(queue_id, {}).pop(ticket_id, None)

    def board(self, queue_id: str) -> list[BoardEntry]:
        with self._lock:
            return sorted(self._board.get(queue_id, {}).values(), key=lambda e: e.number)
