"""The provider contract: Twilio, Telnyx (TeXML), Vonage (NCCO) and jambonz (JSON verbs) pass the same cases.

Each provider's requests are signed its own way (the twilio library; Ed25519 with the RFC 8032 key;
an HS256 JWT with payload_hash through PyJWT), the known-answer vectors of ../shared/providers.md
are checked, every recorded webhook parses, anything unsigned is refused with nothing written, and
a caller's journey runs through the Chalice test client on each, following each provider's markup."""
from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.dynamo import TicketItem
from chalicelib.adapters.jambonz import JambonzTelephony
from chalicelib.adapters.telnyx import TelnyxTelephony
from chalicelib.adapters.twilio_provider import TwilioTelephony
from chalicelib.adapters.vonage import VonageTelephony
from chalicelib.domain.model import AgentStatus, AnsweredBy, CallStatus
from chalicelib.ports import Telephony, WebhookRequest
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.contract.providers import (JAMBONZ_SECRET, KINDS, keys, TELNYX_PUBLIC_KEY, TELNYX_SEED, VONAGE_SECRET, WIRES, Wire,
                                      path_of)
from chalicelib.adapters.memory import memory_stores, FixedClock

QUEUES = str(Path(__file__).resolve().parent.parent / "functional" / "queues.json")
MONDAY_10_PST = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
MONDAY_NIGHT_KYIV = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
PROVIDERS = ["twilio", "telnyx", "vonage", "jambonz"]
# Providers whose hold can hear a key (jambonz's waitHook only speaks and plays: its own case below).
LISTENING_HOLDS = ["twilio", "telnyx", "vonage"]
# Providers that report the agent's leg of a bridge as it rings and is answered.
LEG_REPORTING = ["twilio", "telnyx", "vonage"]
CALLER, SUPPORT, KYIV = "+14158675309", "+18005550100", "+380445550100"


def adapter(name: str, clock: FixedClock) -> Telephony:
    return {"twilio": lambda: TwilioTelephony(AUTH_TOKEN), "telnyx": lambda: TelnyxTelephony(TELNYX_PUBLIC_KEY, clock),
            "vonage": lambda: VonageTelephony(VONAGE_SECRET, clock),
            "jambonz": lambda: JambonzTelephony(JAMBONZ_SECRET, clock)}[name]()


# --- known-answer vectors (providers.md section 6) -------------------------------------------------

TELNYX_FORM = (b"AccountSid=f5586561-8ff0-4291-a51b-c7dfe4139ff9&CallSid=v3%3Aabc123&CallStatus=ringing"
               b"&From=%2B35319605860&To=%2B13129457420")
TELNYX_FORM_SIG = "XhFXTRQCb8ZPBWH3aF0RxcI27vdP6eyb9wRkfC76kGrhc0Qw1ce8F8zcwTsWLnHDxQ2WsGnSuWD2Rx9nymgeDg=="
TELNYX_JSON = (b'{"data":{"event_type":"call.hangup","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","payload":'
               b'{"call_control_id":"v3:abc","from":"+35319605860","to":"+13129457420","hangup_cause":'
               b'"normal_clearing"},"record_type":"event"}}')
TELNYX_JSON_SIG = "aMCSwXGkM0aDima/s9GonJM6v3JGbHWvYs0w/6+xqJgH+KbYSoc8O6tbtwC9SLSEkjsOR2RZ2spVC7zTcLDiBw=="
KAT_TIME = datetime.fromtimestamp(1700000000, timezone.utc)
VONAGE_BODY = (b'{"from":"447700900000","to":"447700900001","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab",'
               b'"conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","status":"answered",'
               b'"direction":"inbound","timestamp":"2026-11-24T10:00:00.000Z"}')
VONAGE_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6ImIzYTFjMmQ0LTAwMDAtNDAwMC04MDAwLTA"
                "wMDAwMDAwMDAwMSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImQ2NGUzMzAwMThlOWRhNzJhNWQ0NTNmZmE1YzY5ZjI4"
                "NTk5YzU2NDI5ODE3OTI0NGEwNDEzN2E4YTc3NDY2MjQiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6ImFh"
                "YWFhYWFhLWJiYmItY2NjYy1kZGRkLTAxMjM0NTY3ODlhYiJ9.KcMDXyqQ-nE-0-MP7bR2NNvsT1oigLSlzjenEG-7d_s")


def telnyx_request(body: bytes, signature: str, stamp: str = "1700000000") -> WebhookRequest:
    return WebhookRequest("POST", "https://h/voice/telnyx/incoming", {},
                          {"telnyx-timestamp": stamp, "telnyx-signature-ed25519": signature}, body)


def vonage_request(body: bytes, token: str) -> WebhookRequest:
    return WebhookRequest("POST", "https://h/voice/vonage/incoming", {}, {"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"}, body)


def test_the_telnyx_key_is_rfc_8032_test_1() -> None:
    key = Ed25519PrivateKey.from_private_bytes(TELNYX_SEED)
    assert base64.b64encode(key.public_key().public_bytes_raw()).decode() == TELNYX_PUBLIC_KEY
    assert key.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a")


@pytest.mark.parametrize("body, signature", [(TELNYX_FORM, TELNYX_FORM_SIG), (TELNYX_JSON, TELNYX_JSON_SIG)])
def test_telnyx_known_answers_verify(body: bytes, signature: str) -> None:
    clock = FixedClock(KAT_TIME + timedelta(seconds=299))
    assert TelnyxTelephony(TELNYX_PUBLIC_KEY, clock).verify(telnyx_request(body, signature))


@pytest.mark.parametrize("case", ["301 s old", "301 s ahead", "re-serialized body", "63-byte signature",
                                  "31-byte key", "no timestamp", "not base64"])
