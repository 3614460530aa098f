"""Production wiring of the wait estimator: announced sign-offs and per-band calibration (issue 14)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import memory_stores, FakeBus, FixedClock
from tests.fakes import FakeOrchestrator
from chalicelib.domain import learning
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.errors import BadRequestError
from chalicelib.domain.estimator import BusyAgent, QueueEventKind as K, WaitEstimator, band_of
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.ports import Stores

NOW = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
CONFIG = {"default": "q", "queues": [{"id": "q", "average_handle_seconds": 300}]}


def a_store(kind: str, request: pytest.FixtureRequest) -> Stores:
    if kind == "fake":
        return memory_stores()
    from chalicelib.adapters.dynamo import dynamo_stores

    return dynamo_stores(request.getfixturevalue("aws").table_name, "us-east-1")


# --- announced sign-offs -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fake", "dynamo"])
def test_an_announced_sign_off_round_trips_through_the_store(kind: str, request: pytest.FixtureRequest) -> None:
    stores = a_store(kind, request)
    until = NOW + timedelta(hours=3)
    stores.agents.record_agent_status("ann", AgentStatus.AVAILABLE, NOW, "client:ann", ("q",), None, until)
    assert stores.agents.get_agent("ann").until == until
    assert [a.until for a in stores.agents.idle_agents("q")] == [until]
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
    assert stores.agents.claim(ticket.id, "ann", NOW + timedelta(seconds=5))  # a reservation keeps it
    assert [(a.id, a.until) for a in stores.agents.busy_agents("q")] == [("ann", until)]
    # an event that announces nothing (a provider's) keeps it; a new announcement replaces it
    assert stores.agents.release_agent("ann", ticket.id, AgentStatus.AVAILABLE, NOW + timedelta(seconds=60))
    stores.agents.record_agent_status("ann", AgentStatus.BUSY, NOW + timedelta(seconds=70), None, None, None)
    assert stores.agents.get_agent("ann").until == until
    later = until + timedelta(hours=1)
    stores.agents.record_agent_status("ann", AgentStatus.AVAILABLE, NOW + timedelta(seconds=80), None, None, None, later)
    assert stores.agents.get_agent("ann").until == later
    # signing off clears it: tomorrow's shift announces its own
    stores.agents.record_agent_status("ann", AgentStatus.OFFLINE, NOW + timedelta(seconds=90), None, None, None)
    assert stores.agents.get_agent("ann").until is None


def test_the_estimate_gets_each_busy_agents_sign_off_while_it_lies_ahead() -> None:
    stores, queue = memory_stores(), QueueDirectory.from_config(CONFIG).get("q")
    stores.agents.record_agent_status("ann", AgentStatus.BUSY, NOW, "client:ann", ("q",), None, NOW + timedelta(minutes=20))
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, NOW, "client:bob", ("q",), None)
    by_elapsed = {a.leaves_in for a in learning.busy_agents(stores.agents, queue, NOW + timedelta(minutes=5))}
    assert by_elapsed == {15 * 60.0, None}
    # past it and still signed in: they stayed on, so it says nothing any more
    assert {a.leaves_in for a in learning.busy_agents(stores.agents, queue, NOW + timedelta(minutes=25))} == {None}


@pytest.mark.parametrize("until, status, message", [
    (NOW - timedelta(seconds=1), AgentStatus.AVAILABLE, "future"),
    (NOW, AgentStatus.BUSY, "future"),
    (NOW + timedelta(hours=24, seconds=1), AgentStatus.AVAILABLE, "24 h"),
    (NOW + timedelta(hours=1), AgentStatus.OFFLINE, "offline"),
    (datetime(2026, 11, 23, 20), AgentStatus.AVAILABLE, "time zone"),
])
def test_a_sign_off_must_lie_in_the_next_day_of_a_shift(until: datetime, status: AgentStatus, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        learning.check_sign_off(until, status, NOW)
    learning.check_sign_off(NOW + timedelta(hours=24), AgentStatus.AVAILABLE, NOW)  # the bound itself is fine


def test_an_agent_signing_off_soon_frees_nobody_after_their_call() -> None:
    """With the sign-offs the store gives it, the call flow's estimate is longer when the busy agents
    all leave after their current calls."""
    def sixth_in_line(leaving: tuple[str, ...]) -> float:
        """The estimate for the sixth caller, three agents busy, `leaving` having announced a sign-off
        in 2 minutes (after their current call: nobody new)."""
        stores = memory_stores()
        directory = QueueDirectory.from_config(CONFIG)
        flow = CallFlow(stores, FakeOrchestrator(), FixedClock(NOW), directory, FakeBus())
        for i, name in enumerate(("ann", "bob", "cat")):
            stores.agents.record_agent_status(name, AgentStatus.AVAILABLE, NOW - timedelta(minutes=10), f"client:{name}",
                                              ("q",), None, until=NOW + timedelta(minutes=2) if name in leaving else None)
            other = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=f"CB{i}"))
            assert stores.agents.claim(other.id, name, NOW - timedelta(seconds=60 * (i + 1)))
        line = [stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=f"CA{i}"))
                for i in range(6)]
        return flow.estimate(directory.get("q"), line[-1])[0].mean

    assert sixth_in_line(("ann", "bob")) > 1.4 * sixth_in_line(())


# --- per-band calibration in production -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fake", "dynamo"])
def test_the_store_keeps_how_many_were_ahead_when_told(kind: str, request: pytest.FixtureRequest) -> None:
    stores = a_store(kind, request)
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
    assert stores.tickets.get(ticket.id).told_ahead is None
    stores.stats.record_told(ticket.id, 4.0, 30.0, 7)
    told = stores.tickets.get(ticket.id)
    assert (told.told_shape, told.told_scale, told.told_ahead) == (4.0, 30.0, 7)
    stores.stats.record_told(ticket.id, 4.0, 30.0)  # told again without a position: no band
    assert stores.tickets.get(ticket.id).told_ahead is None


def test_a_caller_told_a_wait_is_scored_in_their_position_band() -> None:
    stores = memory_stores()
    directory = QueueDirectory.from_config(CONFIG)
    flow = CallFlow(stores, FakeOrchestrator(), FixedClock(NOW), directory, FakeBus())
    stores.agents.record_agent_status("ann", AgentStatus.BUSY, NOW, "client:ann", ("q",), None)
    line = [stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=f"CA{i}"))
            for i in range(8)]
    est, ahead = flow.estimate(directory.get("q"), line[-1])
    assert (ahead, est.ahead) == (7, 7)
    stores.stats.record_told(line[-1].id, est.shape, est.scale, est.ahead)
    told = stores.tickets.get(line[-1].id)
    learning.learn(stores.stats, directory.get("q"), K.SERVICE_START, NOW + timedelta(minutes=5), 300.0,
                   learning.told_pit(told, 300.0), told.told_ahead)
    state = learning.current(stores.stats, directory.get("q")).state()
    weights = [sum(events) + sum(censored) for events, censored in state["bands"]]
    assert weights[band_of(7)] == pytest.approx(1.0) and sum(weights) == pytest.approx(1.0)


def test_an_abandoner_is_censored_in_their_band_through_the_call_flow() -> None:
    stores = memory_stores()
    directory = QueueDirectory.from_config(CONFIG)
    flow = CallFlow(stores, FakeOrchestrator(), FixedClock(NOW), directory, FakeBus())
    stores.agents.record_agent_status("ann", AgentStatus.BUSY, NOW, "client:ann", ("q",), None)
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id="CA1"))
    stores.stats.record_told(ticket.id, 4.0, 30.0, 0)
    flow.call_ended(CallEvent("CA1", CallStatus.COMPLETED))  # the caller hung up while holding
    state = learning.current(stores.stats, directory.get("q")).state()
    events, censored = state["bands"][band_of(0)]
    assert sum(events) == 0 and sum(censored) == pytest.approx(1.0)


def test_estimates_say_which_band_they_were_calibrated_for() -> None:
    est = WaitEstimator(prior_service_seconds=300)
    assert est.estimate(0, 1, servers=4, busy=[BusyAgent(10.0)] * 4).ahead == 0
    assert est.estimate(0, 9, idle=2, servers=4, busy=[BusyAgent(10.0)] * 2).ahead == 6
