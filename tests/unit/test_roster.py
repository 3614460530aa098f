"""The roster: agents expected by time of week, and the sign-ins a wait estimate may count on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import ConfigError
from chalicelib.domain.queues import parse_queue
from chalicelib.domain.roster import Roster

# Monday 2026-11-23 in New York (UTC-5): 08:00 ten agents, 12:00 fourteen, 13:00 nine, 14:00 twelve, 18:00 none
WEEKDAY = {"08:00": 10, "12:00": 14, "13:00": 9, "14:00": 12, "18:00": 0}
ROSTER = Roster.from_config({d: WEEKDAY for d in ("mon", "tue", "wed", "thu", "fri")}, "America/New_York")


def ny(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, 5, minute, tzinfo=timezone.utc) + timedelta(hours=hour)


def test_the_rostered_number_steps_at_its_times_in_the_queues_zone() -> None:
    assert ROSTER.agents_at(ny(7, 59)) == 0 and ROSTER.agents_at(ny(8)) == 10
    assert ROSTER.agents_at(ny(11, 59)) == 10 and ROSTER.agents_at(ny(12)) == 14
    assert ROSTER.agents_at(datetime(2026, 11, 28, 17, tzinfo=timezone.utc)) == 0  # Saturday: Friday's 18:00 holds


def test_sign_ins_are_the_steps_up_within_the_horizon_beyond_who_is_in() -> None:
    assert ROSTER.sign_ins(ny(11, 50), staffed=10) == [600.0] * 4  # four more at noon
    assert ROSTER.sign_ins(ny(11, 50), staffed=12) == [600.0] * 2  # two came early
    assert ROSTER.sign_ins(ny(12, 0), staffed=14) == [7200.0] * 3  # 13:00 down to 9 (sign-offs), 14:00 up to 12
    assert ROSTER.sign_ins(ny(9), staffed=10) == []  # noon is more than two hours away
    assert ROSTER.sign_ins(ny(9), staffed=10, horizon=timedelta(hours=3)) == [10800.0] * 4


def test_either_side_of_a_step_and_over_midnight() -> None:
    assert ROSTER.sign_ins(ny(11, 59), staffed=10) == [60.0] * 4
    # The noon step is past (its four late agents are not counted on); 13:00 down to 9, 14:00 up by 3.
    assert ROSTER.sign_ins(ny(12, 1), staffed=10) == [7140.0] * 3
    assert ROSTER.sign_ins(ny(23, 0, day=23), staffed=0, horizon=timedelta(hours=10)) == [32400.0] * 10  # Tuesday 08:00


@pytest.mark.parametrize("bad, says", [
    ({"mon": {"8am": 3}}, "is not a time"),
    ({"mon": {"08:00": -1}}, "number of agents"),
    ({"mon": {"08:00": True}}, "number of agents"),
    ({"monday": {"08:00": 3}}, "unknown day"),
    ({"mon": ["08:00"]}, "expected an object"),
    ({}, "no day has a step"),
    ({"timezone": "Mars/Olympus", "mon": {"08:00": 1}}, "unknown time zone"),
])
def test_a_bad_roster_is_refused_naming_the_field(bad: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        parse_queue({"id": "q", "name": "Q", "roster": bad})
    assert str(caught.value).startswith("queues.q.roster")  # the field named from the file's root


def test_the_queue_reads_its_roster_in_its_own_zone() -> None:
    queue = parse_queue({"id": "q", "name": "Q", "hours": {"timezone": "Asia/Tokyo", "mon": ["09:00-18:00"]},
                         "roster": {"mon": {"09:00": 5}}})
    assert queue.roster is not None and queue.roster.tz == "Asia/Tokyo"
    assert queue.roster.agents_at(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)) == 5  # 09:00 in Tokyo


def test_the_callers_estimate_counts_on_the_agents_the_roster_brings() -> None:
    """Three agents busy, a line of twelve: four more rostered in five minutes shorten the wait told."""
    from chalicelib.adapters.memory import FakeBus, FixedClock, memory_stores
    from tests.fakes import FakeOrchestrator
    from chalicelib.domain.callflow import CallFlow
    from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
    from chalicelib.domain.queues import QueueDirectory

    now = ny(11, 55)

    def told(roster: dict | None) -> float:
        queue = {"id": "q", "name": "Q", "average_handle_seconds": 300, "hours": {"timezone": "America/New_York"}}
        directory = QueueDirectory.from_config({"queues": [{**queue, **({"roster": roster} if roster else {})}]})
        stores = memory_stores()
        flow = CallFlow(stores, FakeOrchestrator(), FixedClock(now), directory, FakeBus())
        for i, name in enumerate(("ann", "bob", "cat")):
            stores.agents.record_agent_status(name, AgentStatus.AVAILABLE, now - timedelta(minutes=10),
                                              f"client:{name}", ("q",), None)
            busy = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, now, call_id=f"CB{i}"))
            assert stores.agents.claim(busy.id, name, now - timedelta(seconds=60 * (i + 1)))
        line = [stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, now, call_id=f"CA{i}"))
                for i in range(12)]
        return flow.estimate(directory.get("q"), line[-1])[0].mean

    alone = told(None)
    assert told({"mon": {"08:00": 3, "12:00": 7}}) < 0.75 * alone  # four more at noon
    assert told({"mon": {"08:00": 3, "15:00": 7}}) == alone  # beyond the horizon: nothing changes
