"""The floor as a supervisor watches it: one queue's live monitor, the wallboard of every queue, and
the watch that turns a threshold crossed for its set time into the queue's notification.

Every time leaves here on the queue's clock (ISO 8601 with the zone's offset) beside the zone's
name, so two supervisors in two places read the same time for one call. Counts come from the board
of open tickets and the report rows the table's stream keeps (domain/operations.py `observe`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Iterable

from ..ports import Agents, BoardEntry, Clock, EventBus, OperationsLog
from . import agent_time, reports
from .model import Agent, AgentStatus, TicketKind, TicketStatus
from .notifications import THRESHOLD
from .queues import QueueConfig, QueueDirectory
from .thresholds import ALERT, MEASURES, OK, WARN

log = logging.getLogger(__name__)

WINDOWS_MINUTES = (15, 30, 60)  # rolling service levels; "now" is the last 15 minutes
DUE_HORIZON = timedelta(hours=1)  # callbacks due within this count on the wallboard
_RANK = {OK: 0, WARN: 1, ALERT: 2}


def on_clock(value: datetime | None, zone: tzinfo) -> str | None:
    """A moment as ISO 8601 on the queue's clock, with its offset (None stays None)."""
    return value.astimezone(zone).isoformat(timespec="seconds") if value else None


def day_bounds(zone: tzinfo, day: date) -> tuple[datetime, datetime]:
    """The queue's day [start, end): 23 or 25 hours on a daylight-saving change."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def worded(measure: str, value: float | None) -> str:
    """A measure's value in words for people (notifications)."""
    if value is None:
        return "–"
    if measure.startswith("service_level"):
        return f"{round(value * 100)}%"
    if measure.endswith("_seconds"):
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return str(int(value))


@dataclass(frozen=True)
class Live:
    """One queue's figures now (the wallboard's tile and the monitor's header)."""

    values: dict[str, float | None]
    service_level_today: float | None
    agents: dict[str, int]
    levels: dict[str, str]

    @property
    def level(self) -> str:
        return max(self.levels.values(), key=_RANK.__getitem__, default=OK)


