"""The outbound pace in memory (tests, the simulator): the same token bucket (domain/pacing.py's
arithmetic) and backlog as `dynamo_pace.DynamoPace`, atomic under a lock, and an alarm that runs the
drain in virtual time."""
from __future__ import annotations

import bisect
import threading
from datetime import datetime
from typing import Callable

from ..domain.pacing import next_token, refill
from ..ports import Alarm, Grant, OutboundPace, PendingDial


class MemoryPace(OutboundPace):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, datetime]] = {}
        self._waiting: dict[str, list[PendingDial]] = {}
        self._seen: set[tuple[str, str, str]] = set()  # (account, ticket, ref): a dial waits once

    def take(self, account: str, rate: float, burst: float, now: datetime) -> Grant:
        with self._lock:
            tokens, since = self._buckets.get(account, (burst, None))  # type: ignore[arg-type]
            tokens = refill(tokens, since, rate, burst, now)
            if tokens < 1.0:
                self._buckets[account] = (tokens, now)
                return Grant(False, next_token(tokens, now, rate))
            self._buckets[account] = (tokens - 1.0, now)
            return Grant(True, now)

    def wait(self, account: str, dial: PendingDial) -> bool:
        with self._lock:
            key = (account, dial.ticket_id, dial.ref)
            if key in self._seen:
                return False
            self._seen.add(key)
            bisect.insort(self._waiting.setdefault(account, []), dial)
            return True

    def first(self, account: str, limit: int) -> list[PendingDial]:
        with self._lock:
            return list(self._waiting.get(account, [])[:limit])

    def claim(self, account: str, dial: PendingDial) -> bool:
        with self._lock:
            waiting = self._waiting.get(account, [])
            if dial not in waiting:
                return False
            waiting.remove(dial)
            return True

    def backlog(self, account: str) -> int:
        with self._lock:
            return len(self._waiting.get(account, []))


class MemoryAlarm(Alarm):
    """Runs `drain(account)` when the clock reaches the moment asked for (`at`: the virtual clock's)."""

    def __init__(self, at: Callable[[datetime, Callable[[], None]], object],
                 drain: Callable[[str], object] | None = None) -> None:
        self._at = at
        self.drain = drain
        self.set: list[tuple[str, datetime]] = []

    def wake(self, account: str, at: datetime) -> None:
        self.set.append((account, at))
        drain = self.drain
        if drain is not None:
            self._at(at, lambda: drain(account))
