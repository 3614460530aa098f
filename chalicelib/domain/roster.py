"""The roster: how many agents a queue expects, by time of week, so that a wait estimate can count on
the agents who will sign in (issue 14: a shift change is known before it happens)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from .errors import ConfigError
from .hours import DAYS, checked_zone

SIGN_IN_HORIZON = timedelta(hours=2)  # how far ahead sign-ins count (the estimate's own horizon)


@dataclass(frozen=True)
class Roster:
    tz: str
    # weekday (0 = Monday) -> sorted [(local time, agents from then on)]
    steps: Mapping[int, tuple[tuple[time, int], ...]]

    @classmethod
    def from_config(cls, raw: Any, tz: str, where: str = "roster") -> "Roster":
        """`{"mon": {"08:00": 10, "12:00": 14, "18:00": 0}, ...}`: from each time, that many agents; a day
        without steps keeps the number the day before ended with."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected an object like {{\"mon\": {{\"08:00\": 10}}}}")
        unknown = set(raw) - set(DAYS) - {"timezone"}
        if unknown:
            raise ConfigError(f"{where}: unknown day(s) {sorted(unknown)}; use {list(DAYS)}")
        tz = checked_zone(raw.get("timezone", tz), where)
        steps: dict[int, tuple[tuple[time, int], ...]] = {}
        for index, day in enumerate(DAYS):
            spec = raw.get(day, {})
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}.{day}: expected an object like {{\"08:00\": 10}}")
            out = []
            for at, agents in spec.items():
                try:
                    when = time.fromisoformat(at)
                except ValueError as exc:
                    raise ConfigError(f"{where}.{day}: {at!r} is not a time like '08:00'") from exc
                if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
                    raise ConfigError(f"{where}.{day}.{at}: expected a number of agents (0 or more), got {agents!r}")
                out.append((when, agents))
            steps[index] = tuple(sorted(out))
        if not any(steps.values()):
            raise ConfigError(f"{where}: no day has a step")
        return cls(tz, steps)

    def _changes(self, start: date, days: int) -> list[tuple[datetime, int]]:
        zone = ZoneInfo(self.tz)
        return [(datetime.combine(start + timedelta(days=d), at, tzinfo=zone), agents)
                for d in range(days) for at, agents in self.steps.get((start + timedelta(days=d)).weekday(), ())]

    def agents_at(self, when: datetime) -> int:
        """How many agents the roster expects at this instant."""
        local = when.astimezone(ZoneInfo(self.tz))
        before = [agents for at, agents in self._changes(local.date() - timedelta(days=7), 8) if at <= local]
        return before[-1] if before else 0

    def sign_ins(self, now: datetime, staffed: int, horizon: timedelta = SIGN_IN_HORIZON) -> list[float]:
        """In how many seconds each agent the roster adds within the horizon signs in: each step up
        brings the agents above the level before it (at first, those signed in now or rostered now,
        whichever is more); a step down is agents leaving (their announced sign-offs say who)."""
        local = now.astimezone(ZoneInfo(self.tz))
        level = max(staffed, self.agents_at(now))
        out: list[float] = []
        for at, agents in self._changes(local.date(), 2):
            if local < at <= local + horizon:
                out += [(at - local).total_seconds()] * max(0, agents - level)
                level = agents
        return out
