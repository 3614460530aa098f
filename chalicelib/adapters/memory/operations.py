"""OperationsLog in memory (tests, simulations): the same contract as the DynamoDB adapter."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from typing import Mapping

from ...domain.reports import add_counts, bucket_start
from ...ports import AlertState, BoardEntry, OperationsLog


class MemoryOperationsLog(OperationsLog):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._rows: dict[tuple[str, str], dict[str, float]] = {}
        self._recent: dict[tuple[str, str], dict[str, float]] = {}
        self._board: dict[str, dict[str, BoardEntry]] = {}
        self._alerts: dict[tuple[str, str], AlertState] = {}

    def record(self, fact_id: str, queue_id: str, bucket: str, counts: Mapping[str, float],
               minute: str = "") -> bool:
        with self._lock:
            if fact_id in self._seen:
                return False
            self._seen.add(fact_id)
            add_counts(self._rows.setdefault((queue_id, bucket), {}), counts)
            if minute:
                add_counts(self._recent.setdefault((queue_id, minute), {}), counts)
            return True

    @staticmethod
    def _within(rows: dict[tuple[str, str], dict[str, float]], queue_id: str, start: datetime,
                end: datetime) -> dict[str, dict[str, float]]:
        return {b: dict(r) for (q, b), r in rows.items() if q == queue_id and start <= bucket_start(b) < end}

    def rows(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        with self._lock:
            return self._within(self._rows, queue_id, start, end)

    def recent(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        with self._lock:
            return self._within(self._recent, queue_id, start, end)

    def board_put(self, entry: BoardEntry) -> None:
        with self._lock:
            self._board.setdefault(entry.queue_id, {})[entry.ticket_id] = entry

    def board_remove(self, queue_id: str, ticket_id: str) -> None:
        with self._lock:
            self._board.get(queue_id, {}).pop(ticket_id, None)

    def board(self, queue_id: str) -> list[BoardEntry]:
        with self._lock:
            return sorted(self._board.get(queue_id, {}).values(), key=lambda e: e.number)

    def alerts(self, queue_id: str) -> dict[str, AlertState]:
        with self._lock:
            return {m: a for (q, m), a in self._alerts.items() if q == queue_id}

    def alert_begin(self, queue_id: str, measure: str, since: datetime) -> bool:
        with self._lock:
            if (queue_id, measure) in self._alerts:
                return False
            self._alerts[(queue_id, measure)] = AlertState(measure, since)
            return True

    def alert_notified(self, queue_id: str, measure: str, since: datetime, at: datetime) -> bool:
        with self._lock:
            state = self._alerts.get((queue_id, measure))
            if state is None or state.since != since or state.notified_at is not None:
                return False
            self._alerts[(queue_id, measure)] = replace(state, notified_at=at)
            return True

    def alert_end(self, queue_id: str, measure: str) -> None:
        with self._lock:
            self._alerts.pop((queue_id, measure), None)
