"""The Twilio adapter: known-answer signatures, every recorded webhook, TwiML for every verb."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chalicelib.adapters.twilio_provider import TwilioTelephony
from chalicelib.domain.errors import BadWebhookError
from chalicelib.domain.model import CallStatus, QueueResult
from chalicelib.domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say,
                                      Script, Step)
from tests.helpers import EVENTS, event

# twilio-python's own known-answer vector
KA_TOKEN = "12345"
KA_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
KA_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
             "From": "+14158675309", "To": "+18005551212"}
KA_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_known_answer_signature_verifies() -> None:
    assert TwilioTelephony(KA_TOKEN).verify(KA_URL, KA_PARAMS, {"X-Twilio-Signature": KA_SIGNATURE})


@pytest.mark.parametrize("token, url, params, signature", [
    ("54321", KA_URL, KA_PARAMS, KA_SIGNATURE),                                   # wrong token
    (KA_TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", KA_PARAMS, KA_SIGNATURE),  # other URL
    (KA_TOKEN, KA_URL, {**KA_PARAMS, "Digits": "1235"}, KA_SIGNATURE),            # tampered body
    (KA_TOKEN, KA_URL, KA_PARAMS, ""),                                            # missing
])
def test_anything_else_does_not(token: str, url: str, params: dict, signature: str) -> None:
    assert not TwilioTelephony(token).verify(url, params, {"X-Twilio-Signature": signature})


RECORDED = sorted(p.stem for p in (EVENTS / "twilio").glob("*.json"))


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_webhook_parses(name: str) -> None:
    ev = TwilioTelephony("t").parse(event(name), {})
    assert ev.call_id.startswith("CA")
    assert isinstance(ev.status, CallStatus)


def test_parsed_fields() -> None:
    tw = TwilioTelephony("t")
    assert tw.parse(event("gather_number"), {}).digits == "4155550123"
    hang = tw.parse(event("enqueue_action_hangup"), {})
    assert (hang.queue_result, hang.queue_seconds, hang.status) == (QueueResult.HANGUP, 95, CallStatus.COMPLETED)
    assert tw.parse(event("incoming_withheld"), {}).caller == "anonymous"
    assert tw.parse(event("status_completed"), {}).status.ended


@pytest.mark.parametrize("bad", [
    {}, {"CallSid": "XX1"}, {"CallSid": "CA1", "CallStatus": "exploded"},
    {"CallSid": "CA1", "QueueTime": "soon"},
])
def test_malformed_webhooks_are_bad_webhook_errors(bad: dict) -> None:
    with pytest.raises(BadWebhookError):
        TwilioTelephony("t").parse(bad, {})


def test_renders_every_verb_as_valid_twiml() -> None:
    step = Step.of("offer", t="support-1")
    script = Script.of(
        Gather(step, (Say("Hi", "en-US"), Play("https://x/a.mp3"), Pause(1)), num_digits=None,
               timeout_seconds=10, finish_on_key="#"),
        Enqueue("support", wait=Step.of("wait", t="support-1"), action=Step.of("queue-exit", t="support-1")),
        Enqueue("support", wait=None, action=None),
        Redirect(Step.of("bye", t="support-1")), Leave(), Hangup(),
        Dial("sip:agent@pbx.example.com"), Dial("client:alice"), Dial("+14155550100", caller_id="+18005550100"))
    root = ET.fromstring(TwilioTelephony("t").render(script, "https://h/api"))
    assert [c.tag for c in root] == ["Gather", "Enqueue", "Enqueue", "Redirect", "Leave", "Hangup",
                                     "Dial", "Dial", "Dial"]
    gather = root[0]
    assert gather.get("action") == "https://h/api/voice/twilio/offer?t=support-1"
    assert gather.get("finishOnKey") == "#" and gather.get("numDigits") is None
    assert root[1].get("waitUrl") == "https://h/api/voice/twilio/wait?t=support-1"
    assert root[2].get("waitUrl") is None and root[2].get("action") is None
    assert [root[i][0].tag for i in (6, 7, 8)] == ["Sip", "Client", "Number"]
    assert root[0][0].get("voice") == "Polly.Joanna"
