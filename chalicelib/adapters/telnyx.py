"""Telnyx TeXML: Ed25519 webhook signatures, TwiML-shaped webhook fields, TeXML markup, and the
TeXML REST API for outbound calls and live-call updates."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

import requests
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from ..domain.errors import NotifyError, TelephonyError
from ..domain.model import CallEvent
from ..domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script, Step,
                             Verb)
from ..domain.speech import voice_for
from ..ports import (Capabilities, Clock, Dialer, InboundText, Messenger, SystemClock, Telephony, TextStatus,
                     WebhookRequest,
                     decode_body)
from .rest import call_api, refuse_undialable
from .twiml_family import parse_fields
from .webhook_urls import step_url

# Telnyx speaks through Polly and Azure voices. Azure's uk-UA neural voice stands in for Twilio's Google
# one (its Telnyx id is not confirmed live; a queue may give uk prompts as recorded audio instead).
VOICES = {"en-US": "Polly.Joanna", "ru-RU": "Polly.Tatyana", "uk-UA": "Azure.uk-UA-PolinaNeural"}
CAPABILITIES = Capabilities(native_queue=True, gather_falls_through=True, inline_redirect=True,
                            contact_kinds=frozenset({"tel", "sip"}), voices=VOICES)  # TeXML has no <Client>
REPLAY_WINDOW_SECONDS = 300  # what Telnyx's own SDK allows between its timestamp and now
# Unix seconds as Telnyx sends them: ASCII digits, bounded (str.isdigit takes '²', and 400 digits overflow a float)
_STAMP = re.compile(r"[0-9]{1,12}")
DEFAULT_API_BASE_URL = "https://api.telnyx.com"


def public_key(text: str) -> VerifyKey | None:
    """The account's Ed25519 public key (base64 of 32 bytes; checked by libsodium, through PyNaCl),
    or None when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        return VerifyKey(raw) if len(raw) == 32 else None
    except (binascii.Error, ValueError, CryptoError):
        return None


class TelnyxTelephony(Telephony):
    name = "telnyx"
    content_type = "text/xml; charset=utf-8"
    capabilities = CAPABILITIES

    def __init__(self, public_key_b64: str, clock: Clock | None = None) -> None:
        self._key = public_key(public_key_b64)
        self._clock = clock or SystemClock()

    def verify(self, request: WebhookRequest) -> bool:
        """Ed25519 over `{telnyx-timestamp}|{raw body}`, signed no more than 300 s from now."""
        stamp, signature = request.header("telnyx-timestamp"), request.header("telnyx-signature-ed25519")
        if self._key is None or not _STAMP.fullmatch(stamp) or not signature:
            return False
        if abs(self._clock.now().timestamp() - int(stamp)) > REPLAY_WINDOW_SECONDS:
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
            self._key.verify(stamp.encode() + b"|" + request.body, raw)
        except (binascii.Error, ValueError, BadSignatureError, CryptoError):
            return False
        return True

    def replay_key(self, request: WebhookRequest) -> tuple[str, datetime] | None:
        """The signature where it was used (a digest of both), spent until its timestamp leaves the window.
        Telnyx signs the time and the body, not the URL: the same body sent to two of our URLs in one
        second (a caller's redirect after a redirect) is signed alike, and both are real deliveries."""
        stamp = request.header("telnyx-timestamp")
        used = f"{request.url}?{urlencode(sorted(request.query.items()))}|{request.header('telnyx-signature-ed25519')}"
        digest = hashlib.sha256(used.encode()).hexdigest()
        return digest, datetime.fromtimestamp(int(stamp), timezone.utc) + timedelta(seconds=REPLAY_WINDOW_SECONDS)

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        # TeXML posts Twilio's names; its CallSid is `v3:…` and AMD arrives on the status callback.
        return parse_fields(params, query)

    def render(self, script: Script, base_url: str) -> str:
        response = ET.Element("Response")
        for verb in script.verbs:
            self._add(response, verb, base_url)
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")

    def _url(self, base_url: str, step: Step) -> str:
        return step_url(base_url, self.name, step)

    def _add(self, parent: ET.Element, verb: Verb, base_url: str) -> None:
        def child(tag: str, text: str | None = None, **attrs: object) -> ET.Element:
            el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
            el.text = text
            return el

        if isinstance(verb, Say):
            language, voice = voice_for(VOICES, verb.language)
            child("Say", verb.text, voice=voice, language=language)
        elif isinstance(verb, Play):
            child("Play", verb.url, loop=verb.loop if verb.loop != 1 else None)
        elif isinstance(verb, Pause):
            child("Pause", length=verb.seconds)
        elif isinstance(verb, Gather):
            gather = child("Gather", action=self._url(base_url, verb.action), method="POST",
                           numDigits=verb.num_digits, timeout=verb.timeout_seconds, finishOnKey=verb.finish_on_key)
            for prompt in verb.prompts:
                self._add(gather, prompt, base_url)
        elif isinstance(verb, Enqueue):
            wait_url = self._url(base_url, verb.wait) if verb.wait else verb.wait_url
            child("Enqueue", verb.queue_name, waitUrl=wait_url, waitUrlMethod="POST" if wait_url else None,
                  action=self._url(base_url, verb.action) if verb.action else None,
                  method="POST" if verb.action else None)
        elif isinstance(verb, Redirect):
            child("Redirect", self._url(base_url, verb.step), method="POST")
        elif isinstance(verb, Leave):
            child("Leave")
        elif isinstance(verb, Hangup):
            child("Hangup")
        elif isinstance(verb, Dial):
            dial = child("Dial", callerId=verb.caller_id, timeout=verb.timeout_seconds,
                         action=self._url(base_url, verb.action) if verb.action else None,
                         method="POST" if verb.action else None)
            target = verb.target.removeprefix("client:")  # refused at config time; a SIP user if it gets here
            noun = ET.SubElement(dial, "Sip" if verb.target.startswith("sip:") else "Number")
            noun.text = target
            if verb.status is not None:  # the dialled leg's progress, as TeXML's Number/Sip report it
                noun.attrib.update(statusCallback=self._url(base_url, verb.status), statusCallbackMethod="POST",
                                   statusCallbackEvent="ringing answered completed")
        else:  # pragma: no cover - the Verb union is closed
            raise TypeError(f"cannot render {verb!r}")


