"""The bridge's agent leg: each provider renders the Dial's status step where it can, and its leg
events parse into the neutral CallEvent (ringing, then in progress, then how it ended)."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from chalicelib.adapters.telnyx import TelnyxTelephony
from chalicelib.adapters.twilio_provider import TwilioTelephony
from chalicelib.adapters.vonage import VonageTelephony
from chalicelib.domain.model import CallStatus
from chalicelib.domain.script import LEG_PARAM, Dial, Say, Script, Step
from tests.helpers import event

BASE = "https://h/api"
GOLDEN = Path(__file__).resolve().parent.parent / "functional" / "golden"
RESULT, LEG = Step.of("bridge-result", t="support-1", agent="ann"), Step.of("bridge-leg", t="support-1", agent="ann")


def bridge(target: str, status: Step | None = LEG) -> Script:
    return Script.of(Say("Connecting you now.", "en-US"),
                     Dial(target, caller_id="+18005550100", action=RESULT, status=status))


def test_twilio_asks_for_the_agents_leg_events_on_each_noun() -> None:
    text = TwilioTelephony("t").render(bridge("client:ann"), BASE)
    path = GOLDEN / "bridge_agent_leg.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")
    for target, tag in (("sip:ann@pbx.example", "Sip"), ("+14155550100", "Number")):
        noun = ET.fromstring(TwilioTelephony("t").render(bridge(target), BASE))[1][0]
        assert noun.tag == tag and noun.get("statusCallbackEvent") == "ringing answered completed"
        assert noun.get("statusCallback") == f"{BASE}/voice/twilio/bridge-leg?agent=ann&t=support-1"
    plain = ET.fromstring(TwilioTelephony("t").render(bridge("client:ann", status=None), BASE))[1][0]
    assert plain.get("statusCallback") is None and plain.get("statusCallbackEvent") is None


def test_texml_asks_for_the_agents_leg_events_on_number_and_sip() -> None:
    for target, tag in (("sip:ann@pbx.example", "Sip"), ("+14155550100", "Number")):
        dial = ET.fromstring(TelnyxTelephony("").render(bridge(target), BASE))[1]
        assert dial.get("action") == f"{BASE}/voice/telnyx/bridge-result?agent=ann&t=support-1"
        noun = dial[0]
        assert (noun.tag, noun.get("statusCallback"), noun.get("statusCallbackMethod"),
                noun.get("statusCallbackEvent")) == (
            tag, f"{BASE}/voice/telnyx/bridge-leg?agent=ann&t=support-1", "POST", "ringing answered completed")
    assert ET.fromstring(TelnyxTelephony("").render(bridge("+14155550100", None), BASE))[1][0].attrib == {}


def test_ncco_connect_carries_the_leg_step_in_its_one_event_url() -> None:
    connect = json.loads(VonageTelephony("").render(bridge("+14155550100"), BASE))[1]
    assert connect["eventType"] == "synchronous"
    [url] = connect["eventUrl"]
    path, _, query = url.partition("?")
    assert path == f"{BASE}/voice/vonage/bridge-result"
    assert Step.decode(parse_qs(query)[LEG_PARAM][0]) == LEG
    without = json.loads(VonageTelephony("").render(bridge("+14155550100", None), BASE))[1]
    assert LEG_PARAM not in without["eventUrl"][0]


def test_twilio_leg_events_parse_to_ringing_then_in_progress() -> None:
    tw = TwilioTelephony("t")
    ringing, answered = tw.parse(event("dial_leg_ringing"), {}), tw.parse(event("dial_leg_answered"), {})
    assert (ringing.status, ringing.progress, ringing.dial_status) == (CallStatus.RINGING, True, None)
    assert (answered.status, answered.progress) == (CallStatus.IN_PROGRESS, True)
    assert tw.parse(event("dial_leg_answered", CallStatus="completed"), {}).status.ended


def test_texml_leg_events_parse_the_same_way() -> None:
    tx = TelnyxTelephony("")
    fields = {"CallSid": "v3:leg-1", "CallStatus": "ringing", "CallbackSource": "call-progress-events"}
    assert tx.parse(fields, {}).status is CallStatus.RINGING
    assert tx.parse(fields | {"CallStatus": "in-progress"}, {}).status is CallStatus.IN_PROGRESS


@pytest.mark.parametrize("status,expected", [("ringing", CallStatus.RINGING), ("answered", CallStatus.IN_PROGRESS),
                                             ("completed", CallStatus.COMPLETED)])
def test_vonage_connect_events_parse_as_the_dialled_legs_state(status: str, expected: CallStatus) -> None:
    parsed = VonageTelephony("").parse({"uuid": "63f61863-4a51-4f6b-86e1-46edebio0391", "status": status,
                                        "from": "18005550100", "to": "14155550100"}, {})
    assert parsed.progress and parsed.dial_status is expected
