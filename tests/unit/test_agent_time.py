"""Agents' time: each change closes an interval in the old state, once, per queue, cut at the queue's
midnight; AHT and occupancy from it, plus the state the agent is in now."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from chalicelib.adapters.memory.operations import MemoryOperationsLog
from chalicelib.domain import agent_time
from chalicelib.domain.model import Agent, AgentStatus

LA = ZoneInfo("America/Los_Angeles")
T = datetime(2025, 11, 17, 17, 0, tzinfo=timezone.utc)  # 09:00 in Los Angeles


def ann(status: AgentStatus, minutes: float, ticket: str | None = None, queues: tuple[str, ...] = ("support",),
        reason: str | None = None) -> Agent:
    return Agent("ann", status, queues, "client:ann", ticket, T + timedelta(minutes=minutes), reason=reason)


def day_of(log: MemoryOperationsLog, agent: Agent | None, now: datetime) -> agent_time.Today:
    start = datetime(2025, 11, 17, tzinfo=LA)
    rows = log.rows("support", start, start + timedelta(days=1))
    return agent_time.today(rows.values(), agent, "ann", now, start)


def test_a_morning_of_calls_gives_aht_and_occupancy() -> None:
    """09:00 available 10 min; a Holdfast call 6 min; wrap-up 2; available 7; own call 5; break 30
    (not counted in occupancy); available since 10:00 (the open interval, read at 10:05)."""
    timeline = [ann(AgentStatus.AVAILABLE, 0), ann(AgentStatus.BUSY, 10, "support-1"), ann(AgentStatus.WRAP_UP, 16),
                ann(AgentStatus.AVAILABLE, 18), ann(AgentStatus.BUSY, 25), ann(AgentStatus.AWAY, 30, reason="break"),
                ann(AgentStatus.AVAILABLE, 60)]
    log = MemoryOperationsLog()
    zones = {"support": LA}
    for old, new in zip(timeline, timeline[1:]):
        for _ in range(2):  # the stream delivers a record twice: counted once
            for fact in agent_time.facts(old, new, zones):
                log.record(fact.id, fact.queue_id, fact.bucket, fact.counts)
    day = day_of(log, timeline[-1], T + timedelta(minutes=65))
    assert day.seconds == {"handling": 360, "busy": 300, "wrap_up": 120, "available": (10 + 7 + 5) * 60, "away": 1800}
    assert day.handled == 1
    assert day.aht_seconds == 480  # (6 + 2) min for the one call handled
    assert day.occupancy == round((6 + 5 + 2) / (6 + 5 + 2 + 22), 4)


def test_time_is_cut_at_the_queues_midnight_and_offline_time_is_not_counted() -> None:
    late = Agent("ann", AgentStatus.AVAILABLE, ("support",), None, None, datetime(2025, 11, 17, 23, 30, tzinfo=LA))
    next_day = Agent("ann", AgentStatus.OFFLINE, ("support",), None, None, datetime(2025, 11, 18, 0, 45, tzinfo=LA))
    facts = agent_time.facts(late, next_day, {"support": LA})
    assert [(f.bucket, f.counts) for f in facts] == [
        ("2025-11-18T07:30", {"agent:ann:available": 1800.0}), ("2025-11-18T08:00", {"agent:ann:available": 2700.0})]
    morning = Agent("ann", AgentStatus.AVAILABLE, ("support",), None, None, next_day.changed_at + timedelta(hours=8))
    assert agent_time.facts(next_day, morning, {"support": LA}) == []  # the night offline: nothing


def test_an_agent_in_two_queues_counts_in_both_and_a_queue_adds_its_agents() -> None:
    old = ann(AgentStatus.AVAILABLE, 0, queues=("support", "sales"))
    new = ann(AgentStatus.BUSY, 10, "support-1", queues=("support", "sales"))
    facts = agent_time.facts(old, new, {"support": LA, "sales": LA})
    assert sorted(f.queue_id for f in facts) == ["sales", "support"]
    one = agent_time.Today({"handling": 600, "available": 600}, 2)
    other = agent_time.Today({"handling": 0, "available": 1200}, 0)
    both = agent_time.total([one, other])
    assert (both.handled, both.aht_seconds, both.occupancy) == (2, 300, 0.25)