def test_telnyx_refuses(case: str) -> None:
    clock = FixedClock(KAT_TIME + timedelta(seconds={"301 s old": 301, "301 s ahead": -301}.get(case, 0)))
    key = base64.b64encode(base64.b64decode(TELNYX_PUBLIC_KEY)[:31]).decode() if case == "31-byte key" \
        else TELNYX_PUBLIC_KEY
    body = TELNYX_FORM.replace(b"v3%3Aabc123", b"v3:abc123") if case == "re-serialized body" else TELNYX_FORM
    signature = {"63-byte signature": base64.b64encode(base64.b64decode(TELNYX_FORM_SIG)[:63]).decode(),
                 "not base64": "%%%"}.get(case, TELNYX_FORM_SIG)
    request = telnyx_request(body, signature, "" if case == "no timestamp" else "1700000000")
    assert not TelnyxTelephony(key, clock).verify(request)


def test_vonage_known_answer_verifies_and_is_spent_once() -> None:
    """The JWT verifies; spending it is the edge's (Replays, shared by every container: test_replays_moto)."""
    from chalicelib.adapters.memory import MemoryReplays
    from chalicelib.edges.webhooks import replayed

    vonage = VonageTelephony(VONAGE_SECRET, FixedClock(KAT_TIME + timedelta(seconds=10)))
    request, replays = vonage_request(VONAGE_BODY, VONAGE_TOKEN), MemoryReplays()
    assert vonage.verify(request) and vonage.verify(request)
    assert replayed(vonage, request, replays) is None
    assert replayed(vonage, request, replays).status == 403  # the same JWT again


@pytest.mark.parametrize("case", ["one byte changed", "iat outside the window", "wrong secret", "no token",
                                  "not a JWT"])
def test_vonage_refuses(case: str) -> None:
    clock = FixedClock(KAT_TIME + timedelta(seconds=301 if case == "iat outside the window" else 10))
    secret = "another-signature-secret-0123456789" if case == "wrong secret" else VONAGE_SECRET
    body = VONAGE_BODY.replace(b"answered", b"answerez") if case == "one byte changed" else VONAGE_BODY
    token = {"no token": "", "not a JWT": "asdf"}.get(case, VONAGE_TOKEN)
    assert not VonageTelephony(secret, clock).verify(vonage_request(body, token))


# --- recorded webhooks ---------------------------------------------------------------------------

RECORDED = [(p, f.stem) for p in PROVIDERS for f in sorted((Path(__file__).parent.parent / "events" / p).glob("*.json"))
            if not f.stem.startswith("taskrouter")]


@pytest.mark.parametrize("provider, name", RECORDED)
def test_every_recorded_webhook_parses(provider: str, name: str) -> None:
    wire, clock = WIRES[provider], FixedClock(MONDAY_10_PST)
    fields = wire.recorded(name)
    tel = adapter(provider, clock)
    url = f"{PUBLIC_URL}/voice/{provider}/incoming"
    body, headers = wire.request(url, fields, clock.now())
    request = WebhookRequest("POST", url, {}, headers, body)
    assert tel.verify(request)
    event = tel.parse(tel.decode(request), {})
    assert event.call_id and isinstance(event.status, CallStatus)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_neutral_fields_from_every_provider(provider: str) -> None:
    wire, tel = WIRES[provider], adapter(provider, FixedClock(MONDAY_10_PST))

    def parse(kind: str) -> Any:
        return tel.parse(wire.event(kind), {})

    assert parse("press_1").digits == "1" and parse("number").digits == "4155550123"
    assert parse("no_input").digits is None
    assert parse("incoming").caller == CALLER and parse("incoming").called == SUPPORT
    assert parse("ended").status is CallStatus.COMPLETED
    assert parse("machine").answered_by is AnsweredBy.MACHINE and parse("human").answered_by is AnsweredBy.HUMAN
    done = parse("dial_completed")
    # the recorded dial results: talk time 95 s where the provider reports one (jambonz's dial has none)
    assert (done.dial_status, done.dial_seconds) == (CallStatus.COMPLETED, 0.0 if provider == "jambonz" else 95.0)
    assert parse("dial_busy").dial_status is CallStatus.BUSY
    assert parse("no_answer").status is CallStatus.NO_ANSWER


# --- through the Chalice test client --------------------------------------------------------------

@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10_PST)


@pytest.fixture
def container(settings, clock, serve):  # type: ignore[no-untyped-def]
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=tuple(PROVIDERS),
                                    telnyx_public_key=TELNYX_PUBLIC_KEY, vonage_signature_secret=VONAGE_SECRET,
                                    jambonz_webhook_secret=JAMBONZ_SECRET),
                            clock=clock)
    serve(built)
    return built


@pytest.fixture
def client(container):  # type: ignore[no-untyped-def]
    with Client(app, stage_name="local") as c:
        yield c


class Caller:
    """One caller on one provider: posts what the provider would, where its markup says."""

    def __init__(self, client: Client, wire: Wire, clock: FixedClock, call: str, caller: str = CALLER,
                 called: str = SUPPORT) -> None:
        self.client, self.wire, self.clock = client, wire, clock
        self.ids = {"call": call, "caller": caller, "called": called}
        self.markup = ""

    def post(self, path: str, kind: str, **fields: Any) -> str:
        body, headers = self.wire.request(PUBLIC_URL + path, self.wire.event(kind, **self.ids, **fields),
                                          self.clock.now())
        reply = self.client.http.post(path, headers=headers, body=body)
        assert reply.status_code == 200, reply.body
        self.markup = reply.body.decode()
        return self.markup

    def call(self) -> str:
        return self.post(f"/voice/{self.wire.name}/incoming", "incoming")

    def follow(self, to: str, kind: str, **fields: Any) -> str:
        """Post `kind` to the first URL of sort `to` in the last markup."""
        url = next(u for k, u in self.wire.next_urls(self.markup) if k == to)
        return self.post(path_of(url), kind, **fields)


def tickets() -> list[TicketItem]:
    return [t for t in TicketItem.scan() if t.sk.startswith("TICKET#")]


