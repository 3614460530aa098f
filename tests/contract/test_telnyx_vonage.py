"""Telnyx and Vonage beyond the shared contract: every verb in their markup, and their REST calls
(through a recording HTTP session standing in for the provider's API)."""
from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.telnyx import TelnyxDialer, TelnyxMessenger, TelnyxTelephony
from chalicelib.adapters.vonage import VonageDialer, VonageTelephony
from chalicelib.domain.errors import CallGoneError, NotifyError, TelephonyError
from chalicelib.domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script,
                                      Step, explicit_no_input, joining)
from chalicelib.adapters.memory import FixedClock
from tests.contract.providers import ncco_problems
from chalicelib.ports import InboundText, WebhookRequest

BASE = "https://h/api"
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
OFFER, BYE = Step.of("offer", t="support-1"), Step.of("bye", t="support-1")
HOLD = Enqueue("support", wait=Step.of("wait", t="support-1"), action=Step.of("queue-exit", t="support-1"))
EVERY_VERB = Script.of(Say("Hello", "en-US"), Play("https://m/a.mp3", loop=2), Pause(1),
                       Gather(OFFER, (Say("Press 1", "ru-RU"), Play("https://m/b.mp3")), timeout_seconds=15),
                       Redirect(BYE), HOLD, Leave(Step.of("queue-exit", t="support-1")),
                       Dial("sip:alice@pbx.example", caller_id="+18005550100", action=Step.of("cb-dialed", t="s-1")),
                       Hangup())


def test_texml_renders_every_verb() -> None:
    root = ET.fromstring(TelnyxTelephony("").render(EVERY_VERB, BASE))
    assert [c.tag for c in root] == ["Say", "Play", "Pause", "Gather", "Redirect", "Enqueue", "Leave", "Dial", "Hangup"]
    assert root[0].get("voice") == "Polly.Joanna" and root[3][0].get("voice") == "Polly.Tatyana"
    assert root[3].get("action") == f"{BASE}/voice/telnyx/offer?t=support-1" and root[3].get("timeout") == "15"
    assert root[5].get("waitUrl") == f"{BASE}/voice/telnyx/wait?t=support-1"
    assert root[7][0].tag == "Sip" and root[7].get("callerId") == "+18005550100"
    assert ET.fromstring(TelnyxTelephony("").render(Script.of(Dial("+14155550100")), BASE))[0][0].tag == "Number"


def test_ncco_renders_every_verb_without_a_queue() -> None:
    ncco = json.loads(VonageTelephony("").render(explicit_no_input(EVERY_VERB), BASE))
    assert [a["action"] for a in ncco] == ["talk", "stream", "talk", "talk", "stream", "input", "notify", "notify",
                                           "notify", "connect"]
    talk, stream, _, prompt, music, gather, redirect, hold, leave, connect = ncco
    assert talk == {"action": "talk", "text": "Hello", "language": "en-US"} and stream["loop"] == 2
    # a key cuts the music short; the talk before it cannot barge in (the action after a barge-in talk
    # that is not a talk must be the input)
    assert music["bargeIn"] and "bargeIn" not in prompt and prompt["language"] == "ru-RU"
    assert ncco_problems(ncco) == []
    assert gather["dtmf"] == {"maxDigits": 1, "timeOut": 10, "submitOnHash": False}
    assert gather["eventUrl"] == [f"{BASE}/voice/vonage/offer?t=support-1&ni=bye%3Ft%3Dsupport-1"]
    assert redirect["eventUrl"] == [f"{BASE}/voice/vonage/bye?t=support-1"]
    # the wait loop, not a queue; its first poll says the caller just joined (music, no announcement)
    assert hold["eventUrl"] == [f"{BASE}/voice/vonage/wait?t=support-1&joined=1"]
    assert leave["eventUrl"] == [f"{BASE}/voice/vonage/queue-exit?t=support-1&result=leave"]
    assert connect["endpoint"] == [{"type": "sip", "uri": "sip:alice@pbx.example"}] and connect["from"] == "18005550100"
    assert connect["eventType"] == "synchronous"


