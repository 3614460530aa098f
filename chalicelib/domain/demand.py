"""Expected arrivals: what the queue's own history says about the calls still to come today.

Arrivals are counted per half hour of the week (in the queue's time zone) and each half hour's count
is learned as a moving average over the weeks it has been seen; the same half hour of any day is
learned alongside, standing in for a half hour of the week seen fewer than twice (a new queue, a
weekly pattern not established yet). Today's calls so far against that forecast give the day's pace
(a busier day than usual stays busier), which scales the rest of the day; with no history at all the
last half hour's rate stands for the rest of the day.

The count comes from the line's own counters (the snapshot the table's stream keeps: a ticket that
joins is one more waiting and nothing departed), read by the minute's sweep: no webhook does any
more work for it. The state is a few hundred numbers in the queue's statistics document, next to the
wait estimator and the promise book (`DEMAND`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

DEMAND = "demand"  # queue statistics key
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 48
WEEK_RATE = 0.25  # a half hour of the week learns from about its last 4 weeks (all of them, at first)
DAY_RATE = 0.1  # the same half hour of any day learns from about its last 10 days
WEEK_TRUSTED = 2  # a half hour of the week seen this often stands alone; seen once, it is averaged with the day's
PACE_CALLS = 30.0  # calls of evidence the forecast counts as before today's pace moves it
PACE_LIMITS = (0.5, 3.0)
MAX_GAP_SLOTS = 7 * SLOTS_PER_DAY  # a longer silence (the sweep stopped) teaches nothing


@lru_cache(maxsize=8192)
def _slot_of(moment: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """(absolute local half hour: days since 1970 x 48 + index, half hour of the week)."""
    local = moment.astimezone(zone)
    index = local.hour * 2 + local.minute // 30
    return local.date().toordinal() * SLOTS_PER_DAY + index, local.weekday() * SLOTS_PER_DAY + index


@lru_cache(maxsize=8192)
def _slot_start(absolute: int, zone: ZoneInfo) -> datetime:
    day, index = divmod(absolute, SLOTS_PER_DAY)
    local = datetime.fromordinal(day).replace(tzinfo=zone) + index * SLOT
    return local.astimezone(timezone.utc)


def _learn(table: dict[str, list[float]], key: str, count: float, rate: float) -> None:
    mean, seen = table.get(key, (0.0, 0.0))
    step = max(rate, 1.0 / (seen + 1.0))
    table[key] = [round(mean + step * (count - mean), 3), min(seen + 1.0, 1000.0)]


@dataclass(frozen=True)
class Demand:
    """The learned arrivals of one queue (immutable: `observe` returns the next one)."""

    week: Mapping[str, list[float]]  # half hour of the week -> [mean arrivals, times seen]
    day: Mapping[str, list[float]]  # half hour of the day -> [mean arrivals, times seen]
    slot: int | None = None  # the absolute half hour being counted
    count: float = 0.0  # arrivals in it so far
    joins: int | None = None  # the line's join counter at the last observation
    at: float | None = None  # when that was (epoch seconds)
    recent: float = 0.0  # arrivals in the last half hour counted (the no-history forecast)
    today: int | None = None  # the local day the pace counts
    today_calls: float = 0.0  # arrivals today before the current half hour
    today_expected: float = 0.0  # what the forecast expected for those half hours

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> "Demand":
        raw = (state or {}).get(DEMAND) or {}
        return cls(dict(raw.get("week", {})), dict(raw.get("day", {})), raw.get("slot"), float(raw.get("count", 0.0)),
                   raw.get("joins"), raw.get("at"), float(raw.get("recent", 0.0)), raw.get("today"),
                   float(raw.get("today_calls", 0.0)), float(raw.get("today_expected", 0.0)))

    def state(self) -> dict[str, Any]:
        return {"week": dict(self.week), "day": dict(self.day), "slot": self.slot, "count": round(self.count, 3),
                "joins": self.joins, "at": self.at, "recent": self.recent, "today": self.today,
                "today_calls": round(self.today_calls, 3), "today_expected": round(self.today_expected, 3)}

    # --- learning ------------------------------------------------------------------------------

    def observe(self, joins: int, now: datetime, zone: ZoneInfo,
                is_open: Callable[[datetime], bool] | None = None) -> "Demand":
        """The line's join counter read at `now`: the calls since the last reading are counted in the
        half hours they fell in (spread evenly over the time between readings). A half hour the queue
        was closed for (`is_open` at its middle) teaches nothing: the forecast is for open hours, and
        the night before a queue's first day says nothing about its evenings."""
        at = now.timestamp()
        if self.joins is None or self.at is None or at <= self.at:  # the first reading: count from here
            return Demand(self.week, self.day, _slot_of(now, zone)[0] if self.slot is None else self.slot,
                          self.count, joins, at, self.recent, self.today, self.today_calls, self.today_expected)
        # a counter that went back was seeded again: what came between is unknown, taken as nothing
        new, week, day = float(max(0, joins - self.joins)), dict(self.week), dict(self.day)
        slot, count, recent = self.slot, self.count, self.recent
        today, today_calls, today_expected = self.today, self.today_calls, self.today_expected
        start = self.at
        current = _slot_of(now, zone)[0]
        if slot is None or current - slot > MAX_GAP_SLOTS:
            slot, count = current, 0.0
        while slot < current:  # close the half hours that ended since the last reading
            ends = _slot_start(slot + 1, zone).timestamp()
            share = new * max(0.0, ends - start) / max(at - start, 1e-9)
            count += share
            new -= share
            start = max(start, ends)
            if is_open is None or is_open(_slot_start(slot, zone) + SLOT / 2):
                expected = _forecast_slot(week, day, slot, zone)
                _learn(week, str(_week_slot(slot, zone)), count, WEEK_RATE)
                _learn(day, str(slot % SLOTS_PER_DAY), count, DAY_RATE)
                if today != slot // SLOTS_PER_DAY:
                    today, today_calls, today_expected = slot // SLOTS_PER_DAY, 0.0, 0.0
                today_calls += count
                today_expected += expected if expected is not None else count
                recent = count
            slot, count = slot + 1, 0.0
        return Demand(week, day, slot, count + new, joins, at, recent, today, today_calls, today_expected)

    # --- forecasting ----------------------------------------------------------------------------

    def pace(self, now: datetime, zone: ZoneInfo) -> float:
        """Today's calls so far over what the forecast expected for them (1 with little evidence)."""
        if self.today != _slot_of(now, zone)[0] // SLOTS_PER_DAY:
            return 1.0
        ratio = (self.today_calls + PACE_CALLS) / (self.today_expected + PACE_CALLS)
        return min(PACE_LIMITS[1], max(PACE_LIMITS[0], ratio))

    def rate(self, start: datetime, end: datetime, zone: ZoneInfo, now: datetime | None = None) -> float:
        """Expected arrivals per second between `start` and `end` (within one half hour or across
        several): the learned half hours scaled by today's pace; the last open half hour's rate
        where nothing is learned."""
        if end <= start:
            return 0.0
        pace = self.pace(now or start, zone)
        total, cursor = 0.0, start
        while cursor < end:
            absolute = _slot_of(cursor, zone)[0]
            slot_end = min(end, _slot_start(absolute + 1, zone))
            expected = _forecast_slot(self.week, self.day, absolute, zone)
            per_slot = self.recent if expected is None else expected * pace
            total += per_slot * (slot_end - cursor) / SLOT
            cursor = slot_end
        return total / (end - start).total_seconds()


@lru_cache(maxsize=8192)
def _week_slot(absolute: int, zone: ZoneInfo) -> int:
    return _slot_of(_slot_start(absolute, zone), zone)[1]


def _forecast_slot(week: Mapping[str, list[float]], day: Mapping[str, list[float]], absolute: int,
                   zone: ZoneInfo) -> float | None:
    """Arrivals expected in one half hour: its half hour of the week once seen `WEEK_TRUSTED` times;
    seen once, averaged with the same half hour of any day; never, that one alone. None: never seen
    either way."""
    w = week.get(str(_week_slot(absolute, zone)))
    d = day.get(str(absolute % SLOTS_PER_DAY))
    if w is not None and (d is None or float(w[1]) >= WEEK_TRUSTED):
        return float(w[0])
    if d is None:
        return None
    return float(d[0]) if w is None else (float(w[0]) + float(d[0])) / 2


def joins(waiting: int, departed: int, returned: int) -> int:
    """Tickets that joined the line new, from the snapshot's counters: each one joining adds one
    waiting; leaving moves one from waiting to departed; coming back at its place, from returned."""
    return waiting + departed - returned