@pytest.fixture
def staffed(container) -> None:  # type: ignore[no-untyped-def]
    container.stores.agents.record_agent_status("alice", AgentStatus.BUSY, MONDAY_10_PST, "+14155550999",
                                                ("support", "kyiv", "moscow"), None)


FORGERIES = [(provider, forge) for provider in PROVIDERS for forge in ("missing", "forged", "expired", "other provider's")
             if (provider, forge) != ("twilio", "expired")]  # Twilio signs no time: nothing to expire (below)


@pytest.mark.parametrize("provider, forge", FORGERIES)
def test_unsigned_is_403_and_writes_nothing(client: Client, clock: FixedClock, provider: str, forge: str) -> None:
    wire = WIRES[provider]
    path = f"/voice/{provider}/incoming"
    fields = wire.event("incoming", call="call-forged")
    signed_at = clock.now() - timedelta(seconds=301) if forge == "expired" else clock.now()
    body, headers = wire.request(PUBLIC_URL + path, fields, signed_at)
    if forge == "missing":
        headers = {"Content-Type": wire.content_type}
    elif forge == "forged":
        body = body.replace(b"14158675309", b"14158675308")
    elif forge == "other provider's":
        other = WIRES["vonage" if provider != "vonage" else "telnyx"]
        headers = {"Content-Type": wire.content_type, **other.sign(PUBLIC_URL + path, body, fields, clock.now())}
    reply = client.http.post(path, headers=headers, body=body)
    assert reply.status_code == 403 and tickets() == []


def test_twilio_signs_no_time_so_an_old_signature_still_verifies(client: Client, clock: FixedClock) -> None:
    wire = WIRES["twilio"]
    fields = wire.event("incoming", call="call-old")
    body, headers = wire.request(PUBLIC_URL + "/voice/twilio/incoming", fields, clock.now() - timedelta(seconds=301))
    reply = client.http.post("/voice/twilio/incoming", headers=headers, body=body)
    assert reply.status_code == 200 and len(tickets()) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unusable_key_refuses_every_webhook(settings, clock: FixedClock, serve, provider: str) -> None:  # type: ignore[no-untyped-def]
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=tuple(PROVIDERS),
                                    telnyx_public_key="replace-me", vonage_signature_secret="short",
                                    jambonz_webhook_secret="wh_secret_short",
                                    twilio_auth_token=AUTH_TOKEN if provider != "twilio" else AUTH_TOKEN[:8]),
                            clock=clock)
    serve(built)
    with Client(app, stage_name="local") as client:
        wire = WIRES[provider]
        path = f"/voice/{provider}/incoming"
        body, headers = wire.request(PUBLIC_URL + path, wire.event("incoming"), clock.now())
        assert client.http.post(path, headers=headers, body=body).status_code == 403
    assert tickets() == []


def holds(wire: Wire, markup: str) -> bool:
    """Is the caller put on hold? A provider queue, or (Vonage) our wait loop."""
    return any(k == "wait" for k, _ in wire.next_urls(markup)) or (
        wire.name == "vonage" and any("/wait?" in u for k, u in wire.next_urls(markup) if k == "redirect"))


def on_hold(client: Client, clock: FixedClock, provider: str) -> Caller:
    """A caller told their place in line, held, and polled once by the hold (or our wait loop)."""
    wire = WIRES[provider]
    caller = Caller(client, wire, clock, call=f"{provider}-call-1")
    markup = caller.call()
    assert holds(wire, markup) and "number 1 in line" in markup
    caller.follow("wait" if provider != "vonage" else "redirect", "wait")
    return caller


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", LISTENING_HOLDS)
def test_short_wait_holds_and_the_wait_loop_keeps_going_on_no_input(client: Client, clock: FixedClock,
                                                                    provider: str) -> None:
    wire = WIRES[provider]
    caller = on_hold(client, clock, provider)
    assert "hold.mp3" in caller.markup and [k for k, _ in wire.next_urls(caller.markup)][0] == "gather"
    if provider == "vonage":  # nothing pressed: the input calls back and the no-input step is the wait again
        caller.follow("gather", "no_input")
        assert "hold.mp3" in caller.markup and any("/wait?" in u for _, u in wire.next_urls(caller.markup))
    [ticket] = tickets()
    assert ticket.status == "WAITING" and ticket.call_id == f"{provider}-call-1"


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_long_wait_press_1_confirm_books_a_callback(client: Client, clock: FixedClock, provider: str) -> None:
    wire = WIRES[provider]
    for n in range(3):
        Caller(client, wire, clock, call=f"{provider}-early-{n}", caller=f"+1415555{n:04d}").call()
    caller = Caller(client, wire, clock, call=f"{provider}-call-4")
    assert "press 1" in caller.call()
    caller.follow("gather", "press_1")  # offer
    assert "4 1 5, 8 6 7, 5 3 0 9" in caller.markup  # the number read back to confirm
    caller.follow("gather", "press_1")  # confirm
    booked = [t for t in tickets() if t.call_id == f"{provider}-call-4"]
    assert booked[0].kind == "CALLBACK"


