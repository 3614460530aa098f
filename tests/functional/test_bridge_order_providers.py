"""A served caller is never recorded lost (issue 21, item 1), on each provider's signed webhooks through
the app on moto: the caller's status callback (the call completed) reaches Holdfast before the bridge's
events. (a) completed, then the agent leg's answer, then the Dial's end (talked 95 s); (b) completed,
then the Dial's end alone; each repeated. The caller is served, never on the lost-call list, never booked
a callback; the report counts them answered live. And a caller who hung up while the agent's phone rang
is lost once, with one recovery."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.memory import FixedClock
from chalicelib.domain.model import AgentStatus, TicketKind, TicketStatus
from tests.conftest import PUBLIC_URL
from tests.contract.providers import WIRES
# the bridge on moto at T0, every provider signed (test_answered's container and its clock, as fixtures)
from tests.functional.test_answered import CALLER, SUPPORT, T0, Leg, c, clock, post  # noqa: F401, F811
from tests.functional.test_console import Stream, get, sign_in

WAITED, TALKED = 30, 95


def ended(provider: str, call: str) -> dict[str, Any]:
    """The caller's status callback: the whole call is over."""
    return WIRES[provider].event("ended", call=call, caller=CALLER, called=SUPPORT)


def not_answered(leg: Leg, call: str) -> tuple[str, dict[str, Any]]:
    """The Dial's end when the agent never answered (the caller hung up while it rang)."""
    url, fields = leg.ended(call, 0)
    if leg.provider == "vonage":
        return url, {**fields, "status": "cancelled", "duration": "0"}
    return url, {**fields, "DialCallStatus": "no-answer", "DialCallDuration": "0"}


def bridged(c, client: Client, clock: FixedClock, provider: str) -> tuple[str, Leg]:  # type: ignore[no-untyped-def]
    call = f"{provider}-call-1"
    post(client, provider, f"/voice/{provider}/incoming", WIRES[provider].event(
        "incoming", call=call, caller=CALLER, called=SUPPORT), clock)
    clock.advance(WAITED)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    [(_, script)] = c.dispatcher.dialer.redirects
    return call, Leg(provider, c.webhooks.providers[provider].render(script, PUBLIC_URL))


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
@pytest.mark.parametrize("leg_event", [True, False], ids=["leg-answered", "no-leg-event"])
def test_the_call_s_end_before_the_bridge_s_events_is_still_served(c, clock: FixedClock, settings,  # type: ignore[no-untyped-def]
                                                                   provider: str, leg_event: bool) -> None:
    stream = Stream(settings.table_name)
    with Client(app, stage_name="local") as client:
        _, headers = sign_in(client)
        call, leg = bridged(c, client, clock, provider)
        clock.advance(3 + TALKED)  # Ann answered 3 s after the bridge; they talked 95 s; everything arrives now
        post(client, provider, f"/voice/{provider}/incoming", ended(provider, call), clock)
        stream.drain()
        for _ in range(2):  # duplicated (a second apart: an identical signed request is a replay, refused)
            clock.advance(1)
            if leg_event:
                post(client, provider, *leg.answered(), clock)
        clock.advance(1)
        post(client, provider, *leg.ended(call, TALKED), clock)
        clock.advance(1)
        post(client, provider, f"/voice/{provider}/incoming", ended(provider, call), clock)  # late repeat
        clock.advance(1)
        post(client, provider, *leg.ended(call, TALKED), clock)
        stream.drain()
        clock.advance(600)  # long past the sweep's grace
        c.dispatcher.sweep()
        stream.drain()

        ticket = c.stores.tickets.get("support-1")
        assert (ticket.status, ticket.kind, ticket.lost_cause, ticket.ended_at) == (
            TicketStatus.SERVED, TicketKind.LIVE, None, T0 + timedelta(seconds=WAITED + 3 + TALKED + 3))
        assert c.stores.lost.lost_calls("support").items == []
        assert c.dispatcher.dialer.calls == [] and ticket.execution_id is None  # no recovery booked or dialed
        assert c.stores.agents.get_agent("ann").status is AgentStatus.AVAILABLE
        report = get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")["total"]
        assert (report["answered_live"], report["lost"]) == (1, 0)


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_a_caller_who_hung_up_while_the_agent_rang_is_lost_once(c, clock: FixedClock, settings,  # type: ignore[no-untyped-def]
                                                                provider: str) -> None:
    stream = Stream(settings.table_name)
    with Client(app, stage_name="local") as client:
        _, headers = sign_in(client)
        call, leg = bridged(c, client, clock, provider)
        clock.advance(10)
        post(client, provider, f"/voice/{provider}/incoming", ended(provider, call), clock)
        clock.advance(1)
        post(client, provider, f"/voice/{provider}/incoming", ended(provider, call), clock)
        stream.drain()
        clock.advance(1)
        post(client, provider, *not_answered(leg, call), clock)
        clock.advance(1)
        post(client, provider, *not_answered(leg, call), clock)
        stream.drain()
        ticket = c.stores.tickets.get("support-1")
        assert (ticket.lost_cause, ticket.kind) == ("abandoned", TicketKind.CALLBACK)
        assert [t.id for t in c.stores.lost.lost_calls("support").items] == ["support-1"]
        assert ticket.execution_id is not None and ticket.bookings == 1  # one recovery
        report = get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")["total"]
        assert (report["answered_live"], report["lost"]) == (0, 1)
