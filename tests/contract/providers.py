"""Each provider as it reaches Holdfast: its recorded webhooks, signed the way it signs them, and its
markup read back the way it reads it (where to go next). Shared by the contract suite."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, EVENTS

# RFC 8032 section 7.1 TEST 1: the Telnyx known-answer key (providers.md section 6)
TELNYX_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
TELNYX_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
VONAGE_SECRET = "holdfast-test-signature-secret-32"
JAMBONZ_SECRET = "wh_secret_3kfRw9yPq2TzL7nVb8XcD4"  # the shape of an account's webhook secret

# A neutral event -> each provider's recorded webhook of that kind.
KINDS = {
    "twilio": {"incoming": "incoming", "press_1": "gather_digits_1", "number": "gather_number",
               "no_input": "incoming", "ended": "status_completed", "wait": "enqueue_wait",
               "machine": "outbound_answered_human", "human": "outbound_answered_human",
               "answer": "outbound_answered_human", "dial_completed": "outbound_dial_busy",
               "dial_busy": "outbound_dial_busy", "no_answer": "outbound_status_no_answer"},
    "telnyx": {"incoming": "incoming", "press_1": "gather_digits_1", "number": "gather_number",
               "no_input": "incoming", "ended": "status_completed", "wait": "enqueue_wait",
               "machine": "outbound_answered_machine", "human": "outbound_answered_human",
               "answer": "outbound_answered_human", "dial_completed": "outbound_dial_completed",
               "dial_busy": "outbound_dial_completed", "no_answer": "outbound_status_no_answer"},
    "vonage": {"incoming": "answer", "press_1": "input_dtmf_1", "number": "input_number",
               "no_input": "input_timeout", "ended": "event_completed", "wait": "notify",
               "machine": "event_machine", "human": "event_human", "answer": "answer",
               "dial_completed": "connect_completed", "dial_busy": "connect_busy", "no_answer": "event_unanswered"},
    "jambonz": {"incoming": "incoming", "press_1": "gather_digits_1", "number": "gather_number",
                "no_input": "gather_timeout", "ended": "status_completed", "wait": "enqueue_wait",
                "machine": "amd_machine", "human": "amd_human", "answer": "outbound_answered",
                "dial_completed": "dial_completed", "dial_busy": "dial_busy", "no_answer": "outbound_status_no_answer"},
}


class Wire(ABC):
    """How one provider posts to us."""

    name: str
    content_type: str

    def recorded(self, name: str) -> dict[str, Any]:
        with open(EVENTS / self.name / f"{name}.json", encoding="utf-8") as fh:
            return json.load(fh)

    def event(self, kind: str, call: str | None = None, caller: str | None = None, called: str | None = None,
              **fields: Any) -> dict[str, Any]:
        body = self.recorded(KINDS[self.name][kind])
        body.update(self.neutral(kind, call, caller, called))
        body.update(fields)
        return body

    @abstractmethod
    def neutral(self, kind: str, call: str | None, caller: str | None, called: str | None) -> dict[str, Any]:
        """Overrides that make a recorded webhook this call's (and fit `kind` where one file serves two)."""

    @abstractmethod
    def encode(self, fields: dict[str, Any]) -> bytes: ...

    @abstractmethod
    def sign(self, url: str, body: bytes, fields: dict[str, Any], now: datetime) -> dict[str, str]:
        """The signature headers for a POST of `body` to the full `url` (query included)."""

    def request(self, url: str, fields: dict[str, Any], now: datetime) -> tuple[bytes, dict[str, str]]:
        body = self.encode(fields)
        return body, {"Content-Type": self.content_type, **self.sign(url, body, fields, now)}

    @abstractmethod
    def next_urls(self, markup: str) -> list[tuple[str, str]]:
        """(kind, url) in the order the provider would follow them: gather, redirect, wait, exit, dial."""


class TwimlWire(Wire):
    content_type = "application/x-www-form-urlencoded"

    def encode(self, fields: dict[str, Any]) -> bytes:
        return urlencode(fields).encode()

    def neutral(self, kind: str, call: str | None, caller: str | None, called: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if call:
            out["CallSid"] = call
        if caller:
            out["From"] = out["Caller"] = caller
        if called:
            out["To"] = out["Called"] = called
        out |= {"no_input": {"CallStatus": "in-progress"}, "machine": {"AnsweredBy": "machine_start"},
                "answer": {"AnsweredBy": ""}, "dial_completed": {"DialCallStatus": "completed",
                                                                 "DialCallDuration": "95"},
                "dial_busy": {"DialCallStatus": "busy", "DialCallDuration": "0"}}.get(kind, {})
        return out

    def next_urls(self, markup: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for el in ET.fromstring(markup).iter():
            if el.tag == "Gather":
                found.append(("gather", el.get("action", "")))
            elif el.tag == "Redirect":
                found.append(("redirect", el.text or ""))
            elif el.tag == "Enqueue":
                found += [("wait", el.get("waitUrl", "")), ("exit", el.get("action", ""))]
            elif el.tag == "Dial":
                found.append(("dial", el.get("action", "")))
        return found


class TwilioWire(TwimlWire):
    name = "twilio"

    def sign(self, url: str, body: bytes, fields: dict[str, Any], now: datetime) -> dict[str, str]:
        return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, fields)}


