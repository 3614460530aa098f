"""Business hours with a time zone, weekly intervals and holidays."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def checked_zone(tz: str, where: str) -> str:
    """`tz` if it names a time zone; else a ConfigError that says where (`{where}.timezone`)."""
    try:
        ZoneInfo(tz)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError
        raise ConfigError(f"{where}.timezone: unknown time zone {tz!r}") from exc
    return tz


@dataclass(frozen=True)
class BusinessHours:
    tz: str
    # weekday (0 = Monday) -> sorted [(open, close)] local times; close == 00:00 means midnight
    weekly: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @classmethod
    def always(cls, tz: str = "UTC") -> "BusinessHours":
        day = ((time(0, 0), time(0, 0)),)
        return cls(tz=tz, weekly={d: day for d in range(7)})

    @classmethod
    def from_config(cls, raw: dict, where: str = "hours") -> "BusinessHours":
        tz = checked_zone(raw.get("timezone", "UTC"), where)
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for index, day in enumerate(DAYS):
            spans = []
            for span in raw.get(day, []):
                try:
                    start_s, end_s = span.split("-")
                    start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
                except ValueError as exc:
                    raise ConfigError(f"{where}.{day}: {span!r} is not like '09:00-18:00'") from exc
                if end != time(0, 0) and end <= start:
                    raise ConfigError(f"{where}.{day}: {span!r} closes before it opens")
                spans.append((start, end))
            weekly[index] = tuple(sorted(spans))
        holidays = set()
        for day_s in raw.get("holidays", []):
            try:
                holidays.add(date.fromisoformat(day_s))
            except ValueError as exc:
                raise ConfigError(f"{where}.holidays: {day_s!r} is not a YYYY-MM-DD date") from exc
        return cls(tz=tz, weekly=weekly, holidays=frozenset(holidays))

    def _spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        out = []
        for start, end in self.weekly.get(day.weekday(), ()):
            opens = datetime.combine(day, start, tzinfo=self.zone)
            closes = datetime.combine(day + timedelta(days=1) if end == time(0, 0) else day, end,
                                      tzinfo=self.zone)
            out.append((opens, closes))
        return out

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return any(o <= local < c for o, c in self._spans_on(local.date()))

    def next_opening(self, now: datetime) -> datetime | None:
        """The earliest instant at or after now when the queue is open (UTC), None if never within a year."""
        local = now.astimezone(self.zone)
        for offset in range(0, 370):
            day = local.date() + timedelta(days=offset)
            for opens, closes in self._spans_on(day):
                if closes <= local:
                    continue
                return max(opens, local).astimezone(timezone.utc)
        return None

    def closes_at(self, now: datetime) -> datetime | None:
        local = now.astimezone(self.zone)
        for opens, closes in self._spans_on(local.date()):
            if opens <= local < closes:
                return closes.astimezone(timezone.utc)
        return None

    def after_open(self, start: datetime, seconds: float) -> datetime | None:
        """The moment `seconds` of open time have passed from `start` (closed hours do not count);
        None if the hours do not hold that much within a year."""
        left = max(0.0, seconds)
        moment = start
        for _ in range(800):  # spans of a year and then some
            opening = self.next_opening(moment)
            if opening is None:
                return None
            closes = self.closes_at(opening)
            if closes is None:  # pragma: no cover - next_opening returns an open instant
                return None
            span = (closes - opening).total_seconds()
            if left <= span:
                return opening + timedelta(seconds=left)
            left -= span
            moment = closes
        return None
