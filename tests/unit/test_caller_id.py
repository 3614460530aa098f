"""The number callbacks (and texts) come from, per queue and provider: validated when the queues load,
checked against the providers in use at start, and shown on every callback."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.adapters.memory import FakeDialer
from chalicelib.bootstrap import build_memory
from chalicelib.domain.errors import ConfigError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus
from chalicelib.domain.queues import QueueDirectory, caller_id_for, caller_id_problems, parse_queue

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, field", [
    ({"caller_id": "18005550100"}, "caller_id"), ({"caller_id": "+1800555"}, "caller_id"),
    ({"caller_ids": {"twilio": "+1 800 555 0100"}}, "caller_ids.twilio"),
    ({"caller_ids": {"plivo": "+18005550100"}}, "caller_ids"), ({"caller_ids": ["+18005550100"]}, "caller_ids")])
def test_a_bad_caller_id_is_refused_naming_the_field(raw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"queues.q.{field}"):
        parse_queue({"id": "q", **raw})


def test_the_providers_own_number_else_the_queues_else_its_first_number() -> None:
    q = parse_queue({"id": "q", "numbers": ["+18005550100"], "caller_id": "+18005550199",
                     "caller_ids": {"telnyx": "+12125550123"}})
    assert caller_id_for(q, "telnyx") == "+12125550123"
    assert caller_id_for(q, "vonage") == "+18005550199"
    assert caller_id_for(parse_queue({"id": "q", "numbers": ["+18005550100"]}), "vonage") == "+18005550100"
    assert caller_id_for(parse_queue({"id": "q"}), "twilio") is None


def test_a_queue_with_no_number_for_a_provider_in_use_is_named_at_start() -> None:
    queues = QueueDirectory([parse_queue({"id": "a", "numbers": ["+18005550100"]}),
                             parse_queue({"id": "b", "caller_ids": {"twilio": "+18005550101"}})])
    assert caller_id_problems(queues, {"twilio"}) == []
    assert caller_id_problems(queues, {"telnyx"}) == [
        "queues.b: no caller ID for telnyx (set caller_ids.telnyx, caller_id or numbers)"]


def test_the_app_refuses_to_start_without_one(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from chalicelib import bootstrap

    path = tmp_path / "queues.json"
    path.write_text(json.dumps({"queues": [{"id": "nonumber"}]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="queues.nonumber: no caller ID for twilio"):
        bootstrap.build_aws(replace(settings, queues_file=str(path)))


class TelnyxDialer(FakeDialer):
    name = "telnyx"


def test_a_callback_shows_the_queues_number_for_the_provider_that_dials_it() -> None:
    queue = parse_queue({"id": "support", "numbers": ["+18005550100"], "caller_ids": {"telnyx": "+12125550123"}})
    w = build_memory(QueueDirectory([queue]), MONDAY_10_NY, dialer=TelnyxDialer())
    w.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+12125550100", "+18005550100"))
    for step in ("offer", "confirm"):
        getattr(w.flow, step)("support-1", CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
    w.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="sip:alice@agents.example", queues=("support",))
    w.clock.advance(1)
    assert [c["from"] for c in w.dialer.calls] == ["+12125550123"]
    ticket = w.stores.tickets.get("support-1")
    bridge = w.callbacks.answered(ticket.id, ticket.dial_id or "", CallEvent("CAo", CallStatus.IN_PROGRESS))
    assert bridge.verbs[-1].caller_id == "+12125550123"  # type: ignore[union-attr]