class TelnyxWire(TwimlWire):
    name = "telnyx"

    def sign(self, url: str, body: bytes, fields: dict[str, Any], now: datetime) -> dict[str, str]:
        stamp = str(int(now.timestamp()))
        signature = Ed25519PrivateKey.from_private_bytes(TELNYX_SEED).sign(stamp.encode() + b"|" + body)
        return {"telnyx-timestamp": stamp, "telnyx-signature-ed25519": base64.b64encode(signature).decode()}


class JsonWire(Wire):
    """A provider that posts JSON: its call id's field, and how it writes numbers."""

    content_type = "application/json"
    call_field = "uuid"

    def encode(self, fields: dict[str, Any]) -> bytes:
        return json.dumps(fields).encode()

    @staticmethod
    def number(value: str) -> str:
        return value

    def neutral(self, kind: str, call: str | None, caller: str | None, called: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if call:
            out[self.call_field] = call
        if caller:
            out["from"] = self.number(caller)
        if called:
            out["to"] = self.number(called)
        return out


class VonageWire(JsonWire):
    name = "vonage"

    @staticmethod
    def number(value: str) -> str:
        return value.lstrip("+")  # Vonage writes numbers without the '+'

    def sign(self, url: str, body: bytes, fields: dict[str, Any], now: datetime) -> dict[str, str]:
        claims = {"iat": int(now.timestamp()), "jti": str(uuid.uuid4()), "iss": "Vonage",
                  "payload_hash": hashlib.sha256(body).hexdigest(), "api_key": "abcd1234",
                  "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}
        return {"Authorization": f"Bearer {jwt.encode(claims, VONAGE_SECRET, algorithm='HS256')}"}

    def next_urls(self, markup: str) -> list[tuple[str, str]]:
        ncco = json.loads(markup)
        assert ncco_problems(ncco) == [], markup
        kinds = {"input": "gather", "notify": "redirect", "connect": "dial"}
        return [(kinds[a["action"]], a["eventUrl"][0]) for a in ncco if a["action"] in kinds]


def ncco_problems(ncco: list[dict[str, Any]]) -> list[str]:
    """What Vonage's NCCO reference forbids, in an NCCO: a `talk` with bargeIn must be followed by talks only
    until an `input` (a `stream` with bargeIn, by streams only); a `connect` to a phone needs `from` or
    `randomFromNumber`; every eventUrl is an array."""
    problems = []
    for i, action in enumerate(ncco):
        if action.get("bargeIn"):
            rest = [a["action"] for a in ncco[i + 1:]]
            after = next((kind for kind in rest if kind != action["action"]), None)
            if after != "input":
                problems.append(f"{action['action']} #{i} has bargeIn, then {after or 'nothing'}, not an input")
        if action["action"] == "connect" and any(e.get("type") == "phone" for e in action.get("endpoint", [])) \
                and not (action.get("from") or action.get("randomFromNumber")):
            problems.append(f"connect #{i} to a phone has neither from nor randomFromNumber")
        if "eventUrl" in action and not isinstance(action["eventUrl"], list):
            problems.append(f"{action['action']} #{i}: eventUrl is not an array")
    return problems


class JambonzWire(JsonWire):
    """JSON bodies signed `Jambonz-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}">` with the
    account's webhook secret (jambonz-feature-server lib/utils/base-requestor.js)."""

    name = "jambonz"
    call_field = "call_sid"

    def sign(self, url: str, body: bytes, fields: dict[str, Any], now: datetime) -> dict[str, str]:
        stamp = int(now.timestamp())
        mac = hmac.new(JAMBONZ_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Jambonz-Signature": f"t={stamp},v1={mac}"}

    def next_urls(self, markup: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for verb in json.loads(markup):
            if verb["verb"] == "gather":
                found.append(("gather", verb["actionHook"]["url"]))
            elif verb["verb"] == "redirect":
                found.append(("redirect", verb["actionHook"]["url"]))
            elif verb["verb"] == "enqueue":
                found += [("wait", verb["waitHook"]["url"]), ("exit", verb["actionHook"]["url"])]
            elif verb["verb"] == "dial":
                found.append(("dial", verb["actionHook"]["url"]))
        return found


WIRES = {w.name: w for w in (TwilioWire(), TelnyxWire(), VonageWire(), JambonzWire())}


def path_of(url: str) -> str:
    """What the test client posts to: the path below the stage, with the query."""
    parts = urlsplit(url)
    return parts.path.removeprefix("/api") + (f"?{parts.query}" if parts.query else "")


def keys(provider: str, digits: str) -> dict[str, object]:
    """The pressed keys as each provider's gather webhook carries them."""
    return ({"dtmf": {"digits": digits, "timed_out": False}} if provider == "vonage" else
            {"digits": digits} if provider == "jambonz" else {"Digits": digits})