def heard_in_silence(caller: Caller) -> list[str]:
    """What a caller who presses nothing hears after the first Gather of the last markup, as the provider
    plays it, until hold music: TwiML/TeXML fall through to the verbs after the Gather (a later Gather's
    prompts, then the Enqueue, whose first wait poll comes at queue time 0); Vonage's input calls its
    eventUrl with no digits, whose reply NCCO plays next; jambonz's gather calls its actionHook, whose
    empty reply lets the verbs after it run."""
    heard: list[str] = []
    if caller.wire.name == "vonage":
        for _ in range(4):  # the input's no-input reply, or where a notify goes next
            kinds = [k for k, _ in caller.wire.next_urls(caller.markup)]
            ncco = json.loads(caller.follow("gather", "no_input") if "gather" in kinds else caller.follow("redirect", "wait"))
            heard += [a.get("text") or a["streamUrl"][0] for a in ncco if a["action"] in ("talk", "stream")]
            if any(a["action"] == "stream" for a in ncco):
                return heard
        return heard
    if caller.wire.name == "jambonz":  # its gather always calls the actionHook: an empty reply, the next verbs run
        array = json.loads(caller.markup)
        at = next(i for i, v in enumerate(array) if v["verb"] == "gather")
        rest = array[at + 1:]
        assert json.loads(caller.post(path_of(array[at]["actionHook"]["url"]), "no_input")) == []
        for verb in rest:
            prompts = [verb] if verb["verb"] in ("say", "play") else [verb[k] for k in ("say", "play") if k in verb]
            heard += [p.get("text") or p["url"] for p in prompts]
            if verb["verb"] == "enqueue":  # its waitHook's first call, at queue time 0
                wait = json.loads(caller.post(path_of(verb["waitHook"]["url"]), "wait", queue_time=0))
                return heard + [v.get("text") or v["url"] for v in wait if v["verb"] in ("say", "play")]
        return heard
    verbs = list(ET.fromstring(caller.markup))
    first = next(i for i, v in enumerate(verbs) if v.tag == "Gather")
    for verb in verbs[first + 1:]:
        heard += [v.text or "" for v in ([verb] if verb.tag in ("Say", "Play") else list(verb))]
        if verb.tag == "Enqueue":
            wait = caller.post(path_of(verb.get("waitUrl", "")), "wait", QueueTime="0")
            return heard + [v.text or "" for v in ET.fromstring(wait).iter() if v.tag in ("Say", "Play")]
    return heard


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_key_at_the_offer_keeps_the_place_says_the_opt_out_notice_then_holds_with_music(
        client: Client, clock: FixedClock, provider: str) -> None:
    """The queue's opt_out_hint is after_choice: a caller who lets the offer pass has chosen to hold, and
    hears that they keep their place and may press 9; then music, not the announcement again at once."""
    from chalicelib.domain.prompts import TEXTS

    wire = WIRES[provider]
    for n in range(3):
        Caller(client, wire, clock, call=f"{provider}-early-{n}", caller=f"+1415555{n:04d}").call()
    caller = Caller(client, wire, clock, call=f"{provider}-call-4")
    assert "press 1" in caller.call()
    # in order (jambonz says a run of sentences in one language as one say)
    assert " ".join(heard_in_silence(caller)) == " ".join([TEXTS["en"]["keep_place"], TEXTS["en"]["opt_out_hint"],
                                                           "https://media.example.com/hold.mp3"])
    if provider == "vonage":  # then the wait loop goes on: the announcement, between plays of the music
        caller.follow("gather", "no_input")
        assert "number 4 in line" in caller.markup and "hold.mp3" in caller.markup


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_key_at_the_number_read_back_says_so_then_holds_with_music(client: Client, clock: FixedClock,
                                                                       provider: str) -> None:
    from chalicelib.domain.prompts import TEXTS

    wire = WIRES[provider]
    for n in range(3):
        Caller(client, wire, clock, call=f"{provider}-early-{n}", caller=f"+1415555{n:04d}").call()
    caller = Caller(client, wire, clock, call=f"{provider}-call-4")
    caller.call()
    assert "4 1 5, 8 6 7, 5 3 0 9" in caller.follow("gather", "press_1")  # read back: press 1 to confirm
    assert " ".join(heard_in_silence(caller)) == " ".join([TEXTS["en"]["no_input"], TEXTS["en"]["keep_place"],
                                                           "https://media.example.com/hold.mp3"])
    [ticket] = [t for t in tickets() if t.call_id == f"{provider}-call-4"]
    assert (ticket.kind, ticket.status) == ("LIVE", "WAITING")  # still in line


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", LISTENING_HOLDS)
def test_press_1_while_holding_leaves_the_hold_and_is_asked_to_confirm(client: Client, clock: FixedClock,
                                                                       provider: str) -> None:
    wire = WIRES[provider]
    caller = on_hold(client, clock, provider)
    caller.follow("gather", "press_1")  # wait-offer: leave the hold
    if provider == "vonage":  # no queue: Leave is our own redirect to the exit step, with result=leave
        [(kind, url)] = wire.next_urls(caller.markup)
        assert "/queue-exit?" in url and "result=leave" in url
        caller.follow("redirect", "wait")
    else:  # the provider's queue posts its exit action
        assert "<Leave" in caller.markup
        caller.post(f"/voice/{provider}/queue-exit?t=support-1", "wait", QueueResult="leave")
    assert [k for k, _ in wire.next_urls(caller.markup)][0] == "gather"  # confirm the number
    caller.follow("gather", "press_1")
    assert tickets()[0].kind == "CALLBACK"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_number_entry_for_a_withheld_caller(client: Client, clock: FixedClock, provider: str) -> None:
    wire = WIRES[provider]
    caller = Caller(client, wire, clock, call=f"{provider}-call-1", caller="anonymous")
    caller.call()
    caller.follow("gather", "press_1")  # offer -> enter a number
    caller.follow("gather", "number")
    assert "4 1 5, 5 5 5, 0 1 2 3" in caller.markup


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_hang_up_while_holding_is_abandoned(client: Client, clock: FixedClock, provider: str) -> None:
    wire = WIRES[provider]
    caller = Caller(client, wire, clock, call=f"{provider}-call-1")
    caller.call()
    clock.advance(40)
    caller.post(f"/voice/{provider}/incoming", "ended")  # the status callback / event webhook
    [ticket] = tickets()
    assert ticket.lost_cause == "abandoned" and float(ticket.wait_seconds) == 40


