"""Report facts from ticket transitions: each measure once, in the half hour the call arrived."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory.operations import MemoryOperationsLog
from chalicelib.domain import reports
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.domain.operations import Operations, board_entry
from chalicelib.domain.queues import QueueDirectory
from chalicelib.edges import metrics
from chalicelib.adapters.memory import memory_stores, FixedClock
from tests.fakes import FakeOrchestrator

T0 = datetime(2025, 11, 17, 18, 29, 50, tzinfo=timezone.utc)


def live(number: int = 1, **changes: object) -> Ticket:
    return Ticket("support", number, TicketKind.LIVE, TicketStatus.WAITING, T0, call_id=f"CA{number}",
                  caller="+14155550100").evolve(**changes)


def history_of_a_recovered_callback() -> list[tuple[Ticket | None, Ticket]]:
    """Holds 60 s, hangs up, is called back: the first attempt (dialed) is busy; the second, dialed at
    +550 s, reaches the caller at +560 s (500 s after the hang-up) and they talk until +660 s."""
    t0 = live()
    t1 = t0.evolve(status=TicketStatus.ABANDONED, ended_at=T0 + timedelta(seconds=60), wait_seconds=60.0)
    t2 = t1.evolve(lost_cause="abandoned", lost_at=t1.ended_at)
    t3 = t2.evolve(kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED, callback_number="+14155550100",
                   not_before=t1.ended_at)
    t4 = t3.evolve(status=TicketStatus.WAITING, attempts=1)  # parked: no call placed yet
    t5 = t4.evolve(status=TicketStatus.CONNECTING, agent_id="ann")
    t6 = t5.evolve(dials=1)  # the first attempt dialed
    t7 = t6.evolve(status=TicketStatus.SCHEDULED, last_outcome="busy")
    t8 = t7.evolve(status=TicketStatus.WAITING, attempts=2)
    t9 = t8.evolve(status=TicketStatus.CONNECTING, dials=2)
    t10 = t9.evolve(status=TicketStatus.SERVED, last_outcome="connected", answered_at=T0 + timedelta(seconds=560))
    t11 = t10.evolve(recovered_at=T0 + timedelta(seconds=660))
    steps = [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11]
    return [(None, t0), *zip(steps, steps[1:])]


def test_a_recovered_callback_counts_each_measure_once_in_its_arrival_half_hour() -> None:
    rows = reports.from_tickets(history_of_a_recovered_callback(), short_abandon_seconds=10)
    assert list(rows) == [("support", "2025-11-17T18:00")]  # arrived 18:29:50; all later events count there
    row = reports.Measures("x", rows[("support", "2025-11-17T18:00")]).as_row()
    assert {k: row[k] for k in ("offered", "answered_live", "abandoned_long", "lost", "lost_abandoned",
                                "callbacks_booked", "callback_attempts", "callbacks_connected", "connect_rate",
                                "recovered_by_callback", "recovered_by_calling_again", "unrecovered",
                                "time_to_callback_seconds")} == {
        "offered": 1, "answered_live": 0, "abandoned_long": 1, "lost": 1, "lost_abandoned": 1,
        "callbacks_booked": 1, "callback_attempts": 2, "callbacks_connected": 1, "connect_rate": 0.5,
        "recovered_by_callback": 1, "recovered_by_calling_again": 0, "unrecovered": 0,
        "time_to_callback_seconds": 500.0}  # to the attempt that reached them, not the end of that call


def test_answered_live_counts_its_wait_bin_and_the_estimate_it_was_told() -> None:
    """Put through at +20 s, the agent answers at +25 s, they talk 110 s: the wait is 25 s (to the answer)."""
    t0 = live(told_shape=4.0, told_scale=5.0)  # told ~20 s, 80% range about 7-34 s
    t1 = t0.evolve(status=TicketStatus.CONNECTING, agent_id="ann")
    t2 = t1.evolve(leg="talking", leg_at=T0 + timedelta(seconds=25), answered_at=T0 + timedelta(seconds=25))
    t3 = t2.evolve(status=TicketStatus.SERVED, ended_at=T0 + timedelta(seconds=135))
    history = [(None, t0), (t0, t1), (t1, t2), (t2, t3)]
    assert [f.id for old, new in history[:2] for f in reports.facts(old, new, 10) if "answered" in f.id] == []
    m = reports.Measures("x", dict(reports.from_tickets(history, 10)[("support", "2025-11-17T18:00")]))
    row = m.as_row()
    assert (row["answered_live"], row["service_level"], row["asa_seconds"]) == (1, 0.0, 25.0)
    assert m.within(30) == 1 and m.within(20) == 0
    assert (row["ewt_mean_error_seconds"], row["ewt_inside_range"]) == (-5.0, 1.0)


def test_after_hours_and_short_abandons_are_counted_apart() -> None:
    closed = live(1, status=TicketStatus.AFTER_HOURS)
    short = live(2)
    gone = short.evolve(status=TicketStatus.ABANDONED, wait_seconds=3.0, ended_at=T0)
    row = reports.Measures("x", dict(reports.from_tickets([(None, closed), (None, short), (short, gone)], 10)[
        ("support", "2025-11-17T18:00")])).as_row()
    assert (row["offered"], row["after_hours"], row["abandoned_short"], row["abandoned_long"]) == (2, 1, 1, 0)
    assert row["service_level"] == 0.0  # of the one offered in hours, none answered


def test_observing_twice_changes_nothing_and_the_board_follows_open_tickets() -> None:
    log = MemoryOperationsLog()
    ops = Operations(memory_stores(), log, QueueDirectory.from_config({"queues": [{"id": "support", "name": "S"}]}),
                     FixedClock(T0), FakeOrchestrator())
    history = history_of_a_recovered_callback()
    for old, new in history + history:
        ops.observe(old, new)
    assert log.rows("support", T0 - timedelta(hours=1), T0 + timedelta(hours=1)) == {
        "2025-11-17T18:00": reports.from_tickets(history, 10)[("support", "2025-11-17T18:00")]}
    assert log.board("support") == []  # served: off the board
    ops.observe(None, live(7))
    assert [e.ticket_id for e in log.board("support")] == ["support-7"]
    assert board_entry(live(7)).masked == "***00"


def test_metrics_carry_the_queue_only_never_a_number(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)  # Powertools' own `service` dimension
    metrics.configure(True)
    counts = reports.from_tickets(history_of_a_recovered_callback(), 10)[("support", "2025-11-17T18:00")]
    metrics.call_metrics("support", counts)
    metrics.call_metrics("+14155550100", {"offered": 1})  # not a queue id: never becomes a dimension
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    names = {m["Name"] for b in blobs for d in b["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Offered", "Abandoned", "Lost", "Recovered", "CallbacksDialed", "CallbacksConnected"} <= names
    def dims(blob: dict) -> list[str]:
        return [k for d in blob["_aws"]["CloudWatchMetrics"] for group in d["Dimensions"] for k in group]

    # every counter once by queue and once for all queues; the phone number became "unknown", once
    by_queue = [blob["Queue"] for blob in blobs if dims(blob) == ["Queue"]]
    by_scope = [blob["Scope"] for blob in blobs if dims(blob) == ["Scope"]]
    assert len(by_queue) + len(by_scope) == len(blobs) and len(by_queue) == len(by_scope)
    assert by_queue.count("unknown") == 1 and set(by_queue) == {"support", "unknown"}
    assert set(by_scope) == {"all"}
    assert not [blob for blob in blobs if "5550100" in json.dumps(blob)]


def test_a_caller_still_holding_is_not_unrecovered_and_press_1_is_not_lost() -> None:
    holding = live(1)
    pressed = live(2)
    booked = pressed.evolve(kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED, callback_number="+14155550100",
                            not_before=T0)
    row = reports.Measures("x", dict(reports.from_tickets([(None, holding), (None, pressed), (pressed, booked)], 10)[
        ("support", "2025-11-17T18:00")])).as_row()
    assert (row["offered"], row["not_answered_live"], row["lost"], row["unrecovered"]) == (2, 1, 0, 1)
