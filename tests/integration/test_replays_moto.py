"""A replayed signed webhook is refused with 403 and writes nothing, whichever container it reaches
(issue 21 item 4): two containers built separately, as two Lambda containers would be, share one
table (moto); a request signed over a time (Telnyx's timestamp, Vonage's JWT with or without `jti`)
is acted on by the first and refused by the second, before anything is read or written for it."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

import jwt
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import TicketItem
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.adapters.telnyx import TelnyxTelephony
from chalicelib.domain.model import AgentEvent, AgentStatus
from chalicelib.domain.errors import StoreUnavailableError
from chalicelib.ports_access import Replays
from tests.contract.providers import TELNYX_PUBLIC_KEY, VONAGE_SECRET, WIRES
from tests.conftest import PUBLIC_URL
from tests.helpers import Effects

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in San Francisco


@pytest.fixture
def containers(settings) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    config = replace(settings, queues_file=QUEUES, providers=("twilio", "telnyx", "vonage"),
                     telnyx_public_key=TELNYX_PUBLIC_KEY, vonage_signature_secret=VONAGE_SECRET, metrics_enabled=False)
    return tuple(bootstrap.build_aws(config, clock=FixedClock(NOW), dialer=FakeDialer()) for _ in range(2))


def tickets() -> int:
    return sum(1 for t in TicketItem.scan() if t.sk.startswith("TICKET#"))


def vonage_without_jti(url: str, body: bytes) -> dict[str, str]:
    claims = {"iat": int(NOW.timestamp()), "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest()}
    return {"Content-Type": "application/json", "Authorization": f"Bearer {jwt.encode(claims, VONAGE_SECRET)}"}


@pytest.mark.parametrize("provider, jti", [("telnyx", None), ("vonage", True), ("vonage", False)])
def test_a_replay_on_another_container_is_403_and_writes_nothing(containers, provider: str, jti: bool | None) -> None:  # type: ignore[no-untyped-def]
    first, second = containers
    wire, path = WIRES[provider], f"/voice/{provider}/incoming"
    fields = wire.event("incoming", call=f"{provider}-{uuid.uuid4().hex[:8]}")
    body, headers = wire.request(PUBLIC_URL + path, fields, NOW)
    if jti is False:
        headers = vonage_without_jti(PUBLIC_URL + path, body)
    assert first.webhooks.handle(provider, "incoming", body, {}, headers).status == 200
    assert tickets() == 1
    for container in (second, first):
        with Effects().watching() as effects:
            reply = container.webhooks.handle(provider, "incoming", body, {}, headers)
        assert (reply.status, reply.body) == (403, "replayed: this signature was used before\n")
        assert effects.changes() == []  # not a marker either: the conditional write was refused
        assert [op for _, op, _ in effects.calls] == []  # nothing read for it, nothing written
    assert tickets() == 1


def test_the_same_call_signed_again_is_not_a_replay(containers) -> None:  # type: ignore[no-untyped-def]
    """Providers sign each delivery afresh: a status callback for the same call, signed a second later,
    is a new request, not a replay."""
    first, second = containers
    wire = WIRES["telnyx"]
    fields = wire.event("incoming", call="telnyx-again")
    body, headers = wire.request(PUBLIC_URL + "/voice/telnyx/incoming", fields, NOW)
    later_body, later = wire.request(PUBLIC_URL + "/voice/telnyx/incoming", fields, NOW + timedelta(seconds=1))
    assert first.webhooks.handle("telnyx", "incoming", body, {}, headers).status == 200
    assert second.webhooks.handle("telnyx", "incoming", later_body, {}, later).status == 200
    assert json.dumps(headers) != json.dumps(later)


def test_vonage_unsigned_events_open_only_the_step_and_ticket_their_url_was_given_for(settings) -> None:  # type: ignore[no-untyped-def]
    """With VONAGE_URL_TOKEN set, an NCCO's eventUrl carries its own MAC: posted unsigned, it opens that
    step for that ticket; moved to another step (confirm) or to the answer webhook it opens nothing."""
    from urllib.parse import parse_qsl, urlsplit

    secret = "per-stage-url-secret-6f1c9a4e2b7d8305"
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=("twilio", "vonage"),
                                        vonage_signature_secret=VONAGE_SECRET, vonage_url_token=secret,
                                        metrics_enabled=False), clock=FixedClock(NOW), dialer=FakeDialer())
    wire = WIRES["vonage"]
    body, headers = wire.request(PUBLIC_URL + "/voice/vonage/incoming", wire.event("incoming", call="v-mac"), NOW)
    markup = built.webhooks.handle("vonage", "incoming", body, {}, headers).body
    url = next(u for kind, u in wire.next_urls(markup) if kind == "gather")
    step, query = urlsplit(url).path.rsplit("/", 1)[1], dict(parse_qsl(urlsplit(url).query))
    assert secret not in markup and query["k"]
    pressed = json.dumps(wire.event("press_1", call="v-mac")).encode()
    plain = {"Content-Type": "application/json"}
    assert built.webhooks.handle("vonage", "confirm", pressed, query, plain).status == 403
    assert built.webhooks.handle("vonage", "incoming", pressed, query, plain).status == 403
    assert built.webhooks.handle("vonage", step, pressed, {**query, "t": "support-999"}, plain).status == 403
    assert built.webhooks.handle("vonage", step, pressed, query, plain).status == 200


class UnavailableReplays(Replays):
    """The table not answering when a signature is to be spent."""

    def first_use(self, key: str, keep_until: datetime) -> bool:
        raise StoreUnavailableError("not now")

    def release(self, key: str) -> None:
        raise StoreUnavailableError("not now")


def test_when_a_signature_cannot_be_spent_the_caller_hears_the_apology_and_nothing_is_done(containers) -> None:  # type: ignore[no-untyped-def]
    first, _ = containers
    first.webhooks.replays = UnavailableReplays()
    wire = WIRES["telnyx"]
    body, headers = wire.request(PUBLIC_URL + "/voice/telnyx/incoming", wire.event("incoming", call="t-down"), NOW)
    with Effects().watching() as effects:
        reply = first.webhooks.handle("telnyx", "incoming", body, {}, headers)
    assert reply.status == 200 and "<Say" in reply.body  # valid markup: the apology, never dead air
    assert effects.changes() == [] and tickets() == 0


class TimedPresence(TelnyxTelephony):
    """A provider that signs a time and reports agents' presence (as jambonz will): Telnyx's signature,
    and an agent event read from the form's fields."""

    def parse_agent_event(self, params: Mapping[str, Any]) -> AgentEvent | None:
        return AgentEvent(agent_id=str(params["agent"]), status=AgentStatus(params["status"]),
                          contact=str(params["contact"]), queues=("support",))


def test_an_agent_event_the_store_could_not_take_is_taken_when_sent_again(containers) -> None:  # type: ignore[no-untyped-def]
    """The store fails once: 503 (try again); the same signed event sent again is a retry, not a replay."""
    first, second = containers
    for container in containers:
        container.agents.providers = {"telnyx": TimedPresence(TELNYX_PUBLIC_KEY, FixedClock(NOW))}
    url = PUBLIC_URL + "/providers/telnyx/agent-events"
    body, headers = WIRES["telnyx"].request(url, {"agent": "ann", "status": "available", "contact": "+14155550123"}, NOW)
    real = first.dispatcher.agent_event

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailableError("not now")

    first.dispatcher.agent_event = store_down
    assert first.agents.provider_event("telnyx", body, {}, headers).status == 503
    first.dispatcher.agent_event = real
    assert second.agents.provider_event("telnyx", body, {}, headers).status == 200
    assert second.stores.agents.get_agent("ann").status == AgentStatus.AVAILABLE
    assert first.agents.provider_event("telnyx", body, {}, headers).status == 403  # now it was acted on