@pytest.mark.parametrize("provider", PROVIDERS)
def test_after_hours_in_ukrainian_in_the_provider_s_voice(client: Client, clock: FixedClock, provider: str) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    wire = WIRES[provider]
    markup = Caller(client, wire, clock, call=f"{provider}-call-1", caller="+380441234567", called=KYIV).call()
    assert "uk-UA" in markup and not holds(wire, markup)
    voice = adapter(provider, clock).capabilities.voices["uk-UA"]
    assert voice in markup
    [ticket] = tickets()
    assert ticket.status == "AFTER_HOURS"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_names_its_charset_so_ukrainian_reads_as_said(client: Client, clock: FixedClock, provider: str) -> None:
    """A client that honours the Content-Type header decodes the body as the header says: text/xml without a
    charset is US-ASCII/Latin-1 to it (RFC 2616, RFC 3023), which turns every Cyrillic prompt into mojibake."""
    from email.message import Message

    clock.current = MONDAY_NIGHT_KYIV
    wire = WIRES[provider]
    path = f"/voice/{provider}/incoming"
    body, headers = wire.request(PUBLIC_URL + path, wire.event("incoming", call=f"{provider}-uk", caller="+380441234567",
                                                               called=KYIV), clock.now())
    reply = client.http.post(path, headers=headers, body=body)
    header = Message()
    header["Content-Type"] = reply.headers["Content-Type"]
    json_reply = provider in ("vonage", "jambonz")  # an NCCO, a jambonz verb array
    assert header.get_content_type() == ("application/json" if json_reply else "text/xml")
    # JSON is UTF-8 by definition (RFC 8259); text/* defaults to Latin-1 unless the header says otherwise
    charset = header.get_content_charset() or ("utf-8" if json_reply else "iso-8859-1")
    text = reply.body.decode(charset)
    said = json.dumps(json.loads(text), ensure_ascii=False) if json_reply else text
    assert "Дякуємо за дзвінок" in said


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_body_reaches_the_route_and_is_answered_in_its_markup(client: Client, clock: FixedClock,
                                                                            provider: str) -> None:
    wire = WIRES[provider]
    assert wire.content_type == {"twilio": "application/x-www-form-urlencoded",
                                 "telnyx": "application/x-www-form-urlencoded",
                                 "vonage": "application/json", "jambonz": "application/json"}[provider]  # as each posts
    caller = Caller(client, wire, clock, call=f"{provider}-call-1")
    caller.call()
    # TwiML, TeXML, an NCCO array, a jambonz verb array
    markup = {"twilio": "<?xml", "telnyx": "<?xml", "vonage": "[", "jambonz": "["}[provider]
    assert caller.markup.startswith(markup) and len(tickets()) == 1


# --- callback attempts: each provider's webhooks through the Chalice test client (in-memory store) ---

class CallbackWorld:
    """A parked callback that agent alice has been given, dialed through a fake dialer; the outcome
    webhooks arrive signed and in each provider's own shape, posted to the app's voice route through
    the Chalice test client, whose webhook edge runs on the in-memory adapters (so the workflow's
    task tokens can be read back)."""

    def __init__(self, provider: str, mode: str, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.domain.callbacks import Callbacks, DialRequest, dial_id
        from chalicelib.domain.callflow import CallFlow
        from chalicelib.domain.dispatch import Dispatcher
        from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
        from chalicelib.domain.queues import QueueDirectory
        from chalicelib.edges.webhooks import UseCases, VoiceWebhooks
        from chalicelib.adapters.memory import FakeBus, FakeDialer, MemoryReplays
        from tests.fakes import FakeOrchestrator

        queues = QueueDirectory.from_config({"queues": [
            {"id": "support", "numbers": [SUPPORT], "dial_mode": mode, "retry_delays_seconds": [0, 300, 600]}]})
        self.wire, self.clock = WIRES[provider], FixedClock(MONDAY_10_PST)
        self.stores, self.orch, self.dialer = memory_stores(), FakeOrchestrator(), FakeDialer()
        dispatcher = Dispatcher(self.stores, self.orch, self.dialer, self.clock, queues)
        self.callbacks = Callbacks(self.stores, self.orch, self.dialer, self.clock, queues, dispatcher)
        flow = CallFlow(self.stores, self.orch, self.clock, queues, FakeBus(), 1000)
        edge = VoiceWebhooks(UseCases(flow, dispatcher, self.callbacks), {provider: adapter(provider, self.clock)},
                             PUBLIC_URL, MemoryReplays())
        monkeypatch.setattr(bootstrap, "webhooks", lambda: edge)  # what the voice route asks for
        self.client = client
        t = self.stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, MONDAY_10_PST,
                                                   call_id="in-1"))
        self.stores.tickets.convert_to_callback(t.id, "+14155550100", MONDAY_10_PST, MONDAY_10_PST)
        self.stores.table.park(t.id, "park-token", 1)
        dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="+14155550999", queues=("support",))
        self.ticket = t.id
        self.callbacks.dial(DialRequest(t.id, 1, "alice", "dial-token-1"))
        self.did = dial_id("dial-token-1")
        self.dispatcher, self.token = dispatcher, "dial-token-1"

    def retry(self, attempt: int) -> None:
        """The workflow's next slot: the callback parks again, alice (free) takes it, it is dialed."""
        from chalicelib.domain.callbacks import DialRequest, dial_id

        self.stores.table.park(self.ticket, f"park-token-{attempt}", attempt)
        assert self.dispatcher.offer_work("alice") is not None
        self.token = f"dial-token-{attempt}"
        self.callbacks.dial(DialRequest(self.ticket, attempt, "alice", self.token))
        self.did = dial_id(self.token)

    def post(self, step: str, kind: str, query: str = "", **fields: Any) -> str:
        path = f"/voice/{self.wire.name}/{step}?d={self.did}&t={self.ticket}{query}"
        fields = self.wire.event(kind, call="out-1", **fields)
        body, headers = self.wire.request(PUBLIC_URL + path, fields, self.clock.now())
        reply = self.client.http.post(path, headers=headers, body=body)
        assert reply.status_code == 200, reply.body
        return reply.body.decode()

    def outcomes(self) -> list[Any]:
        return [output for token, output in self.orch.completed if token == self.token]

    def result(self) -> str:
        return str(self.outcomes()[-1]["result"]) if self.outcomes() else ""


