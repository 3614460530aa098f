"""The network as Vonage: JSON webhooks signed with HS256 JWTs over the payload hash (the signature
secret), NCCO replies translated into the verbs the network runs, uuid call ids, sip: agents, and the
REST shape (POST /v1/calls, PUT /v1/calls/{uuid} to transfer a live call)."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import jwt

from .calls import Call, new_sid
from .texts import take_text
from .twilio import Reply

if TYPE_CHECKING:
    from .core import SimNetwork


class Vonage:
    name = "vonage"
    leg_events = False  # a connect's events come from its action instead

    @staticmethod
    def call_id() -> str:
        return str(uuid.UUID(new_sid("")[-32:]))

    @staticmethod
    def agent_contact(name: str) -> str:
        return f"sip:{name}@agents.sim"

    @staticmethod
    def signed(net: SimNetwork, url: str, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(params).encode()
        claims = {"iat": int(net.now().timestamp()), "jti": str(uuid.uuid4()), "iss": "Vonage",
                  "payload_hash": hashlib.sha256(body).hexdigest(), "application_id": "holdfast-local"}
        token = jwt.encode(claims, net.signature_secret, algorithm="HS256")
        return body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    @staticmethod
    def post(net: SimNetwork, url: str, params: dict[str, str], event: bool) -> str:
        return ncco_as_twiml(net._post(url, vonage_fields(params, event)))

    @staticmethod
    def verdict_before_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> dict[str, str]:
        return {}  # advanced machine detection with behavior continue: the answer NCCO runs meanwhile

    @staticmethod
    def verdict_after_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> None:
        """The verdict as an event (status human or machine) on the call's event_url, the answer NCCO
        already under way."""
        if call.status_url:
            net.post(call.status_url, net.call_params(call, AnsweredBy=call.answered_by or "unknown"), event=True)


def rest_post(net: SimNetwork, path: str, form: dict[str, str], body: dict[str, Any]) -> Reply | None:
    if path == "/v1/calls":  # Vonage: JSON in and out
        call = net.create_call(vonage_call(body))
        return 201, {"uuid": call.sid, "status": "started", "direction": "outbound",
                     "conversation_uuid": f"CON-{call.sid}"}
    if path == "/v1/messages":  # the Messages API, SMS channel: 202 and the message's uuid
        if body.get("channel") != "sms" or not body.get("to") or not body.get("from") or not body.get("text"):
            return 422, {"title": "Invalid params", "detail": "The value of one or more parameters is invalid."}
        return 202, {"message_uuid": take_text(net, "vonage", str(body["to"]), str(body["from"]), str(body["text"]),
                                               str(body.get("webhook_url", "")))}
    return None


def rest_put(net: SimNetwork, path: str, raw: str) -> Reply:
    """Vonage's transfer of a live call."""
    m = re.fullmatch(r"/v1/calls/([^/]+)", path)
    body = json.loads(raw or "{}")
    if m and body.get("action") == "hangup":  # end the call, whatever its NCCO is doing
        twiml: str | None = "<Response><Hangup/></Response>"
    else:
        ncco = body.get("destination", {}).get("ncco") if m else None
        twiml = None if ncco is None else ncco_as_twiml(json.dumps(ncco))
    if m is None or twiml is None:
        return 404, {"title": "not found"}
    if net.redirect(m.group(1), twiml):
        return 204, {}
    return 400, {"title": "call not in progress"}


_VONAGE_STATUS = {"in-progress": "answered", "ringing": "ringing", "queued": "started", "completed": "completed",
                  "no-answer": "unanswered", "busy": "busy", "failed": "failed", "canceled": "cancelled"}


def vonage_fields(params: dict[str, str], event: bool) -> dict[str, Any]:
    """The network's call facts (Twilio names) as Vonage posts them: answer, event, input, connect."""
    fields: dict[str, Any] = {"uuid": params["CallSid"], "conversation_uuid": f"CON-{params['CallSid']}",
                              "from": params.get("From", "").lstrip("+"), "to": params.get("To", "").lstrip("+"),
                              "direction": "inbound" if params.get("Direction") == "inbound" else "outbound"}
    if "DialCallStatus" in params:  # a connect leg's final event
        return fields | {"status": _VONAGE_STATUS.get(params["DialCallStatus"], "failed"),
                         "duration": params.get("DialCallDuration", "0")}
    if event and params.get("AnsweredBy"):  # advanced machine detection's verdict
        return fields | {"status": "machine" if params["AnsweredBy"].startswith("machine") else "human"}
    if event:
        return fields | {"status": _VONAGE_STATUS.get(params.get("CallStatus", ""), "completed"),
                         "duration": params.get("CallDuration", "0")}
    if "Digits" in params or params.get("input"):
        return fields | {"dtmf": {"digits": params.get("Digits", ""), "timed_out": "Digits" not in params}}
    return fields


def vonage_call(body: dict[str, Any]) -> dict[str, str]:
    """Vonage's POST /v1/calls as the network's own call request."""
    to = body["to"][0]
    return {"To": to.get("uri") or f"+{to.get('number', '')}", "From": f"+{body.get('from', {}).get('number', '')}",
            "Url": body["answer_url"][0], "StatusCallback": body["event_url"][0],
            "Timeout": str(body.get("ringing_timer", 25)),
            **({"MachineDetection": "Enable"} if body.get("advanced_machine_detection") else {})}


def ncco_as_twiml(reply: str) -> str:
    """An NCCO as the verbs this network runs: talk/stream with bargeIn are the next input's prompts;
    an input always calls its eventUrl (so a Redirect there follows it); notify is a Redirect; connect
    a Dial; conversation a hold; the end of the NCCO ends the call."""
    doc, prompts = ET.Element("Response"), []
    for action in json.loads(reply or "[]"):
        kind = action.get("action")
        if kind in ("talk", "stream"):
            verb = ET.Element("Say" if kind == "talk" else "Play")
            verb.text = action.get("text") if kind == "talk" else action["streamUrl"][0]
            (prompts.append(verb) if action.get("bargeIn") else doc.append(verb))
        elif kind == "input":
            url, dtmf = action["eventUrl"][0], action.get("dtmf", {})
            gather = ET.SubElement(doc, "Gather", action=url, numDigits=str(dtmf.get("maxDigits", 1)),
                                   timeout=str(dtmf.get("timeOut", 5)))
            gather.extend(prompts)
            prompts = []
            ET.SubElement(doc, "Redirect", input="1").text = url
        elif kind == "notify":
            ET.SubElement(doc, "Redirect").text = action["eventUrl"][0]
        elif kind == "connect":
            endpoint = action["endpoint"][0]
            dial = ET.SubElement(doc, "Dial", timeout=str(action.get("timeout", 20)),
                                 **({"action": action["eventUrl"][0]} if action.get("eventUrl") else {}))
            ET.SubElement(dial, "Sip" if endpoint["type"] == "sip" else "Number").text = (
                endpoint.get("uri") or f"+{endpoint.get('number', '')}")
        elif kind == "conversation":
            ET.SubElement(doc, "Enqueue").text = action.get("name", "")
    return ET.tostring(doc, encoding="unicode")
