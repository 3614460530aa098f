"""The Twilio adapter: known-answer signatures, every recorded webhook, TwiML for every verb."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode

import pytest

from chalicelib.adapters.twilio_provider import TwilioTelephony
from chalicelib.domain.errors import BadWebhookError
from chalicelib.domain.model import AnsweredBy, CallStatus, QueueResult
from chalicelib.ports import WebhookRequest
from chalicelib.domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say,
                                      Script, Step)
from tests.helpers import EVENTS, event

# twilio-python's own known-answer vector
KA_TOKEN = "12345"
KA_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
KA_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
             "From": "+14158675309", "To": "+18005551212"}
KA_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def request(url: str, params: dict, signature: str) -> WebhookRequest:
    base, _, query = url.partition("?")
    return WebhookRequest("POST", base, dict(parse_qsl(query)), {"X-Twilio-Signature": signature,
                          "Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode())


def test_known_answer_signature_verifies() -> None:
    assert TwilioTelephony(KA_TOKEN).verify(request(KA_URL, KA_PARAMS, KA_SIGNATURE))


@pytest.mark.parametrize("token, url, params, signature", [
    ("54321", KA_URL, KA_PARAMS, KA_SIGNATURE),                                   # wrong token
    (KA_TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", KA_PARAMS, KA_SIGNATURE),  # other URL
    (KA_TOKEN, KA_URL, {**KA_PARAMS, "Digits": "1235"}, KA_SIGNATURE),            # tampered body
    (KA_TOKEN, KA_URL, KA_PARAMS, ""),                                            # missing
])
def test_anything_else_does_not(token: str, url: str, params: dict, signature: str) -> None:
    assert not TwilioTelephony(token).verify(request(url, params, signature))


RECORDED = sorted(p.stem for p in (EVENTS / "twilio").glob("*.json") if not p.stem.startswith("taskrouter"))


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_webhook_parses(name: str) -> None:
    ev = TwilioTelephony("t").parse(event(name), {})
    assert ev.call_id == event(name)["CallSid"]
    assert isinstance(ev.status, CallStatus)


def test_parsed_fields() -> None:
    tw = TwilioTelephony("t")
    assert tw.parse(event("gather_number"), {}).digits == "4155550123"
    hang = tw.parse(event("enqueue_action_hangup"), {})
    assert (hang.queue_result, hang.queue_seconds, hang.status) == (QueueResult.HANGUP, 95, CallStatus.COMPLETED)
    assert tw.parse(event("incoming_withheld"), {}).caller == "anonymous"
    assert tw.parse(event("status_completed"), {}).status.ended


@pytest.mark.parametrize("bad", [
    {}, {"CallSid": ""}, {"CallSid": "CA\n1"}, {"CallSid": "CA1", "CallStatus": "exploded"},
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


def test_taskrouter_worker_events_become_agent_events() -> None:
    from datetime import datetime, timezone

    from chalicelib.domain.model import AgentStatus

    tw = TwilioTelephony("t")
    up = tw.parse_agent_event(event("taskrouter_worker_available"))
    assert (up.agent_id, up.status, up.contact, up.queues, up.event_id) == (
        "alice", AgentStatus.AVAILABLE, "client:alice", ("support",), "EV00000000000000000000000000000001")
    assert up.at == datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)
    assert tw.parse_agent_event(event("taskrouter_worker_offline")).status is AgentStatus.OFFLINE
    assert tw.parse_agent_event(event("taskrouter_reservation_created")) is None
    with pytest.raises(BadWebhookError):
        tw.parse_agent_event(event("taskrouter_worker_available", WorkerAttributes="[1]"))


@pytest.mark.parametrize("activity, status, reason", [
    ("Available", "available", None), ("Idle", "available", None), ("Offline", "offline", None),
    ("Busy", "busy", None), ("Reserved", "busy", None), ("On a call", "busy", None), ("Outbound", "busy", None),
    ("Wrap-Up", "wrap_up", None), ("wrap_up", "wrap_up", None), ("After Call Work", "wrap_up", None),
    ("Unavailable", "away", "unavailable"), ("Break", "away", "break"), ("Lunch", "away", "lunch"),
    ("Training", "away", "training"), ("Meeting", "away", "meeting"), ("Coaching", "away", "coaching"),
])
def test_taskrouter_activities_map_to_agent_states(activity: str, status: str, reason: str | None) -> None:
    parsed = TwilioTelephony("t").parse_agent_event(event("taskrouter_worker_available", WorkerActivityName=activity))
    assert (parsed.status.value, parsed.reason) == (status, reason)


def test_an_unknown_taskrouter_activity_is_refused_not_read_as_busy() -> None:
    with pytest.raises(BadWebhookError, match="unknown TaskRouter activity 'gardening'"):
        TwilioTelephony("t").parse_agent_event(event("taskrouter_worker_available", WorkerActivityName="Gardening"))


def test_outbound_webhook_fields() -> None:
    tw = TwilioTelephony("t")
    assert tw.parse(event("outbound_answered_human"), {}).answered_by is AnsweredBy.HUMAN
    assert tw.parse(event("outbound_dial_busy"), {}).dial_status is CallStatus.BUSY
    assert tw.parse(event("outbound_answered_human", AnsweredBy="machine_end_beep"), {}).answered_by \
        is AnsweredBy.MACHINE
    assert tw.parse(event("outbound_dial_busy", DialCallStatus="answered", DialCallDuration="42"), {}) \
        .dial_seconds == 42.0
    assert tw.parse(event("outbound_status_no_answer"), {}).status is CallStatus.NO_ANSWER


class RecordingHttpClient:
    """Stands in for the network under the real twilio library: records each request, answers like Twilio."""

    def __init__(self, status: int = 201, code: int = 21211) -> None:
        self.code = code
        self.requests: list[dict] = []
        self.status = status
        self.last_request = None
        self.last_response = None

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):  # type: ignore[no-untyped-def]
        import json as _json

        from twilio.http.response import Response

        self.requests.append({"method": method, "url": url, "data": data, "auth": auth})
        if self.status >= 400:
            return Response(self.status, _json.dumps({"code": self.code, "message": "refused", "status": self.status}))
        return Response(self.status, _json.dumps({"sid": "CA" + "5" * 32, "status": "queued"}))


def dialer(http: RecordingHttpClient):  # type: ignore[no-untyped-def]
    from chalicelib.adapters.twilio_provider import TwilioDialer

    return TwilioDialer("AC" + "0" * 32, "token", "https://h/api", http_client=http)  # type: ignore[arg-type]


def test_place_call_sends_what_twilio_expects() -> None:
    http = RecordingHttpClient()
    sid = dialer(http).place_call("+14155550100", "+18005550100", Step.of("cb-answer", t="support-1", d="x"),
                                  Step.of("cb-status", t="support-1", d="x"), machine_detection=True,
                                  timeout_seconds=25)
    [req] = http.requests
    assert sid == "CA" + "5" * 32
    assert req["method"] == "POST" and req["url"].endswith("/2010-04-01/Accounts/AC" + "0" * 32 + "/Calls.json")
    assert req["data"]["To"] == "+14155550100" and req["data"]["From"] == "+18005550100"
    assert req["data"]["Url"] == "https://h/api/voice/twilio/cb-answer?d=x&t=support-1"
    assert req["data"]["StatusCallback"] == "https://h/api/voice/twilio/cb-status?d=x&t=support-1"
    assert req["data"]["MachineDetection"] == "Enable"


def test_redirect_updates_the_live_call_with_twiml() -> None:
    http = RecordingHttpClient(status=200)
    dialer(http).redirect("CA1", Script.of(Dial("client:alice")))
    [req] = http.requests
    assert req["url"].endswith("/Calls/CA1.json")
    assert "<Dial timeout=\"20\"><Client>alice</Client></Dial>" in req["data"]["Twiml"]


def test_provider_errors_are_telephony_errors() -> None:
    from chalicelib.domain.errors import TelephonyError

    with pytest.raises(TelephonyError):
        dialer(RecordingHttpClient(status=400)).place_call(
            "+1", "+1", Step.of("a"), Step.of("b"), machine_detection=False, timeout_seconds=5)
    from chalicelib.adapters.twilio_provider import TwilioDialer
    with pytest.raises(TelephonyError):  # no credentials configured: a clear error, not a crash at start
        TwilioDialer("", "", "https://h/api").redirect("CA1", Script.of(Hangup()))


def test_redirecting_an_ended_call_is_call_gone() -> None:
    from chalicelib.domain.errors import CallGoneError

    with pytest.raises(CallGoneError):
        dialer(RecordingHttpClient(status=400, code=21220)).redirect("CA1", Script.of(Hangup()))


def test_redirect_to_a_step_sends_its_url() -> None:
    http = RecordingHttpClient(status=200)
    dialer(http).redirect_to("CA1", Step.of("wait", t="support-1"))
    [req] = http.requests
    assert req["data"]["Url"] == "https://h/api/voice/twilio/wait?t=support-1" and "Twiml" not in req["data"]
