"""Clocks for the memory world: a fixed one (moved by hand) and a virtual one that runs scheduled work
in virtual time."""
from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta, timezone
from typing import Callable

from ...ports import Clock


class FixedClock(Clock):
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class VirtualClock(FixedClock):
    """Virtual time with scheduled work: `at(when, fn)` runs fn when the clock reaches `when`.

    Work scheduled for the same instant runs in the order it was scheduled."""

    def __init__(self, now: datetime | None = None) -> None:
        super().__init__(now)
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cancelled: set[int] = set()

    def at(self, when: datetime, fn: Callable[[], None]) -> int:
        handle = next(self._seq)
        heapq.heappush(self._heap, (max(when, self.current), handle, fn))
        return handle

    def after(self, seconds: float, fn: Callable[[], None]) -> int:
        return self.at(self.current + timedelta(seconds=seconds), fn)

    def cancel(self, handle: int | None) -> None:
        if handle is not None:
            self._cancelled.add(handle)

    def next_due(self) -> datetime | None:
        while self._heap and self._heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[1])
        return self._heap[0][0] if self._heap else None

    def run_until(self, until: datetime) -> None:
        """Run everything due up to `until` (including work that work schedules), then stand there."""
        while (due := self.next_due()) is not None and due <= until:
            when, _, fn = heapq.heappop(self._heap)
            self.current = max(self.current, when)
            fn()
        self.current = max(self.current, until)

    def advance(self, seconds: float) -> None:
        self.run_until(self.current + timedelta(seconds=seconds))

    def run_all(self, limit: int = 1_000_000) -> None:
        for _ in range(limit):
            due = self.next_due()
            if due is None:
                return
            self.run_until(due)
        raise RuntimeError("virtual clock: work keeps scheduling more work")
