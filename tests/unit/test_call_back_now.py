"""The console's "call back now" on the in-memory adapters in virtual time (the workflow run as the
ASL says): a scheduled callback made due at once under a new execution, inside the rules."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.adapters.memory.operations import MemoryOperationsLog
from chalicelib.domain.errors import OrchestratorError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketKind, TicketStatus
from chalicelib.domain.operations import CallBackRefusedError, Operations
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.bootstrap import MemoryWorld, build_memory

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
ALICE = "+12125550100"
NY_HOURS = {"timezone": "America/New_York", "mon": ["08:00-20:00"], "tue": ["08:00-20:00"]}


def world(start: datetime = MONDAY_10_NY, **queue: object) -> tuple[MemoryWorld, Operations]:
    queues = QueueDirectory([parse_queue({"id": "support", "retry_delays_seconds": [0, 3600], **queue})])
    w = build_memory(queues, start)
    return w, Operations(w.stores, MemoryOperationsLog(), queues, w.clock, w.orchestrator, w.flow)


def lose(w: MemoryWorld, sid: str = "CA1", after: float = 60) -> str:
    """A caller holds with nobody signed in and hangs up: a lost call, its recovery callback booked."""
    w.flow.incoming(CallEvent(sid, CallStatus.RINGING, ALICE, "+18005550100"))
    tid = w.stores.tickets.find_by_call(sid).id
    w.clock.advance(after)
    w.flow.incoming(CallEvent(sid, CallStatus.COMPLETED, ALICE, "+18005550100"))
    w.clock.advance(1)
    return tid


def dial_ends(w: MemoryWorld, tid: str, status: str) -> None:
    """The agent (dialed first) answers; the callee's leg ends with `status`."""
    did = w.stores.tickets.get(tid).dial_id or ""
    n = len(w.dialer.calls)  # type: ignore[attr-defined]
    w.callbacks.answered(tid, did, CallEvent(f"CAout{n}", CallStatus.IN_PROGRESS))
    w.callbacks.dialed(tid, did, CallEvent(f"CAout{n}", CallStatus.IN_PROGRESS,
                                           dial_status=CallStatus(status), dial_seconds=60.0))
    w.clock.advance(1)


def scheduled_retry(w: MemoryWorld) -> str:
    """A callback whose first attempt went unanswered: scheduled again an hour later, in its Wait."""
    tid = lose(w)
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.clock.advance(1)
    dial_ends(w, tid, "no-answer")
    ticket = w.stores.tickets.get(tid)
    assert (ticket.status, ticket.attempts) == (TicketStatus.SCHEDULED, 1)
    assert ticket.next_attempt_at == w.clock.now() - timedelta(seconds=1) + timedelta(seconds=3600)
    return tid


def test_a_scheduled_callback_is_due_at_once_under_a_new_execution_and_leaves_the_list_when_it_connects() -> None:
    w, ops = world()
    tid = scheduled_retry(w)
    old = w.stores.tickets.get(tid).execution_id or ""
    done = ops.call_back_now(tid, "s1")
    assert (done.result, done.ticket) == ("due_now", tid)
    assert w.orchestrator.status(old) == ("ABORTED", "Holdfast.Rejoined")
    new = w.stores.tickets.get(tid).execution_id or ""
    assert new == f"mem:{tid}-2" and w.orchestrator.status(new) == ("RUNNING", None)
    assert w.orchestrator.executions[new].data["schedule"] == {
        "not_before": w.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "attempt": 2,  # the attempt it was due as
        "in_line": False}  # scheduled, out of the line: its park brings it back
    w.clock.advance(1)
    assert len(w.dialer.calls) == 2  # type: ignore[attr-defined]  # now, not in an hour
    assert [x["ticket"] for x in ops.lost_calls("support").items] == [tid]
    dial_ends(w, tid, "completed")
    assert w.stores.tickets.get(tid).status is TicketStatus.SERVED
    assert ops.lost_calls("support").items == []
    w.clock.advance(2 * 3600)
    assert len(w.dialer.calls) == 2  # type: ignore[attr-defined]  # the old schedule never fires


def test_two_admins_at_once_start_one_execution() -> None:
    w, ops = world()
    tid = scheduled_retry(w)
    before = set(w.orchestrator.executions)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def click() -> None:
        barrier.wait()
        results.append(ops.call_back_now(tid, "s").result)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already_due", "due_now"]
    assert set(w.orchestrator.executions) - before == {f"mem:{tid}-2"}


def test_outside_business_hours_it_says_when_and_changes_nothing_inside_it_is_due() -> None:
    # Monday 20:30 in New York: closed. The lost call's callback is booked for Tuesday 08:00.
    w, ops = world(datetime(2026, 11, 24, 1, 30, tzinfo=timezone.utc), hours=NY_HOURS)
    tid = lose(w)
    before = w.stores.tickets.get(tid)
    assert before.status is TicketStatus.SCHEDULED
    with pytest.raises(CallBackRefusedError) as refused:
        ops.call_back_now(tid, "s1")
    assert refused.value.reason == "closed" and refused.value.when == before.not_before
    # said on the queue's clock (New York): its 13:00 UTC callback is 08:00 EST
    assert "we are closed now" in str(refused.value) and "Tue 24 Nov 08:00 EST" in str(refused.value)
    assert w.stores.tickets.get(tid) == before and len(w.orchestrator.executions) == 1
    # The other side of the rule: at Tuesday 08:00 the callback is due (and already on its way).
    w.clock.run_until(datetime(2026, 11, 24, 13, 0, 1, tzinfo=timezone.utc))
    assert ops.call_back_now(tid, "s1").result == "already_due"