@pytest.mark.parametrize("prompts, barging", [
    ((Say("one", "en-US"), Say("two", "en-US")), ["talk", "talk"]),
    ((Say("place", "en-US"), Say("press 1", "en-US"), Play("https://m/hold.mp3")), ["stream"]),
    ((Play("https://m/recorded.mp3"), Say("press 1", "en-US"), Pause(1)), ["talk", "talk"]),
    ((Play("https://m/a.mp3"), Play("https://m/b.mp3")), ["stream", "stream"]),
])
def test_only_the_prompts_right_before_the_input_barge_in(prompts: tuple[Any, ...], barging: list[str]) -> None:
    ncco = json.loads(VonageTelephony("").render(Script.of(Gather(OFFER, prompts)), BASE))
    assert ncco_problems(ncco) == [] and ncco[-1]["action"] == "input"
    assert [a["action"] for a in ncco if a.get("bargeIn")] == barging


def test_a_connect_to_a_phone_always_has_a_caller_id() -> None:
    ours, none = (json.loads(VonageTelephony("").render(Script.of(Dial("+14155550100", caller_id=c)), BASE))[0]
                  for c in ("+18005550100", None))
    assert ours["from"] == "18005550100" and "randomFromNumber" not in ours
    assert none["randomFromNumber"] is True and "from" not in none


def test_explicit_no_input_goes_where_the_script_would() -> None:
    gather = Gather(OFFER, (Say("Press 1", "en-US"),))
    assert explicit_no_input(Script.of(gather, Redirect(BYE))).verbs[0].no_input == BYE
    assert explicit_no_input(Script.of(gather, gather, HOLD)).verbs[0].no_input == joining(HOLD.wait)
    assert explicit_no_input(Script.of(gather)).verbs[0].no_input is None


def test_capabilities_say_what_each_can_dial() -> None:
    assert not TelnyxTelephony("").capabilities.can_dial("client:alice")
    assert VonageTelephony("").capabilities.can_dial("sip:a@b") and not VonageTelephony("").capabilities.native_queue
    assert all(TelnyxTelephony("").capabilities.speaks(lang) for lang in ("en-US", "ru-RU", "uk-UA"))


