"""Lost calls: recorded, recovered, deduplicated, opted out, rate limited. Against fakes."""
from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.domain.callbacks import Callbacks, DialRequest
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Leave
from chalicelib.adapters.memory import memory_stores, FakeBus, FakeDialer, FixedClock
from tests.fakes import FakeOrchestrator

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # 10:00 in San Francisco
ALICE = "+14155550100"
BOB = "+14155550199"


class World:
    def __init__(self, **queue: object) -> None:
        self.queues = QueueDirectory.from_config({"queues": [{"id": "support", "short_abandon_seconds": 10,
                                                              **queue}]})
        self.stores, self.orch, self.clock, self.bus = memory_stores(), FakeOrchestrator(), FixedClock(NOW), FakeBus()
        self.dialer = FakeDialer()
        self.flow = CallFlow(self.stores, self.orch, self.clock, self.queues, self.bus, daily_callback_budget=5)
        self.dispatcher = Dispatcher(self.stores, self.orch, self.dialer, self.clock, self.queues)
        self.callbacks = Callbacks(self.stores, self.orch, self.dialer, self.clock, self.queues, self.dispatcher)

    def ring(self, sid: str, caller: str = ALICE) -> str:
        self.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
        return self.stores.tickets.find_by_call(sid).id

    def hang_up(self, sid: str, after: float = 60, status: CallStatus = CallStatus.COMPLETED) -> None:
        self.clock.advance(after)
        self.flow.incoming(CallEvent(sid, status, "", "+18005550100"))


def test_abandoned_call_is_listed_and_recovered_at_its_place() -> None:
    w = World()
    first = w.ring("CA1")
    w.ring("CA2", BOB)
    w.hang_up("CA1")
    ticket = w.stores.tickets.get(first)
    assert (ticket.lost_cause, ticket.kind, ticket.status, ticket.number) == (
        "abandoned", TicketKind.CALLBACK, TicketStatus.SCHEDULED, 1)
    assert list(w.orch.started) == [f"{first}-1"] and "+1" not in f"{first}-1"
    assert [t.id for t in w.stores.lost.lost_calls("support").items] == [first]
    assert w.bus.events == [{"event": "lost_call", "ticket_id": first, "cause": "abandoned", "recovery": "booked"}]


def test_short_abandon_withheld_and_not_recovering_queues_get_no_callback() -> None:
    w = World()
    w.ring("CA1")
    w.hang_up("CA1", after=3)
    w.ring("CA2", "anonymous")
    w.hang_up("CA2")
    assert [e["recovery"] for e in w.bus.events] == ["short_abandon", "not_dialable"]
    assert w.orch.started == {} and len(w.stores.lost.lost_calls("support").items) == 2
    off = World(recover_lost_calls=False)
    off.ring("CA1")
    off.hang_up("CA1")
    assert off.bus.events[0]["recovery"] == "not_recovered"


def test_dropped_and_rung_out_calls() -> None:
    w = World(max_hold_seconds=300)
    w.ring("CA1")
    w.hang_up("CA1", status=CallStatus.FAILED)
    assert w.stores.tickets.get("support-1").lost_cause == "dropped"
    second = w.ring("CA2", BOB)
    w.clock.advance(301)
    script = w.flow.wait(second, CallEvent("CA2", CallStatus.IN_PROGRESS))
    assert isinstance(script.verbs[-1], Leave) and "no agent is free" in script.verbs[0].text
    assert w.stores.tickets.get(second).lost_cause == "rang_out" and w.stores.tickets.get(second).kind is TicketKind.CALLBACK


def test_one_open_callback_per_number_and_a_repeat_caller_rejoins_it() -> None:
    w = World()
    first = w.ring("CA1")
    w.ring("CA2", BOB)
    w.hang_up("CA1")
    execution = w.stores.tickets.get(first).execution_id
    # Alice calls again while her callback is pending: she takes her ticket (and place) back
    again = w.ring("CA3")
    assert again == first
    ticket = w.stores.tickets.get(first)
    assert (ticket.kind, ticket.status, ticket.call_id) == (TicketKind.LIVE, TicketStatus.WAITING, "CA3")
    assert w.orch.stopped == [execution]
    assert w.stores.line.ahead_of(ticket) == 0  # still ahead of Bob
    # she hangs up again: a second recovery of the same ticket, a new execution name
    w.hang_up("CA3")
    assert list(w.orch.started) == [f"{first}-1", f"{first}-2"]


def test_a_second_ticket_for_the_same_number_does_not_book_a_second_callback() -> None:
    w = World(recovery_keeps_place=False)
    w.ring("CA1")
    w.hang_up("CA1")
    [booked] = [t for t in w.stores.table.tickets.values() if t.kind is TicketKind.CALLBACK]
    assert booked.number == 2  # joined the end of the line instead of keeping number 1
    w.stores.table.tickets[booked.id] = booked.evolve(status=TicketStatus.CONNECTING)  # being dialed: no rejoin
    w.ring("CA3")
    w.hang_up("CA3")
    assert [t.id for t in w.stores.table.tickets.values() if t.kind is TicketKind.CALLBACK] == [booked.id]


