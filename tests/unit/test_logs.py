"""No phone number in logs: our code logs only masked numbers, and the Powertools handler's filter
scrubs whatever else slips in."""
from __future__ import annotations

import logging

from chalicelib.logs import MaskingFilter, configure, scrub
from tests.unit.test_recovery import ALICE, BOB, World

NUMBERS = (ALICE, BOB, ALICE[2:], "8675309")


def records_of_a_busy_day(caplog) -> list[logging.LogRecord]:  # type: ignore[no-untyped-def]
    from chalicelib.domain.callbacks import DialRequest
    from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus

    chalicelib = logging.getLogger("chalicelib")
    chalicelib.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="chalicelib")
    try:
        w = World(max_callbacks_per_number_per_day=1)
        w.ring("CA1")
        w.ring("CA2", BOB)
        w.hang_up("CA1")  # lost, recovery booked
        w.flow.offer("support-2", CallEvent("CA2", CallStatus.IN_PROGRESS, digits="9"))  # opt-out
        w.ring("CA3", "4155550100")  # Alice again (national format): rejoins her place
        w.hang_up("CA3")  # and hangs up again: her one callback a day is spent, refused
        w.hang_up("CA2")  # Bob, who opted out, gives up: lost, no callback
        carol = w.ring("CA4", "+14155550123")
        w.hang_up("CA4")
        w.stores.table.park(carol, "park")
        w.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="+14155550777", queues=("support",))
        assert w.callbacks.dial(DialRequest(carol, 1, "ann", "dial"))
        w.callbacks.dialed(carol, w.stores.tickets.get(carol).dial_id,
                           CallEvent("CAo", CallStatus.IN_PROGRESS, dial_status=CallStatus("busy")))
    finally:
        chalicelib.removeHandler(caplog.handler)
    return caplog.records


def test_our_code_never_logs_a_number(caplog) -> None:  # type: ignore[no-untyped-def]
    records = records_of_a_busy_day(caplog)
    assert len(records) >= 5
    for record in records:
        text = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        for number in NUMBERS + ("+14155550777", "+14155550123", "4155550123"):
            assert number not in text, (record.getMessage(), number)


def test_the_filter_scrubs_what_slips_in() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "dialing %s for ticket support-12 on 2026-11-23",
                               ("+1 415 867 5309",), None)
    record.caller = "+14158675309"
    record.ticket = "support-12"
    MaskingFilter().filter(record)
    assert record.getMessage() == "dialing ***** for ticket support-12 on 2026-11-23"
    assert record.caller != "+14158675309" and record.ticket == "support-12"
    assert scrub("(415) 867-5309 and 4158675309 at 15:19:28") == "***** and ***** at 15:19:28"


def test_configured_handlers_carry_the_filter() -> None:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    configure("INFO")
    ours = [h for h in logging.getLogger("chalicelib").handlers if isinstance(h.formatter, LambdaPowertoolsFormatter)]
    assert ours and all(any(isinstance(f, MaskingFilter) for f in h.filters) for h in ours)


def test_agent_fields_are_masked_whatever_the_agent_id_looks_like(caplog) -> None:  # type: ignore[no-untyped-def]
    """An agent whose id is their phone number, left reserved: the sweep's warning names the agent."""
    from datetime import datetime, timezone

    from chalicelib.domain.dispatch import Dispatcher
    from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
    from chalicelib.domain.queues import QueueDirectory
    from chalicelib.adapters.memory import memory_stores, FakeDialer, FixedClock
    from tests.fakes import FakeOrchestrator

    now = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
    stores = memory_stores()
    d = Dispatcher(stores, FakeOrchestrator(), FakeDialer(), FixedClock(now),
                   QueueDirectory.from_config({"queues": [{"id": "support"}]}))
    t = stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, now, call_id="CA1"))
    d.agent_event("+14155550188", AgentStatus.AVAILABLE, contact="+14155550199", queues=("support",))
    stores.agents.mark_served(t.id, now)  # the release never came
    masking = MaskingFilter()
    chalicelib = logging.getLogger("chalicelib")
    chalicelib.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="chalicelib")
    try:
        d.sweep()
    finally:
        chalicelib.removeHandler(caplog.handler)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert masking.filter(warning)
    text = warning.getMessage() + " " + " ".join(str(v) for v in warning.__dict__.values())
    assert "4155550188" not in text and "4155550199" not in text
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "agent contact refused", (), None)
    record.agent, record.contact, record.agent_id = "+14155550188", "sip:+14155550199@trunk", "+14155550188"
    masking.filter(record)
    assert "4155550188" not in str(record.__dict__) and "4155550199" not in str(record.__dict__)
