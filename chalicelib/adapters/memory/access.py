"""The access ports (chalicelib/ports_access.py) in memory: the DynamoDB adapters' twins (same answers,
one lock instead of conditional writes), for tests and memory worlds."""
from __future__ import annotations

import hashlib
import math
import threading
from datetime import datetime, timedelta, timezone

from ...ports_access import ConsoleSessions, Replays, Throttle


class MemoryReplays(Replays):
    def __init__(self) -> None:
        self.spent: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def first_use(self, key: str, keep_until: datetime) -> bool:
        with self._lock:
            if key in self.spent:
                return False
            # what DynamoDB's TTL would have deleted by now: long past the newest window
            for old in [k for k, until in self.spent.items() if until < keep_until - timedelta(days=1)]:
                del self.spent[old]
            self.spent[key] = keep_until
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self.spent.pop(key, None)


class MemoryConsoleSessions(ConsoleSessions):
    def __init__(self) -> None:
        self.sessions: dict[str, datetime] = {}  # sha256 of the id -> expiry, as the table keeps it

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def open(self, session_id: str, expires_at: datetime) -> None:
        self.sessions[self._key(session_id)] = expires_at

    def is_open(self, session_id: str, now: datetime) -> bool:
        expires = self.sessions.get(self._key(session_id))
        return expires is not None and expires > now

    def close(self, session_id: str) -> None:
        self.sessions.pop(self._key(session_id), None)


class MemoryThrottle(Throttle):
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> float | None:
        seconds = int(window.total_seconds())
        start = int(now.timestamp()) // seconds * seconds
        with self._lock:
            counted = self.counts.get((key, start), 0)
            if counted >= limit:
                ends = datetime.fromtimestamp(start + seconds, timezone.utc)
                return float(max(1, math.ceil((ends - now).total_seconds())))
            self.counts[(key, start)] = counted + 1
            return None