class Floor:
    def __init__(self, agents: Agents, oplog: OperationsLog, queues: QueueDirectory, clock: Clock,
                 bus: EventBus | None = None) -> None:
        self.agents = agents
        self.oplog = oplog
        self.queues = queues
        self.clock = clock
        self.bus = bus  # the notify queue's publisher: threshold alerts take the existing notify path

    def today(self, queue: QueueConfig) -> date:
        return self.clock.now().astimezone(queue.hours.zone).date()

    def today_rows(self, queue: QueueConfig) -> dict[str, dict[str, float]]:
        start, end = day_bounds(queue.hours.zone, self.today(queue))
        return self.oplog.rows(queue.id, start, end)

    def today_total(self, queue: QueueConfig, rows: dict[str, dict[str, float]] | None = None) -> reports.Measures:
        start, end = day_bounds(queue.hours.zone, self.today(queue))
        return reports.build_report(queue.id, start, end, self.today_rows(queue) if rows is None else rows,
                                    queue.service_target_seconds, queue.hours.tz).total

    def rolling_service_levels(self, queue: QueueConfig, now: datetime) -> dict[int, float | None]:
        """Service level over each of WINDOWS_MINUTES, of the calls that arrived in those minutes
        before `target` seconds ago: each of them has been answered within the target, or not, by now
        (a caller who arrived in the last `target` seconds cannot have missed it yet and is left out).
        None: no calls then. One read of the minute rows for the longest window."""
        end = (now - timedelta(seconds=queue.service_target_seconds)).replace(second=0, microsecond=0)
        rows = self.oplog.recent(queue.id, end - timedelta(minutes=max(WINDOWS_MINUTES)), end)
        out: dict[int, float | None] = {}
        for minutes in WINDOWS_MINUTES:
            counts: dict[str, float] = {}
            for minute, row in rows.items():
                if reports.bucket_start(minute) >= end - timedelta(minutes=minutes):
                    reports.add_counts(counts, row)
            out[minutes] = reports.Measures("", counts, queue.service_target_seconds).as_row()["service_level"]  # type: ignore[assignment]
        return out

    def _team(self, queue_id: str) -> list[Agent]:
        """Every agent of the queue, offline ones too (listed, not vanished)."""
        return sorted(self.agents.team(queue_id), key=lambda a: a.id)

    def live(self, queue: QueueConfig, board: list[BoardEntry], team: Iterable[Agent],
             today: reports.Measures, now: datetime) -> Live:
        holding = [e for e in board if e.kind == TicketKind.LIVE.value and e.status == TicketStatus.WAITING.value]
        longest = max(((now - e.created_at).total_seconds() for e in holding), default=0.0)
        due_by = now + DUE_HORIZON
        due = sum(1 for e in board if e.kind == TicketKind.CALLBACK.value and (
            e.status == TicketStatus.WAITING.value or (
                e.status == TicketStatus.SCHEDULED.value and (e.next_attempt_at or e.not_before or now) <= due_by)))
        states = [agent_state(a) for a in team]
        agents = {"available": states.count("available"),
                  "busy": sum(s in BUSY_STATES for s in states),
                  "away": sum(s in AWAY_STATES for s in states)}
        row = today.as_row()
        rolling = self.rolling_service_levels(queue, now)
        values: dict[str, float | None] = {
            "waiting": float(len(holding)), "longest_wait_seconds": round(longest),
            "service_level_now": rolling[15], "service_level_30m": rolling[30], "service_level_60m": rolling[60],
            "agents_available": float(agents["available"]),
            "callbacks_due_next_hour": float(due), "unrecovered_today": float(row["unrecovered"] or 0)}
        return Live(values, row["service_level"], agents, queue.thresholds.levels(values))  # type: ignore[arg-type]

    # --- one queue's monitor -----------------------------------------------------------------------

    def monitor(self, queue_id: str) -> dict[str, Any]:
        queue = self.queues.get(queue_id)
        zone = queue.hours.zone
        now = self.clock.now()
        board = self.oplog.board(queue_id)
        # The line in dispatch order, parked callbacks included: they hold places too.
        line = sorted((e for e in board if e.status == TicketStatus.WAITING.value), key=lambda e: (-e.priority, e.number))
        by_ticket = {e.ticket_id: e for e in board}

        def waited(e: BoardEntry, until: datetime) -> int:
            return round((until - e.created_at).total_seconds())

        waiting = [{"position": i + 1, "ticket": e.ticket_id, "kind": e.kind.lower(), "caller": e.masked,
                    "status": e.status.lower(), "since": on_clock(e.created_at, zone),
                    "waited_seconds": waited(e, now) if e.kind == TicketKind.LIVE.value else None,
                    "due": on_clock(e.next_attempt_at or e.not_before, zone) if e.kind == TicketKind.CALLBACK.value
                    else None,
                    "told_seconds": round(e.told_seconds) if e.told_seconds else None, "lost_cause": e.lost_cause}
                   for i, e in enumerate(line)]
        # Callers being put through or talking: out of the line, with their agent. A caller is talking
        # from the moment they were connected to an agent (answered_at, the bridge's agent leg), and
        # their wait stops there, not when the call ends.
        on_calls = [{"ticket": e.ticket_id, "kind": e.kind.lower(), "caller": e.masked, "agent": e.agent_id,
                     "state": "talking" if e.answered_at else e.leg or "connecting",
                     "state_since": on_clock(e.answered_at or e.leg_at, zone),
                     "since": on_clock(e.created_at, zone),
                     "waited_seconds": waited(e, e.answered_at or now) if e.kind == TicketKind.LIVE.value else None,
                     "talked_seconds": round((now - e.answered_at).total_seconds()) if e.answered_at else None}
                    for e in board if e.status == TicketStatus.CONNECTING.value]
        callbacks = [{"ticket": e.ticket_id, "number": e.masked, "status": e.status.lower(),
                      "position": next((w["position"] for w in waiting if w["ticket"] == e.ticket_id), None),
                      "attempts": e.attempts, "next_attempt": on_clock(e.next_attempt_at or e.not_before, zone),
                      "promised": on_clock(e.not_before, zone), "lost_cause": e.lost_cause, "agent": e.agent_id}
                     for e in board if e.kind == TicketKind.CALLBACK.value]
        team = self._team(queue_id)
        rows = self.today_rows(queue)
        day_start = day_bounds(zone, self.today(queue))[0]
        days = {}
        agents = []
        for agent in team:
            entry = by_ticket.get(agent.ticket_id or "")
            state = agent_state(agent, entry)
            since = (entry.answered_at or entry.leg_at) if entry is not None and state in ("ringing", "talking") \
                and (entry.answered_at or entry.leg_at) else agent.changed_at
            days[agent.id] = agent_time.today(rows.values(), agent, agent.id, now, day_start)
            agents.append({"id": agent.id, "state": state, "status": agent.status.value, "reason": agent.reason,
                           "since": on_clock(since, zone),
                           "seconds_in_state": round((now - since).total_seconds()) if since else None,
                           "ticket": agent.ticket_id, "with": entry.masked if entry is not None else None,
                           **days[agent.id].as_json()})
        for gone in agent_time.agents_in(rows.values()) - set(days):  # left the team today: still their work
            days[gone] = agent_time.today(rows.values(), None, gone, now, day_start)
        today = self.today_total(queue, rows)
        live = self.live(queue, board, team, today, now)
        return {"queue": queue_id, "name": queue.name, "zone": queue.hours.tz, "at": on_clock(now, zone),
                "target_seconds": queue.service_target_seconds, "waiting": waiting, "on_calls": on_calls,
                "callbacks": callbacks, "agents": agents, "team_today": agent_time.total(days.values()).as_json(),
                "live": live.values, "levels": live.levels, "level": live.level, "agent_counts": live.agents,
                "today": today.as_row()}

    # --- the wallboard ---------------------------------------------------------------------------

    def wallboard(self) -> dict[str, Any]:
        now = self.clock.now()
        tiles = []
        for queue in self.queues:
            live = self.live(queue, self.oplog.board(queue.id), self._team(queue.id), self.today_total(queue), now)
            alerts = self.oplog.alerts(queue.id)
            tiles.append({"queue": queue.id, "name": queue.name, "zone": queue.hours.tz,
                          "at": on_clock(now, queue.hours.zone), **live.values,
                          "service_level_today": live.service_level_today, "agents": live.agents,
                          "levels": live.levels, "level": live.level,
                          "thresholds": queue.thresholds.as_json(),
                          "alerts": {m: {"since": on_clock(a.since, queue.hours.zone),
                                         "notified_at": on_clock(a.notified_at, queue.hours.zone)}
                                     for m, a in alerts.items()}})
        return {"at": now.isoformat(timespec="seconds"), "queues": tiles}

    # --- the watch: thresholds crossed for their set time -------------------------------------------

    def watch(self) -> int:
        """Run on the scheduled sweep (every minute in AWS): note each measure past its alert level,
        and once it has stayed there `alert_after_seconds`, send the queue's notification, once per
        crossing (a conditional write decides who sends, so two sweeps at once send one). A measure
        back inside its threshold ends the crossing. Returns how many notifications were sent."""
        now = self.clock.now()
        sent = 0
        for queue in self.queues:
            limits = {m: t for m, t in queue.thresholds.by_measure.items() if t.alert is not None}
            if not limits:
                continue
            live = self.live(queue, self.oplog.board(queue.id), self._team(queue.id), self.today_total(queue), now)
            noted = self.oplog.alerts(queue.id)
            for measure, threshold in limits.items():
                value = live.values.get(measure)
                state = noted.get(measure)
                if not threshold.crossed(value, threshold.alert):
                    if state is not None:
                        self.oplog.alert_end(queue.id, measure)
                    continue
                if state is None:
                    self.oplog.alert_begin(queue.id, measure, now)
                    since = now
                else:
                    since = state.since
                    if state.notified_at is not None:
                        continue
                if (now - since).total_seconds() >= queue.thresholds.alert_after_seconds and \
                        self.oplog.alert_notified(queue.id, measure, since, now):
                    self._notify(queue, measure, value, threshold.alert, since)
                    sent += 1
        return sent

    def _notify(self, queue: QueueConfig, measure: str, value: float | None, limit: float | None,
                since: datetime) -> None:
        local = since.astimezone(queue.hours.zone)
        event = {"event": THRESHOLD, "queue_id": queue.id, "measure": measure, "what": MEASURES[measure][0],
                 "value": worded(measure, value), "limit": worded(measure, limit),
                 "since": f"{local:%H:%M} {local:%Z} ({queue.hours.tz})"}
        log.warning("threshold crossed", extra={"queue": queue.id, "measure": measure})
        if self.bus is not None:
            self.bus.publish(event)


# The states an agent can be in, as the console names them (docs/console.md, "Agents").
BUSY_STATES = frozenset({"connecting", "ringing", "talking", "wrap_up", "busy"})
AWAY_STATES = frozenset({"away"})


def agent_state(agent: Agent, entry: BoardEntry | None = None) -> str:
    """An agent's state: available, connecting/ringing/talking (a Holdfast call, by its leg), busy
    (a call of their own), wrap_up, away (with its reason beside it), offline."""
    if agent.status is AgentStatus.BUSY and agent.ticket_id:
        if entry is not None and entry.status == TicketStatus.CONNECTING.value:
            return "talking" if entry.answered_at else entry.leg or "connecting"
        return "talking"
    return agent.status.value
