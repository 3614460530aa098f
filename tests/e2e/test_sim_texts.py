"""The simulated network takes texts in each provider's messaging REST shape, sent by Holdfast's own
messenger adapters over HTTP (Twilio's Messages.json through the twilio library, Telnyx's POST
/v2/messages, Vonage's Messages API POST /v1/messages): each lands on the caller's phone, which the demo
page's state shows with its link, under the id the provider's API answered."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from chalicelib.adapters.telnyx import TelnyxMessenger
from chalicelib.adapters.twilio_provider import TwilioDialer, TwilioMessenger
from chalicelib.adapters.vonage import VonageMessenger
from chalicelib.ports import Messenger
from devstack.network.core import SimNetwork
from devstack.stack import LOCAL_ACCOUNT_SID
from tests.conftest import AUTH_TOKEN
from tests.contract.test_telnyx_vonage import PEM
from tests.e2e.test_local_stack import free_port

CALLER, SENDER = "+12125550123", "+18005550199"
LINK = "http://127.0.0.1:9/c/dGlja2V0fDE3OTk5OTk5OTk.AAAAAAAAAAAAAAAAAAAAAA"
BODY = f"Acme: we will call you back by Mon 23 Nov 13:30 EST from {SENDER}. See or cancel: {LINK} . Reply STOP."
STATUS_URL = "http://127.0.0.1:9/sms/{p}/status?q=support&b=2026-11-23T18%3A00"


@pytest.fixture(params=["twilio", "telnyx", "vonage"])
def network(request: pytest.FixtureRequest) -> Iterator[SimNetwork]:
    net = SimNetwork(f"http://127.0.0.1:{free_port()}", AUTH_TOKEN, LOCAL_ACCOUNT_SID, provider=request.param).start()
    try:
        yield net
    finally:
        net.stop()


def messenger(net: SimNetwork) -> Messenger:
    if net.provider == "twilio":
        return TwilioMessenger(TwilioDialer(LOCAL_ACCOUNT_SID, AUTH_TOKEN, "http://127.0.0.1:9", net.url))
    if net.provider == "telnyx":
        return TelnyxMessenger("KEY-local", net.url)
    return VonageMessenger("aaaaaaaa-bbbb-cccc-dddd-0123456789ab", PEM, net.url)


def test_a_text_sent_through_the_providers_api_shows_on_the_callers_phone(network: SimNetwork) -> None:
    message_id = messenger(network).send_text(CALLER, SENDER, BODY, STATUS_URL.format(p=network.provider))
    shown = requests.get(f"{network.url}/sim/state", timeout=15).json()["messages"]
    assert len(shown) == 1
    text = shown[0]
    assert message_id and text["id"] == message_id
    assert (text["provider"], text["to"], text["from"], text["body"]) == (network.provider, CALLER, SENDER, BODY)
    assert text["link"] == LINK and text["status_url"] == STATUS_URL.format(p=network.provider)


@pytest.mark.parametrize(("provider", "path", "body"), [
    ("telnyx", "/v2/messages", {"from": SENDER, "text": "x"}),
    ("vonage", "/v1/messages", {"from": SENDER.lstrip("+"), "text": "x", "channel": "sms", "message_type": "text"})])
def test_a_text_missing_its_recipient_is_refused(provider: str, path: str, body: dict[str, str]) -> None:
    net = SimNetwork(f"http://127.0.0.1:{free_port()}", AUTH_TOKEN, LOCAL_ACCOUNT_SID, provider=provider).start()
    try:
        reply = requests.post(net.url + path, json=body, timeout=15)
        assert reply.status_code == 422
        assert requests.get(f"{net.url}/sim/state", timeout=15).json()["messages"] == []
    finally:
        net.stop()