@pytest.fixture
def route() -> Iterator[Client]:
    """The app's routes in the Chalice test client (its container replaced per test)."""
    with Client(app, stage_name="local") as c:
        yield c


@pytest.mark.parametrize("provider", PROVIDERS)
def test_customer_first_machine_is_not_bridged_wherever_the_verdict_arrives(route: Client, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    assert w.dialer.calls[0]["amd"]
    if provider == "twilio":  # Twilio's verdict comes with the answer fetch
        assert "Hangup" in w.post("cb-answer", "machine") and w.result() == "machine"
    elif provider == "jambonz":  # the answer holds the callee; the amd event's own webhook decides
        held = json.loads(w.post("cb-answer", "answer", query="&amd=1"))
        assert [v["verb"] for v in held] == ["pause", "redirect"] and w.result() == ""
        assert json.loads(w.post("cb-verdict", "machine")) == [{"verb": "hangup"}]  # hung up at once
        assert w.result() == "machine"
        assert json.loads(w.post("cb-verdict", "machine", type="amd_tone_detected")) == [{"verb": "hangup"}]
    else:  # Telnyx (status callback) and Vonage (event) deliver it apart from the answer
        w.post("cb-status", "machine")
        assert w.result() == "machine"
        answered = w.post("cb-answer", "answer")
        assert "Dial" not in answered and "connect" not in answered  # the closed attempt is hung up
    assert len(w.outcomes()) == 1


@pytest.mark.parametrize("provider", ["telnyx", "vonage"])
def test_a_machine_heard_apart_from_the_answer_is_hung_up_at_once(route: Client, monkeypatch: pytest.MonkeyPatch,
                                                                   provider: str) -> None:
    """Vonage (behavior continue) runs the answer NCCO, the greeting then the connect to the agent, while
    detection goes on; a machine verdict must end that live leg there and then, or the voicemail records the
    greeting and the agent is put through to it. (Telnyx holds the answer until its verdict: ending the
    call is the same, and is harmless.)"""
    from chalicelib.domain.script import Hangup

    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    if provider == "vonage":
        answered = w.post("cb-answer", "answer")
        assert "calling you back" in answered and any(k == "dial" for k, _ in w.wire.next_urls(answered))
    w.post("cb-status", "machine")
    w.clock.advance(1)  # a second delivery, signed anew (an identical signed request is a replay: 403)
    w.post("cb-status", "machine")  # delivered twice: one outcome, one hang-up
    assert w.result() == "machine" and len(w.outcomes()) == 1
    assert [(call, script.verbs) for call, script in w.dialer.redirects] == [("out-1", (Hangup(),))]
    assert w.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE  # free for the next caller


@pytest.mark.parametrize("provider", ["telnyx", "vonage"])
def test_a_person_heard_apart_from_the_answer_stays_on_the_line(route: Client, monkeypatch: pytest.MonkeyPatch,
                                                                 provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    w.post("cb-answer", "answer")
    w.post("cb-status", "human")
    assert w.dialer.redirects == [] and w.result() == ""


@pytest.mark.parametrize("provider", PROVIDERS)
def test_customer_first_human_is_greeted_bridged_and_served(route: Client, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    if provider == "jambonz":
        assert "dial" not in w.post("cb-answer", "answer", query="&amd=1")  # held until the verdict
        markup = w.post("cb-verdict", "human")
        # a repeated verdict (jambonz signs each delivery anew: the same signature again would be a replay,
        # 403) puts nobody through again
        w.clock.current += timedelta(seconds=1)
        assert json.loads(w.post("cb-verdict", "human")) == []
    else:
        if provider != "twilio":
            w.post("cb-status", "human")
            assert w.result() == ""  # a person: nothing decided yet
        markup = w.post("cb-answer", "human" if provider != "vonage" else "answer")
    assert "calling you back" in markup
    [(kind, url)] = [(k, u) for k, u in w.wire.next_urls(markup) if k == "dial"]
    assert "/cb-dialed?" in url
    if provider == "vonage":  # the connect leg's progress is not its outcome
        w.post("cb-dialed", "human", status="answered")
        assert w.result() == ""
    w.post("cb-dialed", "dial_completed")
    assert w.result() == "connected"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_agent_first_busy_customer_is_retried(route: Client, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    w = CallbackWorld(provider, "agent_first", route, monkeypatch)
    assert not w.dialer.calls[0]["amd"] and w.dialer.calls[0]["to"] == "+14155550999"
    markup = w.post("cb-answer", "answer")
    assert any(k == "dial" for k, _ in w.wire.next_urls(markup))
    w.post("cb-dialed", "dial_busy")
    assert w.result() == "busy" and "next" in w.outcomes()[-1]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_agent_first_the_customer_sees_the_queue_s_number(route: Client, monkeypatch: pytest.MonkeyPatch,
                                                          provider: str) -> None:
    """The agent answered; the customer's phone shows the number they called (the queue has no caller_id of
    its own), as it does for a customer-first callback. Vonage refuses a connect to a phone without one."""
    w = CallbackWorld(provider, "agent_first", route, monkeypatch)
    markup = w.post("cb-answer", "answer")
    if provider == "vonage":
        [connect] = [a for a in json.loads(markup) if a["action"] == "connect"]
        assert connect["endpoint"] == [{"type": "phone", "number": "14155550100"}] and connect["from"] == "18005550100"
    elif provider == "jambonz":
        [dial] = [v for v in json.loads(markup) if v["verb"] == "dial"]
        assert dial["target"] == [{"type": "phone", "number": "+14155550100"}] and dial["callerId"] == SUPPORT
    else:
        dial = next(e for e in ET.fromstring(markup).iter() if e.tag == "Dial")
        assert dial.get("callerId") == SUPPORT and dial[0].text == "+14155550100"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unanswered_callback_is_retried(route: Client, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    w.post("cb-status", "no_answer")
    assert w.result() == "no-answer" and "next" in w.outcomes()[-1]


def answer_as(w: CallbackWorld, verdict: str) -> str:
    """A customer-first attempt answered and judged: the markup that follows the verdict, wherever each
    provider delivers it (with the answer; on the status callback or event; as its own webhook)."""
    if w.wire.name == "twilio":
        return w.post("cb-answer", verdict)
    if w.wire.name == "jambonz":
        held = w.post("cb-answer", "answer", query="&amd=1")
        assert "dial" not in held and w.result() == ""  # nobody put through before the verdict
        return w.post("cb-verdict", verdict)
    w.post("cb-status", verdict)
    return w.post("cb-answer", verdict if w.wire.name != "vonage" else "answer")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_customer_first_machine_then_a_person_on_the_retry(route: Client, monkeypatch: pytest.MonkeyPatch,
                                                           provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    assert not any(k == "dial" for k, _ in w.wire.next_urls(answer_as(w, "machine")))
    assert w.result() == "machine" and "next" in w.outcomes()[-1]  # another attempt is planned
    w.retry(2)
    markup = answer_as(w, "human")
    assert "calling you back" in markup and any(k == "dial" for k, _ in w.wire.next_urls(markup))
    w.post("cb-dialed", "dial_completed")
    assert w.result() == "connected" and w.stores.tickets.get(w.ticket).status.value == "SERVED"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_calling_again_rejoins_the_pending_callback_at_its_place(client: Client, clock: FixedClock, container,  # type: ignore[no-untyped-def]
                                                                 provider: str) -> None:
    wire = WIRES[provider]
    first = Caller(client, wire, clock, call=f"{provider}-first")
    assert "press 1" in first.call()  # nobody signed in: offered a callback at once
    first.follow("gather", "press_1")
    first.follow("gather", "press_1")
    [booked] = tickets()
    assert booked.kind == "CALLBACK"
    assert container.stores.tickets.find_by_call(f"{provider}-first").execution_id  # its workflow started
    clock.advance(120)
    again = Caller(client, wire, clock, call=f"{provider}-again")
    assert "You have a callback booked. You are number 1 in line." in again.call()  # the menu (issue 27)
    markup = again.follow("gather", "press_1", **keys(provider, "3"))  # hold on the line now, at its place
    assert holds(wire, markup)
    [ticket] = tickets()  # the same ticket, the same number: the same place
    assert (ticket.kind, ticket.status, ticket.call_id, ticket.sk) == ("LIVE", "WAITING", f"{provider}-again", booked.sk)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_press_9_opts_out_of_automatic_callbacks_and_keeps_the_place(client: Client, clock: FixedClock,
                                                                      container, provider: str) -> None:  # type: ignore[no-untyped-def]
    wire = WIRES[provider]
    caller = Caller(client, wire, clock, call=f"{provider}-call-9")
    caller.call()
    caller.follow("gather", "press_1", **keys(provider, "9"))
    assert "will not call you back" in caller.markup.lower() and holds(wire, caller.markup)
    assert container.stores.bookings.is_opted_out(CALLER)
    [ticket] = tickets()
    assert (ticket.kind, ticket.status) == ("LIVE", "WAITING")


# --- secrets: per provider, from Parameter Store, failing closed ----------------------------------

from tests.functional.test_secrets import env, items, put  # noqa: E402,F401 - the same environment fixture


def signed_incoming(client: Client, provider: str, now: datetime) -> int:
    wire = WIRES[provider]
    path = f"/voice/{provider}/incoming"
    body, headers = wire.request(PUBLIC_URL + path, wire.event("incoming"), now)
    return client.http.post(path, headers=headers, body=body).status_code


@pytest.mark.parametrize("provider", ["telnyx", "vonage", "jambonz"])
def test_while_the_app_refuses_every_enabled_provider_is_403_not_404(aws, env, provider: str) -> None:  # type: ignore[no-untyped-def]
    env.setenv("HOLDFAST_PROVIDERS", "twilio,telnyx,vonage,jambonz")
    env.setenv("JAMBONZ_WEBHOOK_SECRET", JAMBONZ_SECRET)
    env.setenv("HOLDFAST_ADMIN_TOKEN", "short")
    env.setenv("TELNYX_PUBLIC_KEY", TELNYX_PUBLIC_KEY)
    env.setenv("VONAGE_SIGNATURE_SECRET", VONAGE_SECRET)
    with Client(app, stage_name="local") as client:
        assert signed_incoming(client, provider, MONDAY_10_PST) == 403  # whatever the time: nothing verifies
    assert items(aws.table_name) == 0


def test_provider_keys_come_from_parameter_store(aws, env) -> None:  # type: ignore[no-untyped-def]
    for key in ("TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN", "HOLDFAST_AGENT_TOKEN"):
        env.delenv(key, raising=False)
    env.setenv("HOLDFAST_PARAMETERS_PATH", "/holdfast/dev")
    env.setenv("HOLDFAST_PROVIDERS", "twilio,telnyx,vonage,jambonz")
    for name, value in {"twilio-auth-token": AUTH_TOKEN, "admin-token": "test-admin-token-0123456789abcdef0123",
                        "jambonz-webhook-secret": JAMBONZ_SECRET, "jambonz-api-key": "jz-api-key-0123",
                        "agent-token": "test-agent-token-0123456789abcdef0123",
                        "telnyx-public-key": TELNYX_PUBLIC_KEY, "telnyx-api-key": "KEY0123",
                        "vonage-signature-secret": VONAGE_SECRET, "vonage-private-key": "pem"}.items():
        put(f"/holdfast/dev/{name}", value)
    settings = bootstrap.resolve(bootstrap.Settings.from_env())
    assert (settings.telnyx_public_key, settings.vonage_signature_secret) == (TELNYX_PUBLIC_KEY, VONAGE_SECRET)
    assert (settings.telnyx_api_key, settings.vonage_private_key) == ("KEY0123", "pem")
    assert (settings.jambonz_webhook_secret, settings.jambonz_api_key) == (JAMBONZ_SECRET, "jz-api-key-0123")
    assert settings.vonage_url_token == ""  # optional: a stage may leave it out
    put("/holdfast/dev/vonage-url-token", "per-stage-url-token-0123456789abcdef")
    assert bootstrap.resolve(bootstrap.Settings.from_env()).vonage_url_token.startswith("per-stage")


def test_a_language_without_a_voice_needs_recorded_prompts() -> None:
    from chalicelib.domain.prompts import TEXTS
    from chalicelib.domain.queues import QueueDirectory
    from chalicelib.edges.webhooks import unspoken

    class Mute(TwilioTelephony):
        capabilities = replace(TwilioTelephony.capabilities, voices={"en-US": "Polly.Joanna"})

    spoken = {"twilio": TwilioTelephony(AUTH_TOKEN), "telnyx": adapter("telnyx", FixedClock()),
              "vonage": adapter("vonage", FixedClock()), "jambonz": adapter("jambonz", FixedClock())}
    queues = QueueDirectory.from_config({"queues": [{"id": "kyiv", "language": "uk", "numbers": [KYIV]}]})
    assert unspoken(queues, spoken) == []  # every adapter speaks en, ru and uk
    [gap] = unspoken(queues, {"mute": Mute(AUTH_TOKEN)})
    assert "uk-UA" in gap and "kyiv" in gap
    recorded = {key: {"uk": {"audio": f"https://media.example.com/{key}.mp3"}} for key in TEXTS["uk"]}
    queues = QueueDirectory.from_config({"queues": [{"id": "kyiv", "language": "uk", "numbers": [KYIV],
                                                     "prompts": recorded}]})
    assert unspoken(queues, {"mute": Mute(AUTH_TOKEN)}) == []  # recorded audio stands in for the voice


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_language_a_provider_has_no_voice_for_plays_the_recording_else_the_english_voice(
        provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    from chalicelib.domain.prompts import TEXTS
    from chalicelib.domain.queues import QueueDirectory
    from chalicelib.domain.script import Script
    from chalicelib.domain.speech import FALLBACK_LANGUAGE, prompt
    from chalicelib.edges.webhooks import unspoken

    tel = adapter(provider, FixedClock(MONDAY_10_PST))
    voices = importlib.import_module(type(tel).__module__).VOICES
    english_voice = voices[FALLBACK_LANGUAGE]
    monkeypatch.delitem(voices, "uk-UA")  # this provider, as if it had no Ukrainian voice
    key = next(k for k, text in TEXTS["uk"].items() if "{" not in text)
    recording = f"https://media.example.com/{key}-uk.mp3"
    queues = QueueDirectory.from_config({"queues": [
        {"id": "kyiv", "language": "uk", "numbers": [KYIV], "prompts": {key: {"uk": {"audio": recording}}}},
        {"id": "lviv", "language": "uk", "numbers": ["+380325550100"]}]})
    recorded, unrecorded = queues.get("kyiv"), queues.get("lviv")

    played = tel.render(Script.of(prompt(recorded, "uk", key)), PUBLIC_URL)
    assert recording in played and "uk-UA" not in played and english_voice not in played
    spoken = tel.render(Script.of(prompt(unrecorded, "uk", key)), PUBLIC_URL)
    assert TEXTS["uk"][key] in spoken or json.dumps(TEXTS["uk"][key])[1:-1] in spoken
    assert "uk-UA" not in spoken and english_voice in spoken and FALLBACK_LANGUAGE in spoken
    gaps = unspoken(queues, {provider: tel})  # the startup warning stays for a queue not wholly recorded
    assert any("lviv" in gap for gap in gaps) and all("uk-UA" in gap for gap in gaps)


def leg_url(provider: str, markup: str) -> str:
    """Where the bridge's Dial sends its agent leg's progress, read the way the provider reads it."""
    if provider == "vonage":
        [connect] = [a for a in json.loads(markup) if a["action"] == "connect"]
        return connect["eventUrl"][0]  # the leg step rides in the connect's one event URL
    return next(e.get("statusCallback") for e in ET.fromstring(markup).iter() if e.get("statusCallback"))


@pytest.mark.parametrize("provider", LEG_REPORTING)
def test_the_agents_leg_reports_ringing_then_talking_through_each_providers_webhooks(
        route: Client, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    w = CallbackWorld(provider, "customer_first", route, monkeypatch)
    if provider != "twilio":
        w.post("cb-status", "human")
    url = leg_url(provider, w.post("cb-answer", "human" if provider != "vonage" else "answer"))

    def leg(state: str) -> None:
        status = {"ringing": "ringing", "answered": "answered" if provider == "vonage" else "in-progress"}[state]
        fields = w.wire.event("human", call="leg-1", **({"status": status} if provider == "vonage"
                                                          else {"CallStatus": status, "AnsweredBy": ""}))
        body, headers = w.wire.request(url, fields, w.clock.now())
        reply = w.client.http.post(path_of(url), headers=headers, body=body)
        assert reply.status_code == 200, reply.body

    assert w.stores.tickets.get(w.ticket).leg is None
    w.clock.advance(2)
    leg("ringing")
    assert (w.stores.tickets.get(w.ticket).leg, w.stores.tickets.get(w.ticket).leg_at) == ("ringing", MONDAY_10_PST + timedelta(seconds=2))
    w.clock.advance(3)
    leg("answered")
    leg("ringing")  # late: changes nothing
    assert (w.stores.tickets.get(w.ticket).leg, w.stores.tickets.get(w.ticket).leg_at) == ("talking", MONDAY_10_PST + timedelta(seconds=5))
    assert w.result() == ""  # the leg's progress is not the dial's outcome