def test_talking_to_an_agent_recovers_every_lost_call_of_the_number() -> None:
    w = World()
    w.ring("CA1")
    w.hang_up("CA1", after=3)  # short: lost, no callback
    live = w.ring("CA2")  # calls again and gets through
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.dispatcher.bridge_result(live, "ann", answered=True)
    assert w.stores.lost.lost_calls("support").items == []


def test_recovered_by_the_callback_itself() -> None:
    w = World()
    first = w.ring("CA1")
    w.hang_up("CA1")
    w.stores.table.park(first, "park-token")
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.callbacks.dial(DialRequest(first, 1, "ann", "dial-token"))
    ticket = w.stores.tickets.get(first)
    w.callbacks.dialed(first, ticket.dial_id, CallEvent("CAo", CallStatus.IN_PROGRESS,
                                                         dial_status=CallStatus("completed")))
    assert w.stores.lost.lost_calls("support").items == []


def test_press_9_opts_out_of_automatic_callbacks() -> None:
    w = World(offer_callback_after_seconds=0)
    first = w.ring("CA1")
    script = w.flow.offer(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="9"))
    assert "We will not call you back" in script.verbs[0].text
    w.hang_up("CA1")
    assert w.bus.events[-1]["recovery"] == "opted_out" and w.orch.started == {}


def test_pressing_1_after_opting_out_is_consent_again() -> None:
    w = World()
    w.stores.bookings.set_opt_out(ALICE, True, NOW)
    first = w.ring("CA1")
    w.flow.offer(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    w.flow.confirm(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    assert w.stores.tickets.get(first).kind is TicketKind.CALLBACK and not w.stores.bookings.is_opted_out(ALICE)


def test_opting_out_later_cancels_a_booked_callback_before_dialing() -> None:
    w = World()
    first = w.ring("CA1")
    w.hang_up("CA1")
    w.stores.table.park(first, "park-token")
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.stores.bookings.set_opt_out(ALICE, True, NOW)
    assert w.callbacks.dial(DialRequest(first, 1, "ann", "dial-token")) is None
    assert w.dialer.calls == [] and w.orch.completed[-1][1] == {"result": "cancelled"}


def test_per_number_allowance_and_daily_budget() -> None:
    w = World(max_callbacks_per_number_per_day=2)
    for n in range(3):  # Alice is called back twice today; the third lost call is not
        w.ring(f"CA{n}")
        w.hang_up(f"CA{n}")
        w.stores.table.tickets[f"support-{n + 1}"] = w.stores.tickets.get(f"support-{n + 1}").evolve(status=TicketStatus.LOST)
    assert [e["recovery"] for e in w.bus.events] == ["booked", "booked", "rate_limited"]
    assert w.stores.tickets.get("support-3").kind is TicketKind.LIVE  # refused: the conversion was undone
    for n in range(5):  # the budget is 5 a day in this world; 2 are spent
        w.ring(f"CB{n}", f"+1415555{n:04d}")
        w.hang_up(f"CB{n}")
    assert [e["recovery"] for e in w.bus.events[3:]] == ["booked"] * 3 + ["budget_spent"] * 2


def test_refused_press_1_tells_the_caller_and_keeps_them_in_line() -> None:
    w = World(max_callbacks_per_number_per_day=0)
    first = w.ring("CA1")
    w.flow.offer(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    script = w.flow.confirm(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    assert "cannot book a callback" in script.verbs[0].text
    assert w.stores.tickets.get(first).kind is TicketKind.LIVE and w.stores.tickets.get(first).status is TicketStatus.WAITING


def test_twenty_duplicate_confirmations_spend_one_allowance() -> None:
    w = World(max_callbacks_per_number_per_day=1)
    first = w.ring("CA1")
    w.flow.offer(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    for _ in range(20):
        script = w.flow.confirm(first, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
        assert "We will call you back" in script.verbs[0].text
    assert len(w.orch.started) == 1


def test_a_recovery_waits_in_line_only_until_its_horizon_and_a_press_1_for_its_promise() -> None:
    # open 09:00-18:00 New York, a 2-hour horizon; Alice hangs up at 17:00 after a minute: 1 open hour
    # today, 1 tomorrow -> given up at 10:00 tomorrow if no agent took it, 17 h after her call
    hours = {"timezone": "America/New_York", "mon": ["09:00-18:00"], "tue": ["09:00-18:00"]}
    w = World(hours=hours, recovery_horizon_seconds=7200)
    w.clock.current = datetime(2026, 11, 23, 21, 59, tzinfo=timezone.utc)  # Monday 16:59 New York
    w.ring("CA1")
    w.hang_up("CA1")
    [payload] = w.orch.started.values()
    assert payload["park_timeout_seconds"] == 17 * 3600
    # Bob presses 1 at the same hour: his callback has its promise, and waits up to the queue's 4 days
    w.ring("CA2", BOB)
    tid = w.stores.tickets.find_by_call("CA2").id
    w.flow.offer(tid, CallEvent("CA2", CallStatus.IN_PROGRESS, digits="1"))
    w.flow.confirm(tid, CallEvent("CA2", CallStatus.IN_PROGRESS, digits="1"))
    assert w.orch.started[f"{tid}-1"]["park_timeout_seconds"] == 4 * 24 * 3600
