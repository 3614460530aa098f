"""The outbound pace in memory (tests, the simulator): the same next slot and backlog as
`dynamo.pace.DynamoPace`, atomic under a lock, and an alarm that runs the drain in virtual time."""
from __future__ import annotations

import bisect
import threading
from datetime import datetime, timedelta
from typing import Callable

from ...domain.pacing import slot
from ...ports import Alarm, Grant, OutboundPace, PendingDial


class MemoryPace(OutboundPace):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, datetime] = {}  # account -> its next slot
        self._waiting: dict[str, list[PendingDial]] = {}
        self._seen: set[tuple[str, str, str]] = set()  # (account, ticket, ref): a dial waits once

    def take(self, account: str, interval: float, now: datetime, when_idle: bool = False) -> Grant:
        with self._lock:
            last = self._next.get(account)
            if not slot(last, now) or (when_idle and self._waiting.get(account)):
                return Grant(False, last or now)
            self._next[account] = now + timedelta(seconds=interval)
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
