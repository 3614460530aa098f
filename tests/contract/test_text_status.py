"""Delivery reports for texts, as each provider posts them (tests/events/<provider>/sms/*.json): each is
verified the way its inbound texts and voice webhooks are (a forged one is refused), and its adapter
reads it into a message id and one of sent, delivered, failed (or nothing, for a state Holdfast does not
count); the adapters ask for these reports at the URL each text is sent with."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.telnyx import TelnyxMessenger, TelnyxTelephony
from chalicelib.adapters.twilio_provider import TwilioDialer, TwilioMessenger, TwilioTelephony
from chalicelib.adapters.vonage import VonageMessenger, VonageTelephony
from chalicelib.adapters.memory import FixedClock
from chalicelib.ports import Messenger, Telephony, TextStatus, WebhookRequest
from tests.conftest import AUTH_TOKEN, EVENTS
from tests.contract.providers import TELNYX_PUBLIC_KEY, VONAGE_SECRET, WIRES
from tests.contract.test_telnyx_vonage import PEM, Recording
from tests.unit.test_callback_texts import World

NOW = datetime(2026, 11, 23, 18, 0, 9, tzinfo=timezone.utc)
URL = "https://holdfast.example/sms/{provider}/status"
QUERY = {"q": "sched", "b": "2026-11-23T18:00"}
TWILIO_SID, TWILIO_FAILED = "SM0123456789abcdef0123456789abcdef", "SM11111111111111111111111111111111"
TELNYX_ID, TELNYX_FAILED = "40385f64-5717-4562-b3fc-2c963f66afa6", "5b2e1a70-0c1d-4e4f-9a8b-7c6d5e4f3a2b"
VONAGE_ID, VONAGE_FAILED = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"

# (provider, recorded report) -> what it says, read off the sample itself
EXPECTED = {
    ("twilio", "sms_status_queued"): None,  # not yet anywhere: not counted
    ("twilio", "sms_status_sent"): TextStatus(TWILIO_SID, "sent"),
    ("twilio", "sms_status_delivered"): TextStatus(TWILIO_SID, "delivered"),
    ("twilio", "sms_status_undelivered"): TextStatus(TWILIO_FAILED, "failed"),
    ("telnyx", "message_sent"): TextStatus(TELNYX_ID, "sent"),
    ("telnyx", "message_finalized_delivered"): TextStatus(TELNYX_ID, "delivered"),
    ("telnyx", "message_finalized_failed"): TextStatus(TELNYX_FAILED, "failed"),
    ("vonage", "message_status_submitted"): TextStatus(VONAGE_ID, "sent"),
    ("vonage", "message_status_delivered"): TextStatus(VONAGE_ID, "delivered"),
    ("vonage", "message_status_rejected"): TextStatus(VONAGE_FAILED, "failed"),
    ("vonage", "message_status_read"): None,  # not an SMS state
}


def parts(provider: str) -> tuple[Telephony, Messenger]:
    clock = FixedClock(NOW)
    if provider == "twilio":
        return TwilioTelephony(AUTH_TOKEN), TwilioMessenger(TwilioDialer("AC0", AUTH_TOKEN, "https://holdfast.example"))
    if provider == "telnyx":
        return TelnyxTelephony(TELNYX_PUBLIC_KEY, clock), TelnyxMessenger("KEY0123", "https://telnyx.test", Recording())
    return (VonageTelephony(VONAGE_SECRET, clock),
            VonageMessenger("app-1", PEM, "https://vonage.test", Recording(), clock))


def posted(provider: str, name: str) -> tuple[dict[str, object], WebhookRequest]:
    with open(EVENTS / provider / "sms" / f"{name}.json", encoding="utf-8") as fh:
        fields = json.load(fh)
    wire = WIRES[provider]
    url = URL.format(provider=provider)
    if provider == "twilio":  # a form, signed over the full URL (query included)
        body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    else:  # Telnyx's and Vonage's messaging webhooks are JSON
        body, content_type = json.dumps(fields).encode(), "application/json"
    headers = {"Content-Type": content_type, **wire.sign(f"{url}?{urlencode(QUERY)}", body, fields, NOW)}
    return fields, WebhookRequest("POST", url, QUERY, headers, body)


@pytest.mark.parametrize(("provider", "name"), sorted(EXPECTED))
def test_a_signed_delivery_report_is_read_by_its_adapter(provider: str, name: str) -> None:
    telephony, messenger = parts(provider)
    _, request = posted(provider, name)
    assert telephony.verify(request)
    assert messenger.parse_status(request) == EXPECTED[(provider, name)]
    assert messenger.parse_inbound(request) is None  # a report is never read as a caller's text


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_a_forged_delivery_report_does_not_verify(provider: str) -> None:
    telephony, _ = parts(provider)
    name = {"twilio": "sms_status_undelivered", "telnyx": "message_finalized_failed",
            "vonage": "message_status_rejected"}[provider]
    _, request = posted(provider, name)
    forged_body = request.body.replace(b"undelivered", b"delivered").replace(b"delivery_failed", b"delivered") \
        .replace(b"rejected", b"delivered")
    assert forged_body != request.body
    forged = WebhookRequest("POST", request.url, request.query, request.headers, forged_body)
    assert not telephony.verify(forged)


def test_each_messenger_asks_for_reports_at_the_status_url_it_is_given() -> None:
    status_url = "https://holdfast.example/sms/{p}/status?q=sched&b=2026-11-23T18%3A00"
    telnyx_http = Recording(reply={"data": {"id": TELNYX_ID}})
    TelnyxMessenger("KEY0123", "https://telnyx.test", telnyx_http).send_text(
        "+12125550123", "+18005550199", "Acme", status_url.format(p="telnyx"))
    assert json.loads(telnyx_http.sent[0].body or b"{}")["webhook_url"] == status_url.format(p="telnyx")
    vonage_http = Recording(reply={"message_uuid": VONAGE_ID})
    VonageMessenger("app-1", PEM, "https://vonage.test", vonage_http, FixedClock(NOW)).send_text(
        "+12125550123", "+18005550199", "Acme", status_url.format(p="vonage"))
    assert json.loads(vonage_http.sent[0].body or b"{}")["webhook_url"] == status_url.format(p="vonage")
    # no status URL: no webhook_url (the account's or profile's own settings apply)
    bare = Recording(reply={"data": {"id": TELNYX_ID}})
    TelnyxMessenger("KEY0123", "https://telnyx.test", bare).send_text("+12125550123", "+18005550199", "Acme")
    assert "webhook_url" not in json.loads(bare.sent[0].body or b"{}")


@pytest.mark.parametrize("provider", ["telnyx", "vonage"])
def test_a_signed_report_posted_to_a_status_url_holdfast_did_not_sign_counts_nothing(provider: str) -> None:
    """Telnyx and Vonage sign a report's body, not the URL it comes to: the same signed report posted with
    another half hour, another queue or no MAC in its status URL is refused (403) and counts nothing; at
    the URL the text was sent with it counts (sent and delivered, in the half hour its call arrived)."""
    from chalicelib.edges.caller_pages import CallerPages
    from tests.unit.test_text_reports import totals, two_confirmations, where

    world = World()
    first, _ = two_confirmations(world)  # sent in 18:00's half hour (13:00 New York), counted sent once each
    queue, bucket, mac = where(first)
    telephony, messenger = parts(provider)
    pages = CallerPages(world.texts, {provider: telephony}, messenger, "https://holdfast.example")
    name = {"telnyx": "message_finalized_delivered", "vonage": "message_status_delivered"}[provider]
    fields, genuine = posted(provider, name)

    def post(query: dict[str, str]) -> int:
        headers = WIRES[provider].sign(f"{genuine.url}?{urlencode(query)}", genuine.body, fields, NOW)
        return pages.text_status(provider, genuine.body, query, {**genuine.headers, **headers}, "POST").status

    before = totals(world)
    assert before == {"sms_sent": 2, "sms_delivered": 0, "sms_failed": 0, "sms_opt_outs": 0}
    for forged in ({"q": queue, "b": "2026-11-23T17:30", "s": mac}, {"q": "web", "b": bucket, "s": mac},
                   {"q": queue, "b": bucket}, {"q": queue, "b": "2026-11-23T17:30"}):
        assert post(forged) == 403, forged
    assert totals(world) == before
    assert post({"q": queue, "b": bucket, "s": mac}) == 204
    # the recorded report's own message id: its sent fact and its delivered fact, in 18:00's half hour
    assert totals(world) == {"sms_sent": 3, "sms_delivered": 1, "sms_failed": 0, "sms_opt_outs": 0}
