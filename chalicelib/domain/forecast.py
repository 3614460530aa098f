"""Arrivals forecast per half hour of the queue's week, and its error against what happened.

The method (stated to the supervisor as `METHOD`): a half hour's arrivals are the weighted mean of
the same weekday and time on the queue's clock over the last four weeks, the most recent weighing
most (0.4, 0.3, 0.2, 0.1). Weeks before the queue's history began are left out (their weights with
them), never counted as zero calls. Only completed half hours are history: the current one is still
filling. Pure: half-hour rows in, numbers out (the use case is domain/operations.py `staffing`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterable, Mapping

from .reports import HALF_HOUR, bucket_of

WEIGHTS: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)  # one, two, three, four weeks back
METHOD = ("same weekday and half hour on the queue's clock over the last 4 weeks, weighted "
          "0.4/0.3/0.2/0.1 from the most recent; weeks before the history began are left out")
ERROR_SIGN = "forecast minus actual: positive = more calls were forecast than came"


def same_slot(slot: datetime, weeks_back: int, zone: tzinfo) -> datetime:
    """The same weekday and wall-clock time `weeks_back` weeks earlier on the queue's clock (a
    daylight-saving change in between moves the UTC instant, not the local time)."""
    local = slot.astimezone(zone).replace(tzinfo=None) - timedelta(weeks=weeks_back)
    return local.replace(tzinfo=zone).astimezone(timezone.utc)


def half_hours(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    """The queue's half hours that start in [start, end), as UTC instants (the first one is the half
    hour `start` falls in)."""
    at = datetime.strptime(bucket_of(start, zone), "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)
    out = []
    while at < end:
        out.append(at)
        at += HALF_HOUR
    return out


@dataclass(frozen=True)
class ForecastError:
    """How the method did over completed half hours it could forecast (closed half hours, with nothing
    forecast and nothing come, are left out: they would flatter it)."""

    half_hours: int
    mean_absolute: float | None  # calls per half hour
    bias: float | None  # mean of forecast minus actual (ERROR_SIGN)
    weighted_percent: float | None  # sum |forecast - actual| / sum actual (WAPE)

    def as_json(self) -> dict[str, object]:
        return {"half_hours": self.half_hours, "mean_absolute": self.mean_absolute, "bias": self.bias,
                "weighted_percent": self.weighted_percent, "sign": ERROR_SIGN}


@dataclass(frozen=True)
class Forecaster:
    """`arrivals`: completed half hours (UTC start -> calls), every half hour from `first` (the start of
    the queue's history) to `complete_before` (the current half hour's start); missing ones had none."""

    arrivals: Mapping[datetime, float]
    zone: tzinfo
    first: datetime
    complete_before: datetime
    weights: tuple[float, ...] = WEIGHTS

    def forecast(self, slot: datetime) -> float | None:
        """Calls expected in the half hour starting at `slot`; None when no earlier week is known."""
        total = weight = 0.0
        for back, w in enumerate(self.weights, start=1):
            past = same_slot(slot, back, self.zone)
            if past < self.first or past + HALF_HOUR > self.complete_before:
                continue
            total += w * self.arrivals.get(past, 0.0)
            weight += w
        return total / weight if weight else None

    def actual(self, slot: datetime) -> float | None:
        """What came, for a completed half hour in the history; None otherwise."""
        if slot < self.first or slot + HALF_HOUR > self.complete_before:
            return None
        return self.arrivals.get(slot, 0.0)

    def error(self, slots: Iterable[datetime]) -> ForecastError:
        pairs = []
        for slot in slots:
            predicted, came = self.forecast(slot), self.actual(slot)
            if predicted is None or came is None or (predicted == 0 and came == 0):
                continue
            pairs.append((predicted, came))
        if not pairs:
            return ForecastError(0, None, None, None)
        absolute = sum(abs(p - a) for p, a in pairs)
        came_total = sum(a for _, a in pairs)
        return ForecastError(len(pairs), round(absolute / len(pairs), 2),
                             round(sum(p - a for p, a in pairs) / len(pairs), 2),
                             round(absolute / came_total, 4) if came_total else None)