def test_outside_the_callees_calling_window_it_says_when() -> None:
    # Open all day, but it is 01:00 in New York where the callee is: their window opens at 08:00.
    w, ops = world(datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc))
    tid = lose(w)
    with pytest.raises(CallBackRefusedError) as refused:
        ops.call_back_now(tid, "s1")
    assert refused.value.reason == "calling_window"
    assert refused.value.when == datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
    assert len(w.orchestrator.executions) == 1


def test_a_waiting_callback_is_already_due() -> None:
    w, ops = world()
    tid = lose(w)
    assert w.stores.tickets.get(tid).status is TicketStatus.WAITING
    done = ops.call_back_now(tid, "s1")
    assert done.result == "already_due" and "waiting in line" in done.message
    assert len(w.orchestrator.executions) == 1


def test_with_no_pending_callback_one_is_booked_through_the_call_flow() -> None:
    w, ops = world()
    short = lose(w, "CA1", after=3)  # a short abandon: no callback was booked
    assert w.stores.tickets.get(short).kind is TicketKind.LIVE
    done = ops.call_back_now(short, "s1")
    assert (done.result, done.ticket) == ("booked", short)  # the live ticket becomes the callback
    assert w.stores.tickets.get(short).kind is TicketKind.CALLBACK
    # a stopped callback's lost call: a new ticket (the open callback of the number), due now
    assert ops.stop_calling(short, "s1")
    done = ops.call_back_now(short, "s1")
    assert done.result == "booked" and done.ticket != short
    w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    w.clock.advance(1)
    dial_ends(w, done.ticket, "completed")
    assert ops.lost_calls("support").items == []  # the call back recovered the lost call


def test_opt_outs_and_the_daily_allowance_hold() -> None:
    w, ops = world(max_callbacks_per_number_per_day=1)
    tid = lose(w)  # its recovery took the number's one callback of the day
    assert ops.stop_calling(tid, "s1")
    with pytest.raises(CallBackRefusedError) as refused:
        ops.call_back_now(tid, "s1")
    assert refused.value.reason == "rate_limited" and "callbacks for today" in str(refused.value)
    w.stores.bookings.set_opt_out(ALICE, True, w.clock.now())
    with pytest.raises(CallBackRefusedError) as refused:
        ops.call_back_now(tid, "s1")
    assert refused.value.reason == "opted_out"
    assert w.stores.tickets.get(tid).status is TicketStatus.CANCELLED and len(w.orchestrator.executions) == 1


def test_a_start_that_failed_is_started_by_the_next_click() -> None:
    w, ops = world()
    tid = scheduled_retry(w)
    real_start = w.orchestrator.start

    def down(name: str, payload: object) -> str:
        raise OrchestratorError("ServiceUnavailable")

    w.orchestrator.start = down  # type: ignore[method-assign]
    with pytest.raises(OrchestratorError):
        ops.call_back_now(tid, "s1")
    assert w.stores.tickets.get(tid).execution_id is None  # the old run was stopped; nothing runs it now
    w.orchestrator.start = real_start  # type: ignore[method-assign]
    assert ops.call_back_now(tid, "s1").result == "already_due"  # a start may be under way: none doubled
    assert w.stores.tickets.get(tid).execution_id is None
    w.clock.advance(61)
    assert ops.call_back_now(tid, "s1").result == "due_now"
    assert w.stores.tickets.get(tid).execution_id == f"mem:{tid}-3"
    w.clock.advance(1)
    assert len(w.dialer.calls) == 2  # type: ignore[attr-defined]


def test_a_click_while_another_is_starting_the_execution_starts_none() -> None:
    w, ops = world()
    tid = scheduled_retry(w)
    real_start = w.orchestrator.start
    answers: list[str] = []

    def start_with_a_second_click(name: str, payload: Any) -> str:
        answers.append(ops.call_back_now(tid, "s2").result)  # between the write and the new execution
        return real_start(name, payload)

    w.orchestrator.start = start_with_a_second_click  # type: ignore[method-assign]
    assert ops.call_back_now(tid, "s1").result == "due_now"
    assert answers == ["already_due"]
    assert [n for n in w.orchestrator.executions if n.startswith(f"mem:{tid}-")] == [f"mem:{tid}-1", f"mem:{tid}-2"]


def test_a_number_the_policy_refuses_is_not_called() -> None:
    w, ops = world(allowed_countries=["GB"])  # a US caller: never dialed, so no callback was booked
    tid = lose(w)
    assert w.stores.tickets.get(tid).kind is TicketKind.LIVE
    with pytest.raises(CallBackRefusedError) as refused:
        ops.call_back_now(tid, "s1")
    assert refused.value.reason == "not_dialable" and w.orchestrator.executions == {}