class Recording(requests.Session):
    """Stands in for the provider's REST API: records each request, answers with a fixed reply."""

    def __init__(self, status: int = 200, reply: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []
        self.status, self.reply = status, reply or {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response._content = self.status, json.dumps(self.reply).encode()
        return response


def telnyx(session: Recording) -> TelnyxDialer:
    return TelnyxDialer("KEY0123", "acct-1", "app-1", BASE, "https://telnyx.test", session)


def test_telnyx_places_a_call_with_amd_and_redirects_inline_or_by_url() -> None:
    http = Recording(reply={"call_sid": "v3:xyz"})
    sid = telnyx(http).place_call("+14155550100", "+18005550100", Step.of("cb-answer", t="s-1", d="x"),
                                  Step.of("cb-status", t="s-1", d="x"), True, 25)
    sent = http.sent[0]
    assert sid == "v3:xyz" and sent.url == "https://telnyx.test/v2/texml/Accounts/acct-1/Calls"
    assert sent.headers["Authorization"] == "Bearer KEY0123"
    body = json.loads(sent.body or b"{}")
    assert body["MachineDetection"] == "Enable" and body["ApplicationSid"] == "app-1"
    # Synchronous AMD's verdict is the AnsweredBy of the status callback (texml-answering-machine), which
    # Telnyx sends only for the events asked for: the answer (the verdict) and the end (the outcome).
    assert set(body["StatusCallbackEvent"].split()) == {"answered", "completed"}
    assert body["Url"] == f"{BASE}/voice/telnyx/cb-answer?d=x&t=s-1"
    telnyx(http).redirect("v3:xyz", Script.of(Hangup()))
    assert json.loads(http.sent[1].body or b"{}")["Texml"].endswith("<Response><Hangup /></Response>")
    telnyx(http).redirect_to("v3:xyz", Step.of("wait", t="s-1"))
    assert json.loads(http.sent[2].body or b"{}") == {"Url": f"{BASE}/voice/telnyx/wait?t=s-1", "Method": "POST"}


def test_telnyx_failures_are_telephony_errors() -> None:
    with pytest.raises(CallGoneError):
        telnyx(Recording(status=404)).redirect("v3:gone", Script.of(Hangup()))
    with pytest.raises(TelephonyError):
        telnyx(Recording(status=500)).place_call("+1", "+1", Step.of("a"), Step.of("b"), False, 25)
    with pytest.raises(TelephonyError):
        TelnyxDialer("", "", "", BASE).place_call("+1", "+1", Step.of("a"), Step.of("b"), False, 25)


PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = PRIVATE_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()


# Vonage's reply to POST /v1/calls, every field the library's CreateCallResponse requires
CREATED = {"uuid": "u-1", "status": "started", "direction": "outbound", "conversation_uuid": "CON-u-1"}


def vonage(session: Recording) -> VonageDialer:
    return VonageDialer("app-1", PEM, BASE, "https://vonage.test", session, FixedClock(NOW))


def test_vonage_places_a_call_with_an_application_jwt_and_transfers_by_ncco() -> None:
    http = Recording(reply=CREATED | {"uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356"})
    uuid = vonage(http).place_call("+14155550100", "+18005550100", Step.of("cb-answer", t="s-1", d="x"),
                                   Step.of("cb-status", t="s-1", d="x"), True, 25)
    sent = http.sent[0]
    assert uuid.startswith("63f61863") and sent.url == "https://vonage.test/v1/calls"
    authorization = sent.headers["Authorization"]  # the library sends it as bytes
    token = (authorization.decode() if isinstance(authorization, bytes) else authorization).removeprefix("Bearer ")
    claims = jwt.decode(token, PRIVATE_KEY.public_key(), algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["application_id"] == "app-1" and claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] == claims["iat"] + 60 and claims["jti"]
    body = json.loads(sent.body or b"{}")
    assert body["to"] == [{"type": "phone", "number": "14155550100"}] and body["answer_method"] == "POST"
    assert body["event_url"] == [f"{BASE}/voice/vonage/cb-status?d=x&t=s-1"]
    assert body["advanced_machine_detection"] == {"behavior": "continue", "mode": "detect"}
    vonage(http).redirect(uuid, Script.of(Say("Hi", "en-US")))
    assert http.sent[1].method == "PUT" and json.loads(http.sent[1].body or b"{}") == {
        "action": "transfer", "destination": {"type": "ncco", "ncco": [
            {"action": "talk", "text": "Hi", "language": "en-US"}]}}
    # the library's Connect model insists on a caller id: without ours, Vonage picks an application number
    vonage(http).redirect(uuid, Script.of(Dial("+14155550199"), Dial("+14155550199", caller_id="+18005550100")))
    without, with_ours = json.loads(http.sent[2].body or b"{}")["destination"]["ncco"]
    assert without["randomFromNumber"] is True and "from" not in without
    assert with_ours["from"] == "18005550100" and "randomFromNumber" not in with_ours


def test_vonage_ends_a_live_call_with_a_hangup_not_an_empty_transfer() -> None:
    """A script that only hangs up (a machine answered) is Vonage's hangup action on the call, which ends
    it whatever its NCCO is doing, rather than a transfer to an NCCO with nothing in it."""
    http = Recording()
    vonage(http).redirect("u-1", Script.of(Hangup()))
    vonage(http).redirect("u-1", Script.of(Say("Goodbye", "en-US"), Hangup()))
    assert [(r.method, r.url) for r in http.sent] == [("PUT", "https://vonage.test/v1/calls/u-1")] * 2
    assert json.loads(http.sent[0].body or b"{}") == {"action": "hangup"}
    assert json.loads(http.sent[1].body or b"{}")["action"] == "transfer"  # something to say first: the NCCO says it


def test_vonage_library_reaches_a_plain_http_stand_in_and_transfers_by_url() -> None:
    """The library always calls https://<api_host>; a local API (the simulated network) is plain HTTP."""
    seen: list[tuple[str, str, dict[str, Any]]] = []

    class Api(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            seen.append((self.command, self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:  # noqa: N802
            self._reply(201, CREATED)

        def do_PUT(self) -> None:  # noqa: N802
            self._reply(204 if not self.path.endswith("gone") else 404, {})

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dialer = VonageDialer("app-1", PEM, BASE, f"http://127.0.0.1:{server.server_port}", clock=FixedClock(NOW))
        assert dialer.place_call("sip:alice@pbx.example", "+18005550100", Step.of("cb-answer", t="s-1"),
                                 Step.of("cb-status", t="s-1"), False, 25) == "u-1"
        dialer.redirect_to("u-1", Step.of("wait", t="s-1"))
        with pytest.raises(CallGoneError):
            dialer.redirect_to("gone", Step.of("wait", t="s-1"))
    finally:
        server.shutdown()
    assert [(method, path) for method, path, _ in seen] == [("POST", "/v1/calls"), ("PUT", "/v1/calls/u-1"),
                                                            ("PUT", "/v1/calls/gone")]
    assert seen[0][2]["to"] == [{"type": "sip", "uri": "sip:alice@pbx.example"}]
    assert "advanced_machine_detection" not in seen[0][2]
    assert seen[1][2] == {"action": "transfer",
                          "destination": {"type": "ncco", "url": [f"{BASE}/voice/vonage/wait?t=s-1"]}}


def test_vonage_failures_are_telephony_errors() -> None:
    with pytest.raises(CallGoneError):
        vonage(Recording(status=404)).redirect("gone", Script.of(Hangup()))
    with pytest.raises(TelephonyError):
        VonageDialer("app-1", "not a key", BASE).place_call("+1", "+1", Step.of("a"), Step.of("b"), False, 25)


@pytest.mark.parametrize("dialer", [lambda h: telnyx(h), lambda h: vonage(h)])
def test_a_client_contact_is_refused_before_any_request(dialer: Any) -> None:
    http = Recording()
    with pytest.raises(TelephonyError):
        dialer(http).place_call("client:alice", "+18005550100", Step.of("a"), Step.of("b"), False, 25)
    with pytest.raises(TelephonyError):
        dialer(http).redirect("call-1", Script.of(Dial("client:alice")))
    assert http.sent == []


URL_SECRET = "per-stage-url-secret-6f1c9a4e2b7d8305"


def unsigned(url: str, headers: dict[str, str] | None = None) -> Any:
    """An unsigned Vonage POST to `url` (a full URL Holdfast gave out, its query included)."""
    from urllib.parse import urlsplit

    from chalicelib.ports import WebhookRequest
    parts = urlsplit(url)
    return WebhookRequest("POST", f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query)),
                          headers or {}, b'{"uuid": "u-1"}')


def ncco_urls(ncco: str) -> list[str]:
    return [u for action in json.loads(ncco) for u in action.get("eventUrl", [])]


def test_an_unsigned_vonage_event_opens_only_the_step_and_ticket_of_its_own_url() -> None:
    """Issue 21 item 4: without a JWT, only an NCCO eventUrl's own MAC is believed, for that step and
    ticket; the URL secret itself opens nothing, and a bad JWT is never rescued by a good MAC."""
    vonage_tel = VonageTelephony("holdfast-test-signature-secret-32", FixedClock(NOW), url_token=URL_SECRET)
    offer = ncco_urls(vonage_tel.render(Script.of(Gather(OFFER, (Say("Press 1", "en-US"),))), BASE))[0]
    assert vonage_tel.verify(unsigned(offer))
    mac = dict(parse_qsl(offer.split("?", 1)[1]))["k"]
    assert not vonage_tel.verify(unsigned(f"{BASE}/voice/vonage/confirm?t=support-1&k={mac}"))  # another step
    assert not vonage_tel.verify(unsigned(f"{BASE}/voice/vonage/offer?t=support-2&k={mac}"))  # another ticket
    assert not vonage_tel.verify(unsigned(f"{BASE}/voice/vonage/offer?t=support-1&k={URL_SECRET}"))  # the secret
    assert not vonage_tel.verify(unsigned(f"{BASE}/voice/vonage/offer?t=support-1"))
    assert not vonage_tel.verify(unsigned(offer, {"Authorization": "Bearer forged"}))
    assert not VonageTelephony("holdfast-test-signature-secret-32", FixedClock(NOW)).verify(unsigned(offer))


def test_no_url_given_to_vonage_carries_the_url_secret_and_answer_and_event_urls_carry_no_mac() -> None:
    ncco = VonageTelephony("", url_token=URL_SECRET).render(explicit_no_input(EVERY_VERB), BASE)
    urls = ncco_urls(ncco)
    macs = [dict(parse_qsl(u.split("?", 1)[1])).get("k") for u in urls]
    assert len(urls) == 5 and all(macs) and URL_SECRET not in ncco
    assert len(set(macs)) == len(set(urls))  # one MAC per URL
    http = Recording(reply=CREATED)
    VonageDialer("app-1", PEM, BASE, "https://vonage.test", http, FixedClock(NOW), url_token=URL_SECRET).place_call(
        "+14155550100", "+18005550100", Step.of("cb-answer", t="s-1"), Step.of("cb-status", t="s-1"), False, 25)
    body = json.loads(http.sent[0].body or b"{}")
    # the answer and event webhooks are signed by Vonage: their URLs open nothing without its JWT
    assert body["answer_url"] == [f"{BASE}/voice/vonage/cb-answer?t=s-1"]
    assert body["event_url"] == [f"{BASE}/voice/vonage/cb-status?t=s-1"]


# --- Holdfast's own Vonage client, held to Vonage's library and to PyJWT (issue 24: the SDK is not shipped)

def test_the_application_jwt_is_the_one_pyjwt_signs_byte_for_byte() -> None:
    from chalicelib.adapters.vonage_rest import application_jwt, private_key

    claims = {"application_id": "app-1", "iat": 1_795_000_000, "jti": "jti-1", "exp": 1_795_000_060}
    theirs = jwt.encode(claims, PEM, algorithm="RS256", headers={"alg": "RS256", "typ": "JWT"})
    assert application_jwt("app-1", private_key(PEM), 1_795_000_000, "jti-1") == theirs  # RS256 is deterministic
    pkcs1 = PRIVATE_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()).decode()
    assert application_jwt("app-1", private_key(pkcs1), 1_795_000_000, "jti-1") == theirs


def test_only_an_rsa_private_key_is_taken() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from chalicelib.adapters.vonage_rest import private_key

    not_rsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    for pem in ("not a key", not_rsa, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(ValueError):
            private_key(pem)


@pytest.mark.parametrize("to, amd", [("+14155550100", True), ("sip:alice@pbx.example", False)])
def test_a_create_call_body_is_what_vonages_library_sends(to: str, amd: bool) -> None:
    from vonage_voice.models.common import AdvancedMachineDetection, Phone, Sip
    from vonage_voice.models.requests import CreateCallRequest, ToPhone

    from chalicelib.adapters.vonage import create_call_body

    theirs = CreateCallRequest(
        to=[Sip(uri=to) if to.startswith("sip:") else ToPhone(number=to.lstrip("+"))],
        from_=Phone(number="18005550100"), answer_url=["https://h/a"], answer_method="POST",
        event_url=["https://h/e"], event_method="POST", ringing_timer=25,
        advanced_machine_detection=AdvancedMachineDetection(behavior="continue", mode="detect") if amd else None)
    ours = create_call_body(to, "+18005550100", "https://h/a", "https://h/e", amd, 25)
    assert ours == theirs.model_dump(by_alias=True, exclude_none=True)


def test_an_ncco_is_what_vonages_library_sends_for_every_verb() -> None:
    from vonage_voice.models import ncco as models

    script = explicit_no_input(Script.of(*EVERY_VERB.verbs[:-2], Dial("+14155550199"), *EVERY_VERB.verbs[-2:]))
    ncco = json.loads(VonageTelephony("").render(script, BASE))
    kinds = {"talk": models.Talk, "stream": models.Stream, "input": models.Input, "notify": models.Notify,
             "connect": models.Connect, "conversation": models.Conversation}
    typed = [kinds[a["action"]].model_validate({("from_" if k == "from" else k): v for k, v in a.items()})
             for a in ncco]
    assert ncco == [t.model_dump(by_alias=True, exclude_none=True) for t in typed]


def test_telnyx_texts_through_its_messaging_api_and_reads_a_reply() -> None:
    http = Recording(reply={"data": {"id": "msg-1"}})
    messenger = TelnyxMessenger("KEY0123", "https://telnyx.test", http)
    assert messenger.send_text("+14155550100", "+18005550199", "Acme: we will call you back") == "msg-1"
    sent = http.sent[0]
    assert sent.url == "https://telnyx.test/v2/messages" and sent.headers["Authorization"] == "Bearer KEY0123"
    assert json.loads(sent.body or b"{}") == {"from": "+18005550199", "to": "+14155550100",
                                             "text": "Acme: we will call you back"}
    with pytest.raises(NotifyError):
        TelnyxMessenger("KEY0123", "https://telnyx.test", Recording(status=500)).send_text("+1", "+1", "x")
    with pytest.raises(NotifyError):
        TelnyxMessenger("").send_text("+1", "+1", "x")
    reply = {"data": {"event_type": "message.received", "payload": {"from": {"phone_number": "+14155550100"},
                                                                     "text": "STOP"}}}
    request = WebhookRequest("POST", "https://h/sms/telnyx/incoming", {}, {"Content-Type": "application/json"},
                             json.dumps(reply).encode())
    assert messenger.parse_inbound(request) == InboundText("+14155550100", "STOP")
    other = WebhookRequest("POST", "https://h/sms/telnyx/incoming", {}, {"Content-Type": "application/json"},
                           json.dumps({"data": {"event_type": "message.sent", "payload": {}}}).encode())
    assert messenger.parse_inbound(other) is None


def test_vonage_texts_through_its_messages_api_as_its_library_writes_them() -> None:
    from vonage_messages.models import Sms

    from chalicelib.adapters.vonage import VonageMessenger

    http = Recording(reply={"message_uuid": "aaaaaaaa-0000-4000-8000-000000000001"})
    messenger = VonageMessenger("app-1", PEM, "https://vonage.test", http, FixedClock(NOW))
    assert messenger.send_text("+14155550100", "+18005550199", "Acme: we will call you back") == \
        "aaaaaaaa-0000-4000-8000-000000000001"
    sent = http.sent[0]
    assert (sent.method, sent.url) == ("POST", "https://vonage.test/v1/messages")
    theirs = Sms(to="14155550100", from_="18005550199", text="Acme: we will call you back")
    assert json.loads(sent.body or b"{}") == theirs.model_dump(by_alias=True, exclude_none=True)
    token = str(sent.headers["Authorization"]).removeprefix("Bearer ")
    # the application JWT, signed by the key (its times are checked against the test's clock, not the wall's)
    claims = jwt.decode(token, PRIVATE_KEY.public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert (claims["application_id"], claims["iat"], claims["exp"]) == ("app-1", int(NOW.timestamp()),
                                                                       int(NOW.timestamp()) + 60)
    with pytest.raises(NotifyError):
        VonageMessenger("app-1", PEM, "https://vonage.test", Recording(status=500), FixedClock(NOW)).send_text(
            "+1", "+1", "x")
    with pytest.raises(NotifyError):
        VonageMessenger("", "").send_text("+1", "+1", "x")
    with pytest.raises(NotifyError):
        VonageMessenger("app-1", "not a key").send_text("+1", "+1", "x")


def test_a_vonage_inbound_text_is_read_only_when_signed() -> None:
    from chalicelib.adapters.vonage import VonageMessenger
    from tests.contract.providers import VonageWire

    inbound = {"channel": "sms", "message_uuid": "m-1", "to": "18005550199", "from": "14155550100",
               "timestamp": "2026-11-23T18:00:00Z", "text": "STOP", "message_type": "text"}
    body = json.dumps(inbound).encode()
    url = "https://h/api/sms/vonage/incoming"
    signed = VonageWire().sign(url, body, inbound, NOW)
    request = WebhookRequest("POST", url, {}, {"Content-Type": "application/json", **signed}, body)
    telephony = VonageTelephony("holdfast-test-signature-secret-32", FixedClock(NOW))
    assert telephony.verify(request)
    messenger = VonageMessenger("app-1", PEM, "https://vonage.test", Recording(), FixedClock(NOW))
    assert messenger.parse_inbound(request) == InboundText("+14155550100", "STOP", message_id="m-1",
                                                           recipient="+18005550199")
    forged = WebhookRequest("POST", url, {}, {"Content-Type": "application/json", **signed},
                            body.replace(b"STOP", b"STOQ"))
    assert not VonageTelephony("holdfast-test-signature-secret-32", FixedClock(NOW)).verify(forged)
    status = {"channel": "sms", "message_uuid": "m-2", "status": "delivered", "to": "14155550100",
              "from": "18005550199", "timestamp": "2026-11-23T18:00:00Z"}
    other = WebhookRequest("POST", url, {}, {"Content-Type": "application/json"}, json.dumps(status).encode())
    assert messenger.parse_inbound(other) is None
