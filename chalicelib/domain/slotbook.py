"""The slots a caller can choose now and the claim a booking takes (the arithmetic is `slots.py`'s)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from ..ports import Bookings, Clock, Line, OperationsLog, SlotClaim
from . import learning
from .estimator import WaitEstimator
from .reports import bucket_of
from .slots import OpenSlot, SlotPolicy, candidates, capacity, expected_agents, first_aligned, inside, slot_key, slot_start

COUNT_BATCH = 24  # slots whose counts one read fetches


def live_rate(policy: SlotPolicy, history: Mapping[str, Mapping[str, float]] | None, start: datetime) -> float:
    """Expected live calls per second in the slot starting at `start`: the calls offered in hours in the
    same half hours a week before (`history`: report rows by half hour), else the configured rate."""
    if history:
        week_ago = start - timedelta(days=7)
        halves = [(week_ago + timedelta(minutes=m)) for m in range(0, max(policy.slot_minutes, 30), 30)]
        calls = sum(history.get(bucket_of(h), {}).get("offered", 0) - history.get(bucket_of(h), {}).get("after_hours", 0)
                    for h in halves)
        return max(0.0, calls) / (len(halves) * 1800.0)
    return (policy.live_calls_per_hour or 0.0) / 3600.0


class SlotBook:
    """The slots a caller can choose now, and the claim a booking takes: the queue's snapshot read once
    (who is signed in, the learned handle time), last week's report rows once per day looked at, and
    the slots' counts a batch at a time."""

    def __init__(self, bookings: Bookings, line: Line, history: OperationsLog | None, clock: Clock) -> None:
        self.bookings, self.line, self.history, self.clock = bookings, line, history, clock

    def _model(self, queue: Any) -> tuple[int, float, float]:
        """Agents signed in now, and the learned handle time and patience (the configured ones at first)."""
        snapshot = self.line.snapshot(queue.id)
        estimator = WaitEstimator.from_state(snapshot.estimator) if snapshot.estimator else learning.prior(queue)
        handle = 1 / estimator.mu if estimator.mu > 0 else queue.average_handle_seconds
        patience = 1 / estimator.theta if estimator.theta > 0 else queue.average_patience_seconds
        return snapshot.staffing.staffed, handle, patience

    def _history(self, queue: Any, start: datetime, cache: dict[str, Any]) -> Mapping[str, Mapping[str, float]]:
        """The report rows of the queue's day a week before `start` (one read per day, cached)."""
        if self.history is None:
            return {}
        local = (start - timedelta(days=7)).astimezone(queue.hours.zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        name = day.date().isoformat()
        if name not in cache:
            cache[name] = self.history.rows(queue.id, day.astimezone(timezone.utc),
                                            (day + timedelta(days=1, hours=1)).astimezone(timezone.utc))
        return cache[name]

    def _capacity(self, queue: Any, start: datetime, model: tuple[int, float, float], cache: dict[str, Any]) -> int:
        staffed, handle, patience = model
        policy = queue.scheduled_callbacks
        rate = live_rate(policy, self._history(queue, start, cache), start)
        return capacity(policy, expected_agents(queue, start, staffed), rate, handle, patience)

    def open_slots(self, queue: Any, number: str, after: datetime | None = None) -> list[OpenSlot]:
        """The next slots with room that `number` may be called in (at most `offered`), from `lead_minutes`
        ahead or from `after` (another day)."""
        policy: SlotPolicy = queue.scheduled_callbacks
        model = self._model(queue)
        cache: dict[str, Any] = {}
        found: list[OpenSlot] = []
        batch: list[datetime] = []

        def flush() -> None:
            counts = self.bookings.slot_counts(queue.id, [slot_key(s) for s in batch])
            for start in batch:
                key = slot_key(start)
                slot = OpenSlot(start, key, self._capacity(queue, start, model, cache), counts.get(key, 0))
                if slot.left and len(found) < policy.offered:
                    found.append(slot)
            batch.clear()

        for start in candidates(queue, policy, number, self.clock.now(), after):
            batch.append(start)
            if len(batch) == COUNT_BATCH:
                flush()
                if len(found) >= policy.offered:
                    break
        if batch and len(found) < policy.offered:
            flush()
        return found

    def schedule(self, queue: Any, limit: int = COUNT_BATCH) -> list[OpenSlot]:
        """The next `limit` slots the queue offers, full or not, with their capacity and how many
        callbacks each holds (the console's scheduled callbacks by slot; a callee in the queue's own zone)."""
        policy: SlotPolicy | None = queue.scheduled_callbacks
        if policy is None:
            return []
        local = queue.caller_id or (queue.numbers[0] if queue.numbers else "")
        starts = [s for _, s in zip(range(limit), candidates(queue, policy, local, self.clock.now()))]
        counts = self.bookings.slot_counts(queue.id, [slot_key(s) for s in starts])
        model, cache = self._model(queue), {}
        return [OpenSlot(s, slot_key(s), self._capacity(queue, s, model, cache), counts.get(slot_key(s), 0))
                for s in starts]

    def claim(self, queue: Any, number: str, key: str) -> SlotClaim | None:
        """The claim a booking of slot `key` takes now, with the slot's capacity worked out again; None
        when the slot may not be chosen (past, misaligned, outside hours or the callee's window)."""
        policy: SlotPolicy | None = queue.scheduled_callbacks
        if policy is None:
            return None
        start, now = slot_start(key), self.clock.now()
        if start <= now or start > now + timedelta(days=policy.days_ahead) \
                or first_aligned(policy, start, queue.hours.zone) != start \
                or not inside(queue, number, start, start + policy.length):
            return None
        return SlotClaim(key, self._capacity(queue, start, self._model(queue), {}))