class TelnyxDialer(Dialer):
    """Outbound calls and live-call updates through the TeXML REST API (Bearer API key)."""

    name = "telnyx"

    def __init__(self, api_key: str, account_sid: str, application_sid: str, public_base_url: str,
                 api_base_url: str | None = None, session: requests.Session | None = None) -> None:
        self._api_key = api_key
        self._account = account_sid
        self._application = application_sid
        self._base_url = public_base_url
        self._api = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self._http = session or requests.Session()
        self._markup = TelnyxTelephony("")

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if not (self._api_key and self._account):
            raise TelephonyError("TELNYX_API_KEY and TELNYX_ACCOUNT_SID are not configured")
        return call_api(self._http, "POST", f"{self._api}/v2/texml/Accounts/{self._account}/{path}",
                        {"Authorization": f"Bearer {self._api_key}"}, body, f"telnyx {path.split('/')[0]}",
                        gone=(404, 422) if "/" in path else ())

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        refuse_undialable(CAPABILITIES, to)
        body: dict[str, Any] = {
            "ApplicationSid": self._application, "To": to, "From": caller_id,
            "Url": step_url(self._base_url, "telnyx", answer), "Method": "POST",
            "StatusCallback": step_url(self._base_url, "telnyx", status), "StatusCallbackMethod": "POST",
            # the events Holdfast acts on: answered carries the AMD verdict (AnsweredBy), completed the outcome
            "StatusCallbackEvent": "answered completed", "Timeout": timeout_seconds}
        if machine_detection:
            body["MachineDetection"] = "Enable"  # sync: the verdict comes on the status callback
        found = self._post("Calls", body)
        data = found.get("data") if isinstance(found.get("data"), dict) else found
        return str(data.get("call_sid") or data.get("sid") or "")

    def redirect(self, call_id: str, script: Script) -> None:
        for verb in script.verbs:
            if isinstance(verb, Dial):
                refuse_undialable(CAPABILITIES, verb.target)
        self._post(f"Calls/{call_id}", {"Texml": self._markup.render(script, self._base_url)})

    def redirect_to(self, call_id: str, step: Step) -> None:
        self._post(f"Calls/{call_id}", {"Url": step_url(self._base_url, "telnyx", step), "Method": "POST"})


# message.finalized's recipient status; delivery_unconfirmed: sent, the carrier never said more.
TELNYX_FINAL_STATES = {"delivered": "delivered", "sending_failed": "failed", "delivery_failed": "failed",
                       "delivery_unconfirmed": "sent"}


class TelnyxMessenger(Messenger):
    """Texts through Telnyx's Messaging API (POST /v2/messages, Bearer API key), and its inbound
    `message.received` webhook (signed like its voice webhooks)."""

    name = "telnyx"

    def __init__(self, api_key: str, api_base_url: str | None = None, session: requests.Session | None = None) -> None:
        self._api_key = api_key
        self._api = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self._http = session or requests.Session()

    def send_text(self, to: str, sender: str, body: str, status_url: str | None = None) -> str:
        if not self._api_key:
            raise NotifyError("TELNYX_API_KEY is not configured")
        message = {"from": sender, "to": to, "text": body, **({"webhook_url": status_url} if status_url else {})}
        try:
            found = call_api(self._http, "POST", f"{self._api}/v2/messages",
                             {"Authorization": f"Bearer {self._api_key}"}, message, "telnyx messages")
        except TelephonyError as exc:
            raise NotifyError(str(exc)) from exc
        data = found.get("data") if isinstance(found.get("data"), dict) else {}
        return str(data.get("id") or "")

    def parse_inbound(self, request: WebhookRequest) -> InboundText | None:
        data = decode_body(request).get("data")
        if not isinstance(data, dict) or data.get("event_type") != "message.received":
            return None
        payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
        sender = payload.get("from", {}).get("phone_number") if isinstance(payload.get("from"), dict) else None
        if not isinstance(sender, str) or not sender.startswith("+"):
            return None
        to = payload.get("to") if isinstance(payload.get("to"), list) else []
        recipient = to[0].get("phone_number") if to and isinstance(to[0], dict) else ""
        return InboundText(sender, str(payload.get("text") or ""), message_id=str(payload.get("id") or ""),
                           recipient=str(recipient or ""))

    def parse_status(self, request: WebhookRequest) -> TextStatus | None:
        """`message.sent` (handed to the carrier) and `message.finalized` (the recipient's terminal
        status: delivered, sending_failed, delivery_failed, delivery_unconfirmed)."""
        data = decode_body(request).get("data")
        if not isinstance(data, dict) or data.get("event_type") not in ("message.sent", "message.finalized"):
            return None
        payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
        to = payload.get("to") if isinstance(payload.get("to"), list) else []
        status = to[0].get("status") if to and isinstance(to[0], dict) else None
        state = "sent" if data.get("event_type") == "message.sent" else TELNYX_FINAL_STATES.get(str(status or ""))
        message_id = payload.get("id")
        if not isinstance(message_id, str) or not message_id or state is None:
            return None
        return TextStatus(message_id, state)

