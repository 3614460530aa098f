"""Where agents' time goes, for the console's AHT and occupancy per agent and per queue, today.

Each change of an agent (as the table's stream delivers it, old and new) closes an interval spent in
the old state; it is recorded, once, into the report rows of each of the agent's queues, in the half
hour of the queue's zone it began (split at the queue's midnight, so "today" holds today's part).
An agent serving two queues counts in both. The interval still open (the state the agent is in now)
is added when the console reads (`today`).

  handling   on a call Holdfast put them on: connecting, ringing, talking (a reservation)
  busy       on a call of their own
  wrap_up    after a call
  available  waiting for a call
  away       signed in, not taking calls (not in occupancy)
AHT = (handling + wrap_up) / calls handled (reservations that ended); occupancy = (handling + busy +
wrap_up) / (those + available)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Iterable, Mapping

from .model import Agent, AgentStatus
from .reports import Fact, bucket_of

WORKING = ("handling", "busy", "wrap_up")
STATES = (*WORKING, "available", "away")


def state_of(agent: Agent) -> str | None:
    """The state an agent's time counts in (None: offline, not counted)."""
    if agent.status is AgentStatus.BUSY:
        return "handling" if agent.ticket_id else "busy"
    return {AgentStatus.AVAILABLE: "available", AgentStatus.WRAP_UP: "wrap_up",
            AgentStatus.AWAY: "away"}.get(agent.status)


def key(agent_id: str, what: str) -> str:
    return f"agent:{agent_id}:{what}"


def _pieces(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the zone's midnights."""
    out = []
    while start < end:
        local = start.astimezone(zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        cut = min(end, midnight)
        out.append((start, cut))
        start = cut
    return out


def facts(old: Agent | None, new: Agent, zones: Mapping[str, tzinfo]) -> list[Fact]:
    """What one agent change adds: the seconds spent in the old state, and a call handled when a
    reservation ended. `zones`: the agent's queues' time zones (queue id -> zone)."""
    if old is None or old.changed_at is None or new.changed_at is None or new.changed_at <= old.changed_at:
        return []
    state = state_of(old)
    ended_call = bool(old.ticket_id) and old.ticket_id != new.ticket_id
    if state is None and not ended_call:
        return []
    out = []
    for queue_id in old.queues:
        zone = zones.get(queue_id)
        if zone is None:
            continue
        base = f"agent#{old.id}#{old.changed_at.isoformat()}#{queue_id}"
        if state is not None:
            for start, end in _pieces(old.changed_at, new.changed_at, zone):
                out.append(Fact(f"{base}#{start.isoformat()}", queue_id, bucket_of(start, zone),
                                {key(old.id, state): (end - start).total_seconds()}))
        if ended_call:
            out.append(Fact(f"{base}#handled", queue_id, bucket_of(new.changed_at, zone), {key(old.id, "handled"): 1}))
    return out


@dataclass(frozen=True)
class Today:
    """One agent's day (or a queue's, added up)."""

    seconds: Mapping[str, float]
    handled: int

    @property
    def aht_seconds(self) -> float | None:
        work = self.seconds.get("handling", 0) + self.seconds.get("wrap_up", 0)
        return round(work / self.handled, 1) if self.handled else None

    @property
    def occupancy(self) -> float | None:
        working = sum(self.seconds.get(s, 0) for s in WORKING)
        signed = working + self.seconds.get("available", 0)
        return round(working / signed, 4) if signed else None

    def as_json(self) -> dict[str, object]:
        return {"handled": self.handled, "aht_seconds": self.aht_seconds, "occupancy": self.occupancy,
                "seconds": {s: round(v) for s, v in self.seconds.items()}}


def today(rows: Iterable[Mapping[str, float]], agent: Agent | None, agent_id: str, now: datetime,
          day_start: datetime) -> Today:
    """An agent's recorded day plus the state they are in now, since it began (or since midnight)."""
    seconds = {s: 0.0 for s in STATES}
    handled = 0
    for row in rows:
        for state in STATES:
            seconds[state] += row.get(key(agent_id, state), 0)
        handled += int(row.get(key(agent_id, "handled"), 0))
    if agent is not None and agent.changed_at is not None and (state := state_of(agent)) is not None:
        seconds[state] += max(0.0, (now - max(agent.changed_at, day_start)).total_seconds())
    return Today(seconds, handled)


def agents_in(rows: Iterable[Mapping[str, float]]) -> set[str]:
    """Agents with any time recorded in these rows (those who left the queue's team still count)."""
    out = set()
    for row in rows:
        for name in row:
            if name.startswith("agent:"):
                out.add(name[len("agent:"):].rsplit(":", 1)[0])
    return out


def total(days: Iterable[Today]) -> Today:
    seconds = {s: 0.0 for s in STATES}
    handled = 0
    for day in days:
        for state, value in day.seconds.items():
            seconds[state] += value
        handled += day.handled
    return Today(seconds, handled)
