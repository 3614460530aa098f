"""Choosing the time of a callback by phone on every provider (issue 27): each provider's real webhooks,
signed, through the app on moto with the real workflow; the caller presses 2, confirms the number read
back, hears the next times in their own time with the zone named, presses 1 and is booked into that slot
(durable before the confirmation, which says how to cancel)."""
from __future__ import annotations

from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.memory import FixedClock
from chalicelib.domain.model import AgentStatus
from tests.contract.providers import JAMBONZ_SECRET, TELNYX_PUBLIC_KEY, VONAGE_SECRET, WIRES, keys
from tests.contract.test_providers import MONDAY_10_PST, PROVIDERS, Caller, tickets
from tests.helpers import built_with_queues

QUEUES = {"default": "support", "queues": [
    {"id": "support", "name": "Acme", "numbers": ["+18005550100"], "offer_callback_after_seconds": 0,
     "assumed_agents": 1, "average_handle_seconds": 300, "average_patience_seconds": 7200,
     "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}},
     "scheduled_callbacks": {"slot_minutes": 30}}]}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10_PST)  # 13:00 in New York, 10:00 for the caller in San Francisco


@pytest.fixture
def client(settings, clock, serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = built_with_queues(settings, tmp_path, QUEUES, clock, dialer=None, providers=tuple(PROVIDERS),
                              telnyx_public_key=TELNYX_PUBLIC_KEY, vonage_signature_secret=VONAGE_SECRET,
                              jambonz_webhook_secret=JAMBONZ_SECRET)
    serve(built)
    built.stores.agents.record_agent_status("alice", AgentStatus.BUSY, MONDAY_10_PST, "+14155550999",
                                            ("support",), None)
    with Client(app, stage_name="local") as c:
        yield c


@pytest.mark.parametrize("provider", PROVIDERS)
def test_press_2_choose_a_time_and_be_booked_into_its_slot(client: Client, clock: FixedClock, provider: str) -> None:
    wire = WIRES[provider]
    caller = Caller(client, wire, clock, call=f"{provider}-call-1")
    assert "To choose the time we call you back, press 2." in caller.call()
    caller.follow("gather", "press_1", **keys(provider, "2"))  # the offer: choose a time
    assert "4 1 5, 8 6 7, 5 3 0 9" in caller.markup  # the number read back
    caller.follow("gather", "press_1")  # confirmed: the times
    # 18:30 UTC, the first whole slot 15 minutes ahead, said in the caller's own time and zone
    assert "To be called back today at 10:30 AM your time, press 1." in caller.markup
    assert "For another day, press 9." in caller.markup
    caller.follow("gather", "press_1")
    assert "We will call you back at 4 1 5, 8 6 7, 5 3 0 9 today at 10:30 AM your time." in caller.markup
    assert "To cancel or change it, call us again from this number." in caller.markup
    [ticket] = tickets()
    assert (ticket.kind, ticket.slot, ticket.status) == ("CALLBACK", "2026-11-23T18:30Z", "SCHEDULED")
    assert ticket.execution_id
