"""The floor on the in-memory adapters: one queue's live figures, the wallboard of every queue with its
thresholds' colours, rolling service levels, and the watch that notifies once per crossing (virtual
clock, the sweep every minute as in AWS)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import FakeBus, VirtualClock, memory_stores
from tests.fakes import FakeOrchestrator
from chalicelib.adapters.memory.operations import MemoryOperationsLog
from chalicelib.domain.errors import ConfigError
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.notifications import Notifications, THRESHOLD
from chalicelib.domain.operations import Operations
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.ports import Notifier

# Monday 10:00 in Los Angeles (18:00 UTC), 20:00 in Kyiv.
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)
THRESHOLDS = {"alert_after_seconds": 120, "waiting": {"warn": 2, "alert": 3},
              "longest_wait_seconds": {"warn": 60, "alert": 120}, "service_level_30m": {"warn": 0.8, "alert": 0.5}}


def setup(clock: VirtualClock, thresholds: dict = THRESHOLDS) -> tuple[Operations, MemoryOperationsLog, FakeBus, object]:
    queues = QueueDirectory([
        parse_queue({"id": "support", "name": "Support", "hours": {"timezone": "America/Los_Angeles"},
                     "thresholds": thresholds, "notify": {"slack_webhook_url": "https://hooks.example/x"}}),
        parse_queue({"id": "kyiv", "name": "Kyiv", "hours": {"timezone": "Europe/Kyiv"}})])
    stores = memory_stores()
    log, bus = MemoryOperationsLog(), FakeBus()
    ops = Operations(stores, log, queues, clock, FakeOrchestrator(), bus=bus)
    return ops, log, bus, stores


def caller(n: int, at: datetime, queue: str = "support", **changes: object) -> Ticket:
    return Ticket(queue, n, TicketKind.LIVE, TicketStatus.WAITING, at, call_id=f"CA{queue}{n}",
                  caller=f"+1415555{n:04d}").evolve(**changes)


def tile(ops: Operations, queue: str) -> dict:
    return next(t for t in ops.wallboard()["queues"] if t["queue"] == queue)


def test_the_wallboard_shows_every_queue_with_its_figures_and_colours() -> None:
    clock = VirtualClock(NOW)
    ops, log, _, stores = setup(clock)
    ops.observe(None, caller(1, NOW - timedelta(seconds=90)))
    ops.observe(None, caller(2, NOW - timedelta(seconds=30)))
    # a callback due in 40 minutes, one due in 2 hours, one parked in line (due now): two due within the hour
    for n, due, status in ((3, 40, TicketStatus.SCHEDULED), (4, 120, TicketStatus.SCHEDULED), (5, 0, TicketStatus.WAITING)):
        ops.observe(None, caller(n, NOW - timedelta(hours=1), kind=TicketKind.CALLBACK, status=status,
                                 callback_number="+14155550100", not_before=NOW + timedelta(minutes=due)))
    ops.observe(None, caller(1, NOW - timedelta(minutes=5), queue="kyiv"))
    stores.agents.record_agent_status("ann", AgentStatus.AVAILABLE, NOW, "client:ann", ("support",), None)
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, NOW, "client:bob", ("support", "kyiv"), None)

    board = ops.wallboard()
    assert [t["queue"] for t in board["queues"]] == ["support", "kyiv"]
    support = tile(ops, "support")
    assert (support["waiting"], support["longest_wait_seconds"], support["callbacks_due_next_hour"]) == (2, 90, 2)
    assert support["agents"] == {"available": 1, "busy": 1, "away": 0}
    assert support["zone"] == "America/Los_Angeles" and support["at"] == "2025-11-17T10:00:00-08:00"
    # 2 waiting: warn (2..); 90 s: warn (60..); of the last 30 minutes' callers, the one who came at
    # 17:58:30 has held 90 s, past the 20 s target (the 17:59:30 one is not judged yet): 0%, alert
    assert support["levels"] == {"waiting": "warn", "longest_wait_seconds": "warn", "service_level_30m": "alert"}
    assert support["service_level_30m"] == 0.0 and support["level"] == "alert"
    kyiv = tile(ops, "kyiv")
    assert (kyiv["waiting"], kyiv["longest_wait_seconds"], kyiv["level"], kyiv["at"]) == (
        1, 300, "ok", "2025-11-17T20:00:00+02:00")
    ops.observe(None, caller(6, NOW))
    clock.advance(31)
    assert tile(ops, "support")["levels"]["waiting"] == "alert"  # 3 waiting
    assert tile(ops, "support")["levels"]["longest_wait_seconds"] == "alert"  # 121 s


def test_rolling_service_levels_leave_out_callers_who_cannot_have_missed_the_target_yet() -> None:
    """Target 20 s. At 18:00:30 the window ends at 18:00 (30 s ago, on the minute): the calls of the
    last 15 and 30 minutes before it. Counted per arrival minute, as the stream records them."""
    clock = VirtualClock(NOW + timedelta(seconds=30))
    ops, log, _, _ = setup(clock)
    rows = [("17:50", {"offered": 2, "answered": 2, "w10": 1, "w60": 1}),  # one within 20 s, one not
            ("17:35", {"offered": 2, "answered": 2, "w15": 2}),  # both within
            ("17:20", {"offered": 4, "answered": 0}),  # abandoned: misses (an hour's window only)
            ("18:00", {"offered": 5})]  # arrived 30 s ago or less: not judged yet
    for i, (minute, counts) in enumerate(rows):
        log.record(f"f{i}", "support", "2025-11-17T18:00", counts, f"2025-11-17T{minute}")
    live = ops.monitor("support")["live"]
    assert live["service_level_now"] == 0.5  # 17:45-18:00: 1 of 2
    assert live["service_level_30m"] == 0.75  # 17:30-18:00: 3 of 4
    assert live["service_level_60m"] == 0.375  # 17:00-18:00: 3 of 8


WAITING_ONLY = {"alert_after_seconds": 120, "waiting": {"warn": 2, "alert": 3}}


def test_a_threshold_crossed_for_its_set_time_notifies_once_per_crossing() -> None:
    clock = VirtualClock(NOW)
    ops, log, bus, stores = setup(clock, WAITING_ONLY)

    scheduled = [True]

    def sweep() -> None:  # the scheduled sweep, every minute
        if scheduled[0]:
            ops.watch()
            clock.after(60, sweep)

    clock.after(60, sweep)
    for n in (1, 2, 3):
        ops.observe(None, caller(n, NOW))  # 3 waiting: past the alert level (3) from 18:00
    clock.run_until(NOW + timedelta(seconds=150))  # crossed at the 18:01 sweep; 18:02 is only 60 s on
    assert bus.events == [] and set(log.alerts("support")) == {"waiting"}
    assert tile(ops, "support")["alerts"]["waiting"] == {"since": "2025-11-17T10:01:00-08:00", "notified_at": None}
    clock.run_until(NOW + timedelta(seconds=180))  # 18:03: 120 s past its alert level
    assert [(e["event"], e["queue_id"], e["measure"], e["value"], e["limit"]) for e in bus.events] == [
        (THRESHOLD, "support", "waiting", "3", "3")]
    assert bus.events[0]["since"] == "10:01 PST (America/Los_Angeles)"
    clock.run_until(NOW + timedelta(minutes=10))
    assert len(bus.events) == 1  # still crossed: once per crossing

    # back inside: the crossing ends; a new one notifies again after its own set time
    ops.observe(caller(1, NOW), caller(1, NOW, status=TicketStatus.ABANDONED))
    clock.run_until(NOW + timedelta(minutes=11))
    assert "waiting" not in log.alerts("support")
    ops.observe(None, caller(7, clock.now()))
    clock.run_until(NOW + timedelta(minutes=13))
    assert len(bus.events) == 1  # crossed again at the 18:12 sweep: 60 s only
    clock.run_until(NOW + timedelta(minutes=14))
    assert [e["measure"] for e in bus.events] == ["waiting", "waiting"]

    # two sweeps at once (two containers): one notification
    scheduled[0] = False
    ops.observe(caller(2, NOW), caller(2, NOW, status=TicketStatus.ABANDONED))
    ops.watch()
    ops.observe(None, caller(8, clock.now()))
    ops.watch()
    clock.advance(120)
    assert ops.watch() + ops.watch() == 1


def test_the_notification_goes_through_the_queues_channels() -> None:
    sent: list[tuple[str, str]] = []

    class Slack(Notifier):
        channel = "slack"

        def send(self, settings, subject, text):  # type: ignore[no-untyped-def]
            if not settings.get("slack_webhook_url"):
                return False
            sent.append((subject, text))
            return True

    clock = VirtualClock(NOW)
    ops, _, bus, stores = setup(clock, WAITING_ONLY)
    notes = Notifications(stores.tickets, ops.queues, [Slack()])
    for n in (1, 2, 3):
        ops.observe(None, caller(n, NOW))
    ops.watch()
    clock.advance(120)
    ops.watch()
    assert [notes.handle(e) for e in bus.events] == [{"slack": "sent"}]
    assert sent == [("Holdfast: callers waiting in Support",
                     "callers waiting is 3 (alert at 3) since 10:00 PST (America/Los_Angeles). "
                     "Wallboard: the console, queue support.")]


@pytest.mark.parametrize("raw, says", [
    ({"waiting": {"warn": 5, "alert": 3}}, "warn must come before alert"),
    ({"service_level_30m": {"alert": 80}}, "fraction"),
    ({"nope": {"alert": 1}}, "unknown measure"),
    ({"alert_after_seconds": -1}, "alert_after_seconds"),
])
def test_thresholds_are_checked_when_the_queue_is_loaded(raw: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_queue({"id": "q", "thresholds": raw})
